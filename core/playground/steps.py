"""One training step and one evaluation of the playground's stacked networks: the math every run shares.

What: `pseudo_backward` / `train_step` (one Adam update of every stacked model, each with the pseudo-gradient
of its own k), `evaluate` (p(class 1) on a grid, each point's |f_y|, loss and accuracies), `make_grid` (the
boundary grid over a data set's box) and `batches` (which points each step sees).

Why a module of its own: `LiveSession` (live.py) steps through these a few at a time and `fit` (train.py)
runs LiveSession to the end; both must do the same arithmetic, so it lives in one place.

How the update is the paper's: one `tunable_cross_entropy` call on the (M*B, 2) logits with k repeated per
example, each model's mean back-propagated, so model m's logits get f / B, the pseudo-gradient of its own k
(tests/test_playground.py checks it against autograd of F.cross_entropy at k = 1 and against
tunable_cross_entropy on each model alone).

    logits_k = ks * seeds                      # one k per stacked model
    train_step(model, optimizer, x, target, logits_k)
    metrics = evaluate(model, x, target, logits_k, x_test, y_test, grid)
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from core.playground.model import StackedMLP
from core.pseudograd import pseudo_grad, tunable_cross_entropy


def _k_rows(ks: tuple[float, ...], n: int, like: torch.Tensor) -> torch.Tensor:
    """(M * n,) k of each row of the flattened (M * n, C) logits (made once per shape: this runs every step)."""
    return _k_rows_cached(ks, n, like.dtype, like.device)


@functools.lru_cache(maxsize=64)
def _k_rows_cached(ks: tuple[float, ...], n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(ks, dtype=dtype, device=device).repeat_interleave(n)


def pseudo_backward(model: StackedMLP, x: torch.Tensor, target: torch.Tensor, ks: tuple[float, ...]) -> None:
    """Accumulate into .grad each model's pseudo-gradient of its k on the batch (x (B, 2), target (B,)).

    It is tunable_cross_entropy itself (per-example k, one call for all models): model m's logits get
    f(eps) / B, exactly what tunable_cross_entropy(logits_m, target, k=ks[m]) back-propagates.
    """
    logits = model(x)  # (M, B, C)
    num_models, batch, classes = logits.shape
    per_example = tunable_cross_entropy(logits.reshape(-1, classes), target.repeat(num_models),
                                        k=_k_rows(ks, batch, logits), reduction="none", validate=False)  # (M * B,)
    per_example.view(num_models, batch).mean(1).sum().backward()  # models share nothing: each gets its own mean


def train_step(model: StackedMLP, optimizer: torch.optim.Optimizer, x: torch.Tensor, target: torch.Tensor,
               ks: tuple[float, ...]) -> None:
    """One Adam update of every model on the batch, each with its own k's pseudo-gradient."""
    optimizer.zero_grad(set_to_none=True)
    pseudo_backward(model, x, target, ks)
    optimizer.step()


@torch.no_grad()
def evaluate(model: StackedMLP, x: torch.Tensor, target: torch.Tensor, ks: tuple[float, ...],
             x_test: torch.Tensor, y_test: torch.Tensor, grid: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """One snapshot, left on the device: prob (M, G*G) (left out if grid is None), push (M, N),
    train_loss/train_acc/test_acc (M,)."""
    logits = model(x)  # (M, N, C)
    num_models, n, classes = logits.shape
    flat_target = target.repeat(num_models)
    f = pseudo_grad(logits.reshape(-1, classes), flat_target, _k_rows(ks, n, logits), validate=False)
    push = f.gather(1, flat_target[:, None]).view(num_models, n).abs()  # |f_y|
    loss = F.cross_entropy(logits.reshape(-1, classes), flat_target, reduction="none").view(num_models, n)
    out = {} if grid is None else {"prob": boundary(model, grid)}
    return out | {
        "push": push,
        "train_loss": loss.mean(1),
        "train_acc": (logits.argmax(-1) == target).float().mean(1),
        "test_acc": (model(x_test).argmax(-1) == y_test).float().mean(1),
    }


@torch.no_grad()
def boundary(model: StackedMLP, grid: torch.Tensor, models: torch.Tensor | None = None) -> torch.Tensor:
    """p(class 1) (M, G*G) of every model (or of `models` only) at the grid points (G*G, 2)."""
    return torch.softmax(model(grid, models), -1)[..., 1]


def make_grid(bounds: tuple[float, float, float, float], size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gx (G,), gy (G,), points (G*G, 2)); point i*G + j is at (gx[j], gy[i]), rows bottom first."""
    gx = np.linspace(bounds[0], bounds[1], size)
    gy = np.linspace(bounds[2], bounds[3], size)
    xx, yy = np.meshgrid(gx, gy)  # row i is y = gy[i]
    return gx, gy, np.c_[xx.ravel(), yy.ravel()]


def batches(n: int, batch_size: int, seed: int, device: torch.device) -> Iterator[torch.Tensor | None]:
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
