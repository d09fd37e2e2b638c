"""Configurations of the MNIST-style MLP experiments (Keren, Sabato & Schuller, AAAI 2017, Section 6).

What: `TrainConfig` (one run: network, optimizer, k or another objective, epochs, early stopping,
seed, label noise), `DataConfig` (which data set and images, which device), `METRIC_KEYS` (what
every epoch records) and `ConfigError` (bad settings, with a message that says what to write).

Why: pages build these from widgets, the CLIs from argparse, and the run store keeps them as
`to_dict()`, so one validated definition serves all three.

    from core.mnist import DataConfig, TrainConfig
    TrainConfig(k=0.5, lr=0.1, hidden=(400, 400, 400), epochs=50, patience=5)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.data import Subset, check_subset
from core.labelnoise import NoiseSpec
from core.losses import ObjectiveSpec, parse_objective
from core.mlp import ACTIVATIONS
from core.schedule import parse_schedule

NUM_CLASSES = 10
DIVERGENCE_CE = 1e3  # train cross-entropy above this (nats) marks a run diverged

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


def at_chance(error: float, num_classes: int = 10) -> bool:
    """Whether an error rate is no better than guessing (within half a class's share): such a run
    learned nothing (e.g. a learning rate far too large) though it may have ended "done"."""
    return error >= 1 - 1.5 / num_classes


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
    k_schedule: str | None = None  # k over training (core.schedule text, e.g. "linear:1/4:2"); None = constant k
    objective: ObjectiveSpec | None = None  # another objective (core.losses); None = pseudo-gradient of k
    weight_decay: float = 0.0  # L2 coefficient added to the gradient, as torch.optim.SGD's
    clip_norm: float | None = 100.0  # clip each run's global gradient norm to this; None = no clipping
    batch_size: int = 128  # minibatch size (the last, smaller minibatch of an epoch is kept)
    epochs: int = 10  # passes over the training set (the most, with early stopping)
    patience: int | None = None  # stop once validation error has not improved for this many epochs; None = never
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
        if self.k_schedule is not None:
            if objective is not None:
                raise ConfigError("k_schedule applies to the pseudo-gradient; leave objective None to use it")
            try:
                schedule = parse_schedule(self.k_schedule)
            except ValueError as exc:
                raise ConfigError(f"k_schedule: {exc}") from None
            object.__setattr__(self, "k_schedule", str(schedule))  # one canonical text
            object.__setattr__(self, "k", schedule(0.0))  # k where training starts
        if isinstance(self.weight_decay, bool) or not isinstance(self.weight_decay, (int, float)) or not (
            math.isfinite(self.weight_decay) and self.weight_decay >= 0
        ):
            raise ConfigError(f"weight_decay must be a finite number >= 0; got {self.weight_decay!r}")
        if self.clip_norm is not None:
            _positive_number(self.clip_norm, "clip_norm (None disables clipping)")
        _count(self.batch_size, "batch_size")
        _count(self.epochs, "epochs")
        if self.patience is not None:
            _count(self.patience, "patience (None disables early stopping)")
        _count(self.seed, "seed", minimum=0)
        if not isinstance(self.noise, NoiseSpec):
            raise ConfigError(f"noise must be a core.noise.NoiseSpec; got {self.noise!r}")

    @property
    def method(self) -> str:
        """What produces the update: 'k=0.5' for the pseudo-gradient, else the objective, e.g. 'gce:q=0.7'."""
        if self.k_schedule is not None:
            return f"k={self.k_schedule}"
        return f"k={self.k:g}" if self.objective is None else str(self.objective)

    @property
    def label(self) -> str:
        """Short display label, e.g. 'k=0.5 lr=0.1 s0' or 'GCE (q=0.7) lr=0.1 s0'."""
        method = f"k={self.k:g}" if self.objective is None else self.objective.label
        if self.k_schedule is not None:
            method = parse_schedule(self.k_schedule).label
        return f"{method} lr={self.lr:g} s{self.seed}"

    @property
    def arch(self) -> str:
        """The hidden layers, e.g. '800 relu' or '400-400-400 relu' (input and output depend on the data)."""
        return "-".join(str(n) for n in self.hidden) + f" {self.activation}"

    def to_dict(self) -> dict:
        """JSON-friendly fields (objective as its CLI string, noise as a dict); `from_dict` reads it back."""
        return {
            "hidden": list(self.hidden), "activation": self.activation, "lr": self.lr, "momentum": self.momentum,
            "k": self.k, "k_schedule": self.k_schedule, "objective": None if self.objective is None else str(self.objective),
            "weight_decay": self.weight_decay, "clip_norm": self.clip_norm, "batch_size": self.batch_size,
            "epochs": self.epochs, "patience": self.patience, "seed": self.seed,
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
    """Which images to use (core.data.load_split) and where to compute."""

    dataset: str = "mnist"  # a core.data data set: mnist, fashion-mnist, cifar10, cifar100, svhn
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
        try:
            check_subset(self.dataset, Subset(self.n_train, self.n_val, self.n_test))
        except (KeyError, ValueError) as exc:
            raise ConfigError(str(exc).strip("'\"")) from None
