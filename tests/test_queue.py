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
