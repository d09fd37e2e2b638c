"""The toy experiment's settings and data: `ToyConfig`, and the draw of one run's data from D.

What: `ToyConfig` holds every parameter of Section 5.1 of the paper (alpha, the three sample
sizes, the k grid, runs, learning rate, the stopping rule) plus how to compute it (method,
Taylor order and tolerance, device, threads). `draw_data(cfg, run)` draws run `run`'s training,
validation and test sets from D (x ~ U[-1, 1], label +1 iff 0 <= x <= alpha, optional label
noise on the training labels) and its initial weights; every k of a run shares them.

Why: one frozen config is what a page, the CLI and a saved run all agree on; the draw depends
only on (cfg.seed, run), so a run can be reproduced from its config alone.

    from core.toy.config import ToyConfig, draw_data
    cfg = ToyConfig(runs=2, n_train=3000, n_val=3000, n_test=3000)
    data = draw_data(cfg, run=0)            # data.x_train, data.y_train, ..., data.w_init
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core.device import pick_device

PAPER_KS = (4.0, 2.0, 1.0, 0.5, 0.25, 0.125, 0.0625)


class ToyConfigError(ValueError):
    """A ToyConfig field is out of range; the message says which and what is allowed."""


@dataclass(frozen=True)
class ToyConfig:
    alpha: float = 0.95  # right end of the +1 interval [0, alpha]; labels -1 elsewhere on [-1, 1]
    n_train: int = 30_000  # training examples per run
    n_val: int = 30_000  # validation examples per run (stopping rule)
    n_test: int = 30_000  # test examples per run (reported errors and cross-entropy)
    ks: tuple[float, ...] = PAPER_KS  # pseudo-gradient exponents; k = 1 is cross-entropy
    runs: int = 10  # independent data draws (each shared by all k, init shared too)
    lr: float = 0.01  # learning rate of full-batch gradient descent
    init_scale: float = 0.1  # weights ~ U(-init_scale, init_scale), biases 0
    reduction: str = "mean"  # batch gradient over training examples: "mean" or "sum"
    patience: int = 3000  # epochs the validation error must stay within tol to stop
    tol: float = 0.001  # percentage points; a change of more than tol restarts the window
    max_epochs: int = 200_000  # hard cap per run; runs that hit it are flagged
    seed: int = 0  # everything random (data, init, label noise) derives from it
    device: str = "auto"  # "auto", "cpu", "cuda": where the O(n) passes run (mps -> cpu: no float64)
    label_noise: float = 0.0  # fraction of TRAINING labels flipped (exactly round(eta * n))
    method: str = "taylor"  # "taylor" (fast, exact to taylor_tol) or "reference" (naive float64)
    taylor_order: int = 8  # J: order of the Taylor expansion of the gradient in (dw, db)
    taylor_tol: float = 1e-10  # bound on the absolute error of each mean-gradient component
    history_every: int = 100  # epochs between rows of ToyResult.history (0: no history)
    threads: int = 1  # torch CPU threads while training (0: leave torch's setting); 1 is
    # fastest on a busy 2-core machine: the O(n) passes are small and threads contend

    def __post_init__(self):
        if not 0 < self.alpha < 1:
            raise ToyConfigError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.threads < 0:
            raise ToyConfigError(f"threads must be >= 0 (0: torch's setting), got {self.threads}")
        if not 1 <= self.taylor_order <= 16:
            raise ToyConfigError(f"taylor_order must be in 1..16, got {self.taylor_order}")
        for name in ("n_train", "n_val", "n_test", "runs", "patience", "max_epochs"):
            if int(getattr(self, name)) < 1:
                raise ToyConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not self.ks or any(not (k > 0 and math.isfinite(k)) for k in self.ks):
            raise ToyConfigError(f"ks must be a non-empty list of positive numbers, got {self.ks}")
        if self.reduction not in ("mean", "sum"):
            raise ToyConfigError(f"reduction must be 'mean' or 'sum', got {self.reduction!r}")
        if self.method not in ("taylor", "reference"):
            raise ToyConfigError(f"method must be 'taylor' or 'reference', got {self.method!r}")
        if not 0 <= self.label_noise < 1:
            raise ToyConfigError(f"label_noise must be in [0, 1), got {self.label_noise}")
        if self.lr <= 0 or self.init_scale < 0 or self.tol < 0 or self.taylor_tol <= 0:
            raise ToyConfigError("lr and taylor_tol must be > 0, init_scale and tol >= 0")
        object.__setattr__(self, "ks", tuple(float(k) for k in self.ks))


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class ToyData:
    """One run's draw. Labels are +-1; index 0 of w_init is class -1, index 1 class +1."""

    x_train: np.ndarray  # (n_train,) float64
    y_train: np.ndarray  # (n_train,) +-1, after label noise
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    w_init: np.ndarray  # (2,) [w_-, w_+], shared by every k of the run
    flipped: int  # number of training labels flipped


def label_rule(x: np.ndarray, alpha: float) -> np.ndarray:
    """+1 iff 0 <= x <= alpha, else -1."""
    return np.where((x >= 0) & (x <= alpha), 1.0, -1.0)


def draw_data(cfg: ToyConfig, run: int) -> ToyData:
    """The data and initial weights of run `run`: independent per run, determined by cfg.seed."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, run]))
    xs = [rng.uniform(-1.0, 1.0, n) for n in (cfg.n_train, cfg.n_val, cfg.n_test)]
    ys = [label_rule(x, cfg.alpha) for x in xs]
    flipped = int(round(cfg.label_noise * cfg.n_train))
    if flipped:
        idx = rng.choice(cfg.n_train, size=flipped, replace=False)
        ys[0][idx] = -ys[0][idx]
    w_init = rng.uniform(-cfg.init_scale, cfg.init_scale, 2)
    return ToyData(xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], w_init, flipped)


# --------------------------------------------------------------------------- where it runs
def float64_device(name: str) -> torch.device:
    """pick_device, except that MPS (no float64) falls back to the CPU."""
    device = pick_device(name)
    return torch.device("cpu") if device.type == "mps" else device
