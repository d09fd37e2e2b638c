"""The MNIST experiments of Keren, Sabato & Schuller (AAAI 2017, Section 6): training and selection.

What: MLPs (core/mlp.py) trained by SGD with momentum, minibatch 128, gradient-norm clipping at
100, with the pseudo-gradient of parameter k (core/pseudograd.py) or any objective of
core/losses.py, optionally on noisy labels (core/noise.py). `fit` trains a list of
`TrainConfig`s and records per-epoch metrics; `core.selection.select` runs the paper's protocol
(the learning rate per k on validation, then k on validation) and compares the selected (k, lr)
with the best k = 1 (cross-entropy) model. The command line is in core/mnist_cli.py.

Why: the paper's claim is that tuning k beats cross-entropy, with the best k growing with depth.
Checking it needs a grid of (k, lr, seed) runs, so `fit` trains all configurations of one
architecture together as ONE batched model (stacked weights, torch.baddbmm), each with its own
data order, learning rate, momentum, k, clipping and label noise, giving the same numbers as
training each alone (tests/test_mnist.py checks it) in less time.

How it runs: the whole dataset lives on the device (core.device.pick_device: cuda, mps, cpu).
Each epoch, model m visits the training set in the order `epoch_order(seed_m, epoch, n)`
(drawn on the CPU, so identical on every device) in minibatches gathered as (M, B, 784). The step
loop never reads a value back from the device; metrics are read once per epoch, after an
evaluation pass (no_grad) over the first `DataConfig.train_eval` training images (10,000 by
default, a fixed subset to keep the epoch cost down), the validation set and the test set.
A run whose training loss or parameters become non-finite, or whose train cross-entropy exceeds
1e3, is marked "diverged" and leaves the batch; the others continue. Setting the `cancel` event
stops everything within one step (or one evaluation chunk), keeping the finished epochs.

How to run:
    python -m core.mnist train --k 0.5 1 --lr 0.1 --epochs 3 --n-train 5000
    python -m core.mnist train --objective gce:q=0.7 --noise symmetric:0.4 --json out.json
    python -m core.mnist select --k 0.5 1 2 --lr 0.03 0.1 0.3 --seeds 0 1 --epochs 5
    from core.mnist import DataConfig, TrainConfig, fit
    from core.selection import select
    results = fit([TrainConfig(k=k, lr=0.1, epochs=3) for k in (0.5, 1.0)], DataConfig(n_train=5000))
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.data import MnistSplit, Subset, load_split
from core.device import pick_device
from core.losses import ObjectiveSpec, make_objective, parse_objective
from core.mlp import ACTIVATIONS, BatchedMLP, BatchedSGD, make_mlp
from core.noise import NoiseSpec, memorization_metrics
from core.pseudograd import tunable_cross_entropy

__all__ = [
    "DIVERGENCE_CE",
    "METRIC_KEYS",
    "BatchTrainer",
    "ConfigError",
    "DataConfig",
    "EpochEvent",
    "RunResult",
    "TrainConfig",
    "epoch_order",
    "fit",
]

NUM_CLASSES = 10
DIVERGENCE_CE = 1e3  # train cross-entropy above this (nats) marks a run diverged
_EVAL_BUDGET = 2**23  # floats per hidden activation in one evaluation chunk (M * rows * width)

# Keys of every per-epoch metrics dict. Errors and accuracies are fractions in [0, 1]; CE in nats.
METRIC_KEYS = (
    "epoch",  # 1-based epoch number
    "train_loss",  # mean training objective over the epoch's minibatches (before each update)
    "train_ce", "train_error",  # on the first DataConfig.train_eval training images, against the labels trained on
    "val_ce", "val_error",  # validation set, against its (noisy, if noise is on) labels
    "test_ce", "test_error",  # test set, clean labels
    "grad_norm",  # mean pre-clipping global gradient norm over the epoch's steps
    "noise_rate",  # realized fraction of flipped train+val labels (0 without noise)
    "train_acc_noisy", "train_acc_true",  # train-eval subset: accuracy on the noisy / the true labels
    "memorized", "corrected",  # among flipped train-eval examples: predicted noisy label / true label (nan: none flipped)
    "seconds",  # wall time of this epoch (training + evaluation) for the whole batch of models
    "elapsed",  # seconds since fit started
)


class ConfigError(ValueError):
    """A configuration field is out of range; the message says which and what is allowed."""


def _positive_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)


def _count(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return value


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Runs that share (hidden, activation, batch_size, epochs) train as one batch."""

    hidden: tuple[int, ...] = (800,)  # hidden-layer widths (paper: 1, 3 or 5 layers of 400/800/1100)
    activation: str = "relu"  # hidden nonlinearity: relu | tanh | sigmoid | gelu
    lr: float = 0.1  # SGD learning rate (tune it per k: the pseudo-gradient's scale depends on k)
    momentum: float = 0.5  # SGD momentum in [0, 1) (paper: 0.5 or 0.9)
    k: float = 1.0  # pseudo-gradient exponent, > 0 (1 = cross-entropy); used when objective is None
    objective: ObjectiveSpec | None = None  # another objective (core.losses); None = pseudo-gradient of k
    weight_decay: float = 0.0  # L2 coefficient added to the gradient, as torch.optim.SGD's
    clip_norm: float | None = 100.0  # clip each run's global gradient norm to this; None = no clipping
    batch_size: int = 128  # minibatch size (the last, smaller minibatch of an epoch is kept)
    epochs: int = 10  # passes over the training set
    seed: int = 0  # seeds the initialization and every epoch's data order (not the label noise)
    noise: NoiseSpec = field(default_factory=NoiseSpec)  # label noise on train+val labels; test stays clean

    def __post_init__(self) -> None:
        try:
            hidden = tuple(self.hidden)
        except TypeError:
            raise ConfigError(f"hidden must be a sequence of widths, e.g. (800,); got {self.hidden!r}") from None
        for width in hidden:
            _count(width, "every hidden width")
        object.__setattr__(self, "hidden", hidden)
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        _positive_number(self.lr, "lr")
        if isinstance(self.momentum, bool) or not isinstance(self.momentum, (int, float)) or not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be a number in [0, 1); got {self.momentum!r}")
        objective = self.objective
        if isinstance(objective, str):
            try:
                objective = parse_objective(objective)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if objective is not None and not isinstance(objective, ObjectiveSpec):
            raise ConfigError(f"objective must be an ObjectiveSpec, a string like 'gce:q=0.7' or None; got {objective!r}")
        if objective is not None and objective.name == "tunable":  # one canonical form: k carries it
            object.__setattr__(self, "k", objective.kwargs["k"])
            objective = None
        object.__setattr__(self, "objective", objective)
        object.__setattr__(self, "k", _positive_number(self.k, "k"))
        if isinstance(self.weight_decay, bool) or not isinstance(self.weight_decay, (int, float)) or not (
            math.isfinite(self.weight_decay) and self.weight_decay >= 0
        ):
            raise ConfigError(f"weight_decay must be a finite number >= 0; got {self.weight_decay!r}")
        if self.clip_norm is not None:
            _positive_number(self.clip_norm, "clip_norm (None disables clipping)")
        _count(self.batch_size, "batch_size")
        _count(self.epochs, "epochs")
        _count(self.seed, "seed", minimum=0)
        if not isinstance(self.noise, NoiseSpec):
            raise ConfigError(f"noise must be a core.noise.NoiseSpec; got {self.noise!r}")

    @property
    def method(self) -> str:
        """What produces the update: 'k=0.5' for the pseudo-gradient, else the objective, e.g. 'gce:q=0.7'."""
        return f"k={self.k:g}" if self.objective is None else str(self.objective)

    @property
    def label(self) -> str:
        """Short display label, e.g. 'k=0.5 lr=0.1 s0' or 'GCE (q=0.7) lr=0.1 s0'."""
        method = f"k={self.k:g}" if self.objective is None else self.objective.label
        return f"{method} lr={self.lr:g} s{self.seed}"

    @property
    def arch(self) -> str:
        """The network, e.g. '784-800-10 relu'."""
        return "-".join(str(n) for n in (784, *self.hidden, NUM_CLASSES)) + f" {self.activation}"

    def to_dict(self) -> dict:
        """JSON-friendly fields (objective as its CLI string, noise as a dict); `from_dict` reads it back."""
        return {
            "hidden": list(self.hidden), "activation": self.activation, "lr": self.lr, "momentum": self.momentum,
            "k": self.k, "objective": None if self.objective is None else str(self.objective),
            "weight_decay": self.weight_decay, "clip_norm": self.clip_norm, "batch_size": self.batch_size,
            "epochs": self.epochs, "seed": self.seed,
            "noise": {"kind": self.noise.kind, "rate": self.noise.rate, "seed": self.noise.seed},
        }

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["hidden"] = tuple(d.get("hidden", (800,)))
        if isinstance(d.get("noise"), dict):
            d["noise"] = NoiseSpec(**d["noise"])
        return cls(**d)


@dataclass(frozen=True)
class DataConfig:
    """Which MNIST images to use (core.data.load_split) and where to compute."""

    n_train: int | None = None  # training images: the first n of the 50,000; None = all
    n_val: int | None = None  # validation images: the first n of the last 10,000 training images; None = all
    n_test: int | None = None  # test images: the first n of the 10,000; None = all
    train_eval: int | None = 10_000  # training images (the first n) re-evaluated each epoch for train metrics; None = all
    device: str = "auto"  # "auto" (cuda, mps, cpu) or a torch device name
    data_dir: str | None = None  # MNIST directory for core.data; None = its default

    def __post_init__(self) -> None:
        for name in ("n_train", "n_val", "n_test", "train_eval"):
            value = getattr(self, name)
            if value is not None:
                _count(value, name, minimum=1 if name in ("n_train", "train_eval") else 0)


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
    """One run's outcome. status: "done" (all epochs), "stopped" (cancelled) or "diverged"."""

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
        net = make_mlp(self.config.hidden, self.config.activation)
        net.load_state_dict(self.state)
        return net


def epoch_order(seed: int, epoch: int, n: int) -> Tensor:
    """The order (n,) in which a run with this seed visits the training set in `epoch` (CPU, int64)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed((seed << 20) + epoch))


# ----------------------------------------------------------------------------- batched training

class BatchTrainer:
    """M runs of one architecture and batch size as one batched model (core.mlp) on one device.

    `train_one_epoch` and `evaluate_epoch` return (M,) tensors / per-run dicts; `keep` drops runs.
    """

    def __init__(self, configs: Sequence[TrainConfig], split: MnistSplit, train_eval: int | None = 10_000) -> None:
        self.configs = list(configs)
        first = self.configs[0]
        if any((c.hidden, c.activation, c.batch_size) != (first.hidden, first.activation, first.batch_size)
               for c in self.configs):
            raise ConfigError("runs trained together must share hidden, activation and batch_size")
        device = split.train_x.device
        self.device = device
        self.batch_size = first.batch_size
        self.train_x, self.val_x, self.test_x = split.train_x, split.val_x, split.test_x
        self.test_y = split.test_y
        self.n_eval = len(split.train_x) if train_eval is None else min(train_eval, len(split.train_x))
        self.clean_train_y = split.train_y[: self.n_eval]
        # label noise on train+val together, once per distinct NoiseSpec; (M, N) labels per run
        noisy: dict[NoiseSpec, tuple[Tensor, Tensor, float]] = {}
        n_train = len(split.train_y)
        both = torch.cat([split.train_y, split.val_y]).cpu()
        for spec in {c.noise for c in self.configs}:
            out = spec.apply(both, NUM_CLASSES)
            labels = out.labels.to(device)
            noisy[spec] = (labels[:n_train], labels[n_train:], out.realized_rate)
        self.train_y = torch.stack([noisy[c.noise][0] for c in self.configs])  # (M, N_train)
        self.val_y = torch.stack([noisy[c.noise][1] for c in self.configs])  # (M, N_val)
        self.noise_rate = [noisy[c.noise][2] for c in self.configs]
        self.model = BatchedMLP.from_seeds(first.hidden, first.activation, [c.seed for c in self.configs], device=device)
        self.optimizer = BatchedSGD(
            self.model.parameters(),
            lr=[c.lr for c in self.configs],
            momentum=[c.momentum for c in self.configs],
            weight_decay=[c.weight_decay for c in self.configs],
            clip_norm=[c.clip_norm for c in self.configs],
        )
        self._plan()

    def _plan(self) -> None:
        """Group the runs by objective: all pseudo-gradient runs in one call with a per-example k."""
        self.k = torch.tensor([c.k for c in self.configs], dtype=torch.float32, device=self.device)  # (M,)
        groups: dict[ObjectiveSpec | None, list[int]] = {}
        for m, c in enumerate(self.configs):
            groups.setdefault(c.objective, []).append(m)
        self._groups = [
            (torch.tensor(idx, device=self.device), None if spec is None else make_objective(spec))
            for spec, idx in groups.items()
        ]

    def _tunable(self, logits: Tensor, target: Tensor, k: Tensor) -> Tensor:
        m, b, c = logits.shape
        per_example = tunable_cross_entropy(
            logits.reshape(m * b, c), target.reshape(m * b), k=k.view(m, 1).expand(m, b).reshape(m * b),
            reduction="none", validate=False,
        )
        return per_example.view(m, b).mean(1)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Per-run mean training objective (M,) for logits (M, B, C) and targets (M, B)."""
        m, b, c = logits.shape
        if len(self._groups) == 1:
            _, objective = self._groups[0]
            if objective is None:
                return self._tunable(logits, target, self.k)
            return objective.per_example(logits.reshape(m * b, c), target.reshape(m * b)).view(m, b).mean(1)
        parts, order = [], []
        for idx, objective in self._groups:
            z, t = logits.index_select(0, idx), target.index_select(0, idx)
            if objective is None:
                parts.append(self._tunable(z, t, self.k.index_select(0, idx)))
            else:
                parts.append(objective.per_example(z.reshape(-1, c), t.reshape(-1)).view(len(idx), b).mean(1))
            order.append(idx)
        return torch.zeros(m, device=logits.device, dtype=parts[0].dtype).index_copy(0, torch.cat(order), torch.cat(parts))

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_x) / self.batch_size)

    def train_one_epoch(
        self, epoch: int, cancel: threading.Event | None = None, steps: range | None = None
    ) -> dict[str, Tensor] | None:
        """One pass over the training set per run; {"train_loss": (M,), "grad_norm": (M,)} or None if cancelled.

        `steps` restricts the pass to those minibatches of the epoch (benchmarks time slices of an epoch).
        """
        n, b = len(self.train_x), self.batch_size
        m = len(self.configs)
        order = torch.stack([epoch_order(c.seed, epoch, n) for c in self.configs]).to(self.device)  # (M, N)
        loss_sum = torch.zeros(m, device=self.device)
        norm_sum = torch.zeros(m, device=self.device)
        steps = range(self.steps_per_epoch) if steps is None else steps
        for step in steps:
            if cancel is not None and cancel.is_set():
                return None
            idx = order[:, step * b: (step + 1) * b]  # (M, B)
            x = self.train_x.index_select(0, idx.reshape(-1)).view(m, idx.shape[1], -1)  # (M, B, 784)
            target = self.train_y.gather(1, idx)  # (M, B)
            loss = self.loss(self.model(x), target)  # (M,)
            self.optimizer.zero_grad()
            loss.sum().backward()  # runs share no parameters: each gets the gradient of its own mean loss
            self.optimizer.step()
            loss_sum += loss.detach()
            norm_sum += self.optimizer.last_grad_norm
        return {"train_loss": loss_sum / max(len(steps), 1), "grad_norm": norm_sum / max(len(steps), 1)}

    @torch.no_grad()
    def evaluate(
        self, x: Tensor, target: Tensor, cancel: threading.Event | None = None
    ) -> tuple[Tensor, Tensor, Tensor] | None:
        """(mean CE (M,), error (M,), predictions (M, N)) on inputs x (N, 784), targets (M, N) or (N,)."""
        m, n = len(self.configs), len(x)
        if n == 0:
            nan = torch.full((m,), math.nan, device=self.device)
            return nan, nan, torch.empty(m, 0, dtype=torch.long, device=self.device)
        width = max(w.shape[2] for w in self.model.weights)
        chunk = max(256, _EVAL_BUDGET // (m * width))
        target = target.expand(m, n)
        ce = torch.zeros(m, device=self.device)
        wrong = torch.zeros(m, device=self.device)
        preds = []
        for start in range(0, n, chunk):
            if cancel is not None and cancel.is_set():
                return None
            logits = self.model(x[start: start + chunk])  # (M, n, C)
            t = target[:, start: start + chunk]
            ce += F.cross_entropy(logits.reshape(-1, logits.shape[2]), t.reshape(-1), reduction="none").view_as(t).sum(1)
            pred = logits.argmax(2)  # (M, n)
            wrong += (pred != t).sum(1)
            preds.append(pred)
        return ce / n, wrong / n, torch.cat(preds, 1)

    def evaluate_epoch(self, trained: dict[str, Tensor], cancel: threading.Event | None = None) -> list[dict] | None:
        """Per-run metrics after an epoch (one host read for all runs), plus a "diverged" flag; None if cancelled."""
        parts = [
            self.evaluate(self.train_x[: self.n_eval], self.train_y[:, : self.n_eval], cancel),
            self.evaluate(self.val_x, self.val_y, cancel),
            self.evaluate(self.test_x, self.test_y, cancel),
        ]
        if any(p is None for p in parts):
            return None
        (tr_ce, tr_err, tr_pred), (va_ce, va_err, _), (te_ce, te_err, _) = parts
        table = torch.stack([
            trained["train_loss"], tr_ce, tr_err, va_ce, va_err, te_ce, te_err, trained["grad_norm"],
            self.model.params_finite().float(),
        ]).cpu().tolist()
        out = []
        for m in range(len(self.configs)):
            loss, train_ce, train_err, val_ce, val_err, test_ce, test_err, grad_norm, finite = (row[m] for row in table)
            memo = memorization_metrics(tr_pred[m], self.train_y[m, : self.n_eval], self.clean_train_y)
            diverged = not (finite and math.isfinite(loss) and math.isfinite(train_ce) and train_ce <= DIVERGENCE_CE)
            out.append({
                "train_loss": loss, "train_ce": train_ce, "train_error": train_err,
                "val_ce": val_ce, "val_error": val_err, "test_ce": test_ce, "test_error": test_err,
                "grad_norm": grad_norm, "noise_rate": self.noise_rate[m],
                "train_acc_noisy": memo["acc_noisy"], "train_acc_true": memo["acc_true"],
                "memorized": memo["memorized"], "corrected": memo["corrected"], "diverged": diverged,
            })
        return out

    def keep(self, index: Sequence[int]) -> None:
        """Keep only the runs at these positions (in this order); the others leave the batch."""
        idx = torch.tensor(list(index), dtype=torch.long, device=self.device)
        self.configs = [self.configs[i] for i in index]
        self.noise_rate = [self.noise_rate[i] for i in index]
        self.train_y, self.val_y = self.train_y[idx], self.val_y[idx]
        self.model.keep(idx)
        self.optimizer.keep(idx, self.model.parameters())
        self._plan()

    def state_dict(self, m: int) -> dict[str, Tensor]:
        """Run m's weights as an nn.Sequential state_dict on the CPU."""
        return self.model.to_sequential(m).state_dict()


def _group(configs: Sequence[TrainConfig], max_models: int) -> list[list[int]]:
    """Positions of the runs that train together: same architecture, batch size and epochs."""
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault((c.hidden, c.activation, c.batch_size, c.epochs), []).append(i)
    return [idx[s: s + max_models] for idx in groups.values() for s in range(0, len(idx), max_models)]


def fit(
    configs: Sequence[TrainConfig],
    data: DataConfig | None = None,
    on_epoch: Callable[[EpochEvent], None] | None = None,
    cancel: threading.Event | None = None,
    device: str | torch.device | None = None,
    *,
    max_models: int = 16,
    split: MnistSplit | None = None,
) -> list[RunResult]:
    """Train every configuration; return one RunResult per config, in order.

    Runs sharing (hidden, activation, batch_size, epochs) train together as one batched model
    (at most `max_models` at a time). `on_epoch(EpochEvent)` is called after every epoch of every
    run. Setting `cancel` stops within one step: unfinished runs get status "stopped" and keep
    their finished epochs. `device` overrides `data.device`. `split` reuses already loaded data
    (it must live on the chosen device). Raises ConfigError on bad configs, and core.data's
    MnistUnavailableError when MNIST cannot be loaded.
    """
    configs = list(configs)
    if not configs or not all(isinstance(c, TrainConfig) for c in configs):
        raise ConfigError("fit needs a non-empty list of TrainConfig")
    data = data or DataConfig()
    dev = pick_device(device if device is not None else data.device)
    if split is None:
        split = load_split(data.data_dir, subset=Subset(data.n_train, data.n_val, data.n_test), device=dev)
    elif split.train_x.device.type != dev.type:
        raise ConfigError(f"split lives on {split.train_x.device}, but training runs on {dev}")
    total = sum(c.epochs for c in configs)
    done = 0
    start = time.perf_counter()
    results: list[RunResult | None] = [None] * len(configs)
    histories: list[list[dict]] = [[] for _ in configs]

    for group in _group(configs, max_models):
        if cancel is not None and cancel.is_set():
            break
        group_start = time.perf_counter()
        trainer = BatchTrainer([configs[i] for i in group], split, data.train_eval)
        alive = list(group)  # fit positions of the runs still in the batch
        for epoch in range(1, configs[group[0]].epochs + 1):
            epoch_start = time.perf_counter()
            trained = trainer.train_one_epoch(epoch, cancel)
            metrics = None if trained is None else trainer.evaluate_epoch(trained, cancel)
            if metrics is None:
                break
            now = time.perf_counter()
            last = epoch == configs[group[0]].epochs
            survivors = []
            for m, (pos, row) in enumerate(zip(alive, metrics)):
                diverged = row.pop("diverged")
                row.update(epoch=epoch, seconds=now - epoch_start, elapsed=now - start)
                histories[pos].append({key: row[key] for key in METRIC_KEYS})
                done += 1 + (configs[pos].epochs - epoch if diverged else 0)
                if diverged:
                    results[pos] = RunResult(configs[pos], "diverged", histories[pos], str(dev), now - group_start)
                else:
                    survivors.append(m)
                    if last:
                        results[pos] = RunResult(configs[pos], "done", histories[pos], str(dev), now - group_start,
                                                 trainer.state_dict(m))
                if on_epoch is not None:
                    fraction = done / total
                    eta = (now - start) * (1 - fraction) / fraction if fraction > 0 else math.nan
                    status = "diverged" if diverged else ("done" if last else "running")
                    on_epoch(EpochEvent(pos, configs[pos], epoch, dict(histories[pos][-1]), status, fraction, eta))
            if not survivors:
                break
            if len(survivors) < len(alive):
                alive = [alive[m] for m in survivors]
                trainer.keep(survivors)
        for m, pos in enumerate(alive):
            if results[pos] is None:  # cancelled mid-way
                results[pos] = RunResult(configs[pos], "stopped", histories[pos], str(dev),
                                         time.perf_counter() - group_start, trainer.state_dict(m))
    for pos, c in enumerate(configs):
        if results[pos] is None:
            results[pos] = RunResult(c, "stopped", histories[pos], str(dev), 0.0)
    return results  # type: ignore[return-value]


if __name__ == "__main__":  # the command line lives in core/mnist_cli.py
    from core.mnist_cli import main

    sys.exit(main())
