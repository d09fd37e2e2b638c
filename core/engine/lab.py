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
finished epochs are kept and the unfinished runs end "stopped" (a second Ctrl-C aborts at once,
and they still end "stopped"); SIGTERM ends them "interrupted" at once and exits with 143.

Nothing is left behind: a launch that cannot be queued removes the runs it saved; a run the store
cannot end does not keep the others from ending, and no error reaches a page's Stop button; a
dashboard calls `lab.end_runs_at_exit()` once so that its process, when it exits (SIGTERM
included), ends its running runs "interrupted" and its queued ones "stopped" at once.

Why: before this module, each page and CLI launched runs its own way, and no single part owned
a run's status; a stopped queued job stayed "queued" forever and a crash in one group failed the
runs of groups that had finished. Now every transition has one owner: `_Driver`.

How:

    from core.engine.lab import Lab
    lab = Lab()                                             # a RunStore and a JobManager
    launched = lab.launch("mnist", groups, configs, labels, device="cpu", owner=session_id)
    board = lab.jobs.board(owner=session_id)               # every active job and this session's, one snapshot
    lab.stop_launch(launched.launch_id, owner=session_id)   # Stop: every part of the launch
    lab.run_here("mnist", groups, configs, labels, device="cpu")   # a CLI: blocks, Ctrl-C stops
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from core.engine.executors import Epoch, Event, Executor, Finished, Group, GroupEnded, LocalExecutor, Progress
from core.engine.queue import Job, JobContext, JobManager, JobSpec
from core.engine.status import FAILED, INTERRUPTED, QUEUED, RUNNING, STOPPED, provenance
from core.engine.store import RunStore

log = logging.getLogger(__name__)

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

    def close(self, cancelled: bool, error: str | None = None, interrupted: str | None = None) -> None:
        """End every run that has not ended: with `interrupted` (the process is being terminated: the
        reason) "interrupted" if it started, else "stopped"; stopped (cancelled); failed (an error);
        else failed with a note (a task that returned without finishing its runs is a bug). A run the
        store cannot end is logged and skipped: the others still end, and nothing is raised."""
        with self.lock:
            for run_id in (rid for ids in self.run_ids for rid in ids):
                if interrupted is not None:
                    status, why = (INTERRUPTED, interrupted) if run_id in self.started else (STOPPED, None)
                elif error is not None:
                    status, why = FAILED, error
                elif cancelled:
                    status, why = STOPPED, None
                else:
                    status, why = FAILED, "the task ended without reporting this run's end"
                try:
                    self._finish(run_id, status, error=why)
                except Exception:  # noqa: BLE001 - end the other runs; recovery ends this one later
                    log.exception("could not end run %s as %s", run_id, status)

    def statuses(self) -> dict[int, str]:
        return {rid: self.ended.get(rid, RUNNING if rid in self.started else QUEUED)
                for ids in self.run_ids for rid in ids}

    def report(self, ctx: JobContext, costs: Sequence[float]) -> None:
        """Publish the live state on the job (pages read it; no database read per poll)."""
        with self.lock:
            fraction = sum(f * c for f, c in zip(self.fractions, costs)) / max(sum(costs), 1e-12)
            curves = {rid: list(c) for rid, c in self.curves.items()}
            ctx.report(fraction, self.message, curves=curves, statuses=self.statuses(), live=self.live)


class Terminated(SystemExit):
    """Raised on the main thread by SIGTERM while `Lab.run_here` trains: its runs end "interrupted"
    and the process exits with 128 + SIGTERM (143), as a process killed by the signal would."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


@contextlib.contextmanager
def ctrl_c_sets(cancel: threading.Event) -> Iterator[None]:
    """While inside, Ctrl-C sets `cancel` (a second Ctrl-C raises KeyboardInterrupt) and SIGTERM
    raises Terminated. Only the main thread can take signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_int(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\ninterrupted: stopping after the current step (Ctrl-C again to abort)", file=sys.stderr)

    def on_term(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGINT, on_int), signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """While inside (the runs are being ended), Ctrl-C and SIGTERM are held back; one that came is
    delivered on leaving, to the handler that was there before. Main thread only; elsewhere nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: came.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if came:
            signal.raise_signal(came[0])


class Lab:
    """A run store and a job queue, and the one way to launch runs through them."""

    def __init__(self, store: RunStore | None = None, jobs: JobManager | None = None) -> None:
        self.store = store or RunStore()
        self.jobs = jobs or JobManager()
        self._ends_at_exit = False  # end_runs_at_exit was called

    def _create_runs(self, kind: str, groups: Sequence[Group], configs: Sequence[dict], labels: Sequence[str],
                     device: str, launch_id: str, created: list[int]) -> list[list[int]]:
        """Save every run as queued; their ids by group. `created` collects each id as it is saved
        (what to remove if a later one fails)."""
        if len(configs) != sum(g.size for g in groups) or len(labels) != len(configs):
            raise ValueError("configs and labels must hold one entry per run of the groups, in group order")
        origin = provenance(device)
        ids, it = [], iter(zip(configs, labels))
        for group in groups:
            ids.append([])
            for config, label in (next(it) for _ in range(group.size)):
                created.append(self.store.create_run(kind, config, label, group_id=launch_id, device=device,
                                                     provenance=origin))
                ids[-1].append(created[-1])
        return ids

    def launch(self, kind: str, groups: Sequence[Group], configs: Sequence[dict], labels: Sequence[str], *,
               device: str, owner: str = "", name: str = "", executor: Executor | None = None,
               meta: dict | None = None) -> Launched:
        """Save the runs as queued and queue their groups for `owner` (one job per group with the
        local executor, so sessions interleave; one job for the whole grid with a parallel one).
        All or nothing: when saving or queueing fails (QueueFullError past the owner's cap,
        JobManagerClosedError, a store error), the runs saved so far are deleted and the error is
        raised; no run is left "queued" with no job to run it."""
        executor = executor or LocalExecutor()
        batches = [list(range(len(groups)))] if executor.parallel else [[gi] for gi in range(len(groups))]
        self.jobs.check_capacity(owner, len(batches))
        launch_id = secrets.token_hex(4)
        created: list[int] = []
        try:
            run_ids = self._create_runs(kind, groups, configs, labels, device, launch_id, created)
            specs = self._job_specs(kind, groups, batches, run_ids, configs, labels, device, launch_id, owner,
                                    name or kind, executor, meta or {})
            job_ids = [job.id for job in self.jobs.submit_all(specs)]
        except BaseException:
            self._discard(created)
            raise
        return Launched(launch_id, created, job_ids)

    def _job_specs(self, kind, groups, batches, run_ids, configs, labels, device, launch_id, owner, name,
                   executor, meta) -> list[JobSpec]:
        """One JobSpec per batch of groups: its driver, its live-view meta, its queue."""
        labels_by_id = dict(zip((r for ids in run_ids for r in ids), labels))
        configs_by_id = dict(zip((r for ids in run_ids for r in ids), configs))
        queue = device if not executor.parallel else f"{executor.name}:{launch_id}"
        specs = []
        for n, batch in enumerate(batches):
            driver = _Driver(self.store, [run_ids[gi] for gi in batch], device)
            ids = [r for gi in batch for r in run_ids[gi]]
            job_meta = {**meta, "launch": launch_id, "run_ids": ids, "labels": {r: labels_by_id[r] for r in ids},
                        "configs": {r: configs_by_id[r] for r in ids}, "part": n, "parts": len(batches),
                        "executor": executor.name}
            job_name = name + (f" · part {n + 1}/{len(batches)}" if len(batches) > 1 else "")
            specs.append(JobSpec(job_name, _job_fn(executor, [groups[gi] for gi in batch], driver), queue, kind,
                                 job_meta, owner, _closer(driver)))
        return specs

    def _discard(self, run_ids: list[int]) -> None:
        """Remove the runs of a launch that failed before any of them was queued; where the store
        fails, end them "stopped" (logged, never raised: the launch's own error is what matters)."""
        try:
            self.store.discard_queued(run_ids)
        except Exception:  # noqa: BLE001
            log.exception("could not delete the runs of a failed launch; ending them as stopped")
            for run_id in run_ids:
                with contextlib.suppress(Exception):
                    self.store.finish(run_id, STOPPED, error="its launch failed before it was queued")

    def stop_launch(self, launch_id: str, owner: str) -> int:
        """Stop every active job of a launch (all its parts), as `owner`; returns how many were
        stopped. Their runs end "stopped" with their finished epochs."""
        return self.jobs.cancel_all(owner=owner, where={"launch": launch_id})

    def run_here(self, kind: str, groups: Sequence[Group], configs: Sequence[dict], labels: Sequence[str], *,
                 device: str, executor: Executor | None = None, cancel: threading.Event | None = None,
                 on_event: Callable[[int, Event], None] | None = None) -> Launched:
        """Run the groups now, on the calling thread (a CLI's main thread). Ctrl-C stops them (a
        second Ctrl-C raises KeyboardInterrupt at once; the runs still end "stopped"); SIGTERM raises
        Terminated and ends them "interrupted". `on_event(group_index, event)` sees every event
        after it is saved (to print progress)."""
        executor = executor or LocalExecutor()
        cancel = cancel or threading.Event()
        launch_id, created = secrets.token_hex(4), []
        try:
            run_ids = self._create_runs(kind, groups, configs, labels, device, launch_id, created)
        except BaseException:
            self._discard(created)
            raise
        driver = _Driver(self.store, run_ids, device, on_event)
        ending: dict[str, Any] = {}
        try:
            with ctrl_c_sets(cancel):
                executor.run(groups, driver.emit, cancel)
        except Terminated:
            ending["interrupted"] = "the process was terminated (SIGTERM) while the run was running"
            raise
        except KeyboardInterrupt:
            cancel.set()  # a second Ctrl-C: the user stopped the runs, nothing failed
            raise
        except BaseException as exc:
            ending["error"] = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            with signals_deferred():
                driver.close(cancel.is_set(), **ending)
        return Launched(launch_id, created, [])

    def end_runs_at_exit(self) -> None:
        """Make this process end its runs when it exits: running ones "interrupted", queued ones
        "stopped" (a dashboard calls it once, e.g. where it creates its Lab). Registers an atexit
        handler; called on the main thread where SIGTERM still has its default action, also a
        SIGTERM handler that exits through it. (Streamlit's server takes SIGTERM on the main thread
        itself and exits normally, so atexit covers a page's call from its script thread.)"""
        if self._ends_at_exit:
            return
        self._ends_at_exit = True
        atexit.register(self.end_process_runs, "the process ended (SIGTERM or exit) while the run was running")
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL):
            signal.signal(signal.SIGTERM, _exit_on_sigterm)

    def end_process_runs(self, reason: str = "the process ended while the run was running") -> int:
        """End this process's runs now (running -> interrupted, queued -> stopped, with `reason`) and
        stop its jobs; the store writes nothing more. Never raises (it runs while the process exits).
        Returns how many runs were marked."""
        try:
            marked = self.store.end_process_runs(reason) if self.store.path.exists() else 0  # gone: no runs
        except Exception:  # noqa: BLE001
            log.exception("could not end this process's runs")
            marked = 0
        with contextlib.suppress(Exception):
            self.jobs.shutdown(cancel=True, timeout=0)
        return marked


def _exit_on_sigterm(signum, frame) -> None:
    """SIGTERM: exit through SystemExit(143), so atexit handlers (end_runs_at_exit) run."""
    raise SystemExit(128 + signal.SIGTERM)


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

