"""Train one small MLP per k, side by side, on 2-D data, and record what the animation shows.

What: `fit(cfg) -> PlaygroundResult`. All k start from the same weights and see the same
points in the same order; they are one `StackedMLP` trained by one Adam. Every few steps a
snapshot records, per k: p(class 1) on a grid over the data (the decision boundary), |f_y|
of every training point under that k (how hard it pushes the model), the training loss
(cross-entropy) and the train and test accuracy.

Why these choices:
- The update is the paper's: one `tunable_cross_entropy` call on the (K*N, 2) logits with k
  repeated per example, each model's mean back-propagated, so model k's logits get f / N, the
  pseudo-gradient of its own k (tests check it against autograd of F.cross_entropy at k = 1).
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

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.device import pick_device
from core.playground.config import PlaygroundConfig
from core.playground.datasets import Dataset, make_dataset
from core.playground.model import StackedMLP
from core.pseudograd import pseudo_grad, tunable_cross_entropy


@dataclass(frozen=True)
class PlaygroundResult:
    """Everything the animation needs: F snapshots of K models on one data set."""

    config: PlaygroundConfig
    dataset: Dataset
    steps: np.ndarray  # (F,) step of each snapshot; 0 = the shared initial weights
    grid_x: np.ndarray  # (G,) x coordinates of the boundary grid
    grid_y: np.ndarray  # (G,) y coordinates
    prob: np.ndarray  # (F, K, G, G) float32 p(class 1); prob[f, m, i, j] is at (grid_x[j], grid_y[i])
    push: np.ndarray  # (F, K, N) float32 |f_y| of each training point under model m's k, in [0, 1]
    train_loss: np.ndarray  # (F, K) mean cross-entropy on the training labels
    train_acc: np.ndarray  # (F, K) accuracy on the training labels as given (flipped and outliers included)
    test_acc: np.ndarray  # (F, K) accuracy on the clean test set
    train_seconds: float  # wall time of the whole training loop, snapshots included
    device: str  # where it ran

    def runs(self) -> list[dict]:
        """One dict per k: k, final train/test accuracy and training loss."""
        return [{"k": k, "train_acc": float(self.train_acc[-1, m]), "test_acc": float(self.test_acc[-1, m]),
                 "train_loss": float(self.train_loss[-1, m])} for m, k in enumerate(self.config.ks)]


def snapshot_steps(steps: int, frames: int) -> np.ndarray:
    """Up to `frames` distinct steps, evenly spaced from 0 to `steps` (both included)."""
    return np.unique(np.linspace(0, steps, min(frames, steps + 1)).round().astype(np.int64))


def _k_rows(ks: tuple[float, ...], n: int, like: torch.Tensor) -> torch.Tensor:
    """(K * n,) k of each row of the flattened (K * n, C) logits (made once per shape: this runs every step)."""
    return _k_rows_cached(ks, n, like.dtype, like.device)


@functools.lru_cache(maxsize=16)
def _k_rows_cached(ks: tuple[float, ...], n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(ks, dtype=dtype, device=device).repeat_interleave(n)


def pseudo_backward(model: StackedMLP, x: torch.Tensor, target: torch.Tensor, ks: tuple[float, ...]) -> None:
    """Accumulate into .grad each model's pseudo-gradient of its k on the batch (x (B, 2), target (B,)).

    It is tunable_cross_entropy itself (per-example k, one call for all models): model m's logits get
    f(eps) / B, exactly what tunable_cross_entropy(logits_m, target, k=ks[m]) back-propagates.
    """
    logits = model(x)  # (K, B, C)
    num_models, batch, classes = logits.shape
    per_example = tunable_cross_entropy(logits.reshape(-1, classes), target.repeat(num_models),
                                        k=_k_rows(ks, batch, logits), reduction="none", validate=False)  # (K * B,)
    per_example.view(num_models, batch).mean(1).sum().backward()  # models share nothing: each gets its own mean


def train_step(model: StackedMLP, optimizer: torch.optim.Optimizer, x: torch.Tensor, target: torch.Tensor,
               ks: tuple[float, ...]) -> None:
    """One Adam update of every model on the batch, each with its own k's pseudo-gradient."""
    optimizer.zero_grad(set_to_none=True)
    pseudo_backward(model, x, target, ks)
    optimizer.step()


@torch.no_grad()
def evaluate(model: StackedMLP, x: torch.Tensor, target: torch.Tensor, ks: tuple[float, ...],
             x_test: torch.Tensor, y_test: torch.Tensor, grid: torch.Tensor) -> dict[str, torch.Tensor]:
    """One snapshot, left on the device: prob (K, G*G), push (K, N), train_loss/train_acc/test_acc (K,)."""
    logits = model(x)  # (K, N, C)
    num_models, n, classes = logits.shape
    flat_target = target.repeat(num_models)
    f = pseudo_grad(logits.reshape(-1, classes), flat_target, _k_rows(ks, n, logits), validate=False)
    push = f.gather(1, flat_target[:, None]).view(num_models, n).abs()  # |f_y|
    loss = F.cross_entropy(logits.reshape(-1, classes), flat_target, reduction="none").view(num_models, n)
    return {
        "prob": torch.softmax(model(grid), -1)[..., 1],
        "push": push,
        "train_loss": loss.mean(1),
        "train_acc": (logits.argmax(-1) == target).float().mean(1),
        "test_acc": (model(x_test).argmax(-1) == y_test).float().mean(1),
    }


def _grid(bounds: tuple[float, float, float, float], size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gx = np.linspace(bounds[0], bounds[1], size)
    gy = np.linspace(bounds[2], bounds[3], size)
    xx, yy = np.meshgrid(gx, gy)  # row i is y = gy[i]
    return gx, gy, np.c_[xx.ravel(), yy.ravel()]


def _batches(n: int, batch_size: int, seed: int, device: torch.device) -> Iterator[torch.Tensor | None]:
    """Endless point indices per step: None (every point) at full batch, else minibatches of a new
    seeded order on each pass over the points (a short remainder is skipped)."""
    order = torch.Generator().manual_seed(seed)
    while True:
        if not 0 < batch_size < n:
            yield None
            continue
        perm = torch.randperm(n, generator=order).to(device)
        for first in range(0, n - batch_size + 1, batch_size):
            yield perm[first:first + batch_size]


def fit(cfg: PlaygroundConfig, device: str | torch.device | None = None, *, dtype: torch.dtype = torch.float32,
        on_progress: Callable[[int, int], None] | None = None) -> PlaygroundResult:
    """Train one model per k of `cfg` from one shared initialization and return the recorded snapshots.

    `device` None or "auto" picks cuda, then mps, then cpu. `on_progress(step, steps)` is called at
    every snapshot. Raises PlaygroundConfigError (via the config) for bad settings.
    """
    device = pick_device(device)
    ds = make_dataset(cfg.data)
    gx, gy, grid_points = _grid(ds.bounds, cfg.grid)
    as_tensor = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
    x, target = as_tensor(ds.x_train).to(dtype), as_tensor(ds.y_train)
    x_test, y_test, grid = as_tensor(ds.x_test).to(dtype), as_tensor(ds.y_test), as_tensor(grid_points).to(dtype)
    model = StackedMLP(len(cfg.ks), cfg.hidden, cfg.activation, seed=cfg.seed, dtype=dtype, device=device)
    # fused: one kernel per step for all parameters (about 20% faster here), the same update as the default
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=device.type in ("cpu", "cuda"))
    batches = _batches(len(target), cfg.batch_size, cfg.seed, device)
    at = set(snapshot_steps(cfg.steps, cfg.frames).tolist())
    snaps = []
    start = time.perf_counter()
    for step in range(cfg.steps + 1):
        if step in at:
            snaps.append(evaluate(model, x, target, cfg.ks, x_test, y_test, grid))
            if on_progress is not None:
                on_progress(step, cfg.steps)
        if step == cfg.steps:
            break
        idx = next(batches)
        train_step(model, optimizer, *((x, target) if idx is None else (x[idx], target[idx])), cfg.ks)
    stacked = {key: torch.stack([s[key] for s in snaps]).cpu().numpy() for key in snaps[0]}
    seconds = time.perf_counter() - start
    frames = len(snaps)
    return PlaygroundResult(
        config=cfg, dataset=ds, steps=np.array(sorted(at)), grid_x=gx, grid_y=gy,
        prob=stacked["prob"].reshape(frames, len(cfg.ks), cfg.grid, cfg.grid).astype(np.float32),
        push=stacked["push"].astype(np.float32), train_loss=stacked["train_loss"].astype(np.float64),
        train_acc=stacked["train_acc"].astype(np.float64), test_acc=stacked["test_acc"].astype(np.float64),
        train_seconds=seconds, device=str(device),
    )
