"""The paper's 1-D toy threshold experiment (Section 5.1): run it, watch it, see the thresholds move.

Thin skin over core.toy: widgets -> ToyConfig -> submit_toy (one run in the store, a job in the
queue) -> the shared live view (app.live, drawn from the job) -> load_toy -> app.plots figures.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from app import plots
from app.live import calibrated, executor_choice, live_jobs
from app.state import fmt_seconds, get_lab, session_id
from app.widgets import k_values, pick_saved, preset_type
from core.curves import format_k
from core.device import available_devices
from core.engine.queue import QueueFullError
from core.engine.status import ACTIVE, FAILED, INTERRUPTED, QUEUED, RUNNING, STOPPED
from core.estimate import estimate_toy
from core.results import export_table
from core.toy import PAPER_KS, SavedToy, ToyConfig, ToyConfigError, load as load_toy, population_limit, submit as submit_toy


UNITS = {"test_error": "test error (%)", "threshold": "threshold t", "test_ce": "test cross-entropy (nats)",
         "epochs": "epochs to stop", "val_error": "validation error (%)"}


def _header(column: str) -> str:
    """'test_error_mean' -> 'test error (%), mean': what the toy table shows above a column."""
    base, _, stat = column.rpartition("_")
    return f"{UNITS.get(base, base.replace('_', ' '))}, {'std' if stat == 'std' else 'mean'}"

lab = get_lab()
PAPER = ToyConfig()
PRESETS = {
    "paper": dict(ks=["4", "2", "1", "1/2", "1/4", "1/8", "1/16"], runs=10, n=30_000, patience=3000),
    "quick": dict(ks=["4", "1", "1/4", "1/16"], runs=3, n=5_000, patience=1000),
}
PS = dict(persist_state="session")  # settings survive a page switch
# (label, lowest, highest, whole number) of each numeric field: the page's own limits, checked in Python
# (no min/max on the widgets: a browser-side bound would keep an out-of-range entry unapplied, in red,
# while a run went ahead with the previous value)
FIELDS = {
    "toy_runs": ("Runs", 1, 50, True), "toy_n": ("Points per split", 100, 200_000, True),
    "toy_lr": ("Learning rate", 1e-5, 10.0, False), "toy_alpha": ("α", 0.05, 0.99, False),
    "toy_noise": ("Label noise", 0.0, 0.45, False), "toy_patience": ("Stopping window", 10, 100_000, True),
    "toy_tol": ("Stopping tolerance", 0.0, 10.0, False), "toy_max": ("Max epochs", 100, 5_000_000, True),
    "toy_seed": ("Seed", 0, 2**31 - 1, True),
}


def _preset_values(name: str) -> dict:
    """The form's values a preset sets (widget key -> value)."""
    p = PRESETS[name]
    return {"toy_k": p["ks"], "toy_runs": p["runs"], "toy_n": p["n"], "toy_patience": p["patience"],
            "toy_lr": PAPER.lr, "toy_alpha": PAPER.alpha, "toy_noise": 0.0, "toy_tol": PAPER.tol,
            "toy_reduction": "mean", "toy_max": PAPER.max_epochs, "toy_seed": 0}


def _preset(name: str) -> None:
    """A preset fills the form and starts it (presets start runs on every page)."""
    st.session_state.update({**_preset_values(name), "toy_k_add": ""})
    st.session_state["toy_autostart"] = True


def _kind(name: str) -> str:
    """A preset's button is highlighted only while the form holds exactly its values (untouched: the paper's)."""
    return preset_type(_preset_values(name), _preset_values("paper"))


@st.cache_data(show_spinner="Computing the population limit (n → ∞)…")
def _population(alpha: float, label_noise: float, ks: tuple[float, ...] | None = None) -> pd.DataFrame | None:
    if label_noise >= 0.5:
        return None  # no limit: the flipped labels are the majority
    return population_limit(ks, alpha=alpha, label_noise=label_noise)


def _problems(values: dict, ks: list[float], rejected: list[str]) -> list[str]:
    """Why the form cannot run as filled (empty: it can)."""
    out = []
    for key, (label, lo, hi, whole) in FIELDS.items():
        v = values[key]
        if v is None or not lo <= v <= hi or (whole and v != int(v)):
            out.append(f"{label} must be {'a whole number ' if whole else ''}from {lo:g} to {hi:g} (got {v})")
    if rejected:
        out.append(f"k values must be numbers in (0, 64]; fix {', '.join(map(repr, rejected))} in “Add a k value”")
    elif not ks:
        out.append("choose at least one k")
    return out


st.title("Toy experiment: where does the threshold go?")
st.markdown(
    "A model that can only learn a threshold rule sees labels **+1 on [0, α]** and −1 elsewhere. The best "
    "threshold is 0 (test error (1 − α)/2 = 2.5% for α = 0.95), but the points in (α, 1] can never be right for a "
    "threshold near 0. **Cross-entropy keeps pushing on those large, hopeless errors and drags the threshold "
    "away from 0; a small k weighs them like any other error, so the threshold stays close to 0 and the test "
    "error drops.** This reproduces Section 5.1 of the paper, with every number adjustable."
)

# ----------------------------------------------------------------------------- settings
with st.container(border=True):
    c1, c2, c3 = st.columns([1, 1, 3])
    c1.button("Quick look", key="toy_quick", on_click=_preset, args=("quick",),
              type=_kind("quick"),
              help="4 k values × 3 runs × 5,000 points: a few seconds")
    c2.button("Paper protocol", key="toy_paper", on_click=_preset, args=("paper",),
              type=_kind("paper"),
              help="7 k values × 10 runs × 30,000 points, 3000-epoch stopping window (about a minute on 2 CPU cores)")
    c3.caption("A preset fills the settings below and runs them at once. Or adjust the settings and press Run.")
    k_pick = k_values("k values", key="toy_k", default=PRESETS["paper"]["ks"], persist=True)
    ks = k_pick.values
    a, b, c, d = st.columns(4)
    a.number_input("Runs (data draws)", value=PAPER.runs, step=1, key="toy_runs", **PS)
    b.number_input("Points per split (train = val = test)", value=PAPER.n_train, step=1000, key="toy_n", **PS)
    c.number_input("Learning rate", value=PAPER.lr, format="%g", key="toy_lr", **PS)
    reduction = d.selectbox("Batch gradient", ["mean", "sum"], key="toy_reduction", **PS,
                            help="The paper does not say; 'sum' makes the step n times larger.")
    with st.expander("More settings"):
        a, b, c, d = st.columns(4)
        a.number_input("α (right end of the +1 interval)", value=PAPER.alpha, step=0.01, key="toy_alpha", **PS)
        b.number_input("Training label noise (fraction flipped)", value=0.0, step=0.05, key="toy_noise", **PS)
        c.number_input("Stopping window (epochs)", value=PAPER.patience, step=100, key="toy_patience", **PS)
        d.number_input("Stopping tolerance (percentage points)", value=PAPER.tol, format="%g", key="toy_tol", **PS)
        a, b, c, _ = st.columns(4)
        a.number_input("Max epochs per run", value=PAPER.max_epochs, step=10_000, key="toy_max", **PS)
        b.number_input("Seed", value=0, step=1, key="toy_seed", **PS)
        device = c.selectbox("Device", ["auto", *available_devices()], key="toy_device", **PS)
    executor, executor_error = executor_choice("toy")

    values = {key: st.session_state.get(key) for key in FIELDS}
    problems = _problems(values, ks, k_pick.rejected) + ([executor_error] if executor_error else [])
    cfg = None
    if not problems:
        n = int(values["toy_n"])
        try:
            cfg = ToyConfig(ks=tuple(sorted(ks, reverse=True)), runs=int(values["toy_runs"]), n_train=n, n_val=n,
                            n_test=n, lr=float(values["toy_lr"]), reduction=reduction, alpha=float(values["toy_alpha"]),
                            label_noise=float(values["toy_noise"]), patience=int(values["toy_patience"]),
                            tol=float(values["toy_tol"]), max_epochs=int(values["toy_max"]),
                            seed=int(values["toy_seed"]), device=device)
        except ToyConfigError as exc:
            problems = [str(exc)]
    c1, c2 = st.columns([1, 5])
    run = c1.button("Run", key="toy_run", type="primary", disabled=bool(problems))
    autostart = st.session_state.pop("toy_autostart", False)
    if problems:
        c2.error("Cannot run: " + "; ".join(problems) + ".")
    else:
        c2.caption(f"{len(cfg.ks)} k × {cfg.runs} runs × {cfg.n_train:,} points per split: one toy run, saved as it "
                   f"trains · about {fmt_seconds(estimate_toy(cfg, calibrated()))} here. Several runs queue one after "
                   "another.")
    if (run or autostart) and cfg is not None:
        try:
            launched = submit_toy(lab, cfg, owner=session_id(), executor=executor)
            st.session_state["toy_pick"] = launched.run_ids[0]  # the new run is the one shown below
            st.toast(f"Queued toy run #{launched.run_ids[0]}.")
        except (QueueFullError, ValueError) as exc:
            c2.error(f"Cannot run: {exc}")


# ----------------------------------------------------------------------------- live view
def draw_live(job) -> None:
    """A running toy job's thresholds and curves, from the job itself (no database read per poll)."""
    shown = st.session_state.get("toy_shown")  # (run id, status) that Results show, as the store said
    if shown and shown[1] == QUEUED and job.data.get("statuses", {}).get(shown[0]) == RUNNING:
        st.rerun()  # that run has started: redraw the page once, so Results say so too
    live = job.data.get("live")
    if live is None:
        return
    means, runs = live.thresholds()
    st.plotly_chart(plots.toy_animation(live.alpha, means, runs, label_noise=live.label_noise,
                                        title=f"Thresholds now (epoch {live.epoch:,})"), key=f"toy_live_d_{job.id}")
    trace = live.trace()
    a, b = st.columns(2)
    a.plotly_chart(plots.toy_trace(trace, "val_error", "Validation error while training", "validation error (%)"),
                   key=f"toy_live_val_{job.id}")
    b.plotly_chart(plots.toy_trace(trace, "threshold", "Threshold while training", "threshold t",
                                   subtitle="t = −b/w, each run"),
                   key=f"toy_live_thr_{job.id}")


# ----------------------------------------------------------------------------- results
def empty_state() -> None:
    """Before the first run: D, and where each k of the paper ends up when data are unlimited."""
    st.info("No toy runs yet. Press **Quick look** for a run of a few seconds, or **Paper protocol** for the full one. "
            "Below: the task, and where each k's threshold ends up with unlimited data (computed, no training).")
    st.plotly_chart(plots.toy_distribution(PAPER.alpha), key="toy_dist_intro")
    limit = _population(PAPER.alpha, 0.0, PAPER_KS)
    st.plotly_chart(plots.toy_animation(PAPER.alpha, None, limit=limit[["k", "threshold"]],
                                        title="Each k's threshold as n → ∞"),
                    key="toy_limit_intro")
    st.caption("Every k moves the threshold right of 0, because the unlearnable points in (α, 1] pull on it; the "
               "smaller k is, the less they pull, so the closer the threshold stays to the best one, 0.")


def show_trace(saved: SavedToy, key: str) -> None:
    """The logged epochs of a run (per-k means over runs), for a run without final tables."""
    if saved.trace.empty:
        return
    trace = saved.trace.assign(run=0)
    a, b = st.columns(2)
    a.plotly_chart(plots.toy_trace(trace, "val_error", "Validation error (logged epochs)",
                                   "validation error (%)", subtitle="mean over runs"), key=f"{key}_val")
    b.plotly_chart(plots.toy_trace(trace, "threshold", "Threshold (logged epochs)", "threshold t",
                                   subtitle="mean over runs"),
                   key=f"{key}_thr")


def pick_run() -> SavedToy | None:
    """The saved run chosen in the selectbox (newest by default), read once: its status is the store's."""
    saved_runs = lab.store.list_runs(kind="toy")
    if saved_runs.empty:
        return None
    labels = {int(r.id): f"#{r.id} · {r.label} · {r.created_at:%Y-%m-%d %H:%M}" for r in saved_runs.itertuples()}
    view_id = pick_saved("Saved toy runs (newest first; they survive a restart)", labels, "toy_pick")
    return load_toy(lab.store, view_id)


def show_status(saved: SavedToy, cfg: ToyConfig) -> bool:
    """The run's status and what it means; False when there is nothing more to show yet."""
    st.caption(f"Status: **{saved.status}**" + (f" · {saved.elapsed_s:.1f} s on {saved.device}" if saved.elapsed_s else ""))
    st.session_state["toy_shown"] = (saved.run_id, saved.status)
    if saved.status in ACTIVE:
        if any(saved.run_id in j.meta.get("run_ids", ()) for j in lab.jobs.active(kind="toy")):
            st.info(f"This run is {saved.status}: its progress is in the live view above; its results appear here "
                    "when it ends.")
        else:
            st.info(f"This run is {saved.status} in another process (e.g. `python -m core.toy` in a terminal). Below: "
                    "the epochs it has logged so far.")
            st.button("Refresh", key="toy_refresh")
            show_trace(saved, "toy_partial")
        return False
    if saved.status == FAILED:
        st.error(f"This run failed: {saved.error}")
    if saved.status == INTERRUPTED:
        st.warning("This run was interrupted (its process ended while it trained): below is what it logged before.")
    if saved.status == STOPPED:
        st.warning("Stopped before every run met the stopping rule: runs that had not are left out of the per-k "
                   "means (the 'runs' column counts the ones that are in)."
                   if not saved.per_k.empty else "Stopped before it started: nothing was trained.")
    hit = int(saved.per_run.get("hit_max_epochs", pd.Series(dtype=bool)).sum())
    if hit:
        st.warning(f"{hit} run(s) hit the cap of {cfg.max_epochs:,} epochs before the stopping rule; their numbers "
                   "are at the cap.")
    return True


def show_animation(saved: SavedToy, cfg: ToyConfig) -> None:
    if saved.frames.empty:
        return
    limit = _population(cfg.alpha, cfg.label_noise, tuple(cfg.ks))
    st.plotly_chart(plots.toy_animation(cfg.alpha, saved.frames, saved.frame_runs,
                                        None if limit is None else limit[["k", "threshold"]], cfg.label_noise,
                                        title="How the thresholds moved (press ▶ Play)"),
                    key="toy_anim")
    st.caption("Diamonds: mean threshold over runs per k; thin marks: each run; crosses: the n → ∞ limit. All start "
               "at t = 0 (biases start at 0); cross-entropy (k = 1) and larger k are dragged further right by the "
               "unlearnable points in (α, 1].")


def show_tables(saved: SavedToy, cfg: ToyConfig) -> None:
    pop = _population(cfg.alpha, cfg.label_noise)
    a, b = st.columns(2)
    a.plotly_chart(plots.toy_vs_k(saved.per_k, "test_error", "Test error against k", "test error (%)", pop, "error"),
                   key="toy_err_k")
    b.plotly_chart(plots.toy_vs_k(saved.per_k, "test_ce", "Test cross-entropy against k", "test cross-entropy (nats)",
                                  pop, "ce"), key="toy_ce_k")
    st.caption("Points: mean ± std over runs. Dotted: the population limit, where gradient descent on the *expected* "
               "pseudo-gradient under D converges (no sampling noise). The paper: test error rises with k, while "
               "test cross-entropy is not monotone in k.")
    table = saved.per_k.sort_values("k", ascending=False).assign(k=lambda d: d["k"].map(format_k))
    st.dataframe(table, hide_index=True, key="toy_table", column_config={
        c: st.column_config.NumberColumn(_header(c), format="%.0f" if c.startswith("epochs") else "%.4f")
        for c in table.columns if c.endswith(("_mean", "_std"))} | {
        "runs": st.column_config.NumberColumn("runs averaged"),
        "hit_max_epochs": st.column_config.NumberColumn("runs at the epoch cap")})
    d1, d2, _ = st.columns([1, 1, 3])
    d1.download_button("Per-k table (CSV)", export_table(table, {"k": "k", "runs": "runs averaged", **{
        c: _header(c) for c in table.columns if c.endswith(("_mean", "_std"))}}).to_csv(index=False),
                       f"toy_{saved.run_id}_per_k.csv",
                       "text/csv", key="toy_dl_k")
    d2.download_button("Per-run table (CSV)", saved.per_run.to_csv(index=False), f"toy_{saved.run_id}_per_run.csv",
                       "text/csv", key="toy_dl_run")
    if not saved.history.empty:
        with st.expander("Training curves of this run"):
            a, b = st.columns(2)
            a.plotly_chart(plots.toy_trace(saved.history, "val_error", "Validation error", "validation error (%)"),
                           key="toy_h_val")
            b.plotly_chart(plots.toy_trace(saved.history, "threshold", "Threshold", "threshold t"), key="toy_h_thr")
    with st.expander("Settings of this run"):
        st.json(dataclasses.asdict(cfg) if saved.config else lab.store.get_run(saved.run_id)["config"])


def results() -> None:
    st.subheader("Results")
    saved = pick_run()
    if saved is None:
        st.session_state["toy_shown"] = None
        empty_state()
        return
    cfg = saved.config or PAPER
    if not show_status(saved, cfg):
        return
    show_animation(saved, cfg)
    if saved.per_k.empty:
        show_trace(saved, "toy_partial")
        return
    show_tables(saved, cfg)


live_area = st.container()  # the live view sits above Results but is drawn after them (it compares their status)
results()
with live_area:
    live_jobs("toy", draw_live, key="toy", title="Running")
