"""Seeded 2-D two-class data sets for the playground: moons, circles, XOR, spiral, blobs.

What: `make_dataset(DataConfig)` draws `points` clean training points, flips the labels of
exactly round(label_noise * points) of them, appends `outliers` far-away points with the
wrong label, and draws a clean test set from the same distribution. Every draw comes from
one NumPy Generator seeded by `DataConfig.seed`, so the same config gives the same points,
bit for bit, on every machine.

Why: the paper's claim is about large errors. Flipped labels are errors anywhere in the
data; outliers are the extreme case: points far from everything, labelled as the class
that is NOT there, so the model's error on them stays near 1 unless the boundary bends all
the way out to them. Cross-entropy weighs them most; small k weighs them like anyone else.

How an outlier is made: the outliers sit in a small cluster at OUTLIER_DISTANCE times the
data's radius from its centre, on class 0's side (towards class 0's mean) when the two
classes have distinct means (moons, blobs), in a seeded random direction otherwise.
Their label is the opposite of the label of the nearest clean training point, which is what
the data set's own rule says out there ("wrong" by that rule).

    from core.playground.datasets import make_dataset
    ds = make_dataset(DataConfig("moons", points=300, label_noise=0.1, outliers=10))
    ds.x_train (N, 2) float32, ds.y_train (N,) int64, ds.flipped / ds.outlier (N,) bool
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.playground.config import DataConfig

OUTLIER_DISTANCE = 1.25  # outliers sit this many data radii from the data's centre
OUTLIER_SPREAD = 0.06  # std of the outlier cluster, in data radii


def _balanced_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """n labels, half 0 and half 1 (the odd one drawn), in random order."""
    y = np.arange(n) % 2
    if n % 2:
        y[-1] = rng.integers(2)
    return rng.permutation(y)


def _moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = _balanced_labels(n, rng)
    t = rng.uniform(0, np.pi, n)
    x = np.where(y[:, None] == 0, np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
    return x - [0.5, 0.25] + rng.normal(0, 0.1, (n, 2)), y


def _circles(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = _balanced_labels(n, rng)  # 0 inside, 1 on the ring
    r = np.where(y == 0, rng.uniform(0, 0.5, n), rng.uniform(0.75, 1.05, n))
    a = rng.uniform(0, 2 * np.pi, n)
    return np.c_[r * np.cos(a), r * np.sin(a)] + rng.normal(0, 0.04, (n, 2)), y


def _xor(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-1, 1, (n, 2))
    x += np.sign(x) * 0.08  # a small gap along the axes, as in TensorFlow Playground
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.int64)


def _spiral(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = _balanced_labels(n, rng)
    t = rng.uniform(0, 1, n) ** 0.7  # a little denser near the centre's tight turns
    r, a = 0.1 + 0.9 * t, 3.2 * np.pi * t + np.pi * y
    return np.c_[r * np.cos(a), r * np.sin(a)] + rng.normal(0, 0.03, (n, 2)), y


def _blobs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = _balanced_labels(n, rng)
    centre = np.where(y[:, None] == 0, [-0.45, -0.45], [0.45, 0.45])
    return centre + rng.normal(0, 0.28, (n, 2)), y


GENERATORS = {"moons": _moons, "circles": _circles, "xor": _xor, "spiral": _spiral, "blobs": _blobs}


@dataclass(frozen=True)
class Dataset:
    """Training points (clean draws, then outliers at the end) and a clean test set."""

    x_train: np.ndarray  # (N, 2) float32, N = points + outliers
    y_train: np.ndarray  # (N,) int64: the labels training sees (flipped and outlier labels included)
    y_true: np.ndarray  # (N,) int64: the labels before flipping (outliers: the label the data's rule gives there)
    flipped: np.ndarray  # (N,) bool: label flipped by label noise
    outlier: np.ndarray  # (N,) bool: a far-away point with the wrong label
    x_test: np.ndarray  # (M, 2) float32
    y_test: np.ndarray  # (M,) int64, clean
    bounds: tuple[float, float, float, float]  # (x0, x1, y0, y1): a square box around every training point


def _outliers(x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points in a tight cluster far from the data, each labelled against its nearest clean point."""
    centre = x.mean(0)
    radius = float(np.linalg.norm(x - centre, axis=1).max())
    angle = rng.uniform(0, 2 * np.pi)  # drawn always, so the test set's draw does not depend on the branch
    towards = x[y == 0].mean(0) - centre if (y == 0).any() else np.zeros(2)
    if np.linalg.norm(towards) > 0.1 * radius:
        angle = float(np.arctan2(towards[1], towards[0]))
    spot = centre + OUTLIER_DISTANCE * radius * np.array([np.cos(angle), np.sin(angle)])
    xo = spot + rng.normal(0, OUTLIER_SPREAD * radius, (n, 2))
    nearest = np.argmin(((xo[:, None, :] - x[None, :, :]) ** 2).sum(-1), axis=1)  # (n,)
    return xo, y[nearest]


def _square_box(x: np.ndarray, margin: float = 0.08) -> tuple[float, float, float, float]:
    lo, hi = x.min(0), x.max(0)
    mid, half = (lo + hi) / 2, (hi - lo).max() / 2 * (1 + margin)
    return (float(mid[0] - half), float(mid[0] + half), float(mid[1] - half), float(mid[1] + half))


def make_dataset(cfg: DataConfig) -> Dataset:
    """Draw the training and test points of `cfg` (deterministic in cfg.seed)."""
    rng = np.random.default_rng(cfg.seed)
    make = GENERATORS[cfg.dataset]
    x, y_true = make(cfg.points, rng)
    y = y_true.copy()
    flipped = np.zeros(cfg.points, dtype=bool)
    flipped[rng.choice(cfg.points, size=round(cfg.label_noise * cfg.points), replace=False)] = True
    y[flipped] = 1 - y[flipped]
    xo, yo_true = _outliers(x, y_true, cfg.outliers, rng)
    x_test, y_test = make(cfg.test_points, rng)
    x_all = np.concatenate([x, xo])
    return Dataset(
        x_train=x_all.astype(np.float32),
        y_train=np.concatenate([y, 1 - yo_true]).astype(np.int64),
        y_true=np.concatenate([y_true, yo_true]).astype(np.int64),
        flipped=np.concatenate([flipped, np.zeros(cfg.outliers, dtype=bool)]),
        outlier=np.concatenate([np.zeros(cfg.points, dtype=bool), np.ones(cfg.outliers, dtype=bool)]),
        x_test=x_test.astype(np.float32),
        y_test=y_test.astype(np.int64),
        bounds=_square_box(x_all),
    )
