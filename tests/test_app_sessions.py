"""Twenty browser sessions on one server (AppTest instances sharing the process's Lab): each owns
its jobs, all of them finish, the queue interleaves them, and finished jobs free their memory."""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc

from tests.conftest import ROOT

SESSIONS = 20


def _session(k: str = "1", lrs=("0.1",), seeds: int = 1):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60)
    at.run()
    at.switch_page("views/mnist.py").run()
    at.text_input(key="mnist_hidden").set_value("8")
    at.number_input(key="mnist_ntrain").set_value(500)
    at.number_input(key="mnist_epochs").set_value(1)
    at.multiselect(key="mnist_k").set_value([k])
    at.multiselect(key="mnist_lr").set_value(list(lrs))
    at.number_input(key="mnist_seeds").set_value(seeds)
    return at.run()


def _wait_idle(lab, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while lab.jobs.active() and time.time() < deadline:
        time.sleep(0.2)
    assert not lab.jobs.active()


def _stop_buttons(at) -> list:
    return [b for b in at.button if b.key and b.key.startswith("mnist_stop_")]


def test_twenty_sessions_launch_at_once(app):
    """20 sessions launch together: every run finishes 'done', no session can stop another's job (it
    sees them, with no Stop), the sessions' jobs start interleaved with a big grid's groups, and
    memory returns near its baseline once the jobs are cleared."""
    from app.state import get_lab

    app()  # fresh caches and a run database of this test's own
    lab = get_lab()
    tracemalloc.start()
    warm = _session()  # first use: imports, data cache, compiled kernels
    warm.button(key="mnist_launch").click().run()
    _wait_idle(lab)
    del warm
    lab.jobs.clear_finished()
    gc.collect()
    baseline = tracemalloc.get_traced_memory()[0]
    hold = threading.Event()  # a job holds the device until every session has launched ("at once")
    lab.jobs.submit("holder", lambda ctx: hold.wait(120), device="cpu", owner="holder")
    big = _session(lrs=("0.01", "0.02", "0.03", "0.05", "0.1", "0.2", "0.3", "0.5"), seeds=5)  # 40 runs, 3 groups
    sessions = [big] + [_session(k="1/2") for _ in range(SESSIONS - 1)]
    for at in sessions:
        at.button(key="mnist_launch").click().run()
        assert not at.error, [e.value for e in at.error]
    jobs = [j for j in lab.jobs.jobs() if j.owner != "holder"]
    owners = {j.owner for j in jobs}
    assert len(owners) == SESSIONS and len(jobs) == SESSIONS - 1 + 3

    watcher = sessions[5]
    watcher.run()
    me = watcher.session_state["session_id"]
    others = [b for b in _stop_buttons(watcher) if lab.jobs.get(b.key.removeprefix("mnist_stop_")).owner != me]
    assert not others and len(_stop_buttons(watcher)) <= 1  # Stop only on its own job...
    assert len(watcher.get("progress")) > 1  # ...while it watches everyone's

    hold.set()
    _wait_idle(lab)
    runs = lab.store.list_runs(kind="mnist")
    assert len(runs) == 1 + 40 + SESSIONS - 1 and set(runs["status"]) == {"done"}  # the warm-up run too
    assert (runs["epochs_done"] == 1).all()

    starts = sorted((lab.jobs.get(j.id).started_at, j.owner == big.session_state["session_id"]) for j in jobs)
    big_parts = [i for i, (_, is_big) in enumerate(starts) if is_big]
    assert big_parts == [0, SESSIONS, SESSIONS + 1]  # its 2nd group waits until every other session ran once

    del sessions, big, watcher
    lab.jobs.clear_finished()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    assert grown < 8_000_000, f"{grown / 1e6:.1f} MB still held after every job ended and was cleared"
