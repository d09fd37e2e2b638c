"""Label noise for the training labels, seeded and reproducible, and how a model fits it.

(The primitives. Comparing objectives on noisy labels, the grid and its CLI, is core.noise.)

Why: the pseudo-gradient with k < 1 is "insensitive to large errors", and its k -> 0 limit is
the noise-robust unhinged loss (Keren et al. 2017, Section 3; README "The method"). Training on labels with known flips, and
checking how many flipped examples the model memorizes, tests that claim directly.

Conventions (as in the label-noise literature: Zhang & Sabuncu 2018, Ma et al. 2020), applied to training labels only:
- symmetric, rate eta: exactly round(eta * N) examples, chosen uniformly without replacement,
  each moved to a uniformly chosen OTHER class. At eta >= (C - 1) / C the noisy label is no
  more often the true class than any other, so nothing can be learned; benchmarks stop at 0.8.
- asymmetric, rate eta (MNIST): each example of a source class flips, independently with
  probability eta, to its partner: 7 -> 1, 2 -> 7, 5 -> 6, 6 -> 5, 3 -> 8. At eta >= 0.5 the
  swapped classes 5 and 6 become indistinguishable. (Some reference code flips an exact
  fraction of each source class instead; the expected rate is the same.)
Randomness comes from a NumPy Generator seeded by `seed` alone, so the same (labels, spec)
gives the same noisy labels on any machine and device.

Usage:

    from core.labelnoise import NoiseSpec, memorization_metrics
    noisy = NoiseSpec("symmetric", 0.4, seed=0).apply(train_labels, num_classes=10)
    noisy.labels, noisy.clean, noisy.flipped, noisy.realized_rate
    ...train on noisy.labels...
    memorization_metrics(model_predictions, noisy.labels, noisy.clean)
    # {'acc_noisy': ..., 'acc_true': ..., 'memorized': ..., 'corrected': ..., ...}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "MNIST_PAIRS",
    "NOISE_KINDS",
    "NoiseSpec",
    "NoisyLabels",
    "asymmetric_noise",
    "memorization_metrics",
    "symmetric_noise",
]

MNIST_PAIRS: tuple[tuple[int, int], ...] = ((7, 1), (2, 7), (5, 6), (6, 5), (3, 8))  # (source, flipped to)
NOISE_KINDS = ("none", "symmetric", "asymmetric")

Labels = TypeVar("Labels", Tensor, np.ndarray)


# ----------------------------------------------------------------------------- helpers

def _to_numpy(labels: Tensor | np.ndarray) -> np.ndarray:
    """A fresh int64 NumPy copy of 1-D integer labels; raises ValueError otherwise."""
    if isinstance(labels, Tensor):
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(f"labels must hold integer class indices; got dtype {labels.dtype}")
        array = labels.detach().cpu().numpy()
    elif isinstance(labels, np.ndarray):
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must hold integer class indices; got dtype {labels.dtype}")
        array = labels
    else:
        raise ValueError(f"labels must be a torch tensor or a NumPy array; got {type(labels).__name__}")
    if array.ndim != 1:
        raise ValueError(f"labels must be 1-D (N,); got shape {array.shape}")
    return array.astype(np.int64, copy=True)


def _like(array: np.ndarray, template: Labels) -> Labels:
    """`array` as the same kind of object as `template` (tensor: same dtype and device)."""
    if isinstance(template, Tensor):
        dtype = torch.bool if array.dtype == np.bool_ else template.dtype
        return torch.from_numpy(array).to(device=template.device, dtype=dtype)
    return array if array.dtype == np.bool_ else array.astype(template.dtype, copy=False)


def _check_rate(rate: float) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (0 <= rate < 1):
        raise ValueError(f"noise rate must be a number in [0, 1); got {rate!r}")
    return float(rate)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    return int(seed)


# ----------------------------------------------------------------------------- generation

def symmetric_noise(labels: Labels, eta: float, num_classes: int, seed: int) -> tuple[Labels, Labels]:
    """Flip exactly round(eta * N) labels (chosen without replacement) to a uniform OTHER class.

    Returns (noisy_labels, flipped_mask) of the same kind as `labels` (tensor: same dtype and
    device; the mask is bool). `labels` is not modified. Rounding is half up.
    """
    eta, seed = _check_rate(eta), _check_seed(seed)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2; got {num_classes!r}")
    clean = _to_numpy(labels)
    if clean.size and (clean.min() < 0 or clean.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}]; got min {clean.min()}, max {clean.max()}")
    rng = np.random.default_rng(seed)
    n = clean.size
    n_flip = math.floor(eta * n + 0.5)
    index = rng.choice(n, size=n_flip, replace=False)
    offset = rng.integers(1, num_classes, size=n_flip)  # 1..C-1: never back to the same class
    noisy = clean.copy()
    noisy[index] = (clean[index] + offset) % num_classes
    flipped = np.zeros(n, dtype=np.bool_)
    flipped[index] = True
    return _like(noisy, labels), _like(flipped, labels)


def asymmetric_noise(
    labels: Labels,
    eta: float,
    seed: int,
    pairs: tuple[tuple[int, int], ...] = MNIST_PAIRS,
) -> tuple[Labels, Labels]:
    """Flip each label of a source class to its partner, independently with probability eta.

    `pairs` holds (source, target) class pairs; each source appears once and the mapping uses
    the ORIGINAL label, so 5 -> 6 and 6 -> 5 swap rather than chain. Returns
    (noisy_labels, flipped_mask) of the same kind as `labels`, which is not modified.
    """
    eta, seed = _check_rate(eta), _check_seed(seed)
    sources = [int(s) for s, _ in pairs]
    if len(set(sources)) != len(sources) or any(int(s) == int(t) or s < 0 or t < 0 for s, t in pairs):
        raise ValueError(f"pairs must map distinct non-negative source classes to other classes; got {pairs!r}")
    clean = _to_numpy(labels)
    if clean.size and clean.min() < 0:
        raise ValueError(f"labels must be non-negative class indices; got min {clean.min()}")
    size = max([int(clean.max()) + 1 if clean.size else 0] + [max(int(s), int(t)) + 1 for s, t in pairs])
    partner = np.arange(size)
    for s, t in pairs:
        partner[int(s)] = int(t)
    rng = np.random.default_rng(seed)
    draw = rng.random(clean.size)  # one draw per example, in order: reproducible and independent
    flipped = (partner[clean] != clean) & (draw < eta)
    noisy = np.where(flipped, partner[clean], clean)
    return _like(noisy, labels), _like(flipped, labels)


@dataclass(frozen=True)
class NoisyLabels:
    """The outcome of applying a NoiseSpec: what to train on and what is true."""

    labels: Tensor | np.ndarray  # (N,) the noisy training labels
    clean: Tensor | np.ndarray  # (N,) the original labels (a copy)
    flipped: Tensor | np.ndarray  # (N,) bool, True where labels != clean
    realized_rate: float  # fraction of labels flipped


@dataclass(frozen=True)
class NoiseSpec:
    """Which label noise to put on the training labels. Raises ValueError on a bad kind or rate.

    Symmetric noise at rate >= (C - 1) / C leaves the labels uninformative; asymmetric MNIST
    noise at rate >= 0.5 makes classes 5 and 6 indistinguishable. Both are allowed (rate < 1)
    but make no sense to train on.
    """

    kind: str = "none"  # "none" | "symmetric" | "asymmetric" (MNIST pairs)
    rate: float = 0.0  # eta in [0, 1): fraction flipped (symmetric) or flip probability (asymmetric)
    seed: int = 0  # seeds the flips, independent of any model or data-order seed

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"unknown noise kind {self.kind!r}; choose one of {', '.join(NOISE_KINDS)}")
        object.__setattr__(self, "rate", _check_rate(self.rate))
        object.__setattr__(self, "seed", _check_seed(self.seed))
        if self.kind == "none" and self.rate != 0:
            raise ValueError(f"noise kind 'none' needs rate 0; got {self.rate} (pick 'symmetric' or 'asymmetric')")

    @property
    def label(self) -> str:
        """Human label for legends and tables, e.g. 'symmetric 40%' or 'clean'."""
        return "clean" if self.kind == "none" else f"{self.kind} {self.rate:.0%}"

    def apply(self, labels: Labels, num_classes: int) -> NoisyLabels:
        """The noisy version of `labels` (not modified), with the clean copy and the flip mask."""
        if self.kind == "symmetric":
            noisy, flipped = symmetric_noise(labels, self.rate, num_classes, self.seed)
        elif self.kind == "asymmetric":
            noisy, flipped = asymmetric_noise(labels, self.rate, self.seed)
        else:
            array = _to_numpy(labels)
            noisy, flipped = _like(array, labels), _like(np.zeros(array.size, dtype=np.bool_), labels)
        clean = labels.clone() if isinstance(labels, Tensor) else labels.copy()
        n = len(flipped)
        realized = float(flipped.sum()) / n if n else 0.0
        return NoisyLabels(labels=noisy, clean=clean, flipped=flipped, realized_rate=realized)


# ----------------------------------------------------------------------------- evaluation

@torch.no_grad()
def memorization_metrics(pred: Tensor, noisy: Tensor, clean: Tensor) -> dict[str, float | int]:
    """How predictions on the training set relate to the noisy and the true labels.

    pred, noisy, clean: (N,) class indices (tensors on any device, or arrays). Returns:
    acc_noisy   fraction with pred == noisy label (what the training loss rewards)
    acc_true    fraction with pred == true label
    flipped_fraction / n_flipped   how many labels were flipped
    memorized   among flipped examples, fraction predicted as the noisy (wrong) label
    corrected   among flipped examples, fraction predicted as the true label
    acc_unflipped  among unflipped examples, fraction predicted right
    Fractions over an empty subset are nan.
    """
    pred, noisy, clean = (torch.as_tensor(t) for t in (pred, noisy, clean))
    if not (pred.shape == noisy.shape == clean.shape) or pred.dim() != 1:
        raise ValueError(
            f"pred, noisy and clean must be 1-D of equal length; got {tuple(pred.shape)}, "
            f"{tuple(noisy.shape)}, {tuple(clean.shape)}"
        )
    noisy, clean = noisy.to(pred.device), clean.to(pred.device)
    flipped = noisy != clean  # (N,)
    hit_noisy, hit_true = pred == noisy, pred == clean

    def frac(hits: Tensor, mask: Tensor | None = None) -> float:
        if mask is not None:
            hits = hits[mask]
        return hits.sum().item() / hits.numel() if hits.numel() else math.nan  # exact; no float64 on MPS

    n_flipped = int(flipped.sum().item())
    return {
        "acc_noisy": frac(hit_noisy),
        "acc_true": frac(hit_true),
        "flipped_fraction": frac(flipped),
        "n_flipped": n_flipped,
        "memorized": frac(hit_noisy, flipped),
        "corrected": frac(hit_true, flipped),
        "acc_unflipped": frac(hit_true, ~flipped),
    }
