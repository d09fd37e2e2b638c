"""One group of a grid on the engine: the events of one batched group of configurations.

What: `train_events(configs, split, ...)` trains ONE group (configurations sharing hidden,
activation, batch size) as one batched model (core.mnist.batch_trainer) and yields engine events
(core.engine.executors): `Progress`, an `Epoch` per run and epoch, and each run's `Finished`
right after its own last epoch, be it the epoch budget, early stopping on validation error
(`TrainConfig.patience`), or divergence (training loss or weights non-finite, or train
cross-entropy above DIVERGENCE_CE). Setting `cancel` stops within one step: unfinished runs
finish "stopped" with their epochs. `train_group(spec, cancel)` is the same as an engine task
(it loads the data itself, so it runs on any Ray worker); `groups_of(configs, data)` cuts a grid
into such groups. (`core.mnist.task` launches them through the Lab; `fit` is what a Python user calls.)

Why: the run store, the dashboard, the CLIs, Ray workers and plain Python all train through the
same generator, so a run's life looks the same everywhere.

    from core.mnist.group_task import groups_of
    groups, order = groups_of([TrainConfig(k=k, epochs=3) for k in (0.5, 1.0)], DataConfig(n_train=5000))
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd
import torch
from torch import Tensor, nn

from core.data import MnistSplit, Subset, load_split
from core.device import pick_device
from core.engine.executors import Epoch, Event, Finished, Group, Progress
from core.engine.status import DIVERGED, DONE, STOPPED, eta_seconds
from core.mlp import make_mlp
from core.mnist.config import METRIC_KEYS, ConfigError, DataConfig, TrainConfig, at_chance
from core.mnist.batch_trainer import BatchTrainer

MAX_MODELS = 16  # configurations trained together as one batched model, at most


@dataclass(frozen=True)
class EpochEvent:
    """What `fit` passes to on_epoch after every epoch of every run."""

    index: int  # position of the run in fit's `configs` list
    config: TrainConfig  # that run's configuration
    epoch: int  # 1-based epoch just finished
    metrics: dict  # METRIC_KEYS -> float
    status: str  # "running", "done" (last epoch) or "diverged" (this epoch diverged; no more epochs)
    fraction: float  # share of all runs' epochs finished, in [0, 1]
    eta_s: float  # estimated seconds until fit returns (nan before the first epoch ends)


@dataclass
class RunResult:
    """One run's outcome. status: "done" (all epochs, or early-stopped), "stopped" (cancelled) or "diverged"."""

    config: TrainConfig
    status: str
    history: list[dict]  # one METRIC_KEYS dict per finished epoch
    device: str  # where it ran, e.g. "cpu"
    seconds: float  # wall time of its batch of runs, from start until this run left it
    state: dict[str, Tensor] | None = None  # final weights as an nn.Sequential state_dict (CPU); None if diverged

    @property
    def final(self) -> dict:
        """The last epoch's metrics ({} if none finished)."""
        return self.history[-1] if self.history else {}

    def frame(self) -> pd.DataFrame:
        """The history as a DataFrame, one row per epoch."""
        return pd.DataFrame(self.history, columns=list(METRIC_KEYS))

    def model(self) -> nn.Sequential:
        """The trained network as an nn.Sequential (raises ValueError if no weights were kept)."""
        if self.state is None:
            raise ValueError(f"run {self.config.label} kept no weights (status {self.status})")
        weights = [v for name, v in self.state.items() if name.endswith("weight")]  # nn.Linear: (out, in)
        net = make_mlp(self.config.hidden, self.config.activation, n_in=weights[0].shape[1], n_out=weights[-1].shape[0])
        net.load_state_dict(self.state)
        return net


class Recorder(Protocol):
    """Watches one group's training minibatches (`on_batch`, a trainer's BatchObserver), closes each
    epoch for the runs still training (`end_epoch`, their positions in the group), and when a run
    ends returns entries for its summary (`finish`, e.g. where it saved what it recorded).
    core.datamap.recording implements it."""

    def on_batch(self, idx: Tensor, logits: Tensor, target: Tensor, k: Tensor) -> None: ...
    def end_epoch(self, epoch: int, positions: Sequence[int]) -> None: ...
    def finish(self, position: int) -> dict: ...


RecorderFactory = Callable[[BatchTrainer, MnistSplit], Recorder]  # picklable (a Ray worker builds it)


@dataclass(frozen=True)
class GroupSpec:
    """What a worker needs to train one group: its configurations and the data settings."""

    configs: tuple[TrainConfig, ...]
    data: DataConfig
    record: RecorderFactory | None = None  # per-example recording while training (core.datamap); None = none
    split: MnistSplit | None = field(default=None, compare=False)  # data already loaded (in-process only)
    states: dict | None = field(default=None, compare=False)  # filled with {index: weights} when given (in-process)


def group_positions(configs: Sequence[TrainConfig], max_models: int = MAX_MODELS) -> list[list[int]]:
    """Positions of the runs that train together: same hidden, activation and batch size
    (and epoch budget, so a group's runs end together unless they stop early)."""
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault((c.hidden, c.activation, c.batch_size, c.epochs), []).append(i)
    return [idx[s: s + max_models] for idx in groups.values() for s in range(0, len(idx), max_models)]


def load_data(data: DataConfig, device: torch.device) -> MnistSplit:
    """The split `data` asks for, on `device` (core.data.load_split)."""
    return load_split(data.data_dir, subset=Subset(data.n_train, data.n_val, data.n_test), device=device,
                      dataset=data.dataset)


def _stops_early(history: list[dict], patience: int | None) -> bool:
    """Validation error has not improved on its best for `patience` epochs."""
    if patience is None or len(history) <= patience:
        return False
    best = min(range(len(history)), key=lambda e: history[e]["val_error"])
    return len(history) - 1 - best >= patience


def _summary(history: list[dict], early: bool = False) -> dict:
    """A run's final metrics: its last epoch, and with early stopping, also the epoch it would keep."""
    if not history:
        return {}
    out = dict(history[-1])
    if early or len(history) > 1:
        best = min(history, key=lambda h: h["val_error"])
        out.update({f"best_{k}": best[k] for k in ("epoch", "val_error", "test_error", "test_ce")})
    return out


SLICES = 10  # progress reports per epoch (the first epoch of a big grid can take a minute)


def _train_epoch(trainer: BatchTrainer, epoch: int, cancel, start: float, share: float):
    """One epoch in SLICES slices, yielding Progress between them; returns the epoch's mean
    train_loss and grad_norm per run (as train_one_epoch), or None if cancelled."""
    steps = trainer.steps_per_epoch
    bounds = sorted({round(i * steps / SLICES) for i in range(SLICES + 1)})
    sums = None
    for a, b in zip(bounds, bounds[1:]):
        part = trainer.train_one_epoch(epoch, cancel, steps=range(a, b))
        if part is None:
            return None
        part = {key: value * (b - a) for key, value in part.items()}
        sums = part if sums is None else {key: sums[key] + part[key] for key in sums}
        yield Progress(start + share * b / steps, f"epoch {epoch}: {b / steps:.0%} of the training pass")
    return {key: value / steps for key, value in sums.items()}


def train_events(configs: Sequence[TrainConfig], split: MnistSplit, train_eval: int | None = 10_000,
                 cancel: threading.Event | None = None, keep_state: bool = False,
                 record: RecorderFactory | None = None) -> Iterator[Event]:
    """Train one group; yield Progress, Epoch and Finished events (see module docstring). With
    `keep_state`, each Finished carries {"state": the run's weights} as its result. With `record`,
    its Recorder watches every minibatch and each run's summary gets the Recorder's `finish` entries."""
    configs = list(configs)
    trainer = BatchTrainer(configs, split, train_eval)
    recorder = None if record is None else record(trainer, split)
    if recorder is not None:
        trainer.observe = recorder.on_batch
    recorded = recorder.finish if recorder is not None else (lambda pos: {})  # a run's summary entries
    alive = list(range(len(configs)))
    histories: list[list[dict]] = [[] for _ in configs]
    total, done, start = sum(c.epochs for c in configs), 0, time.perf_counter()
    for epoch in range(1, max(c.epochs for c in configs) + 1):
        epoch_start = time.perf_counter()
        trained = yield from _train_epoch(trainer, epoch, cancel, done / total, len(alive) / total)
        metrics = None if trained is None else trainer.evaluate_epoch(trained, cancel)
        if metrics is None:
            break
        if recorder is not None:
            recorder.end_epoch(epoch, alive)
        now, survivors = time.perf_counter(), []
        for m, (pos, row) in enumerate(zip(alive, metrics)):
            diverged = row.pop("diverged")
            row.update(epoch=epoch, seconds=now - epoch_start, elapsed=now - start)
            histories[pos].append({key: row[key] for key in METRIC_KEYS})
            yield Epoch(pos, epoch, histories[pos][-1])
            early = _stops_early(histories[pos], configs[pos].patience)
            done += 1 + ((configs[pos].epochs - epoch) if diverged or early else 0)
            if diverged:
                yield Finished(pos, DIVERGED, {**_summary(histories[pos]), **recorded(pos)},
                               error="non-finite or exploding training loss")
            elif early or epoch == configs[pos].epochs:
                state = {"state": trainer.state_dict(m)} if keep_state else None
                summary = {**_summary(histories[pos], early), "stopped_early": early,
                           "at_chance": at_chance(row["val_error"], trainer.num_classes), **recorded(pos)}
                yield Finished(pos, DONE, summary, state)
            else:
                survivors.append(m)
        best = min(h[-1]["val_error"] for h in histories if h)
        yield Progress(done / total, f"epoch {epoch} · {len(survivors)} of {len(configs)} runs training · "
                                     f"best validation error so far {best:.2%}")
        if not survivors:
            return
        if len(survivors) < len(alive):
            alive = [alive[m] for m in survivors]
            trainer.keep(survivors)
    for m, pos in enumerate(alive):  # cancelled mid-way
        state = {"state": trainer.state_dict(m)} if keep_state else None
        yield Finished(pos, STOPPED, {**_summary(histories[pos]), **recorded(pos)}, state)


def train_group(spec: GroupSpec, cancel: threading.Event) -> Iterator[Event]:
    """The engine task: load the data on this worker's device, then train_events."""
    device = pick_device(spec.data.device)
    yield Progress(0.0, f"loading {spec.data.dataset} on {device}…")
    split = spec.split if spec.split is not None else load_data(spec.data, device)
    yield Progress(0.0, f"training {len(spec.configs)} run(s) on {device}…")
    keep = spec.states is not None
    for event in train_events(spec.configs, split, spec.data.train_eval, cancel, keep_state=keep, record=spec.record):
        if keep and isinstance(event, Finished) and isinstance(event.result, dict) and "state" in event.result:
            spec.states[event.index] = event.result["state"]  # the weights stay in memory, never in the store
            event = dataclasses.replace(event, result=None)
        yield event


def groups_of(configs: Sequence[TrainConfig], data: DataConfig, max_models: int = MAX_MODELS,
              record: RecorderFactory | None = None, split: MnistSplit | None = None,
              keep_state: bool = False) -> tuple[list[Group], list[int]]:
    """The engine groups of a grid, and the order of `configs` they cover (group by group); `record`
    goes to every group (see train_events). In-process only: `split` reuses loaded data, and
    `keep_state` collects each run's weights in its group's `spec.states`."""
    device = str(pick_device(data.device))
    data = dataclasses.replace(data, device=device)
    groups, order = [], []
    for pos in group_positions(configs, max_models):
        part = tuple(configs[i] for i in pos)
        groups.append(Group(train_group, GroupSpec(part, data, record, split, {} if keep_state else None), len(part), f"{len(part)} run(s) · {part[0].arch}",
                            cost=sum(c.epochs for c in part), gpu=device.startswith("cuda")))
        order += pos
    return groups, order
