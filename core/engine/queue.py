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
    board = manager.board(owner="session-1")        # a page's poll: board.jobs (everyone's), board.mine

Reading never holds up training: places in line are computed in one pass per device (cached until
the line changes) and snapshots are built outside the lock (20 sessions x 24 waiting jobs: about
4 ms per `active()`, benchmarks/queue_bench.py). Snapshot types, errors and JobContext are
importable from here.

Scheduling: each device name ("cuda" and "cuda:0" are two) has `max_concurrent_per_device` run
slots; queued jobs wait in one FIFO list per owner (not in blocked threads, so a queued job can be
cancelled without running), and a free slot goes to the next owner in turn. This module never calls
torch: set thread counts in the job function or at start (`torch.set_num_threads` is process-wide).

Stopping is cooperative: `cancel` sets `ctx.cancel_event`; the job function should check
`ctx.cancelled` (or call `ctx.check_cancelled()`, which raises `JobCancelled`) between
steps. Python cannot kill a thread, so a job that never checks runs to its end.
"""

from __future__ import annotations

import heapq
import logging
import secrets
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.engine.job_context import JobContext, JobRecord
from core.engine.jobs import (
    FINAL_JOB_STATUSES,
    JOB_STATUSES,
    Board,
    Job,
    JobCancelled,
    JobManagerClosedError,
    JobNotFoundError,
    JobSpec,
    NotYourJobError,
    QueueFullError,
)
from core.engine.status import DONE, FAILED, QUEUED, RUNNING, STOPPED, eta_seconds

__all__ = ["FINAL_JOB_STATUSES", "JOB_STATUSES", "Board", "Job", "JobCancelled", "JobContext", "JobManager",
           "JobManagerClosedError", "JobNotFoundError", "JobSpec", "NotYourJobError", "QueueFullError"]

log = logging.getLogger(__name__)


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
        self._records: dict[str, JobRecord] = {}  # all jobs, in submission order
        self._queues: dict[str, dict[str, deque[JobRecord]]] = {}  # device -> owner -> jobs waiting, FIFO
        self._served: dict[tuple[str, str], int] = {}  # (device, owner) -> when it was last served (a counter)
        self._positions: dict[str, dict[str, int]] = {}  # device -> job id -> place in line (a cache)
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

    def submit(self, name: str, fn: Callable[[JobContext], Any], device: str = "cpu", kind: str = "",
               meta: Mapping[str, Any] | None = None, *, owner: str = "",
               on_end: Callable[[Job], None] | None = None) -> Job:
        """Queue `fn(ctx)` on `device` for `owner`; it starts when the device has a free slot and
        it is its owner's turn. `on_end(final_job)` is called once when it ends, in whichever
        thread ends it. Returns its first snapshot. QueueFullError past the owner's cap."""
        return self.submit_all([JobSpec(name, fn, device, kind, meta, owner, on_end)])[0]

    def submit_all(self, specs: Sequence[JobSpec]) -> list[Job]:
        """Queue every job or none: QueueFullError (an owner's cap), JobManagerClosedError or
        TypeError (an fn that is not callable) before any is queued. Returns their first snapshots."""
        for spec in specs:
            if not callable(spec.fn):
                raise TypeError(f"fn must be callable, got {type(spec.fn).__name__}")
        with self._lock:
            if self._closed:
                raise JobManagerClosedError("this JobManager was shut down; create a new one")
            for owner in {str(spec.owner) for spec in specs}:
                self.check_capacity(owner, sum(str(spec.owner) == owner for spec in specs))
            records = [self._enqueue(spec) for spec in specs]
            for device in dict.fromkeys(record.device for record in records):
                self._dispatch(device)
            states = [self._state(record) for record in records]
        return [self._job(*state) for state in states]

    def _enqueue(self, spec: JobSpec) -> JobRecord:
        """Add one job to its owner's line on its device. Caller holds the lock."""
        device, owner = str(spec.device), str(spec.owner)
        self._serial += 1
        record = JobRecord(
            id=_new_id(self._records), name=str(spec.name), kind=str(spec.kind), device=device, owner=owner,
            fn=spec.fn, meta=dict(spec.meta or {}), on_end=spec.on_end, submitted_at=time.time(), seq=self._serial,
        )  # fmt: skip
        self._records[record.id] = record
        self._queues.setdefault(device, {}).setdefault(owner, deque()).append(record)
        self._slots.setdefault(device, threading.BoundedSemaphore(self.max_concurrent_per_device))
        self._positions.pop(device, None)
        return record

    def _next_waiting(self, device: str) -> JobRecord | None:
        """Pop the next job to start on `device`: the first waiting job of the owner served least
        recently (never served first; ties go to the earlier job). Caller holds the lock."""
        waiting = [(self._served.get((device, owner), -1), queue[0].seq, owner)
                   for owner, queue in self._queues.get(device, {}).items() if queue]
        if not waiting:
            return None
        owner = min(waiting)[2]
        self._serial += 1
        self._served[(device, owner)] = self._serial
        self._positions.pop(device, None)
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

    def _work(self, record: JobRecord) -> None:
        """The worker thread: run fn, record how it ended, free the slot, start the next job."""
        ctx = JobContext(self._lock, record)
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
        self._call_on_end(record, self._job(*final))

    def _end(self, record: JobRecord, status: str) -> tuple:
        """Mark a job ended, free its live data, forget the oldest finished jobs; returns its final
        state (for `_job`). Caller holds the lock."""
        record.status = status
        record.finished_at = time.time()
        record.finished_mono = time.monotonic()
        final = self._state(record)  # on_end sees the last live data
        record.data = {}  # a finished job's live data (curves, snapshots) is what the store keeps
        record.fn = _ended
        finished = [r.id for r in self._records.values() if r.status in FINAL_JOB_STATUSES]
        for job_id in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._records[job_id]
        return final

    def _call_on_end(self, record: JobRecord, final: Job) -> None:
        """Run the job's on_end once; an error in it is logged, never raised into the caller (a
        page's Stop button, a worker thread)."""
        try:
            if record.on_end is not None:
                record.on_end(final)
        except Exception:  # noqa: BLE001
            log.exception("on_end of job %s (%s) raised", record.id, record.name)
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
            self._positions.pop(record.device, None)
            record.cancel_event.set()
            final = self._end(record, STOPPED)
        self._call_on_end(record, self._job(*final))
        return True

    def cancel_all(self, kind: str | None = None, owner: str | None = None,
                   where: Mapping[str, Any] | None = None) -> int:
        """Cancel every queued and running job (of `kind` and `owner`, and whose meta holds the
        items of `where`, where given), with no snapshot taken; returns how many."""
        with self._lock:
            ids = [r.id for r in self._records.values() if r.status in (QUEUED, RUNNING)
                   and (kind is None or r.kind == kind) and (owner is None or r.owner == owner)
                   and all(r.meta.get(k) == v for k, v in (where or {}).items())]
        return sum(self.cancel(i) for i in ids)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job ends and return its final snapshot; TimeoutError after `timeout` s."""
        with self._lock:
            record = self._record(job_id)
        if not record.ended.wait(timeout):
            raise TimeoutError(f"job {job_id} ({record.name}) still {record.status} after {timeout} s")
        with self._lock:
            state = self._state(record)
        return self._job(*state)

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

    def _record(self, job_id: str) -> JobRecord:
        try:
            return self._records[job_id]
        except KeyError:
            raise JobNotFoundError(job_id) from None

    def _state(self, record: JobRecord) -> tuple[JobRecord, dict[str, Any]]:
        """The fields of a job that change, copied (cheap: no Job is built here). Caller holds the lock."""
        position = None
        if record.status == QUEUED:
            position = self._line(record.device).get(record.id)
        return record, dict(
            status=record.status, started_at=record.started_at, finished_at=record.finished_at,
            started_mono=record.started_mono, finished_mono=record.finished_mono, fraction=record.fraction,
            message=record.message, eta_s=record.eta_s, queue_position=position,
            cancel_requested=record.cancel_event.is_set(), data=dict(record.data), result=record.result,
            error=record.error, traceback=record.traceback,
        )  # fmt: skip

    @staticmethod
    def _job(record: JobRecord, state: dict[str, Any]) -> Job:
        """A Job from a state `_state` copied; needs no lock (what it reads of `record` never changes)."""
        started, finished = state.pop("started_mono"), state.pop("finished_mono")
        elapsed = 0.0
        if started is not None:
            elapsed = (finished if finished is not None else time.monotonic()) - started
        if state["status"] == RUNNING and state["eta_s"] is None:
            state["eta_s"] = eta_seconds(elapsed, state["fraction"])
        return Job(id=record.id, name=record.name, kind=record.kind, device=record.device, owner=record.owner,
                   submitted_at=record.submitted_at, elapsed_s=elapsed, meta=dict(record.meta), **state)

    def _line(self, device: str) -> dict[str, int]:
        """Job id -> how many waiting jobs start before it on `device` if nobody else submits: the
        serving order of `_next_waiting`, in one pass over the waiting jobs (cached until the line
        changes). Caller holds the lock."""
        line = self._positions.get(device)
        if line is not None:
            return line
        queues = self._queues.get(device, {})
        heap = [(self._served.get((device, owner), -1), queue[0].seq, owner, 0)
                for owner, queue in queues.items() if queue]
        heapq.heapify(heap)
        line = {}
        while heap:
            _, _, owner, index = heapq.heappop(heap)
            queue = queues[owner]
            line[queue[index].id] = len(line)
            if index + 1 < len(queue):  # once served, the owner's next job waits for its next turn
                heapq.heappush(heap, (self._serial + len(line), queue[index + 1].seq, owner, index + 1))
        self._positions[device] = line
        return line

    def _select(self, kind: str | None, owner: str | None, active: bool) -> list[Job]:
        """Snapshots of the matching jobs: their changing fields copied under the lock, the Jobs
        built after it is released."""
        with self._lock:
            states = [self._state(r) for r in self._records.values()
                      if (not active or r.status in (QUEUED, RUNNING))
                      and (kind is None or r.kind == kind) and (owner is None or r.owner == owner)]
        return [self._job(*state) for state in states]

    def get(self, job_id: str) -> Job:
        """The job's current snapshot; JobNotFoundError if unknown (or long finished and forgotten)."""
        with self._lock:
            state = self._state(self._record(job_id))
        return self._job(*state)

    def jobs(self, kind: str | None = None, owner: str | None = None) -> list[Job]:
        """Snapshots of all jobs (of `kind` and `owner`, where given), in submission order."""
        return self._select(kind, owner, active=False)

    def active(self, kind: str | None = None, owner: str | None = None) -> list[Job]:
        """Snapshots of the queued and running jobs, in submission order."""
        return self._select(kind, owner, active=True)

    def board(self, owner: str | None = None) -> Board:
        """Every active job and which are `owner`'s, from one snapshot: what a page's poll needs."""
        return Board(tuple(self._select(None, None, active=True)), owner)


def _ended(ctx: JobContext) -> None:  # what a finished record holds instead of its function
    return None
