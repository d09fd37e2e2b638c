"""Train one small MLP per k, side by side, on 2-D data, and record what the animation shows.

What: `fit(cfg) -> PlaygroundResult`: a `LiveSession` run to the end. All k start from the same
weights and see the same points in the same order; they are one `StackedMLP` trained by one Adam.
Every few steps a snapshot records, per k: p(class 1) on a grid over the data (the decision
boundary), |f_y| of every training point under that k (how hard it pushes the model), the
training loss (cross-entropy) and the train and test accuracy (means over cfg.seeds
initializations; boundary and pushes of the median seed).

Why these choices:
- The update is the paper's: `tunable_cross_entropy` with a k per example (core.playground.steps).
- Adam, one learning rate for every k. The pseudo-gradient's overall size shrinks as k grows
  (|f_y| = |eps_y|^k, and |eps_y| < 1), so plain SGD would need a learning rate per k. Adam
  divides each coordinate by its running RMS, which removes a global scale, so one lr fits
  all and the panels differ only in WHICH points drive the update. Full batch by default:
  the boundary then moves smoothly and the run is deterministic.

How:
    from core.playground import fit, PlaygroundConfig, DataConfig
    result = fit(PlaygroundConfig(data=DataConfig("moons", outliers=10)), device="cpu")
    result.prob[-1, 0]        # (G, G) p(class 1) of the first k at the last snapshot
    result.runs()             # per k: final train and test accuracy
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from core.device import pick_device
from core.playground.config import PlaygroundConfig
from core.playground.datasets import Dataset, make_dataset
from core.playground.live import LiveSession
from core.playground.steps import make_grid


@dataclass(frozen=True)
class PlaygroundResult:
    """Everything the animation needs: F snapshots of K models on one data set."""

    config: PlaygroundConfig
    dataset: Dataset
    steps: np.ndarray  # (F,) step of each snapshot; 0 = the shared initial weights
    grid_x: np.ndarray  # (G,) x coordinates of the boundary grid
    grid_y: np.ndarray  # (G,) y coordinates
    prob: np.ndarray  # (F, K, G, G) float32 p(class 1) (median seed); prob[f, m, i, j] is at (grid_x[j], grid_y[i])
    push: np.ndarray  # (F, K, N) float32 |f_y| of each training point under model m's k, in [0, 1] (median seed)
    train_loss: np.ndarray  # (F, K) mean cross-entropy on the training labels (mean over seeds)
    train_acc: np.ndarray  # (F, K) accuracy on the training labels as given (flipped and outliers included)
    test_acc: np.ndarray  # (F, K) accuracy on the clean test set (mean over seeds)
    train_seconds: float  # wall time of the whole training loop, snapshots included
    device: str  # where it ran

    def runs(self) -> list[dict]:
        """One dict per k: k, final train/test accuracy and training loss."""
        return [{"k": k, "train_acc": float(self.train_acc[-1, m]), "test_acc": float(self.test_acc[-1, m]),
                 "train_loss": float(self.train_loss[-1, m])} for m, k in enumerate(self.config.ks)]


def snapshot_steps(steps: int, frames: int) -> np.ndarray:
    """Up to `frames` distinct steps, evenly spaced from 0 to `steps` (both included)."""
    return np.unique(np.linspace(0, steps, min(frames, steps + 1)).round().astype(np.int64))


def fit(cfg: PlaygroundConfig, device: str | torch.device | None = None, *, dtype: torch.dtype = torch.float32,
        on_progress: Callable[[int, int], None] | None = None) -> PlaygroundResult:
    """Train one model per k (x cfg.seeds) of `cfg` from one shared initialization and return the snapshots.

    A LiveSession run to the end, snapshotted at `snapshot_steps`. `device` None or "auto" picks cuda, then
    mps, then cpu. `on_progress(step, steps)` is called at every snapshot. Raises PlaygroundConfigError (via
    the config) for bad settings.
    """
    start = time.perf_counter()
    session = LiveSession(cfg, pick_device(device), dtype)
    at = snapshot_steps(cfg.steps, cfg.frames)
    snaps = []
    for step in at.tolist():
        snaps.append(session.advance(step - session.step))
        if on_progress is not None:
            on_progress(step, cfg.steps)
    seconds = time.perf_counter() - start
    stack = lambda key, dtype: np.stack([s[key] for s in snaps]).astype(dtype)  # noqa: E731
    gx, gy, _ = make_grid(session.bounds, cfg.grid)
    return PlaygroundResult(
        config=cfg, dataset=make_dataset(cfg.data), steps=at, grid_x=gx, grid_y=gy,
        prob=stack("prob", np.float32), push=stack("push", np.float32), train_loss=stack("loss", np.float64),
        train_acc=stack("accuracy", np.float64), test_acc=stack("test_accuracy", np.float64),
        train_seconds=seconds, device=str(session.device),
    )
