"""Playground configuration: what data, which k, how to train, as frozen dataclasses.

What: `DataConfig` (a 2-D data set, its label noise, its outliers, its clean test set) and
`PlaygroundConfig` (that data, the k values trained side by side, the MLP, Adam, and how
many snapshots to record). Both validate themselves on construction and raise
`PlaygroundConfigError` (a ValueError) with a message that says what to change.

Why: the page builds these from widgets, the CLI from argparse and the presets by name;
one place checks them, so every entry point rejects the same bad input the same way.

How:
    from core.playground.config import DataConfig, PlaygroundConfig
    cfg = PlaygroundConfig(data=DataConfig("moons", label_noise=0.2), ks=(0.25, 1.0, 4.0))
    cfg.to_dict()                        # plain JSON-able dict (what the run store saves)
    PlaygroundConfig.from_dict(d)        # and back
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from core.mlp import ACTIVATIONS  # the one table of activations (relu, tanh, sigmoid, gelu)

DATASETS = ("moons", "circles", "xor", "spiral", "blobs")

MAX_POINTS = 5000  # training points: more makes the page slow without showing more
MAX_OUTLIERS = 100
MAX_KS = 8  # panels (one per k)
SEEDS = (1, 3, 5)  # initializations per k the page offers; the config takes 1 to MAX_SEEDS
MAX_SEEDS = 5
MAX_STEPS = 5000
MAX_FRAMES = 60  # snapshots: each adds K grids to the browser's payload
MAX_GRID = 80


class PlaygroundConfigError(ValueError):
    """A playground setting is out of range; the message names the setting and what is allowed."""


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise PlaygroundConfigError(message)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "moons"  # one of DATASETS
    points: int = 300  # clean training points, before outliers are added
    label_noise: float = 0.0  # fraction of those points whose label is flipped, in [0, 0.5)
    outliers: int = 0  # extra training points placed far from the data, each with the wrong label
    test_points: int = 1000  # held-out points, drawn clean (no flips, no outliers)
    seed: int = 0  # draws the points, the flips and the outliers

    def __post_init__(self) -> None:
        _need(self.dataset in DATASETS, f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        _need(_is_int(self.points) and 10 <= self.points <= MAX_POINTS,
              f"points must be a whole number from 10 to {MAX_POINTS}; got {self.points!r}")
        _need(isinstance(self.label_noise, (int, float)) and not isinstance(self.label_noise, bool)
              and 0 <= self.label_noise < 0.5,
              f"label noise is the fraction of flipped labels, from 0 up to (not including) 0.5; "
              f"got {self.label_noise!r}")
        _need(_is_int(self.outliers) and 0 <= self.outliers <= MAX_OUTLIERS,
              f"outliers must be a whole number from 0 to {MAX_OUTLIERS}; got {self.outliers!r}")
        _need(_is_int(self.test_points) and 10 <= self.test_points <= 20000,
              f"test points must be a whole number from 10 to 20000; got {self.test_points!r}")
        _need(_is_int(self.seed) and 0 <= self.seed < 2**31, f"seed must be a whole number >= 0; got {self.seed!r}")


@dataclass(frozen=True)
class PlaygroundConfig:
    data: DataConfig = field(default_factory=DataConfig)  # the training and test points
    ks: tuple[float, ...] = (0.25, 1.0, 4.0)  # one model per k, trained side by side (k = 1: cross-entropy)
    hidden: tuple[int, ...] = (16, 16)  # hidden layer widths of the MLP
    activation: str = "tanh"  # hidden activation, one of ACTIVATIONS
    lr: float = 0.03  # Adam step size, the same for every k (Adam divides out the pseudo-gradient's scale)
    steps: int = 300  # Adam updates
    batch_size: int = 0  # points per update; 0 = all training points (full batch, a smooth animation)
    frames: int = 40  # snapshots recorded, evenly spaced from step 0 to the last step
    grid: int = 50  # the decision boundary is evaluated on grid x grid points
    seed: int = 0  # the initial weights (shared by every k) and the minibatch order
    seeds: int = 1  # initializations per k (weights from seed, seed + 1, ...): accuracies are their mean

    def __post_init__(self) -> None:
        _need(isinstance(self.data, DataConfig), "data must be a DataConfig")
        ks = tuple(self.ks)
        _need(1 <= len(ks) <= MAX_KS, f"give 1 to {MAX_KS} values of k; got {len(ks)}")
        for k in ks:
            _need(isinstance(k, (int, float)) and not isinstance(k, bool) and math.isfinite(k) and 0 < k <= 64,
                  f"every k must be a number in (0, 64], e.g. 0.25 or 4; got {k!r}")
        _need(len(set(ks)) == len(ks), f"each k may appear once; got {ks}")
        object.__setattr__(self, "ks", tuple(float(k) for k in ks))
        hidden = tuple(self.hidden)
        _need(1 <= len(hidden) <= 4 and all(_is_int(h) and 1 <= h <= 256 for h in hidden),
              f"hidden widths: 1 to 4 layers of 1 to 256 units, e.g. 16,16; got {self.hidden!r}")
        object.__setattr__(self, "hidden", hidden)
        _need(self.activation in ACTIVATIONS, f"activation must be one of {', '.join(ACTIVATIONS)}; got {self.activation!r}")
        _need(isinstance(self.lr, (int, float)) and not isinstance(self.lr, bool) and 0 < self.lr <= 1,
              f"learning rate must be in (0, 1] (Adam; 0.01 to 0.1 works well); got {self.lr!r}")
        _need(_is_int(self.steps) and 1 <= self.steps <= MAX_STEPS,
              f"steps must be a whole number from 1 to {MAX_STEPS}; got {self.steps!r}")
        n = self.data.points + self.data.outliers
        _need(_is_int(self.batch_size) and 0 <= self.batch_size <= n,
              f"batch size must be a whole number from 0 (full batch) to the {n} training points; "
              f"got {self.batch_size!r}")
        _need(_is_int(self.frames) and 2 <= self.frames <= MAX_FRAMES,
              f"frames must be a whole number from 2 to {MAX_FRAMES}; got {self.frames!r}")
        _need(_is_int(self.grid) and 10 <= self.grid <= MAX_GRID,
              f"grid must be a whole number from 10 to {MAX_GRID}; got {self.grid!r}")
        _need(_is_int(self.seed) and 0 <= self.seed < 2**31, f"seed must be a whole number >= 0; got {self.seed!r}")
        _need(_is_int(self.seeds) and 1 <= self.seeds <= MAX_SEEDS,
              f"seeds (initializations per k) must be a whole number from 1 to {MAX_SEEDS}; got {self.seeds!r}")

    def to_dict(self) -> dict:
        """Plain JSON-able dict (tuples become lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PlaygroundConfig":
        """Inverse of to_dict; unknown keys raise PlaygroundConfigError."""
        d = dict(d)
        data = d.pop("data", {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names | (set(data) - {f.name for f in dataclasses.fields(DataConfig)})
        _need(not unknown, f"unknown playground settings: {', '.join(sorted(unknown))}")
        for key in ("ks", "hidden"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(data=DataConfig(**data), **d)
