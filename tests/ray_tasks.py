"""Group tasks for tests/test_ray_executor.py: module-level, so Ray workers import them by reference.

Each task logs short sleeping "epochs" for the runs of its group, and can meet the other groups at
a rendezvous (files in a shared directory: it proves groups ran at the same time), leave a
heartbeat file (it proves a cancelled task really stopped), raise, crash its worker, or yield an
event that cannot be pickled.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import ray
import torch

from core.engine.executors import Epoch, Finished, Progress


@dataclass(frozen=True)
class Spec:
    group: int  # index of the group, echoed in every metric
    runs: int = 2  # runs in the group
    epochs: int = 3
    sleep_s: float = 0.1  # per epoch
    shared_dir: str | None = None  # rendezvous and heartbeat files go here
    meet: int = 0  # wait (up to meet_timeout_s) before epoch 1 until this many groups have arrived
    meet_timeout_s: float = 30.0
    fail_at: int | None = None  # raise ValueError after this epoch
    crash_at: int | None = None  # kill the worker process (os._exit) after this epoch
    unpicklable_at: int | None = None  # yield a Progress holding a lock after this epoch


def _metrics(spec: Spec, epoch: int, met: bool) -> dict:
    context = ray.get_runtime_context()
    return {
        "group": spec.group,
        "epoch": epoch,
        "pid": os.getpid(),
        "node_id": context.get_node_id(),
        "resources": context.get_assigned_resources(),
        "threads": torch.get_num_threads(),
        "met": met,
        "time": time.time(),
    }


def _meet(spec: Spec) -> bool:
    """Arrive at the rendezvous; True once `spec.meet` groups have arrived, False on timeout."""
    shared = Path(spec.shared_dir)
    (shared / f"arrived-{spec.group}").touch()
    deadline = time.monotonic() + spec.meet_timeout_s
    while time.monotonic() < deadline:
        if len(list(shared.glob("arrived-*"))) >= spec.meet:
            return True
        time.sleep(0.05)
    return False


def sleepy(spec: Spec, cancel: threading.Event):
    """Every run of the group logs `spec.epochs` epochs, `spec.sleep_s` apart, then finishes."""
    met = _meet(spec) if spec.meet else False
    for epoch in range(1, spec.epochs + 1):
        if cancel.is_set():
            return
        time.sleep(spec.sleep_s)
        if spec.shared_dir:
            (Path(spec.shared_dir) / f"beat-{spec.group}").write_text(str(epoch))
        for index in range(spec.runs):
            yield Epoch(index, epoch, _metrics(spec, epoch, met))
        yield Progress(epoch / spec.epochs, f"epoch {epoch}")
        if epoch == spec.fail_at:
            raise ValueError("planted failure")
        if epoch == spec.crash_at:
            time.sleep(spec.sleep_s)  # dies during the next epoch
            os._exit(1)
        if epoch == spec.unpicklable_at:
            yield Progress(epoch / spec.epochs, live=threading.Lock())
    for index in range(spec.runs):
        yield Finished(index, "done", {"epochs": spec.epochs})


def summary(event) -> tuple:
    """An event without its timing-dependent parts, e.g. ("Epoch", run index, epoch)."""
    if isinstance(event, Epoch):
        return ("Epoch", event.index, event.epoch)
    if isinstance(event, Progress):
        return ("Progress", event.message)
    if isinstance(event, Finished):
        return ("Finished", event.index, event.status)
    return (type(event).__name__, event.status)


def expected(spec: Spec, last_epoch: int | None = None) -> list[tuple]:
    """Summaries of what a group of `sleepy` yields through `last_epoch` (all of it, Finished included,
    when None), led by run_task's "starting" Progress."""
    out = [("Progress", f"group {spec.group}: starting")]
    for epoch in range(1, (last_epoch or spec.epochs) + 1):
        out += [("Epoch", index, epoch) for index in range(spec.runs)] + [("Progress", f"epoch {epoch}")]
    if last_epoch is None:
        out += [("Finished", index, "done") for index in range(spec.runs)]
    return out
