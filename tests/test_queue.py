"""Tests for core.engine.queue: per-device queueing, FIFO order, cancellation, failures, progress."""

from __future__ import annotations

import threading
import time

import pytest

from core.engine.queue import JobCancelled, JobManager, JobManagerClosedError, JobNotFoundError

TIMEOUT = 5.0  # generous upper bound for anything that should take milliseconds


@pytest.fixture
def manager():
    manager = JobManager()
    yield manager
    assert manager.shutdown(cancel=True, timeout=TIMEOUT)


def _blocker(started: threading.Event, release: threading.Event):
    """A job that signals it started, then runs until `release` is set."""

    def fn(ctx):
        started.set()
        assert release.wait(TIMEOUT)
        return "released"

    return fn


def test_one_job_at_a_time_per_device(manager):
    """A second job on a busy device stays queued until the first ends, then runs."""
    started, release = threading.Event(), threading.Event()
    first = manager.submit("first", _blocker(started, release), device="cpu")
    assert started.wait(TIMEOUT)
    second = manager.submit("second", lambda ctx: "ok", device="cpu")
    time.sleep(0.05)  # room for a wrongly dispatched second job to start
    assert manager.get(first.id).status == "running"
    assert manager.get(second.id).status == "queued"
    assert manager.get(second.id).queue_position == 0
    release.set()
    done = manager.wait(second.id, TIMEOUT)
    assert done.status == "done" and done.result == "ok"
    assert done.started_at >= manager.get(first.id).finished_at


def test_different_devices_run_concurrently(manager):
    """Jobs on two different devices run at the same time (both reach a two-party barrier)."""
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    jobs = [manager.submit(device, lambda ctx: barrier.wait(), device=device) for device in ("cpu", "cuda")]
    assert [manager.wait(job.id, TIMEOUT).status for job in jobs] == ["done", "done"]


def test_max_concurrent_per_device_allows_that_many():
    """With max_concurrent_per_device=2, two jobs on one device run together and a third waits."""
    manager = JobManager(max_concurrent_per_device=2)
    barrier, release = threading.Barrier(2, timeout=TIMEOUT), threading.Event()

    def pair_member(ctx):
        barrier.wait()  # breaks (and fails the job) unless both run at once
        assert release.wait(TIMEOUT)

    try:
        pair = [manager.submit(f"j{i}", pair_member) for i in range(2)]
        third = manager.submit("j2", lambda ctx: None)
        time.sleep(0.05)
        assert manager.get(third.id).status == "queued"
        release.set()
        assert [manager.wait(j.id, TIMEOUT).status for j in (*pair, third)] == ["done"] * 3
    finally:
        manager.shutdown(timeout=TIMEOUT)


def test_queued_jobs_start_in_submission_order(manager):
    """Jobs waiting on one device start first-in, first-out, and report their place in the queue."""
    started, release = threading.Event(), threading.Event()
    manager.submit("blocker", _blocker(started, release))
    assert started.wait(TIMEOUT)
    order = []
    jobs = [manager.submit(f"j{i}", lambda ctx, i=i: order.append(i)) for i in range(6)]
    assert [manager.get(j.id).queue_position for j in jobs] == list(range(6))
    release.set()
    for job in jobs:
        manager.wait(job.id, TIMEOUT)
    assert order == list(range(6))


def test_cancel_queued_job_never_runs(manager):
    """Cancelling a queued job marks it stopped at once, and its function never runs."""
    started, release = threading.Event(), threading.Event()
    blocker = manager.submit("blocker", _blocker(started, release))
    assert started.wait(TIMEOUT)
    ran = threading.Event()
    queued = manager.submit("queued", lambda ctx: ran.set())
    after = manager.submit("after", lambda ctx: "ran")
    assert manager.cancel(queued.id) is True
    assert manager.wait(queued.id, 0).status == "stopped"
    assert manager.get(after.id).queue_position == 0
    release.set()
    assert manager.wait(after.id, TIMEOUT).status == "done"
    assert manager.wait(blocker.id, TIMEOUT).status == "done"
    assert not ran.is_set()
    assert manager.cancel(queued.id) is False  # already ended


def test_cancel_running_job_stops_within_a_second(manager):
    """A running job whose function watches its cancel event ends as stopped within a second of cancel."""
    started = threading.Event()

    def loop(ctx):
        started.set()
        while not ctx.cancel_event.wait(0.01):
            pass
        return "partial"

    job = manager.submit("loop", loop)
    assert started.wait(TIMEOUT)
    assert manager.cancel(job.id) is True
    t0 = time.monotonic()
    final = manager.wait(job.id, timeout=1.0)
    assert time.monotonic() - t0 < 1.0
    assert final.status == "stopped" and final.cancel_requested and final.result == "partial"


def test_check_cancelled_raises_and_ends_as_stopped(manager):
    """ctx.check_cancelled() raises JobCancelled after cancel, which ends the job as stopped, not failed."""
    started = threading.Event()

    def fn(ctx):
        started.set()
        while True:
            ctx.check_cancelled()
            ctx.cancel_event.wait(0.01)

    job = manager.submit("fn", fn)
    assert started.wait(TIMEOUT)
    manager.cancel(job.id)
    final = manager.wait(job.id, TIMEOUT)
    assert final.status == "stopped" and final.error is None
    assert issubclass(JobCancelled, Exception)


def test_failure_is_captured_not_raised(manager):
    """An exception in a job ends it as failed with its message and traceback; the device keeps serving."""

    def broken(ctx):
        raise ValueError("k must be positive")

    job = manager.submit("broken", broken)
    final = manager.wait(job.id, TIMEOUT)
    assert final.status == "failed"
    assert final.error == "ValueError: k must be positive"
    assert "in broken" in final.traceback and "ValueError" in final.traceback
    assert manager.wait(manager.submit("next", lambda ctx: 1).id, TIMEOUT).status == "done"


def test_report_is_visible_from_another_thread(manager):
    """What a job reports (fraction, message, eta, data) is what another thread's snapshot shows,
    keeping only the latest value of each data key."""
    reported, go = threading.Event(), threading.Event()

    def fn(ctx):
        ctx.report(0.25, "epoch 1/4", eta_s=3.0, curve=[1.0], epoch=1)
        ctx.report(0.5, curve=[1.0, 0.5])
        reported.set()
        assert go.wait(TIMEOUT)

    job = manager.submit("fn", fn, kind="mnist", meta={"run_ids": [7]})
    assert reported.wait(TIMEOUT)
    seen = manager.get(job.id)
    assert (seen.status, seen.fraction, seen.message, seen.eta_s) == ("running", 0.5, "epoch 1/4", 3.0)
    assert dict(seen.data) == {"curve": [1.0, 0.5], "epoch": 1}
    assert seen.meta == {"run_ids": [7]} and seen.kind == "mnist"
    assert seen.elapsed_s > 0 and seen.started_at >= seen.submitted_at
    go.set()
    final = manager.wait(job.id, TIMEOUT)
    assert final.fraction == 1.0 and final.finished_at >= final.started_at
    assert seen.status == "running"  # a snapshot does not change after it is taken


def test_eta_is_estimated_from_fraction_when_not_reported(manager):
    """Without a reported eta, a running job's eta is elapsed * (1 - fraction) / fraction."""
    reported, go = threading.Event(), threading.Event()

    def fn(ctx):
        ctx.cancel_event.wait(0.05)
        ctx.report(0.25)
        reported.set()
        go.wait(TIMEOUT)

    job = manager.submit("fn", fn)
    assert reported.wait(TIMEOUT)
    seen = manager.get(job.id)
    go.set()
    assert seen.eta_s == pytest.approx(seen.elapsed_s * 3.0)
    assert seen.eta_s >= 0.15


def test_wait_times_out_and_unknown_ids_raise(manager):
    """wait raises TimeoutError while the job runs; an unknown id raises JobNotFoundError."""
    started, release = threading.Event(), threading.Event()
    job = manager.submit("blocker", _blocker(started, release))
    with pytest.raises(TimeoutError):
        manager.wait(job.id, timeout=0.05)
    release.set()
    assert manager.wait(job.id, TIMEOUT).result == "released"
    with pytest.raises(JobNotFoundError):
        manager.get("nope")


def test_jobs_active_and_clear_finished(manager):
    """jobs() lists all jobs in order (filtered by kind), active() only queued/running ones,
    and clear_finished() forgets ended ones."""
    started, release = threading.Event(), threading.Event()
    done = manager.submit("done", lambda ctx: None, kind="toy", device="cuda")
    manager.wait(done.id, TIMEOUT)
    running = manager.submit("running", _blocker(started, release), kind="mnist")
    assert started.wait(TIMEOUT)
    queued = manager.submit("queued", lambda ctx: None, kind="mnist")
    assert [j.id for j in manager.jobs()] == [done.id, running.id, queued.id]
    assert [j.id for j in manager.jobs(kind="mnist")] == [running.id, queued.id]
    assert [j.id for j in manager.active()] == [running.id, queued.id]
    assert len({j.id for j in manager.jobs()}) == 3
    assert manager.clear_finished() == 1
    with pytest.raises(JobNotFoundError):
        manager.get(done.id)
    release.set()


def test_shutdown_cancels_everything_and_refuses_new_jobs():
    """shutdown(cancel=True) stops running and queued jobs and later submits raise JobManagerClosedError."""
    manager = JobManager()
    started = threading.Event()

    def loop(ctx):
        started.set()
        ctx.cancel_event.wait(TIMEOUT)

    running = manager.submit("loop", loop)
    assert started.wait(TIMEOUT)
    queued = manager.submit("queued", lambda ctx: None)
    assert manager.shutdown(cancel=True, timeout=TIMEOUT)
    assert [manager.get(j.id).status for j in (running, queued)] == ["stopped", "stopped"]
    with pytest.raises(JobManagerClosedError):
        manager.submit("late", lambda ctx: None)


def _held_device(manager, owners: int, per_owner: int, release: threading.Event):
    """A device kept busy by one job, with `per_owner` jobs waiting for each of `owners` owners."""
    started = threading.Event()
    manager.submit("blocker", _blocker(started, release), owner="blocker")
    assert started.wait(TIMEOUT)
    return [manager.submit(f"o{o}-{n}", lambda ctx: None, owner=f"o{o}")
            for n in range(per_owner) for o in range(owners)]


def test_queue_positions_are_the_round_robin_start_order():
    """Every waiting job's queue_position is its place in the order jobs actually start (owners
    served in turn, each owner's jobs first-in first-out), for uneven lines of several owners."""
    manager, release = JobManager(), threading.Event()
    order = []
    try:
        started = threading.Event()
        manager.submit("blocker", _blocker(started, release), owner="a")
        assert started.wait(TIMEOUT)
        names = [(owner, f"{owner}{n}") for owner, first, count in (("a", 0, 3), ("b", 0, 1), ("c", 0, 2), ("a", 3, 1))
                 for n in range(first, first + count)]
        jobs = [manager.submit(name, lambda ctx, name=name: order.append(name), owner=owner) for owner, name in names]
        positions = {job.name: job.queue_position for job in manager.active() if job.status == "queued"}
        assert sorted(positions.values()) == list(range(len(jobs)))
        release.set()
        for job in jobs:
            manager.wait(job.id, TIMEOUT)
        assert sorted(positions, key=positions.get) == order
    finally:
        release.set()
        manager.shutdown(timeout=TIMEOUT)


def test_active_costs_grow_linearly_with_waiting_jobs():
    """active() with 10x the waiting jobs (20 owners x 24 instead of 2 x 24) costs less than 40x as
    much (best of 5 each): positions come from one pass, not one serving-order replay per job."""
    costs = []
    for owners in (2, 20):
        manager, release = JobManager(), threading.Event()
        try:
            _held_device(manager, owners, 24, release)
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                assert len(manager.active()) == 1 + owners * 24
                times.append(time.perf_counter() - t0)
            costs.append(min(times))
        finally:
            release.set()
            manager.shutdown(timeout=TIMEOUT)
    assert costs[1] < 40 * costs[0], f"2 owners: {costs[0] * 1e3:.2f} ms, 20 owners: {costs[1] * 1e3:.2f} ms"


def test_snapshots_are_built_outside_the_lock(monkeypatch):
    """Job snapshots of active(), jobs(), board() and get() are built with the manager's lock
    released, so a training thread's report() never waits for a page's poll to build them."""
    from core.engine import queue

    manager, release = JobManager(), threading.Event()
    held = []
    real_job = queue.Job

    def recording_job(**fields):
        held.append(manager._lock._is_owned())
        return real_job(**fields)

    try:
        waiting = _held_device(manager, 2, 2, release)
        monkeypatch.setattr(queue, "Job", recording_job)
        manager.active(), manager.jobs(), manager.board(owner="o1"), manager.get(waiting[0].id)
        assert held and not any(held)
    finally:
        release.set()
        manager.shutdown(timeout=TIMEOUT)


def test_board_holds_every_active_job_and_the_owners():
    """board(owner) gives every active job (any owner) and, from the same snapshot, the owner's own,
    with filters by kind and by meta."""
    manager, release = JobManager(), threading.Event()
    try:
        started = threading.Event()
        manager.submit("blocker", _blocker(started, release), owner="a", kind="toy", meta={"launch": "L1"})
        assert started.wait(TIMEOUT)
        manager.submit("b0", lambda ctx: None, owner="b", kind="mnist", meta={"launch": "L2"})
        manager.submit("a1", lambda ctx: None, owner="a", kind="mnist", meta={"launch": "L1"})
        board = manager.board(owner="a")
        assert [j.name for j in board.jobs] == ["blocker", "b0", "a1"]
        assert [j.name for j in board.mine] == ["blocker", "a1"]
        assert [j.name for j in board.of_kind("mnist")] == ["b0", "a1"]
        assert [j.name for j in board.where(launch="L1")] == ["blocker", "a1"]
        assert manager.cancel_all(owner="a", where={"launch": "L1"}) == 2
        assert [j.name for j in manager.board(owner="a").jobs] == ["b0"] or release.set() is None
    finally:
        release.set()
        manager.shutdown(timeout=TIMEOUT)


def test_submit_all_queues_every_job_or_none():
    """submit_all past an owner's cap, or on a shut-down manager, queues none of the jobs."""
    from core.engine.queue import JobSpec, QueueFullError

    manager, release = JobManager(max_queued_per_owner=3), threading.Event()
    try:
        _held_device(manager, 1, 1, release)  # o0 has one job waiting
        with pytest.raises(QueueFullError, match="at most 3"):
            manager.submit_all([JobSpec(f"j{i}", lambda ctx: None, owner="o0") for i in range(3)])
        assert [j.name for j in manager.active()] == ["blocker", "o0-0"]
        jobs = manager.submit_all([JobSpec(f"j{i}", lambda ctx: None, owner="o0") for i in range(2)])
        assert [j.queue_position for j in jobs] == [1, 2]
    finally:
        release.set()
        manager.shutdown(timeout=TIMEOUT)
    with pytest.raises(JobManagerClosedError):
        manager.submit_all([JobSpec("late", lambda ctx: None)])


def test_an_error_in_on_end_is_logged_not_raised(manager, caplog):
    """Stopping a queued job whose on_end raises returns normally (the error is logged), and the
    job reads stopped: a page's Stop button never shows a traceback."""
    started, release = threading.Event(), threading.Event()
    manager.submit("blocker", _blocker(started, release))
    assert started.wait(TIMEOUT)

    def broken(job):
        raise RuntimeError("store is gone")

    queued = manager.submit("queued", lambda ctx: None, on_end=broken)
    with caplog.at_level("ERROR", logger="core.engine.queue"):
        assert manager.cancel(queued.id) is True
    assert "store is gone" in caplog.text
    assert manager.wait(queued.id, 0).status == "stopped"
    release.set()
