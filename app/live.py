"""The live-jobs view every page shares: each active job of a kind, with its progress, whose it
is, and Stop for the jobs this session launched; the page draws each running job's charts."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from app.state import fmt_seconds, get_lab, session_id
from core.engine import RAY_ADDRESS_ENV, ExecutorUnavailableError, make_executor, server_ray_address
from core.engine.queue import Job, NotYourJobError
from core.estimate import Calibration, calibration, estimate_job


@st.cache_data(ttl=120, show_spinner=False)
def calibrated(device: str = "auto") -> Calibration:
    """This machine's calibration for `device`, refined by the store's finished runs (re-read every 2 min)."""
    return calibration(None if device == "auto" else device, get_lab().store)


def time_left(job: Job) -> float | None:
    """Seconds a job still needs: core.estimate's figure for its runs less the time it has run, until the
    job's own progress is far enough along to say better (never for the toy, whose progress is a guess)."""
    if job.status == "running" and job.kind != "toy" and (job.fraction or 0) >= 0.25 and job.eta_s is not None:
        return job.eta_s
    total = estimate_job(job.kind, job.meta.get("configs", {}), calibrated())
    if total is None:
        return job.eta_s
    return max(1.0, total - (job.elapsed_s or 0.0)) if job.status == "running" else total


def job_line(job: Job, mine: bool) -> str:
    """One line about a job: what it is, where it stands, whose it is."""
    who = "yours" if mine else "another session's"
    if job.status == "queued":
        return f"**{job.name}** · queued ({job.queue_position} job(s) ahead on {job.device}) · {who}"
    return (f"**{job.name}** · {job.message or 'starting…'} · elapsed {fmt_seconds(job.elapsed_s)} · "
            f"time left ≈ {fmt_seconds(time_left(job))} · {who}")


def launch_left(jobs: list[Job]) -> str | None:
    """'All parts: about 3 min 10 s left' when a launch (or a study) runs as several jobs, else None."""
    def whole(j: Job) -> str:
        study = next(iter(j.meta.get("configs", {}).values()), {}).get("study", {})
        return study.get("id") or j.meta.get("launch") or j.id

    parts: dict[str, list[Job]] = {}
    for j in jobs:
        parts.setdefault(whole(j), []).append(j)
    lines = [f"{len(js)} parts of {js[0].name.split(' · part')[0]}: about {fmt_seconds(sum(time_left(j) or 0 for j in js))} left in all"
             for js in parts.values() if len(js) > 1]
    return " · ".join(lines) or None


def stop_launch(job: Job) -> int:
    """Stop every active part of the launch `job` belongs to, as this session (NotYourJobError
    if it is another session's). Returns how many jobs were stopped."""
    lab, me = get_lab(), session_id()
    launch = job.meta.get("launch")
    parts = (lab.jobs.board(me).where(launch=launch) if launch is not None else []) or [job]
    return sum(lab.jobs.cancel(j.id, owner=me) for j in parts)


def live_jobs(kind: str | tuple[str, ...], draw: Callable[[Job], None] | None = None, *, key: str,
              title: str = "Running", match: Callable[[Job], bool] | None = None) -> list[Job]:
    """Show the active jobs of `kind` (every session's), polling twice a second while any is
    active; `draw(job)` draws a running job's live charts. When the last one ends, the whole page
    reruns once so it shows the saved results. Returns the active jobs seen at first draw."""
    lab, me = get_lab(), session_id()
    kinds = (kind,) if isinstance(kind, str) else kind

    def active() -> list[Job]:  # one snapshot of the queue per poll
        return [j for j in lab.jobs.board(me).of_kind(*kinds) if match is None or match(j)]

    @st.fragment(run_every=0.5 if active() else None)
    def view() -> None:
        jobs = active()
        if not jobs:
            if st.session_state.pop(f"{key}_was_live", False):
                st.rerun()  # the last job ended: redraw the page with its saved results
            return
        st.session_state[f"{key}_was_live"] = True
        st.subheader(title)
        summary = launch_left(jobs)
        if summary:
            st.caption(summary)
        for job in jobs:
            mine = job.owner == me
            c1, c2 = st.columns([6, 1])
            c1.progress(job.fraction or 0.0, text=job_line(job, mine))
            if mine and c2.button("Stop", key=f"{key}_stop_{job.id}", disabled=job.cancel_requested,
                                  help="Stops this launch (all its parts); finished epochs are kept."):
                try:
                    stop_launch(job)
                    st.toast("Stopping… finished epochs are kept.")
                except NotYourJobError as exc:
                    st.error(str(exc))
            if draw is not None and job.status == "running":
                draw(job)

    view()
    return active()


@st.cache_resource(show_spinner=False)
def _server_ray_executor():
    """The one Ray executor of this server, on the cluster its starter chose ($TUNABLE_RAY_ADDRESS;
    unset: a local Ray instance), shared by every page and session and released when the server exits."""
    return make_executor("ray", server_ray_address())


def executor_choice(key: str):
    """Where a launch trains: this server (the default) or the server's Ray cluster. The cluster is
    the server's choice, shown read-only: a visitor never types an address. Returns (executor or
    None, error text or None); None means local."""
    with st.expander("Where to train"):
        where = st.radio("Executor", ["this server", "Ray"], key=f"{key}_executor", horizontal=True,
                         persist_state="session",
                         help="Ray runs each batched group as a task on a Ray cluster; epochs stream back here "
                              "and show live like local runs. Needs `pip install -r requirements-cluster.txt`.")
        address = server_ray_address()
        st.caption(f"Ray cluster: **{address}**" if address else "Ray cluster: a local Ray instance on this server",
                   help=f"Chosen by whoever starts the dashboard: `{RAY_ADDRESS_ENV}=host:port make run`.")
    if where != "Ray":
        return None, None
    try:
        return _server_ray_executor(), None
    except (ValueError, ExecutorUnavailableError) as exc:
        return None, str(exc)


def outside_runs(kind: str, draw: Callable, *, key: str) -> None:
    """Runs of `kind` training in another process (a CLI, another server) show here live too: their
    epochs are in the store as they finish, so this polls the store every 2 s while any runs."""
    lab = get_lab()

    def running() -> list[int]:
        ours = {rid for job in lab.jobs.board().jobs for rid in job.meta.get("run_ids", [])}
        runs = lab.store.list_runs(kind=kind, status="running")
        return [int(i) for i in runs["id"] if int(i) not in ours]

    @st.fragment(run_every=2.0 if running() else None)
    def view() -> None:
        ids = running()
        if not ids:
            if st.session_state.pop(f"{key}_outside_live", False):
                st.rerun()  # they ended: redraw the page with their saved results
            return
        st.session_state[f"{key}_outside_live"] = True
        st.subheader("Training in another process")
        st.caption(f"{len(ids)} run(s) launched outside this dashboard (e.g. `python -m core.{kind}`), read from "
                   "the run store as each epoch is saved. Stop them where they were started (Ctrl-C).")
        draw(ids)

    view()
