"""What the job queue (core.engine.queue) hands out: snapshots of jobs, the board a page polls,
the description of a job to submit, and the queue's errors.

What: `Job` is a frozen snapshot of one job (status, progress, live data); `Board` every active
job at one moment plus which are one owner's (what a page draws per poll, from one call);
`JobSpec` the arguments of one `JobManager.submit`, for `submit_all` (every job or none).

Why apart from the queue: pages and tests read these types without the scheduling machinery.

    from core.engine.queue import JobManager
    board = JobManager().board(owner="session-1")
    board.jobs, board.mine, board.of_kind("mnist"), board.where(launch="ab12")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.engine.status import DONE, FAILED, QUEUED, RUNNING, STOPPED

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


@dataclass(frozen=True)
class Board:
    """Every active job at one moment, and which of them are `owner`'s: what a page draws per poll,
    from one `JobManager.board(owner)` call."""

    jobs: tuple[Job, ...]  # queued and running jobs of every owner, in submission order
    owner: str | None  # whose jobs `mine` holds

    @property
    def mine(self) -> tuple[Job, ...]:
        """The active jobs of `owner`, in submission order."""
        return tuple(job for job in self.jobs if job.owner == self.owner)

    def of_kind(self, *kinds: str) -> list[Job]:
        """The active jobs of these kinds (all of them when no kind is given)."""
        return [job for job in self.jobs if not kinds or job.kind in kinds]

    def where(self, **meta: Any) -> list[Job]:
        """The active jobs whose meta holds these items, e.g. `board.where(launch=launch_id)`."""
        return [job for job in self.jobs if all(job.meta.get(k) == v for k, v in meta.items())]


@dataclass(frozen=True)
class JobSpec:
    """One job for `JobManager.submit_all`: the arguments of `submit`."""

    name: str  # what the user sees
    fn: Callable[[Any], Any]  # the work: fn(ctx) with ctx a core.engine.queue.JobContext; returns the job's result
    device: str = "cpu"  # the queue it waits in
    kind: str = ""  # free text for filtering, e.g. "mnist"
    meta: Mapping[str, Any] | None = None  # attached to every snapshot, e.g. run ids
    owner: str = ""  # who may stop it
    on_end: Callable[[Job], None] | None = None  # called once with the final snapshot
