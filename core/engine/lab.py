"""The Lab: the one owner of a run's life, from launch to its last epoch.

What: `Lab.launch(...)` saves every run of a grid as "queued" (with its exact config and
provenance: code version, torch, device), queues its groups as background jobs for the
launching session, and turns the events the groups yield (core.engine.executors) into the
store's status changes, the moment they happen:

    queued -> running            the group starts (its first event)
    running -> running           each `Epoch` is committed before training goes on
    running -> done | diverged   a run's own `Finished`, right after its last epoch
    queued | running -> stopped  Stop (also for a group that never started)
    running -> failed            its group raised (other groups go on)
    running -> interrupted       its Ray worker or node died, or (found at the next start) its process

`Lab.run_here(...)` does the same synchronously on the calling thread: the CLIs train on the
main thread (where `torch.compile`d kernels run) and Ctrl-C sets the cancel event, so the
finished epochs are kept and the unfinished runs end "stopped".

Why: before this module, each page and CLI launched runs its own way, and no single part owned
a run's status; a stopped queued job stayed "queued" forever and a crash in one group failed the
runs of groups that had finished. Now every transition has one owner: `_Driver`.

How:

    from core.engine.lab import Lab
    lab = Lab()                                             # a RunStore and a JobManager
    launched = lab.launch("mnist", groups, configs, labels, device="cpu", owner=session_id)
    lab.jobs.active(owner=session_id)                       # live progress, curves in job.data
    lab.run_here("mnist", groups, configs, labels, device="cpu")   # a CLI: blocks, Ctrl-C stops
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from core.engine.executors import Epoch, Event, Executor, Finished, Group, GroupEnded, LocalExecutor, Progress
from core.engine.queue import Job, JobContext, JobManager
from core.engine.status import FAILED, QUEUED, RUNNING, STOPPED, provenance
from core.engine.store import RunStore

LIVE_EPOCHS = 400  # epochs kept per run in a job's live curves (older ones are thinned)


@dataclass(frozen=True)
class Launched:
    """What `Lab.launch` returns: the store ids of the runs (in `configs` order) and the job ids."""

    launch_id: str  # the runs' group_id in the store
    run_ids: list[int]
    job_ids: list[str]


class _Driver:
    """Turns one set of groups' events into store writes and live job data (see module docstring)."""

    def __init__(self, store: RunStore, run_ids: list[list[int]], device: str,
                 on_event: Callable[[int, Event], None] | None = None):
        self.store, self.run_ids, self.device, self.on_event = store, run_ids, device, on_event
        self.started: set[int] = set()
        self.ended: dict[int, str] = {}
        self.curves: dict[int, list[dict]] = {rid: [] for ids in run_ids for rid in ids}
        self.fractions = [0.0] * len(run_ids)
        self.message, self.live = "", None
        self.lock = threading.Lock()

    def start(self, gi: int) -> None:
        for run_id in self.run_ids[gi]:
            if run_id not in self.started and run_id not in self.ended:
                self.store.mark_running(run_id, self.device)
                self.started.add(run_id)

    def emit(self, gi: int, event: Event) -> None:
        with self.lock:
            self.start(gi)
            ids = self.run_ids[gi]
            if isinstance(event, Epoch):
                self.store.log_epoch(ids[event.index], event.epoch, event.metrics)
                curve = self.curves[ids[event.index]]
                curve.append({"epoch": event.epoch, **event.metrics})
                if len(curve) > LIVE_EPOCHS:
                    curve[:-1] = curve[:-1:2]  # halve the older history, keep the newest
            elif isinstance(event, Finished):
                self._finish(ids[event.index], event.status, event.summary, event.result, event.error)
            elif isinstance(event, Progress):
                self.fractions[gi] = event.fraction
                self.message, self.live = event.message, event.live
            elif isinstance(event, GroupEnded):
                for run_id in ids:
                    self._finish(run_id, event.status, error=event.error)
        if self.on_event is not None:
            self.on_event(gi, event)

    def _finish(self, run_id: int, status: str, summary: dict | None = None, result: Any = None,
                error: str | None = None) -> None:
        if run_id not in self.ended:
            self.store.finish(run_id, status, summary=summary, result=result, error=error)
            self.ended[run_id] = status

    def close(self, cancelled: bool, error: str | None = None) -> None:
        """End every run that has not ended: stopped (cancelled), failed (an error), else failed
        with a note (a task that returned without finishing its runs is a bug)."""
        with self.lock:
            for ids in self.run_ids:
                for run_id in ids:
                    if error is not None:
                        self._finish(run_id, FAILED, error=error)
                    elif cancelled:
                        self._finish(run_id, STOPPED)
                    else:
                        self._finish(run_id, FAILED, error="the task ended without reporting this run's end")

    def statuses(self) -> dict[int, str]:
        return {rid: self.ended.get(rid, RUNNING if rid in self.started else QUEUED)
                for ids in self.run_ids for rid in ids}

    def report(self, ctx: JobContext, costs: Sequence[float]) -> None:
        """Publish the live state on the job (pages read it; no database read per poll)."""
        with self.lock:
            fraction = sum(f * c for f, c in zip(self.fractions, costs)) / max(sum(costs), 1e-12)
            curves = {rid: list(c) for rid, c in self.curves.items()}
            ctx.report(fraction, self.message, curves=curves, statuses=self.statuses(), live=self.live)


@contextlib.contextmanager
def ctrl_c_sets(cancel: threading.Event) -> Iterator[None]:
    """While inside, Ctrl-C sets `cancel` (a second Ctrl-C raises KeyboardInterrupt). Only the
    main thread can take signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\ninterrupted: stopping after the current step (Ctrl-C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Lab:
    """A run store and a job queue, and the one way to launch runs through them."""

    def __init__(self, store: RunStore | None = None, jobs: JobManager | None = None) -> None:
        self.store = store or RunStore()
        self.jobs = jobs or JobManager()

    def _create_runs(self, kind: str, groups: Sequence[Group], configs: Sequence[dict], labels: Sequence[str],
                     device: str, launch_id: str) -> list[list[int]]:
        if len(configs) != sum(g.size for g in groups) or len(labels) != len(configs):
            raise ValueError("configs and labels must hold one entry per run of the groups, in group order")
        origin = provenance(device)
        ids, it = [], iter(zip(configs, labels))
        for group in groups:
            ids.append([self.store.create_run(kind, config, label, group_id=launch_id, device=device,
                                              provenance=origin) for config, label in
                        (next(it) for _ in range(group.size))])
        return ids

    def launch(self, kind: str, groups: Sequence[Group], configs: Sequence[dict], labels: Sequence[str], *,
               device: str, owner: str = "", name: str = "", executor: Executor | None = None,
               meta: dict | None = None) -> Launched:
        """Save the runs as queued and queue their groups for `owner` (one job per group with the
        local executor, so sessions interleave; one job for the whole grid with a parallel one).
        QueueFullError (nothing saved) when the owner has too many jobs waiting."""
        executor = executor or LocalExecutor()
        batches = [list(range(len(groups)))] if executor.parallel else [[gi] for gi in range(len(groups))]
        self.jobs.check_capacity(owner, len(batches))
        launch_id = secrets.token_hex(4)
        run_ids = self._create_runs(kind, groups, configs, labels, device, launch_id)
        labels_by_id = dict(zip((r for ids in run_ids for r in ids), labels))
        configs_by_id = dict(zip((r for ids in run_ids for r in ids), configs))
        job_ids = []
        queue = device if not executor.parallel else f"{executor.name}:{launch_id}"
        for n, batch in enumerate(batches):
            part = [groups[gi] for gi in batch]
            driver = _Driver(self.store, [run_ids[gi] for gi in batch], device)
            job_name = name or kind
            if len(batches) > 1:
                job_name += f" · part {n + 1}/{len(batches)}"
            ids = [r for gi in batch for r in run_ids[gi]]
            job_meta = {**(meta or {}), "launch": launch_id, "run_ids": ids, "labels": {r: labels_by_id[r] for r in ids},
                        "configs": {r: configs_by_id[r] for r in ids}, "part": n, "parts": len(batches),
                        "executor": executor.name}
            job = self.jobs.submit(job_name, _job_fn(executor, part, driver), device=queue, kind=kind,
                                   meta=job_meta, owner=owner, on_end=_closer(driver))
            job_ids.append(job.id)
        return Launched(launch_id, [r for ids in run_ids for r in ids], job_ids)

    def run_here(self, kind: str, groups: Sequence[Group], configs: Sequence[dict], labels: Sequence[str], *,
                 device: str, executor: Executor | None = None, cancel: threading.Event | None = None,
                 on_event: Callable[[int, Event], None] | None = None) -> Launched:
        """Run the groups now, on the calling thread (a CLI's main thread); Ctrl-C stops them.
        `on_event(group_index, event)` sees every event after it is saved (to print progress)."""
        executor = executor or LocalExecutor()
        cancel = cancel or threading.Event()
        launch_id = secrets.token_hex(4)
        run_ids = self._create_runs(kind, groups, configs, labels, device, launch_id)
        driver = _Driver(self.store, run_ids, device, on_event)
        error = None
        try:
            with ctrl_c_sets(cancel):
                executor.run(groups, driver.emit, cancel)
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            driver.close(cancel.is_set(), error)
        return Launched(launch_id, [r for ids in run_ids for r in ids], [])


def _job_fn(executor: Executor, groups: list[Group], driver: _Driver) -> Callable[[JobContext], None]:
    costs = [g.cost for g in groups]

    def work(ctx: JobContext) -> None:
        def emit(gi: int, event: Event) -> None:
            driver.emit(gi, event)
            driver.report(ctx, costs)

        executor.run(groups, emit, ctx.cancel_event)

    return work


def _closer(driver: _Driver) -> Callable[[Job], None]:
    def on_end(job: Job) -> None:
        driver.close(cancelled=job.cancel_requested, error=job.error)

    return on_end

