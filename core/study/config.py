"""What a study is: the cells of the paper's experiments section and the grid inside each cell.

What: `Cell` (data set, hidden layers, width, momentum: one row of the paper's Tables 1, 3 and 4)
and `StudyConfig` (the cells, and inside every cell the k values x learning rates x seeds, each
run trained to `epochs` at most with early stopping on validation error after `patience` epochs
without improvement). `StudyConfig.grid(...)` builds the cells as a product (the CLI's flags);
`study.runs()` lists every (cell, TrainConfig) to train (k_schedules, when given, compete
with the constant ks as further choices); `study.data(dataset)` the DataConfig of a
data set; `study.id` is a short hash of everything that changes a number, so the runs of one
study can be found again in the run store (and a study started again resumes).

Why: the CLI, the page and the presets describe a study the same way, and the id ties every saved
run to it.

    from core.study import StudyConfig
    study = StudyConfig.grid(datasets=["mnist"], layers=[1], widths=[400], momenta=[0.5],
                             ks=[0.5, 1, 2], lrs=[0.1, 0.3], seeds=[0, 1], epochs=20, patience=4)
    len(study.runs()), study.id
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass

from core.data import dataset_names
from core.mnist import ConfigError, DataConfig, TrainConfig
from core.schedule import parse_schedule

PAPER_NAMES = {"mnist": "MNIST", "svhn": "SVHN", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
               "fashion-mnist": "Fashion-MNIST"}  # our data set names -> the paper's spelling


@dataclass(frozen=True, order=True)
class Cell:
    """One architecture and optimizer setting: a row of the paper's tables."""

    dataset: str  # core.data name: mnist, fashion-mnist, cifar10, cifar100, svhn
    layers: int  # hidden layers (paper: 1, 3 or 5)
    width: int  # units per hidden layer (paper: 400, 800, 1100)
    momentum: float  # SGD momentum (paper: 0.5 or 0.9)

    @property
    def hidden(self) -> tuple[int, ...]:
        return (self.width,) * self.layers

    @property
    def label(self) -> str:
        """e.g. 'MNIST · 3 × 400 · momentum 0.5'."""
        return f"{PAPER_NAMES.get(self.dataset, self.dataset)} · {self.layers} × {self.width} · momentum {self.momentum:g}"


def _numbers(values, name: str, kind=float) -> tuple:
    values = tuple(values)
    if not values:
        raise ConfigError(f"{name}: give at least one value")
    if len(set(values)) != len(values):
        raise ConfigError(f"{name}: values repeat ({', '.join(map(str, values))})")
    return tuple(kind(v) for v in values)


@dataclass(frozen=True)
class StudyConfig:
    """A study: cells x (k x lr x seeds), early-stopped on validation error (see module docstring)."""

    cells: tuple[Cell, ...]  # the settings compared (rows of the result table)
    ks: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)  # pseudo-gradient exponents; must include 1 (the baseline)
    k_schedules: tuple[str, ...] = ()  # k schedules competing with the ks (core.schedule text, e.g. "linear:1/4:2")
    lrs: tuple[float, ...] = (0.1, 0.3)  # SGD learning rates, tried for every k
    seeds: tuple[int, ...] = (0, 1)  # seeds per (k, lr): initialization and data order
    epochs: int = 20  # the most epochs a run trains
    patience: int = 4  # stop after this many epochs without a better validation error
    n_train: int | None = None  # training images (the first n); None = all
    n_val: int | None = None  # validation images; None = the data set's default
    n_test: int | None = None  # test images; None = all
    train_eval: int | None = 1_000  # training images re-evaluated each epoch (train metrics only)
    device: str = "auto"  # where to train ("auto": cuda, mps, cpu); not part of the id
    name: str = ""  # a preset's name, or "" (not part of the id)

    def __post_init__(self) -> None:
        cells = tuple(self.cells)
        if not cells:
            raise ConfigError("a study needs at least one cell (data set x layers x width x momentum)")
        if len(set(cells)) != len(cells):
            raise ConfigError("a study's cells repeat")
        for cell in cells:
            if cell.dataset not in dataset_names():
                raise ConfigError(f"unknown data set {cell.dataset!r}; choose from {', '.join(dataset_names())}")
        object.__setattr__(self, "cells", cells)
        object.__setattr__(self, "ks", _numbers(self.ks, "ks"))
        object.__setattr__(self, "lrs", _numbers(self.lrs, "lrs"))
        object.__setattr__(self, "seeds", _numbers(self.seeds, "seeds", int))
        if 1.0 not in self.ks:
            raise ConfigError("ks must include 1 (cross-entropy): every cell is compared with it")
        object.__setattr__(self, "k_schedules", _schedules(self.k_schedules))
        for cell in cells:  # TrainConfig checks every field once; its message names the bad one
            self._train(cell, self.ks[0], self.lrs[0], self.seeds[0])
        DataConfig(n_train=self.n_train, n_val=self.n_val, n_test=self.n_test, train_eval=self.train_eval)

    @classmethod
    def grid(cls, datasets, layers, widths, momenta, **kwargs) -> "StudyConfig":
        """The cells as the product datasets x layers x widths x momenta (in that order)."""
        cells = [Cell(d, int(n), int(w), float(m)) for d, n, w, m in itertools.product(
            _numbers(datasets, "datasets", str), _numbers(layers, "layers", int), _numbers(widths, "widths", int),
            _numbers(momenta, "momentum"))]
        return cls(cells=tuple(cells), **kwargs)

    def _train(self, cell: Cell, k: float | str, lr: float, seed: int) -> TrainConfig:
        # clip_norm stays TrainConfig's 100 (the paper clips the multi-layer nets at 100; with one
        # hidden layer the norm stays far below it, so clipping every net changes nothing there)
        schedule = {"k_schedule": k} if isinstance(k, str) else {"k": k}
        return TrainConfig(hidden=cell.hidden, momentum=cell.momentum, lr=lr, seed=seed,
                           epochs=self.epochs, patience=self.patience, **schedule)

    @property
    def choices(self) -> tuple[float | str, ...]:
        """What the protocol chooses among: the constant ks, then the k schedules (their text)."""
        return (*self.ks, *self.k_schedules)

    def runs(self) -> list[tuple[Cell, TrainConfig]]:
        """Every run of the study: cells x (ks, then k schedules) x lrs x seeds, in that order."""
        return [(cell, self._train(cell, k, lr, seed))
                for cell in self.cells for k in self.choices for lr in self.lrs for seed in self.seeds]

    @property
    def datasets(self) -> list[str]:
        """The data sets of the cells, in first-seen order."""
        return list(dict.fromkeys(c.dataset for c in self.cells))

    def data(self, dataset: str) -> DataConfig:
        return DataConfig(dataset=dataset, n_train=self.n_train, n_val=self.n_val, n_test=self.n_test,
                          train_eval=self.train_eval, device=self.device)

    def key(self) -> dict:
        """Everything that changes a number (not the device or the name): the id's input."""
        d = asdict(self)
        d.pop("device"), d.pop("name")
        if not d["k_schedules"]:  # a study of constant ks keeps the id it had before schedules existed
            d.pop("k_schedules")
        return d

    @property
    def id(self) -> str:
        """A 10-hex-digit hash of key(): equal for equal studies, so runs are found again."""
        text = json.dumps(self.key(), sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    def to_dict(self) -> dict:
        return {**asdict(self), "id": self.id}

    @classmethod
    def from_dict(cls, d: dict) -> "StudyConfig":
        d = {key: value for key, value in d.items() if key != "id"}
        d["cells"] = tuple(Cell(**c) if isinstance(c, dict) else Cell(*c) for c in d["cells"])
        d["k_schedules"] = tuple(d.get("k_schedules") or ())
        return cls(**d)


def _schedules(texts) -> tuple[str, ...]:
    """The k schedules in their canonical text, each once; a constant one belongs in ks."""
    if isinstance(texts, str):
        texts = (texts,)
    out = []
    for text in texts:
        try:
            schedule = parse_schedule(text)
        except ValueError as exc:
            raise ConfigError(f"k schedule: {exc}") from None
        if schedule.is_constant:
            raise ConfigError(f"k schedule {text!r} keeps k constant: give it as a k value instead")
        out.append(str(schedule))
    if len(set(out)) != len(out):
        raise ConfigError(f"k schedules repeat ({', '.join(out)})")
    return tuple(out)


CELL_FIELDS = tuple(f for f in Cell.__dataclass_fields__)  # dataset, layers, width, momentum
