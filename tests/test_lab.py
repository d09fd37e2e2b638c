"""Tests for core.engine.lab: one owner of a run's life, from launch to its last epoch."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc

import pytest

from core.engine.lab import Lab
from core.engine.queue import JobManager, NotYourJobError, QueueFullError
from core.engine.status import FINAL
from core.engine.store import RunStore
from tests import engine_tasks
from tests.conftest import ROOT

TIMEOUT = 30


@pytest.fixture
def lab(tmp_path):
    lab = Lab(RunStore(tmp_path / "runs.sqlite"), JobManager(max_queued_per_owner=4))
    yield lab
    lab.jobs.shutdown(cancel=True, timeout=TIMEOUT)


def _launch(lab, groups, owner="me", **kwargs):
    configs, labels = engine_tasks.records(groups)
    return lab.launch("test", groups, configs, labels, device="cpu", owner=owner, **kwargs)


def _statuses(lab, run_ids):
    return [lab.store.get_run(r)["status"] for r in run_ids]


def _wait_all(lab, launched):
    for job_id in launched.job_ids:
        lab.jobs.wait(job_id, TIMEOUT)


def test_queued_launch_stopped_before_start(lab):
    """Stopping a job that is still queued ends its runs 'stopped' immediately (they never ran)."""
    engine_tasks.GATES["hold"] = threading.Event()
    first = _launch(lab, [engine_tasks.group(gate="hold")])
    second = _launch(lab, [engine_tasks.group()])
    assert _statuses(lab, second.run_ids) == ["queued", "queued"]
    assert lab.jobs.cancel(second.job_ids[0], owner="me")
    assert _statuses(lab, second.run_ids) == ["stopped", "stopped"]
    engine_tasks.GATES["hold"].set()
    _wait_all(lab, first)
    assert _statuses(lab, first.run_ids) == ["done", "done"]
    assert lab.store.get_run(second.run_ids[0])["epochs_done"] == 0


def test_crash_in_a_later_group_keeps_earlier_groups_done(lab):
    """A group that raises fails only its own runs; runs of finished groups stay 'done' with their metrics."""
    groups = [engine_tasks.group(), engine_tasks.group(fail_at=2)]
    launched = _launch(lab, groups)
    _wait_all(lab, launched)
    assert _statuses(lab, launched.run_ids) == ["done", "done", "failed", "failed"]
    first = lab.store.get_run(launched.run_ids[0])
    assert first["summary"] == {"val_error": pytest.approx(1 / 3)} and first["epochs_done"] == 3
    failed = lab.store.get_run(launched.run_ids[2])
    assert "boom at epoch 2" in failed["error"] and failed["epochs_done"] == 1  # its finished epoch is kept


def test_a_run_ends_the_moment_its_own_last_epoch_is_saved(lab):
    """A run that finishes early reads 'done' while its group-mates still train."""
    engine_tasks.GATES["slow"] = threading.Event()
    launched = _launch(lab, [engine_tasks.group(finish_early=(0,), epochs=50, sleep_s=0.05)])
    deadline = time.time() + TIMEOUT
    while _statuses(lab, launched.run_ids)[0] != "done" and time.time() < deadline:
        time.sleep(0.02)
    assert _statuses(lab, launched.run_ids) == ["done", "running"]
    lab.jobs.cancel(launched.job_ids[0], owner="me")
    _wait_all(lab, launched)
    assert _statuses(lab, launched.run_ids) == ["done", "stopped"]
    assert lab.store.get_run(launched.run_ids[1])["epochs_done"] >= 1  # stopped runs keep their epochs


def test_every_run_records_its_provenance(lab):
    """Each run saves code version, torch version and device beside its exact config and seed."""
    launched = _launch(lab, [engine_tasks.group(runs=1, epochs=1)])
    _wait_all(lab, launched)
    run = lab.store.get_run(launched.run_ids[0])
    assert run["config"] == {"run": 0, "seed": 0}
    assert set(run["provenance"]) >= {"code_version", "torch", "device", "python", "host"}
    assert run["provenance"]["device"] == "cpu" and run["provenance"]["code_version"]


def test_stop_acts_only_on_your_own_jobs_and_everyone_can_watch(lab):
    """Another session sees a job but cannot stop it; its owner can."""
    engine_tasks.GATES["watch"] = threading.Event()
    launched = _launch(lab, [engine_tasks.group(gate="watch")], owner="teacher")
    assert [j.owner for j in lab.jobs.active()] == ["teacher"]  # visible to everyone
    with pytest.raises(NotYourJobError, match="another session"):
        lab.jobs.cancel(launched.job_ids[0], owner="student")
    assert lab.jobs.cancel(launched.job_ids[0], owner="teacher")
    _wait_all(lab, launched)
    assert _statuses(lab, launched.run_ids) == ["stopped", "stopped"]


def test_sessions_are_served_round_robin(lab):
    """One session's many-group grid does not starve another session: their groups interleave."""
    engine_tasks.GATES["start"] = threading.Event()
    order = []
    blocker = _launch(lab, [engine_tasks.group(runs=1, epochs=1, gate="start")], owner="x")
    big = _launch(lab, [engine_tasks.group(runs=1, epochs=1) for _ in range(3)], owner="a")
    small = _launch(lab, [engine_tasks.group(runs=1, epochs=1)], owner="b")
    engine_tasks.GATES["start"].set()
    for launched in (blocker, big, small):
        _wait_all(lab, launched)
    started = sorted((lab.store.get_run(r)["started_at"], owner) for launched, owner in
                     ((big, "a"), (small, "b")) for r in launched.run_ids)
    order = [owner for _, owner in started]
    assert order[:2] == ["a", "b"]  # b's only group runs second, not after all of a's


def test_a_session_past_its_cap_gets_a_clear_message_and_nothing_is_saved(lab):
    """Launching more waiting jobs than the per-session cap raises QueueFullError and saves no run."""
    engine_tasks.GATES["cap"] = threading.Event()
    _launch(lab, [engine_tasks.group(gate="cap")])
    before = len(lab.store.list_runs())
    with pytest.raises(QueueFullError, match="at most 4 waiting"):
        _launch(lab, [engine_tasks.group() for _ in range(5)])
    assert len(lab.store.list_runs()) == before
    engine_tasks.GATES["cap"].set()


def test_finished_jobs_free_their_memory(lab):
    """A finished job's live payload is released: memory returns near its baseline."""
    tracemalloc.start()
    gc.collect()
    baseline = tracemalloc.get_traced_memory()[0]
    launched = _launch(lab, [engine_tasks.group(runs=1, epochs=3, payload_bytes=2_000_000)])
    _wait_all(lab, launched)
    job = lab.jobs.get(launched.job_ids[0])
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    assert job.status == "done" and job.data == {}
    assert grown < 500_000, f"{grown} bytes still held after the job ended"


def test_live_curves_come_from_the_job_not_the_database(lab):
    """While a job runs, its snapshot carries every run's epochs and status (no store read needed)."""
    engine_tasks.GATES["live"] = threading.Event()
    launched = _launch(lab, [engine_tasks.group(epochs=40, sleep_s=0.02, gate=None)])
    deadline = time.time() + TIMEOUT
    job = lab.jobs.get(launched.job_ids[0])
    while not job.data.get("curves", {}).get(launched.run_ids[0]) and time.time() < deadline:
        time.sleep(0.02)
        job = lab.jobs.get(launched.job_ids[0])
    assert job.data["statuses"][launched.run_ids[0]] == "running"
    assert job.data["curves"][launched.run_ids[0]][0]["epoch"] == 1
    lab.jobs.cancel(launched.job_ids[0], owner="me")
    _wait_all(lab, launched)


def test_run_here_saves_every_run_and_stops_on_cancel(tmp_path):
    """The CLI path trains on the calling thread; a set cancel event ends unfinished runs 'stopped'
    with their epochs kept, and never-started groups 'stopped' too."""
    lab = Lab(RunStore(tmp_path / "runs.sqlite"))
    cancel = threading.Event()
    seen = []

    def on_event(gi, event):
        seen.append(threading.current_thread() is threading.main_thread())
        if getattr(event, "epoch", 0) == 2:
            cancel.set()

    groups = [engine_tasks.group(epochs=5), engine_tasks.group(epochs=5)]
    configs, labels = engine_tasks.records(groups)
    launched = lab.run_here("test", groups, configs, labels, device="cpu", cancel=cancel, on_event=on_event)
    assert all(seen)
    assert _statuses(lab, launched.run_ids) == ["stopped"] * 4
    assert [lab.store.get_run(r)["epochs_done"] for r in launched.run_ids] == [2, 2, 0, 0]


_GRID_SCRIPT = """
import sys, time
from core.engine.lab import Lab
from core.engine.store import RunStore
from tests import engine_tasks
lab = Lab(RunStore(sys.argv[1]))
groups = [engine_tasks.group(epochs=2), engine_tasks.group(epochs=1000, sleep_s=0.05), engine_tasks.group()]
configs, labels = engine_tasks.records(groups)
launched = lab.launch("test", groups, configs, labels, device="cpu", owner="app")
print(",".join(map(str, launched.run_ids)), flush=True)
time.sleep(600)
"""


def test_kill_9_mid_grid_then_restart(tmp_path):
    """After kill -9 of the process running a grid: finished runs read 'done' with their metrics, the
    runs in flight 'interrupted' with their epochs, never-started runs 'stopped' (not 'queued')."""
    db = tmp_path / "runs.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_GRID_SCRIPT), str(db)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        run_ids = [int(i) for i in proc.stdout.readline().split(",")]
        store = RunStore(db)
        deadline = time.time() + TIMEOUT
        while store.get_run(run_ids[2])["epochs_done"] < 3 and time.time() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(TIMEOUT)
    finally:
        proc.kill()
    restarted = RunStore(db)
    assert restarted.recover_interrupted() == 4
    runs = [restarted.get_run(r) for r in run_ids]
    assert [r["status"] for r in runs] == ["done", "done", "interrupted", "interrupted", "stopped", "stopped"]
    assert runs[0]["summary"] and runs[0]["epochs_done"] == 2
    assert runs[2]["epochs_done"] >= 3 and all(r["status"] in FINAL for r in runs)


def test_stop_ends_every_run_even_when_the_store_fails_on_one(lab, caplog):
    """Stopping a queued launch whose first run the store cannot end raises nothing into the caller
    (the page's Stop button), logs the error, and still ends the other runs "stopped"."""
    engine_tasks.GATES["fail-one"] = threading.Event()
    blocker = _launch(lab, [engine_tasks.group(gate="fail-one")])
    launched = _launch(lab, [engine_tasks.group(runs=3)])
    real_finish = lab.store.finish

    def finish(run_id, status, **kwargs):
        if run_id == launched.run_ids[0]:
            raise RuntimeError("database is locked")
        real_finish(run_id, status, **kwargs)

    lab.store.finish = finish
    with caplog.at_level("ERROR", logger="core.engine.lab"):
        assert lab.stop_launch(launched.launch_id, owner="me") == 1
    assert "database is locked" in caplog.text
    assert _statuses(lab, launched.run_ids) == ["queued", "stopped", "stopped"]
    lab.store.finish = real_finish
    engine_tasks.GATES["fail-one"].set()
    _wait_all(lab, blocker)


def test_stop_launch_stops_every_part_and_only_the_owners(lab):
    """stop_launch stops all the parts of a launch for its owner; another session's call stops nothing."""
    engine_tasks.GATES["parts"] = threading.Event()
    blocker = _launch(lab, [engine_tasks.group(gate="parts")], owner="other")
    launched = _launch(lab, [engine_tasks.group(), engine_tasks.group()])
    assert lab.stop_launch(launched.launch_id, owner="intruder") == 0
    assert lab.stop_launch(launched.launch_id, owner="me") == 2
    assert _statuses(lab, launched.run_ids) == ["stopped"] * 4
    engine_tasks.GATES["parts"].set()
    _wait_all(lab, blocker)


def test_a_launch_that_cannot_be_queued_leaves_no_run(lab):
    """Launching on a shut-down queue raises JobManagerClosedError and leaves no run behind (none
    "queued" forever with no job to run it)."""
    from core.engine.queue import JobManagerClosedError

    lab.jobs.shutdown()
    with pytest.raises(JobManagerClosedError):
        _launch(lab, [engine_tasks.group(), engine_tasks.group()])
    assert lab.store.list_runs().empty


@pytest.mark.parametrize("how", ["launch", "run_here"])
def test_a_store_error_while_saving_the_runs_removes_those_saved(lab, how):
    """When saving the third run of a grid fails, the error is raised and the two runs saved before
    it are removed, from launch and from run_here alike."""
    real_create, calls = lab.store.create_run, []

    def create_run(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_create(*args, **kwargs)

    lab.store.create_run = create_run
    groups = [engine_tasks.group(), engine_tasks.group()]
    configs, labels = engine_tasks.records(groups)
    with pytest.raises(OSError, match="disk full"):
        if how == "launch":
            lab.launch("test", groups, configs, labels, device="cpu", owner="me")
        else:
            lab.run_here("test", groups, configs, labels, device="cpu")
    assert lab.store.list_runs().empty and not lab.jobs.active()


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals: main thread")
def test_a_second_ctrl_c_aborts_and_the_runs_still_end_stopped(tmp_path):
    """run_here: the first Ctrl-C asks to stop, a second raises KeyboardInterrupt at once; the runs end
    "stopped" (with their epochs), not "failed: KeyboardInterrupt"."""
    lab = Lab(RunStore(tmp_path / "runs.sqlite"))

    def on_event(gi, event):
        if getattr(event, "epoch", 0) == 2 and getattr(event, "index", 1) == 0:
            signal.raise_signal(signal.SIGINT)  # asks to stop after this step
            signal.raise_signal(signal.SIGINT)  # aborts now

    groups = [engine_tasks.group(epochs=5), engine_tasks.group(epochs=5)]
    configs, labels = engine_tasks.records(groups)
    with pytest.raises(KeyboardInterrupt):
        lab.run_here("test", groups, configs, labels, device="cpu", on_event=on_event)
    runs = lab.store.list_runs().sort_values("id")
    assert runs["status"].tolist() == ["stopped"] * 4
    assert runs["error"].isna().all() and runs["epochs_done"].tolist() == [2, 1, 0, 0]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


_RUN_HERE_SCRIPT = """
import sys
from core.engine.lab import Lab
from core.engine.store import RunStore
from tests import engine_tasks
lab = Lab(RunStore(sys.argv[1]))
groups = [engine_tasks.group(epochs=1000, sleep_s=0.05), engine_tasks.group()]
configs, labels = engine_tasks.records(groups)
def on_event(gi, event):
    if getattr(event, "epoch", 0) == 2:
        print("training", flush=True)
lab.run_here("test", groups, configs, labels, device="cpu", on_event=on_event)
"""

_DASHBOARD_SCRIPT = """
import signal, sys, threading
from core.engine.lab import Lab
from core.engine.store import RunStore
from tests import engine_tasks
lab = Lab(RunStore(sys.argv[1]))
stop = threading.Event()
if sys.argv[2] == "script-thread":  # like Streamlit: the server owns SIGTERM on the main thread and
    signal.signal(signal.SIGTERM, lambda *a: stop.set())  # returns; the app runs in another thread
    worker = threading.Thread(target=lab.end_runs_at_exit)
    worker.start()
    worker.join()
else:
    lab.end_runs_at_exit()
groups = [engine_tasks.group(epochs=2), engine_tasks.group(epochs=1000, sleep_s=0.05), engine_tasks.group()]
configs, labels = engine_tasks.records(groups)
launched = lab.launch("test", groups, configs, labels, device="cpu", owner="app")
lab.jobs.wait(launched.job_ids[0], 60)
while lab.store.get_run(launched.run_ids[2])["epochs_done"] < 2:
    stop.wait(0.02)
print("training", flush=True)
stop.wait(600)
"""


def _terminated(tmp_path, script, *args):
    """Run `script` with the database path and `args`, SIGTERM it once it prints "training"; returns
    (exit code, seconds from SIGTERM to exit, the runs by id order)."""
    db = tmp_path / "runs.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), str(db), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "training"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(TIMEOUT)
        took = time.monotonic() - t0
    finally:
        proc.kill()
    return code, took, RunStore(db).list_runs().sort_values("id")


def test_sigterm_during_run_here_ends_the_runs_interrupted_at_once(tmp_path):
    """SIGTERM of a CLI training with run_here: it exits 143 within seconds, the runs that had started
    read "interrupted" with their epochs, the group that never started "stopped"; none is left running."""
    code, took, runs = _terminated(tmp_path, _RUN_HERE_SCRIPT)
    assert code == 143 and took < 10
    assert runs["status"].tolist() == ["interrupted", "interrupted", "stopped", "stopped"]
    assert runs["epochs_done"].iloc[0] >= 2 and "SIGTERM" in runs["error"].iloc[0]


@pytest.mark.parametrize("where", ["main-thread", "script-thread"])
def test_end_runs_at_exit_ends_a_dashboards_runs_when_it_is_terminated(tmp_path, where):
    """A process that called lab.end_runs_at_exit() (on its main thread, or from another thread while
    its main thread handles SIGTERM itself, as Streamlit's server does) ends its runs at SIGTERM:
    running -> interrupted (epochs kept), queued -> stopped, finished ones stay done."""
    code, took, runs = _terminated(tmp_path, _DASHBOARD_SCRIPT, where)
    assert took < 10 and code == (143 if where == "main-thread" else 0)
    assert runs["status"].tolist() == ["done", "done", "interrupted", "interrupted", "stopped", "stopped"]
    assert runs["epochs_done"].iloc[2] >= 2


_STREAMLIT_APP = """
import os
import streamlit as st
from core.engine.lab import Lab
from core.engine.store import RunStore
from tests import engine_tasks

@st.cache_resource
def lab():
    lab = Lab(RunStore(os.environ["TUNABLE_RUNS_DB"]))
    lab.end_runs_at_exit()  # from the script thread: Streamlit's server owns SIGTERM
    groups = [engine_tasks.group(epochs=1000, sleep_s=0.05), engine_tasks.group()]
    configs, labels = engine_tasks.records(groups)
    lab.launch("test", groups, configs, labels, device="cpu", owner="app")
    return lab

lab()
st.write("training")
"""


@pytest.mark.browser
def test_sigterm_of_a_streamlit_server_ends_its_runs(tmp_path):
    """Under a real `streamlit run` (a page created the Lab and called end_runs_at_exit), SIGTERM of
    the server ends its running runs "interrupted" with their epochs and its queued ones "stopped"."""
    from playwright.sync_api import sync_playwright

    from tests.app_server import LAUNCH_ARGS, chromium_path, free_port

    (tmp_path / "app.py").write_text(textwrap.dedent(_STREAMLIT_APP))
    db, port = tmp_path / "runs.sqlite", free_port()
    env = dict(os.environ, TUNABLE_RUNS_DB=str(db), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(tmp_path / "app.py"), "--server.headless",
                             "true", "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=LAUNCH_ARGS)
            page = browser.new_page()
            deadline = time.time() + 60
            while True:  # the server takes a few seconds to listen
                try:
                    page.goto(f"http://127.0.0.1:{port}")
                    break
                except Exception:  # noqa: BLE001 - connection refused until it listens
                    assert time.time() < deadline, "the server did not start"
                    time.sleep(0.5)
            page.get_by_text("training").wait_for(timeout=60_000)
            store = RunStore(db)
            while store.list_runs().sort_values("id")["epochs_done"].iloc[0] < 2:
                assert time.time() < deadline + 60
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(TIMEOUT) == 0
            browser.close()
    finally:
        proc.kill()
    runs = RunStore(db).list_runs().sort_values("id")
    assert runs["status"].tolist() == ["interrupted", "interrupted", "stopped", "stopped"]
    assert runs["epochs_done"].iloc[0] >= 2
