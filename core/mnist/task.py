"""MNIST-style grids on the engine: launch them, run them from a CLI, read them back.

What: `submit(lab, configs, data, owner=...)` saves every configuration as a queued run
and queues its batched groups (core.mnist.group_task.groups_of) for a browser session;
`run_here(lab, configs, data)` trains them now on the calling thread (a CLI's main thread;
Ctrl-C stops); `load(store, run_ids)` turns saved runs back into RunResults (for the
selection protocol and the label-noise tables). How long a grid takes is core.estimate's.

Why: every page and CLI launches MNIST runs the same way, through core.engine.lab, so a CLI
run shows in the dashboard and a page's run reads the same in `python -m core.runstore list`.

    from core.engine.lab import Lab
    from core.mnist.task import run_here
    run_ids, results = run_here(Lab(), [TrainConfig(k=0.5, epochs=1)], DataConfig(n_train=2000))
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence

import torch

from core.data import MnistSplit
from core.device import pick_device
from core.engine.executors import Epoch, Event, Executor, Finished
from core.engine.lab import Lab, Launched
from core.engine.status import DIVERGED, eta_seconds
from core.engine.store import RunStore
from core.mnist.config import ConfigError, DataConfig, TrainConfig
from core.mnist.group_task import MAX_MODELS, EpochEvent, RunResult, groups_of


def _records(configs: Sequence[TrainConfig], data: DataConfig, order: list[int]) -> tuple[list[dict], list[str]]:
    """Store configs and labels in group order."""
    data_dict = dataclasses.asdict(data)
    return ([{"train": configs[i].to_dict(), "data": data_dict} for i in order],
            [configs[i].label for i in order])


def submit(lab: Lab, configs: Sequence[TrainConfig], data: DataConfig, *, owner: str, kind: str = "mnist",
                 name: str | None = None, executor: Executor | None = None) -> Launched:
    """Queue the grid for `owner`; Launched.run_ids follow the groups' order (see groups_of)."""
    if not configs:
        raise ValueError("choose at least one configuration to train")
    groups, order = groups_of(configs, data)
    device = groups[0].spec.data.device
    records, labels = _records(configs, groups[0].spec.data, order)
    name = name or f"{len(configs)} run{'s' * (len(configs) > 1)} · {configs[0].arch}"
    return lab.launch(kind, groups, records, labels, device=device, owner=owner, name=name, executor=executor)


def run_here(lab: Lab, configs: Sequence[TrainConfig], data: DataConfig, *, kind: str = "mnist",
              executor: Executor | None = None, on_event: Callable[[int, Event], None] | None = None,
              ) -> tuple[list[int], list[RunResult]]:
    """Train the grid now on this thread, saving every run; returns the run ids and the RunResults,
    both in `configs` order."""
    groups, order = groups_of(configs, data)
    records, labels = _records(configs, groups[0].spec.data, order)
    launched = lab.run_here(kind, groups, records, labels, device=groups[0].spec.data.device, executor=executor,
                            on_event=on_event)
    by_position = dict(zip(order, launched.run_ids))
    run_ids = [by_position[i] for i in range(len(configs))]
    return run_ids, load(lab.store, run_ids)


class _EpochRelay:
    """Turns the Lab's events into fit's EpochEvents: an epoch's event waits for the next event,
    which may say it was the run's last (its status is then "done" or "diverged")."""

    def __init__(self, configs: Sequence[TrainConfig], positions: list[list[int]],
                 on_epoch: Callable[[EpochEvent], None] | None) -> None:
        self.configs, self.positions, self.on_epoch = configs, positions, on_epoch
        self.total = sum(c.epochs for c in configs)
        self.done, self.start, self.pending = 0, time.perf_counter(), None
        self.epochs = [0] * len(configs)

    def flush(self, status: str = "running") -> None:
        if self.pending is not None and self.on_epoch is not None:
            self.on_epoch(dataclasses.replace(self.pending, status=status))
        self.pending = None

    def __call__(self, gi: int, event: Event) -> None:
        if not isinstance(event, (Epoch, Finished)):
            return
        pos = self.positions[gi][event.index]
        last = isinstance(event, Finished) and self.pending is not None and self.pending.index == pos
        self.flush(event.status if last else "running")
        if isinstance(event, Finished):
            self.done += self.configs[pos].epochs - self.epochs[pos]
            return
        self.epochs[pos] += 1
        self.done += 1
        fraction = self.done / self.total
        eta = eta_seconds(time.perf_counter() - self.start, fraction, 0.0) or 0.0
        self.pending = EpochEvent(pos, self.configs[pos], event.epoch, dict(event.metrics), "running", fraction, eta)


def fit(configs: Sequence[TrainConfig], data: DataConfig | None = None,
        on_epoch: Callable[[EpochEvent], None] | None = None, cancel: threading.Event | None = None,
        device: str | torch.device | None = None, *, max_models: int = MAX_MODELS, split: MnistSplit | None = None,
        lab: Lab | None = None) -> list[RunResult]:
    """Train every configuration in this process, through the Lab like every other run (Lab.run_here;
    an in-memory run store unless `lab` is given); one RunResult per config, in order, with its
    trained weights in `.state` (not for diverged runs).

    Runs sharing (hidden, activation, batch_size, epochs) train together as one batched model (at
    most `max_models` at a time). `on_epoch(EpochEvent)` follows every epoch of every run. Setting
    `cancel` stops within one step: unfinished runs end "stopped" with their finished epochs.
    `device` overrides `data.device`; `split` reuses loaded data (on that device). Raises
    ConfigError on bad configs."""
    configs = list(configs)
    if not configs or not all(isinstance(c, TrainConfig) for c in configs):
        raise ConfigError("fit needs a non-empty list of TrainConfig")
    dev = pick_device(device if device is not None else (data or DataConfig()).device)
    data = dataclasses.replace(data or DataConfig(), device=str(dev))
    if split is not None and split.train_x.device.type != dev.type:
        raise ConfigError(f"split lives on {split.train_x.device}, but training runs on {dev}")
    groups, order = groups_of(configs, data, max_models, split=split, keep_state=True)
    positions, at = [], 0
    for group in groups:
        positions.append(order[at: at + group.size])
        at += group.size
    lab = lab or Lab(store=RunStore(":memory:"))
    records, labels = _records(configs, data, order)
    relay = _EpochRelay(configs, positions, on_epoch)
    launched = lab.run_here("mnist", groups, records, labels, device=str(dev), cancel=cancel, on_event=relay)
    relay.flush()
    by_position = dict(zip(order, launched.run_ids))
    results = load(lab.store, [by_position[i] for i in range(len(configs))])
    for group, part in zip(groups, positions):
        for index, pos in enumerate(part):
            if results[pos].status != DIVERGED:
                results[pos].state = group.spec.states.get(index)
    return results


def load(store: RunStore, run_ids: Sequence[int]) -> list[RunResult]:
    """Saved runs as RunResults (history from the stored epochs), in `run_ids` order; runs whose
    config cannot be read are skipped. Every run keeps its stored status (the selection protocol
    and the tables use only runs that ended done or diverged)."""
    history = store.history(list(run_ids))
    by_id = {int(run["id"]): run for run in store.runs(ids=list(run_ids))}  # one query for every run
    results = []
    for run_id in run_ids:
        run = by_id.get(int(run_id))
        try:
            config = TrainConfig.from_dict(run["config"]["train"])
        except (KeyError, TypeError, ValueError):
            continue
        rows = history[history["run_id"] == run_id].drop(columns=["run_id", "at"], errors="ignore")
        results.append(RunResult(config, run["status"], rows.to_dict(orient="records"), run.get("device") or "",
                                 run.get("seconds") or 0.0))
    return results


def live_results(configs: dict[int, dict], curves: dict[int, list[dict]], statuses: dict[int, str]) -> list[RunResult]:
    """RunResults from a running job's live data (job.meta["configs"], job.data["curves"] and
    ["statuses"]): the tables and curves of a grid in progress, with no database read."""
    return [RunResult(TrainConfig.from_dict(config["train"]), statuses.get(run_id, "running"),
                      curves.get(run_id, []), "", 0.0) for run_id, config in configs.items()]
