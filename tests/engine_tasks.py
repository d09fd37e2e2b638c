"""Small engine tasks for the tests: module-level generators, so any executor can run them."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from core.engine.executors import Epoch, Finished, Group, Progress


@dataclass(frozen=True)
class Spec:
    runs: int = 2  # runs in the group
    epochs: int = 3  # epochs each
    sleep_s: float = 0.0  # per epoch
    fail_at: int | None = None  # raise at this epoch
    finish_early: tuple[int, ...] = ()  # runs that finish after their first epoch
    payload_bytes: int = 0  # size of the live payload reported each epoch
    gate: str | None = None  # name of a threading.Event in GATES to wait on before the first epoch
    extra: dict = field(default_factory=dict)


GATES: dict[str, threading.Event] = {}


def task(spec: Spec, cancel: threading.Event):
    """Epochs for every run, a Finished per run after its last epoch; stops on cancel."""
    if spec.gate is not None:
        while not GATES[spec.gate].wait(0.01):
            if cancel.is_set():
                break
    alive = list(range(spec.runs))
    for epoch in range(1, spec.epochs + 1):
        if cancel.is_set():
            break
        if spec.fail_at == epoch:
            raise RuntimeError(f"boom at epoch {epoch}")
        time.sleep(spec.sleep_s)
        for i in list(alive):
            yield Epoch(i, epoch, {"val_error": 1.0 / (epoch + i), "epoch_seen": epoch})
            if epoch == spec.epochs or i in spec.finish_early:
                yield Finished(i, "done", {"val_error": 1.0 / (epoch + i)})
                alive.remove(i)
        yield Progress(epoch / spec.epochs, f"epoch {epoch}", live=b"x" * spec.payload_bytes or None)
    for i in alive:
        yield Finished(i, "stopped")


def group(**kwargs) -> Group:
    spec = Spec(**kwargs)
    return Group(task, spec, spec.runs, f"{spec.runs} runs", cost=spec.runs * spec.epochs)


def records(groups) -> tuple[list[dict], list[str]]:
    n = sum(g.size for g in groups)
    return [{"run": i, "seed": i} for i in range(n)], [f"run {i}" for i in range(n)]
