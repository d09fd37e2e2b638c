"""Executors: where the groups of a grid train. One interface, two implementations.

What: a grid of runs is cut into `Group`s, each a batched unit of work (e.g. up to 16 MNIST
configurations trained as one stacked model). A group's `task(spec, cancel)` is a generator
that yields `Event`s: `Epoch` (a run logged an epoch), `Finished` (a run ended), `Progress`
(for live views). An executor runs groups and hands every event, in order, to
`emit(group_index, event)` on the calling thread; the caller (core.engine.lab) owns the
run store and turns events into status changes.

- `LocalExecutor` (the default) runs each group in the calling thread: on the main thread in
  a CLI (so `torch.compile`d kernels and Ctrl-C work), in a job-queue worker in the dashboard.
- `RayExecutor` (core.engine.ray_executor) runs every group as a Ray task on a local Ray
  instance or a cluster; events stream back to the driver, which writes the store.

An exception in a task, or a lost worker, ends only that group: the executor emits
`GroupEnded` with status "failed" (an error) or "interrupted" (a dead worker or node), and the
other groups go on.

    from core.engine import make_executor
    with make_executor("local") as executor:     # or make_executor("ray", address="10.0.0.5:6379")
        executor.run(groups, emit=lambda gi, event: print(gi, event), cancel=threading.Event())
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Union

from core.engine.status import FAILED


class ExecutorUnavailableError(RuntimeError):
    """The chosen executor cannot run here (e.g. Ray is not installed); the message says what to do."""


@dataclass(frozen=True)
class Epoch:
    """Run `index` of the group finished `epoch` (1-based; 0 may hold an evaluation before training)."""

    index: int  # position of the run in its group
    epoch: int
    metrics: dict  # JSON-able metrics of that epoch


@dataclass(frozen=True)
class Finished:
    """Run `index` ended; every epoch it will ever log was sent before this event."""

    index: int
    status: str  # done | stopped | diverged | failed
    summary: dict | None = None  # final metrics (the store's "final.*" columns)
    result: Any = None  # an optional larger JSON-able payload
    error: str | None = None


@dataclass(frozen=True)
class Progress:
    """How far the group is, for live views; `live` is any payload a page draws (not saved)."""

    fraction: float  # of this group's work, in [0, 1]
    message: str = ""
    live: Any = None


@dataclass(frozen=True)
class GroupEnded:
    """Sent by an executor (never by a task) when a group ended abnormally: every run of it
    that has not Finished takes `status`."""

    status: str  # "failed" (the task raised) or "interrupted" (its worker or node died)
    error: str


Event = Union[Epoch, Finished, Progress, GroupEnded]
Task = Callable[[Any, threading.Event], Iterator[Event]]
Emit = Callable[[int, Event], None]


@dataclass(frozen=True)
class Group:
    """One batched unit of work. `task` must be a module-level function (Ray pickles it by
    reference) and `spec` a picklable value (configs, data settings, a seed...)."""

    task: Task
    spec: Any
    size: int  # number of runs; events' `index` is in range(size)
    label: str = ""  # what a person sees, e.g. "16 runs · 784-800-10 relu"
    cost: float = 1.0  # relative amount of work (e.g. config-epochs), for progress across groups
    gpu: bool = False  # it trains on CUDA: a Ray task asks for (a share of) a GPU
    meta: dict = field(default_factory=dict)  # e.g. {"ray_resources": {"node_b": 0.01}}: pins a Ray task to such nodes


class Executor(Protocol):
    name: str
    parallel: bool  # True: give it a whole grid at once (it spreads the groups); False: one group at a time

    def run(self, groups: Sequence[Group], emit: Emit, cancel: threading.Event) -> None:
        """Run every group; `emit(group_index, event)` on the calling thread, in order within a
        group. Returns when all groups have ended. Once `cancel` is set, groups stop within a step.
        (On Ray a task's own `cancel` is never set: ray.cancel raises KeyboardInterrupt in it, so a
        task must not swallow BaseException.)"""

    def close(self) -> None:
        """Release what the executor holds (a Ray connection); runs in flight go on. Idempotent."""


def run_task(group: Group, cancel: threading.Event) -> Iterator[Event]:
    """The group's events, led by a Progress the moment it starts (its runs read "running" from
    then on, not from its first epoch), with an exception in the task turned into a final
    GroupEnded("failed")."""
    yield Progress(0.0, f"{group.label or 'group'}: starting")
    try:
        yield from group.task(group.spec, cancel)
    except Exception as exc:  # noqa: BLE001 - a failed group must not end the others
        yield GroupEnded(FAILED, f"{type(exc).__name__}: {exc}")


class LocalExecutor:
    """Runs the groups one after another in the calling thread (see module docstring)."""

    name = "local"
    parallel = False

    def run(self, groups: Sequence[Group], emit: Emit, cancel: threading.Event) -> None:
        for gi, group in enumerate(groups):
            if cancel.is_set():
                return
            for event in run_task(group, cancel):
                emit(gi, event)

    def close(self) -> None:
        """Nothing to release: it trains in the calling thread."""

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
