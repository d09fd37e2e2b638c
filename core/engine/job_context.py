"""One job's live state and the handle its function gets: what core.engine.queue runs.

What: `JobRecord` is the mutable state of one job (status, times, progress, live data, result,
its cancel and ended events), guarded by the manager's lock; `JobContext` is what a job function
`fn(ctx)` receives: its id, name and device, `cancelled` / `check_cancelled()` to stop
cooperatively, and `report(fraction, message, eta_s, **data)` to publish progress.

Why apart from the queue: the scheduling (core.engine.queue) and what a running job may touch are
two ideas; a job function needs only this module's handle.

    def train(ctx: JobContext):
        for epoch in range(1, 11):
            ctx.check_cancelled()                       # raises JobCancelled: ends as "stopped"
            ctx.report(epoch / 10, f"epoch {epoch}/10", curve=latest_curve)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.engine.jobs import Job, JobCancelled
from core.engine.status import QUEUED


@dataclass(eq=False)
class JobRecord:
    """The live, mutable state of one job; guarded by its manager's lock."""

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

    def __init__(self, lock: threading.RLock, record: JobRecord):
        self._lock = lock  # the manager's: readers snapshot the record under it
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
        with self._lock:
            record = self._record
            if fraction is not None:
                record.fraction = min(1.0, max(0.0, float(fraction)))
            if message is not None:
                record.message = str(message)
            if eta_s is not None:
                record.eta_s = max(0.0, float(eta_s))
            record.data.update(data)
