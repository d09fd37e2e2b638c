"""Background jobs: run long experiments in worker threads, one at a time per device, with
browser sessions served fairly.

What: `JobManager` runs functions `fn(ctx: JobContext)` in daemon threads. Jobs on the
same device run one at a time (or `max_concurrent_per_device` at a time); the rest wait as
"queued". Each job has an `owner` (a browser session, or "cli"): waiting jobs are served
round-robin across owners, so one session's 60-run grid (many jobs) does not starve the
others, and an owner may have at most `max_queued_per_owner` jobs waiting. Everyone can read
every job; only its owner can stop it. Jobs on different devices run side by side. Every job
reports its progress and latest data through `ctx.report(...)`, and ends as "done",
"stopped" or "failed" (the words of core.engine.status; an error in a job is never raised
into the caller's thread). `on_end(job)` runs once when a job ends, however it ends (also
when it is stopped before it started). A finished job keeps only a small snapshot: its live
data is dropped, and only the newest `keep_finished` finished jobs are kept at all.

Why: a dashboard must start a training run, keep serving pages while it trains, show live
progress, let the user stop it, and not let two runs fight over one GPU. This module does
all of that with no UI code, so the CLI, tests and the Streamlit app share it (the app
keeps one manager in `st.cache_resource` and polls it from a fragment; worker threads never
touch `st.*`).

How:

    from core.engine.queue import JobManager
    manager = JobManager()

    def train(ctx):
        for epoch in range(1, 11):
            if ctx.cancelled:
                return None                         # ends as "stopped"
            ...                                     # one epoch
            ctx.report(epoch / 10, f"epoch {epoch}/10", curve=latest_curve)
        return {"test_acc": 0.98}                   # ends as "done", kept as job.result

    job = manager.submit("k=0.5", train, device="cuda", kind="mnist", owner="session-1")
    manager.get(job.id).fraction, manager.get(job.id).data["curve"]   # from any thread
    manager.cancel(job.id, owner="session-1")       # queued: never runs; running: event set
    manager.wait(job.id, timeout=60)                # -> final Job snapshot (tests, CLI)

Scheduling: each device name has a semaphore with `max_concurrent_per_device` slots. A
job takes a slot when it is dispatched and gives it back when it ends; queued jobs wait
in one FIFO list per owner, not in blocked threads, so a queued job can be cancelled
without ever running. A free slot goes to the next owner in turn that has a job waiting. Device names are compared as text: use one name per
device ("cuda" and "cuda:0" are two queues).

Threads and torch: torch kernels release the GIL, so a training thread does not freeze the
server, but `torch.set_num_threads` is process-wide and oversubscription is costly. On a
2-core machine the sweet spot is one training job at a time using 2 threads next to the
web server (the default here: one job per device); two CPU jobs with 2 threads each run
slower than one after the other. This module never calls torch: set thread counts in the
job function or at process start.

Stopping is cooperative: `cancel` sets `ctx.cancel_event`; the job function should check
`ctx.cancelled` (or call `ctx.check_cancelled()`, which raises `JobCancelled`) between
steps. Python cannot kill a thread, so a job that never checks runs to its end.
"""

from __future__ import annotations

import argparse
import itertools
import secrets
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.engine.status import DONE, FAILED, QUEUED, RUNNING, STOPPED, eta_seconds

JOB_STATUSES = (QUEUED, RUNNING, DONE, STOPPED, FAILED)  # a job's words: a subset of a run's
FINAL_JOB_STATUSES = (DONE, STOPPED, FAILED)


class JobCancelled(Exception):
    """Raised by `JobContext.check_cancelled()` once the job is cancelled; ends it as "stopped"."""


class JobNotFoundError(KeyError):
    """No job has this id in this manager (it may have been cleared)."""


class NotYourJobError(PermissionError):
    """Only the session that launched a job may stop it (everyone may watch it)."""


class QueueFullError(RuntimeError):
    """The owner already has as many jobs waiting as allowed; the message says what to do."""


class JobManagerClosedError(RuntimeError):
    """The manager was shut down and accepts no new jobs; create a new JobManager."""


@dataclass(frozen=True)
class Job:
    """A snapshot of one job, taken under the manager's lock (fields do not change after)."""

    id: str  # short unique id, e.g. "a3f09c1e"
    name: str  # what the user sees
    kind: str  # free text for filtering, e.g. "mnist"
    device: str  # the queue it waits in
    owner: str  # who launched it (a browser session id, "cli", ...); only the owner may stop it
    status: str  # one of JOB_STATUSES
    submitted_at: float  # Unix time, seconds
    started_at: float | None  # Unix time; None while queued
    finished_at: float | None  # Unix time; None until it ends
    elapsed_s: float  # running time so far (0 while queued), seconds
    fraction: float | None  # progress in [0, 1], None if unknown
    message: str  # latest progress message
    eta_s: float | None  # seconds left: as reported, else estimated from fraction and elapsed_s
    queue_position: int | None  # jobs ahead of it on its device while queued, else None
    cancel_requested: bool  # cancel() was called
    data: dict[str, Any]  # latest value of each key passed to report(**data) (a copy)
    meta: dict[str, Any]  # what submit(meta=...) attached, e.g. run ids or a session id (a copy)
    result: Any  # fn's return value once done
    error: str | None  # "ExceptionType: message" when failed
    traceback: str | None  # formatted traceback when failed

    @property
    def finished(self) -> bool:
        return self.status in FINAL_JOB_STATUSES

    @property
    def active(self) -> bool:
        return self.status in (QUEUED, RUNNING)


@dataclass(eq=False)
class _Record:
    """The live, mutable state of one job; guarded by the manager's lock."""

    id: str
    name: str
    kind: str
    device: str
    owner: str
    fn: Callable[[JobContext], Any]
    meta: dict[str, Any]
    on_end: Callable[[Job], None] | None
    submitted_at: float
    seq: int = 0  # submission order within the manager
    status: str = QUEUED
    started_at: float | None = None
    finished_at: float | None = None
    started_mono: float | None = None
    finished_mono: float | None = None
    fraction: float | None = None
    message: str = ""
    eta_s: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class JobContext:
    """What a job function gets: its id, device, a cancel event, and `report`."""

    def __init__(self, manager: JobManager, record: _Record):
        self._manager = manager
        self._record = record
        self.job_id = record.id
        self.name = record.name
        self.device = record.device
        self.cancel_event = record.cancel_event  # set by cancel(); wait on it to sleep interruptibly

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        """Raise JobCancelled if the job was cancelled (ends it as "stopped")."""
        if self.cancel_event.is_set():
            raise JobCancelled(f"job {self.job_id} was cancelled")

    def report(
        self, fraction: float | None = None, message: str | None = None, eta_s: float | None = None, **data: Any
    ) -> None:
        """Update progress: `fraction` in [0, 1] (clipped), `message`, `eta_s` in seconds (None
        leaves each unchanged), and any keyword data, of which only the latest value per key
        is kept. Pass new objects rather than mutating ones already reported: readers see them."""
        with self._manager._lock:
            record = self._record
            if fraction is not None:
                record.fraction = min(1.0, max(0.0, float(fraction)))
            if message is not None:
                record.message = str(message)
            if eta_s is not None:
                record.eta_s = max(0.0, float(eta_s))
            record.data.update(data)


def _new_id(taken: Mapping[str, Any]) -> str:
    while True:
        job_id = secrets.token_hex(4)
        if job_id not in taken:
            return job_id


class JobManager:
    """Thread-based job queue: one job at a time per device by default, owners served
    round-robin (see module docstring). Every method is thread-safe and returns quickly; only
    `wait` and `shutdown` block."""

    def __init__(self, max_concurrent_per_device: int = 1, max_queued_per_owner: int | None = None,
                 keep_finished: int = 200):
        if max_concurrent_per_device < 1:
            raise ValueError(f"max_concurrent_per_device must be >= 1, got {max_concurrent_per_device}")
        self.max_concurrent_per_device = max_concurrent_per_device
        self.max_queued_per_owner = max_queued_per_owner
        self.keep_finished = keep_finished
        self._lock = threading.RLock()
        self._records: dict[str, _Record] = {}  # all jobs, in submission order
        self._queues: dict[str, dict[str, deque[_Record]]] = {}  # device -> owner -> jobs waiting, FIFO
        self._served: dict[tuple[str, str], int] = {}  # (device, owner) -> when it was last served (a counter)
        self._serial = 0
        self._slots: dict[str, threading.BoundedSemaphore] = {}  # device -> free run slots
        self._closed = False

    # -------------------------------------------------------- submitting and scheduling

    def check_capacity(self, owner: str, n: int = 1) -> None:
        """Raise QueueFullError if `owner` may not queue `n` more jobs."""
        cap = self.max_queued_per_owner
        if cap is None:
            return
        with self._lock:
            waiting = sum(len(q.get(owner, ())) for q in self._queues.values())
        if waiting + n > cap:
            raise QueueFullError(
                f"you already have {waiting} job(s) waiting and this adds {n}; a session may have at most "
                f"{cap} waiting. Stop some, or wait until they start, then launch again."
            )

    def submit(
        self,
        name: str,
        fn: Callable[[JobContext], Any],
        device: str = "cpu",
        kind: str = "",
        meta: Mapping[str, Any] | None = None,
        *,
        owner: str = "",
        on_end: Callable[[Job], None] | None = None,
    ) -> Job:
        """Queue `fn(ctx)` on `device` for `owner`; it starts when the device has a free slot and
        it is its owner's turn. `on_end(final_job)` is called once when it ends, in whichever
        thread ends it. Returns its first snapshot. QueueFullError past the owner's cap."""
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        device, owner = str(device), str(owner)
        with self._lock:
            if self._closed:
                raise JobManagerClosedError("this JobManager was shut down; create a new one")
            self.check_capacity(owner)
            record = _Record(
                id=_new_id(self._records), name=str(name), kind=str(kind), device=device, owner=owner, fn=fn,
                meta=dict(meta or {}), on_end=on_end, submitted_at=time.time(),
            )  # fmt: skip
            self._records[record.id] = record
            self._serial += 1
            record.seq = self._serial
            self._queues.setdefault(device, {}).setdefault(owner, deque()).append(record)
            self._slots.setdefault(device, threading.BoundedSemaphore(self.max_concurrent_per_device))
            self._dispatch(device)
            return self._snapshot(record)

    def _next_waiting(self, device: str) -> _Record | None:
        """Pop the next job to start on `device`: the first waiting job of the owner served least
        recently (never served first; ties go to the earlier job). Caller holds the lock."""
        waiting = [(self._served.get((device, owner), -1), queue[0].seq, owner)
                   for owner, queue in self._queues.get(device, {}).items() if queue]
        if not waiting:
            return None
        owner = min(waiting)[2]
        self._serial += 1
        self._served[(device, owner)] = self._serial
        return self._queues[device][owner].popleft()

    def _dispatch(self, device: str) -> None:
        """Start queued jobs on `device` while it has free slots. Caller holds the lock."""
        slots = self._slots[device]
        while slots.acquire(blocking=False):
            record = self._next_waiting(device)
            if record is None:
                slots.release()
                return
            record.status = RUNNING
            record.started_at = time.time()
            record.started_mono = time.monotonic()
            record.thread = threading.Thread(
                target=self._work, args=(record,), name=f"job-{record.id}-{record.name}"[:60], daemon=True
            )
            record.thread.start()

    def _work(self, record: _Record) -> None:
        """The worker thread: run fn, record how it ended, free the slot, start the next job."""
        ctx = JobContext(self, record)
        status, result, error, trace = DONE, None, None, None
        try:
            result = record.fn(ctx)
            if record.cancel_event.is_set():
                status = STOPPED  # it returned early because it saw the cancel
        except JobCancelled:
            status = STOPPED
        except BaseException as exc:  # noqa: BLE001 - never raised into anyone's thread
            status, error, trace = FAILED, f"{type(exc).__name__}: {exc}", traceback.format_exc()
        with self._lock:
            record.result, record.error, record.traceback = result, error, trace
            if status == DONE:
                record.fraction, record.eta_s = 1.0, 0.0
            self._slots[record.device].release()
            final = self._end(record, status)
            self._dispatch(record.device)
        self._call_on_end(record, final)

    def _end(self, record: _Record, status: str) -> Job:
        """Mark a job ended, free its live data, forget the oldest finished jobs. Caller holds the lock."""
        record.status = status
        record.finished_at = time.time()
        record.finished_mono = time.monotonic()
        final = self._snapshot(record)  # on_end sees the last live data
        record.data = {}  # a finished job's live data (curves, snapshots) is what the store keeps
        record.fn = _ended
        finished = [r.id for r in self._records.values() if r.status in FINAL_JOB_STATUSES]
        for job_id in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._records[job_id]
        return final

    def _call_on_end(self, record: _Record, final: Job) -> None:
        try:
            if record.on_end is not None:
                record.on_end(final)
        finally:
            record.on_end = None
            record.ended.set()

    # -------------------------------------------------------- control

    def cancel(self, job_id: str, owner: str | None = None) -> bool:
        """Stop a job: a queued one is marked "stopped" and never runs; a running one has its
        cancel event set and ends when its function next checks. Returns False if it had
        already ended. With `owner`, NotYourJobError unless the job is that owner's."""
        with self._lock:
            record = self._record(job_id)
            if owner is not None and record.owner != owner:
                raise NotYourJobError(f"job {record.name!r} belongs to another session: you can watch it, "
                                      "only the session that launched it can stop it")
            if record.status == RUNNING:
                record.cancel_event.set()
                return True
            if record.status != QUEUED:
                return False
            self._queues[record.device][record.owner].remove(record)
            record.cancel_event.set()
            final = self._end(record, STOPPED)
        self._call_on_end(record, final)
        return True

    def cancel_all(self, kind: str | None = None, owner: str | None = None) -> int:
        """Cancel every queued and running job (of `kind` and `owner`, where given); returns how many."""
        with self._lock:
            ids = [r.id for r in self._records.values() if r.status in (QUEUED, RUNNING)
                   and (kind is None or r.kind == kind) and (owner is None or r.owner == owner)]
        return sum(self.cancel(i) for i in ids)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job ends and return its final snapshot; TimeoutError after `timeout` s."""
        with self._lock:
            record = self._record(job_id)
        if not record.ended.wait(timeout):
            raise TimeoutError(f"job {job_id} ({record.name}) still {record.status} after {timeout} s")
        with self._lock:
            return self._snapshot(record)

    def clear_finished(self, owner: str | None = None) -> int:
        """Forget jobs that have ended (of `owner`, where given); returns how many."""
        with self._lock:
            ended = [i for i, r in self._records.items()
                     if r.status in FINAL_JOB_STATUSES and (owner is None or r.owner == owner)]
            for job_id in ended:
                del self._records[job_id]
            return len(ended)

    def shutdown(self, cancel: bool = True, timeout: float | None = 10.0) -> bool:
        """Accept no more jobs. If `cancel`, stop the queued and running ones; otherwise let
        them all run. Then wait up to `timeout` s for them to end. Returns True if all ended."""
        with self._lock:
            self._closed = True
            pending = [r for r in self._records.values() if r.status in (QUEUED, RUNNING)]
        if cancel:
            self.cancel_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for record in pending:
            record.ended.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return all(record.ended.is_set() for record in pending)

    # -------------------------------------------------------- reading

    def _record(self, job_id: str) -> _Record:
        try:
            return self._records[job_id]
        except KeyError:
            raise JobNotFoundError(job_id) from None

    def _snapshot(self, record: _Record) -> Job:
        """Caller holds the lock."""
        now = time.monotonic()
        elapsed = 0.0
        if record.started_mono is not None:
            elapsed = (record.finished_mono if record.finished_mono is not None else now) - record.started_mono
        eta = record.eta_s
        if record.status == RUNNING and eta is None:
            eta = eta_seconds(elapsed, record.fraction)
        position = None
        if record.status == QUEUED:
            position = self._position(record)
        return Job(
            id=record.id, name=record.name, kind=record.kind, device=record.device, owner=record.owner,
            status=record.status, submitted_at=record.submitted_at, started_at=record.started_at,
            finished_at=record.finished_at, elapsed_s=elapsed, fraction=record.fraction, message=record.message,
            eta_s=eta, queue_position=position, cancel_requested=record.cancel_event.is_set(),
            data=dict(record.data), meta=dict(record.meta), result=record.result,
            error=record.error, traceback=record.traceback,
        )  # fmt: skip

    def _position(self, record: _Record) -> int:
        """How many waiting jobs start before this one if nobody else submits (the serving order)."""
        queues = {owner: deque(q) for owner, q in self._queues[record.device].items()}
        served = {owner: self._served.get((record.device, owner), -1) for owner in queues}
        for ahead in itertools.count():
            owner = min((served[o], q[0].seq, o) for o, q in queues.items() if q)[2]
            if queues[owner].popleft() is record:
                return ahead
            served[owner] = self._serial + ahead + 1
        raise AssertionError("unreachable")

    def get(self, job_id: str) -> Job:
        """The job's current snapshot; JobNotFoundError if unknown (or long finished and forgotten)."""
        with self._lock:
            return self._snapshot(self._record(job_id))

    def jobs(self, kind: str | None = None, owner: str | None = None) -> list[Job]:
        """Snapshots of all jobs (of `kind` and `owner`, where given), in submission order."""
        with self._lock:
            return [self._snapshot(r) for r in self._records.values()
                    if (kind is None or r.kind == kind) and (owner is None or r.owner == owner)]

    def active(self, kind: str | None = None, owner: str | None = None) -> list[Job]:
        """Snapshots of the queued and running jobs, in submission order."""
        with self._lock:
            return [self._snapshot(r) for r in self._records.values() if r.status in (QUEUED, RUNNING)
                    and (kind is None or r.kind == kind) and (owner is None or r.owner == owner)]


def _ended(ctx: JobContext) -> None:  # what a finished record holds instead of its function
    return None


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.engine.queue",
        description="Demo of the job queue: sleeping jobs on two devices, printed as they progress.",
    )
    parser.add_argument("--jobs", type=int, default=3, help="jobs per device")
    parser.add_argument("--seconds", type=float, default=1.0, help="how long each job takes")
    args = parser.parse_args(argv)

    def sleeper(ctx: JobContext) -> float:
        steps = 10
        for step in range(1, steps + 1):
            if ctx.cancel_event.wait(args.seconds / steps):
                return step / steps
            ctx.report(step / steps, f"step {step}/{steps}")
        return 1.0

    manager = JobManager()
    for i in range(args.jobs):
        for device in ("cpu", "cuda"):
            manager.submit(f"{device}-{i}", sleeper, device=device, kind="demo")
    while manager.active():
        line = "  ".join(
            f"{j.name}:{j.status[:4]}" + (f" {100 * (j.fraction or 0):3.0f}%" if j.status == RUNNING else "")
            for j in manager.jobs()
        )
        print(line, flush=True)
        time.sleep(max(0.05, args.seconds / 4))
    print("  ".join(f"{j.name}:{j.status} {j.elapsed_s:.2f}s" for j in manager.jobs()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
