"""Label noise for the training labels, seeded and reproducible, and how a model fits it.

Why: the pseudo-gradient with k < 1 is "insensitive to large errors", and its k -> 0 limit is
the noise-robust unhinged loss (method.md). Training on labels with known flips, and
checking how many flipped examples the model memorizes, tests that claim directly.

Conventions (method.md, "Label-noise conventions"), applied to training labels only:
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

    from core.noise import NoiseSpec, memorization_metrics
    noisy = NoiseSpec("symmetric", 0.4, seed=0).apply(train_labels, num_classes=10)
    noisy.labels, noisy.clean, noisy.flipped, noisy.realized_rate
    ...train on noisy.labels...
    memorization_metrics(model_predictions, noisy.labels, noisy.clean)
    # {'acc_noisy': ..., 'acc_true': ..., 'memorized': ..., 'corrected': ..., ...}

Comparing objectives on noisy labels (the k family against GCE, SCE, NCE+RCE, MAE, focal,
unhinged; defaults per objective in EFFECTIVE_LR and UNHINGED_WEIGHT_DECAY):

    from core.noise import compare, comparison_configs, summarize, curves
    table = compare(["ce", "tunable:k=0.25", "gce", "mae@0.2"], rates=[0.4], seeds=[0, 1])
    configs = comparison_configs([...], [0.4], [0, 1])  # TrainConfigs for core.mnist.fit / Lab.submit_mnist
    summarize(results), curves(results)                  # tables from RunResults (also saved ones)
    compare(["ce", "tunable:k=0.25"], [0.2], dataset="toy")   # the 1-D toy, k family only

    python -m core.noise --rates 0.4 --seeds 0 1 --n-train 10000 --epochs 8   # --help for all options
    python -m core.noise --dataset toy --rates 0 0.2 0.4
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from core.losses import ObjectiveSpec, parse_objective

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


# ----------------------------------------------------------------------------- comparison grid
# Everything below compares training objectives on noisy labels: the grid, the tables, the CLI.
# core.mnist imports this module, so core.mnist (and core.toy, likewise) is imported inside the functions.

DATASETS = ("mnist", "toy")
DEFAULT_MOMENTUM = 0.9  # the comparison's default SGD momentum (the paper uses 0.5 or 0.9)
# Effective step size lr / (1 - momentum) per objective, chosen on 10,000 MNIST images at 40% symmetric
# noise (784-256-10, 8 epochs, momentum 0.9; the sweep is in assets/noise_results.md). `default_lr`
# divides by the run's 1 / (1 - momentum), so the same step size holds for any momentum.
EFFECTIVE_LR = {
    "ce": 0.3,  # lr 0.03 at momentum 0.9
    "tunable": 0.3,  # k <= 1; k > 1 shrinks the pseudo-gradient, so k > 1 gets 1.0 (see default_lr)
    "gce": 3.0,  # gradient p_y^q times CE's: smaller where p_y is small
    "sce": 1.0,  # mostly RCE = 9.2 (1 - p_y)
    "nce_rce": 0.01,  # beta = 10: RCE at 92 (1 - p_y)
    "focal": 0.3,
    "mae": 2.0,  # gradient p_y (p - onehot): tiny at the uniform start, MAE trains slowly
    "unhinged": 0.003,  # constant-size gradient that never shrinks: small steps (and weight decay)
}
# Unhinged is unbounded below: -z_y + mean_j z_j falls without end as the logits grow, and in a ReLU
# MLP the logits are homogeneous of degree 2 in the weights, so L2 does not bound it unless it is
# strong. Measured (784-256-10, momentum 0.9, 8 epochs): at lr 0.003 runs blew up (train CE > 1e3, which
# core.mnist marks diverged) with weight decay up to 0.01; at lr 3e-4 with weight decay 0.1 they stay
# stable; weight decay 1 collapses the network to zero. This weight decay is
# the comparison's default for unhinged only (0 for the others).
UNHINGED_WEIGHT_DECAY = 0.1


def default_lr(spec: ObjectiveSpec | str, momentum: float = DEFAULT_MOMENTUM) -> float:
    """The comparison's default learning rate for an objective (an ObjectiveSpec or a string)."""
    spec = parse_objective(spec) if isinstance(spec, str) else spec
    step = EFFECTIVE_LR[spec.name]
    if spec.name == "tunable" and spec.kwargs["k"] > 1:
        step = 1.0
    return float(f"{step * (1 - momentum):.3g}")


def default_weight_decay(spec: ObjectiveSpec | str) -> float:
    """The comparison's default weight decay: UNHINGED_WEIGHT_DECAY for unhinged, else 0."""
    spec = parse_objective(spec) if isinstance(spec, str) else spec
    return UNHINGED_WEIGHT_DECAY if spec.name == "unhinged" else 0.0


@dataclass(frozen=True)
class Method:
    """One compared method: an objective and, optionally, its own learning rate and weight decay."""

    objective: ObjectiveSpec  # ('ce', 'tunable:k=0.5', 'gce:q=0.7', ...)
    lr: float | None = None  # None: default_lr(objective, momentum), unless one lr is set for all
    weight_decay: float | None = None  # None: default_weight_decay(objective), unless one is set for all

    @property
    def k(self) -> float | None:
        """The pseudo-gradient's k (1 for 'ce'), or None for any other objective."""
        name = self.objective.name
        return self.objective.kwargs["k"] if name == "tunable" else (1.0 if name == "ce" else None)


def parse_method(text: str) -> Method:
    """Read 'spec' or 'spec@lr' (e.g. 'tunable:k=0.25@0.01', 'mae@0.3') into a Method."""
    spec, sep, lr = text.strip().partition("@")
    method = Method(parse_objective(spec))
    if sep:
        try:
            value = float(lr)
        except ValueError:
            raise ValueError(f"cannot read the learning rate in {text!r}: write e.g. 'gce@0.3'") from None
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"the learning rate in {text!r} must be a number > 0")
        method = Method(method.objective, value)
    return method


def _methods(objectives) -> list[Method]:
    out = []
    for item in objectives:
        out.append(item if isinstance(item, Method) else parse_method(item) if isinstance(item, str) else Method(item))
    if not out:
        raise ValueError("choose at least one objective to compare")
    return out


def comparison_configs(objectives, rates, seeds=(0,), noise: str = "symmetric", base=None,
                       lr: float | None = None, weight_decay: float | None = None, noise_seed: int = 0) -> list:
    """The MNIST grid objectives x rates x seeds as core.mnist.TrainConfigs, in that order.

    objectives: Methods, ObjectiveSpecs or strings ('gce', 'tunable:k=0.5@0.01'). `base` holds the
    shared settings (hidden, activation, momentum, clip_norm, batch_size, epochs; default: one hidden
    layer of 256, 8 epochs, momentum DEFAULT_MOMENTUM). Learning rate per run: the Method's own, else
    `lr`, else default_lr; weight decay: `weight_decay`, else default_weight_decay. Rate 0 means clean
    labels. The label noise is seeded by `noise_seed` (the same flips for every objective and seed).
    Raises ValueError (core.mnist.ConfigError) on a bad setting.
    """
    from core.mnist import ConfigError, TrainConfig

    base = base or TrainConfig(hidden=(256,), epochs=8, momentum=DEFAULT_MOMENTUM)
    methods = _methods(objectives)
    rates = [_check_rate(r) for r in rates]
    if not rates:
        raise ValueError("choose at least one noise rate")
    if noise not in NOISE_KINDS[1:]:
        raise ValueError(f"noise must be 'symmetric' or 'asymmetric'; got {noise!r}")
    seeds = [_check_seed(s) for s in seeds]
    if not seeds:
        raise ValueError("choose at least one seed")
    for name, value in (("lr", lr), ("weight_decay", weight_decay)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
                                      and (value > 0 or name == "weight_decay")):
            raise ConfigError(f"{name} must be a finite number {'>= 0' if name == 'weight_decay' else '> 0'}; "
                              f"got {value!r}")
    configs = []
    for m in methods:
        run_lr = m.lr if m.lr is not None else lr if lr is not None else default_lr(m.objective, base.momentum)
        wd = m.weight_decay if m.weight_decay is not None else (
            weight_decay if weight_decay is not None else default_weight_decay(m.objective))
        for rate in rates:
            spec = NoiseSpec(noise if rate > 0 else "none", rate, noise_seed)
            for seed in seeds:
                configs.append(dataclasses.replace(base, objective=m.objective, k=1.0, lr=run_lr,
                                                   weight_decay=wd, seed=seed, noise=spec))
    return configs


def method_of(config) -> dict:
    """How a TrainConfig is shown in the comparison: method (CLI form), objective (label), k (or nan)."""
    if config.objective is None:
        return {"method": f"tunable:k={config.k:g}", "objective": f"k = {config.k:g}", "k": config.k}
    spec = config.objective
    return {"method": str(spec), "objective": spec.label, "k": 1.0 if spec.name == "ce" else math.nan}


_FINAL = ("test_error", "test_ce", "train_acc_noisy", "train_acc_true", "memorized", "corrected")


def _runs_frame(results) -> pd.DataFrame:
    """One row per run: method columns, lr, weight decay, noise, rate, seed, status and final metrics."""
    rows = []
    for order, r in enumerate(results):
        c, last = r.config, (r.history[-1] if r.history else {})
        usable = r.status != "diverged" and bool(r.history)
        rows.append({
            **method_of(c), "lr": c.lr, "weight_decay": c.weight_decay, "noise": c.noise.kind,
            "rate": c.noise.rate, "seed": c.seed, "status": r.status, "epochs": len(r.history), "_order": order,
            **{key: (float(last.get(key, math.nan)) if usable and last.get(key) is not None else math.nan)
               for key in _FINAL},
        })
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["test_acc"] = 1 - frame["test_error"]
    return frame


def summarize(results) -> pd.DataFrame:
    """The comparison table: one row per (method, lr, weight decay, noise, rate), in the runs' order.

    results: core.mnist.RunResults (from fit, or read back with Lab.load_mnist_results). Columns:
    method, objective, k, lr, weight_decay, noise, rate, seeds (runs), diverged, stopped, epochs (mean
    finished), then <metric>_mean and <metric>_std over seeds for test_acc, test_error, test_ce,
    train_acc_noisy, train_acc_true, memorized, corrected (final epoch; fractions, CE in nats). Diverged
    runs count in `diverged` and are left out of the means; the std of a single seed is nan.
    """
    runs = _runs_frame(results)
    metrics = ["test_acc", "test_error", "test_ce", "train_acc_noisy", "train_acc_true", "memorized", "corrected"]
    keys = ["method", "objective", "k", "lr", "weight_decay", "noise", "rate"]
    if runs.empty:
        return pd.DataFrame(columns=keys + ["seeds", "diverged", "stopped", "epochs"]
                            + [f"{m}_{s}" for m in metrics for s in ("mean", "std")])
    runs["noise"] = runs["noise"].replace("none", "clean")
    runs["diverged"] = runs["status"] == "diverged"
    runs["stopped"] = runs["status"] == "stopped"
    grouped = runs.groupby(keys, sort=False, dropna=False)
    table = grouped.agg(seeds=("seed", "size"), diverged=("diverged", "sum"), stopped=("stopped", "sum"),
                        epochs=("epochs", "mean"), _order=("_order", "min"))
    stats = grouped[metrics].agg(["mean", "std"])
    stats.columns = [f"{m}_{s}" for m, s in stats.columns]
    table = table.join(stats).reset_index()
    first = runs.groupby("method", sort=False)["_order"].min()
    table["_m"] = table["method"].map(first)
    table = table.sort_values(["_m", "rate", "_order"], kind="stable").drop(columns=["_m", "_order"])
    return table.reset_index(drop=True)


def curves(results) -> pd.DataFrame:
    """Per-epoch means over seeds, for plots: one row per (method, lr, weight decay, rate, epoch).

    Columns: method, objective, k, lr, weight_decay, rate, epoch, seeds, then test_acc, train_acc_noisy,
    train_acc_true, memorized, corrected, test_ce (means) and test_acc_std. Diverged runs are left out.
    """
    rows = []
    for r in results:
        if r.status == "diverged":
            continue
        info = {**method_of(r.config), "lr": r.config.lr, "weight_decay": r.config.weight_decay,
                "rate": r.config.noise.rate, "seed": r.config.seed}
        for h in r.history:
            rows.append({**info, "epoch": int(h["epoch"]), "test_acc": 1 - h["test_error"],
                         **{key: h.get(key, math.nan) for key in _FINAL[1:]}})
    keys = ["method", "objective", "k", "lr", "weight_decay", "rate", "epoch"]
    values = ["test_acc", "train_acc_noisy", "train_acc_true", "memorized", "corrected", "test_ce"]
    if not rows:
        return pd.DataFrame(columns=keys + ["seeds"] + values + ["test_acc_std"])
    frame = pd.DataFrame(rows).astype({key: float for key in values}, errors="ignore")
    grouped = frame.groupby(keys, sort=False, dropna=False)
    out = grouped[values].mean().join(grouped["test_acc"].std().rename("test_acc_std"))
    out = out.join(grouped["seed"].size().rename("seeds")).reset_index()
    return out[keys + ["seeds"] + values + ["test_acc_std"]]


def summarize_toy(results) -> pd.DataFrame:
    """The toy comparison table: one row per (k, label-noise rate), from toy results of several rates.

    results: objects with `.config` (a ToyConfig, for label_noise) and `.per_run` (per (k, run)
    rows with test_error in %), i.e. core.toy.ToyResults or Lab.load_toy's SavedToys. Columns: method,
    objective, k, rate, runs, then test_error, test_acc (fractions), test_ce and threshold, each as
    _mean and _std over runs, and epochs_mean. Sorted by k (descending), then rate.
    """
    frames = []
    for res in results:
        per_run = getattr(res, "per_run", None)
        if per_run is None or per_run.empty or getattr(res, "config", None) is None:
            continue
        frames.append(per_run.assign(rate=float(res.config.label_noise)))
    cols = ["method", "objective", "k", "rate", "runs"]
    metrics = ["test_error", "test_acc", "test_ce", "threshold"]
    if not frames:
        return pd.DataFrame(columns=cols + [f"{m}_{s}" for m in metrics for s in ("mean", "std")] + ["epochs_mean"])
    runs = pd.concat(frames, ignore_index=True)
    runs["test_error"] = runs["test_error"] / 100  # toy errors are in %
    runs["test_acc"] = 1 - runs["test_error"]
    grouped = runs.groupby(["k", "rate"])
    table = grouped[metrics].agg(["mean", "std"])
    table.columns = [f"{m}_{s}" for m, s in table.columns]
    table = table.join(grouped["run"].size().rename("runs")).join(grouped["epochs"].mean().rename("epochs_mean"))
    table = table.reset_index()
    table["method"] = [f"tunable:k={k:g}" for k in table["k"]]
    table["objective"] = [f"k = {k:g}" for k in table["k"]]
    table = table.sort_values(["k", "rate"], ascending=[False, True], kind="stable")
    return table[cols + [c for c in table.columns if c not in cols]].reset_index(drop=True)


def toy_ks(objectives) -> tuple[float, ...]:
    """The k values of the k family among `objectives` ('ce' is k = 1); ValueError for any other objective."""
    ks, others = [], []
    for m in _methods(objectives):
        (others if m.k is None else ks).append(m)
    if others:
        names = ", ".join(str(m.objective) for m in others)
        raise ValueError(f"the toy trains only the k family (tunable:k=..., ce = k=1); remove {names}")
    return tuple(sorted({m.k for m in ks}, reverse=True))


def toy_configs(objectives, rates, seeds=(0,), base=None) -> list:
    """One core.toy.ToyConfig per noise rate: the k values of `objectives`, one run (data draw) per seed.

    ToyConfig.runs = len(seeds) and ToyConfig.seed = seeds[0] (run r draws its data from (seed, r)).
    `base` holds the other toy settings (default: core.toy.ToyConfig with n = 10,000 per split).
    """
    from core.toy import ToyConfig

    ks = toy_ks(objectives)
    seeds = [_check_seed(s) for s in seeds]
    rates = [_check_rate(r) for r in rates]
    if not seeds or not rates:
        raise ValueError("choose at least one seed and one noise rate")
    base = base or ToyConfig(n_train=10_000, n_val=10_000, n_test=10_000)
    return [dataclasses.replace(base, ks=ks, runs=len(seeds), seed=seeds[0], label_noise=rate) for rate in rates]


def compare(objectives, rates, seeds=(0,), *, dataset: str = "mnist", noise: str = "symmetric", base=None,
            data=None, lr: float | None = None, weight_decay: float | None = None, noise_seed: int = 0,
            on_epoch=None, on_progress=None, cancel=None) -> pd.DataFrame:
    """Train the grid objectives x rates x seeds and return its table (summarize / summarize_toy).

    dataset "mnist": comparison_configs(...) trained by core.mnist.fit on `data` (a DataConfig;
    default 10,000 training images), on_epoch gets fit's EpochEvents. dataset "toy": toy_configs(...)
    (`base` a ToyConfig) trained one rate after the other by core.toy.run_toy, on_progress gets its
    ToySnapshots. `cancel` (a threading.Event) stops early; the table then holds what finished.
    """
    if dataset == "mnist":
        from core.mnist import DataConfig, fit

        configs = comparison_configs(objectives, rates, seeds, noise, base, lr, weight_decay, noise_seed)
        return summarize(fit(configs, data or DataConfig(n_train=10_000), on_epoch=on_epoch, cancel=cancel))
    if dataset == "toy":
        from core.toy import run_toy

        results = []
        for cfg in toy_configs(objectives, rates, seeds, base):
            if cancel is not None and cancel.is_set():
                break
            results.append(run_toy(cfg, on_progress=on_progress, cancel=cancel))
        return summarize_toy(results)
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")


# ----------------------------------------------------------------------------- command line

MNIST_OBJECTIVES = ("ce", "tunable:k=0.25", "tunable:k=0.5", "gce", "sce", "mae", "unhinged")
TOY_OBJECTIVES = ("tunable:k=4", "ce", "tunable:k=0.25", "tunable:k=0.0625")
_SHOWN = {  # table column -> header, for printing (fractions shown in %)
    "test_acc": "test acc %", "test_ce": "test CE", "train_acc_noisy": "fit noisy %",
    "train_acc_true": "fit true %", "memorized": "memorized %", "corrected": "corrected %", "threshold": "threshold",
}


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """A comparison table as printed: 'mean ± std' strings, fractions in %, one row per (objective, rate)."""
    out = pd.DataFrame({"objective": table["objective"], "rate": [f"{r:.0%}" for r in table["rate"]]})
    for extra in ("lr", "weight_decay"):
        if extra in table:
            out[extra] = [f"{v:g}" for v in table[extra]]
    out["seeds" if "seeds" in table else "runs"] = table["seeds" if "seeds" in table else "runs"]
    if "diverged" in table and table["diverged"].any():
        out["diverged"] = table["diverged"]
    for key, header in _SHOWN.items():
        if f"{key}_mean" not in table:
            continue
        scale = 1 if key in ("test_ce", "threshold") else 100
        mean, std = table[f"{key}_mean"] * scale, table[f"{key}_std"] * scale
        digits = 3 if key in ("test_ce", "threshold") else 1
        out[header] = [("–" if not math.isfinite(m) else f"{m:.{digits}f}" if not math.isfinite(s)
                        else f"{m:.{digits}f} ± {s:.{digits}f}") for m, s in zip(mean, std)]
    return out


def _parser():
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m core.noise",
        description="Compare the k family with noise-robust losses on noisy labels: train objectives x noise "
                    "rates x seeds (MNIST or the 1-D toy) and print mean ± std over seeds of the final clean test "
                    "accuracy, test CE, fit to the noisy and the true training labels, and the memorized fraction.",
        epilog="Default learning rates (--lr not given): lr = s * (1 - momentum) with the effective step s per "
               "objective: " + ", ".join(f"{k} {v:g}" for k, v in EFFECTIVE_LR.items()) + " (tunable with k > 1: 1). "
               f"Unhinged is unbounded below and gets weight decay {UNHINGED_WEIGHT_DECAY:g} by default. "
               "Example: python -m core.noise --rates 0.4 --seeds 0 1 --n-train 10000 --epochs 8",
    )
    parser.add_argument("--objectives", nargs="+", default=None, metavar="SPEC[@LR]",
                        help="objectives, e.g. ce tunable:k=0.25 gce:q=0.7 sce nce_rce mae focal unhinged; "
                             "'@LR' sets one's learning rate (e.g. mae@0.3). Default (mnist): "
                             + " ".join(MNIST_OBJECTIVES) + "; (toy): " + " ".join(TOY_OBJECTIVES))
    parser.add_argument("--dataset", choices=DATASETS, default="mnist",
                        help="mnist, or toy (the 1-D threshold task; the k family only, ce = k=1)")
    parser.add_argument("--noise", choices=NOISE_KINDS[1:], default="symmetric",
                        help="MNIST noise: symmetric (to a uniform other class) or asymmetric (7->1, 2->7, 5<->6, "
                             "3->8); the toy's two classes always swap")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.4], help="noise rates in [0, 1) (0: clean)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1],
                        help="MNIST: init and data-order seeds; toy: one data draw each")
    parser.add_argument("--noise-seed", type=int, default=0, help="seeds the label flips (MNIST)")
    mnist = parser.add_argument_group("MNIST training")
    mnist.add_argument("--hidden", type=int, nargs="*", default=[256], help="hidden widths (default: 256)")
    mnist.add_argument("--epochs", type=int, default=8)
    mnist.add_argument("--lr", type=float, default=None, help="one learning rate for all (default: per objective)")
    mnist.add_argument("--momentum", type=float, default=DEFAULT_MOMENTUM)
    mnist.add_argument("--weight-decay", type=float, default=None,
                       help=f"one weight decay for all (default: {UNHINGED_WEIGHT_DECAY:g} for unhinged, else 0)")
    mnist.add_argument("--clip-norm", type=float, default=100.0, help="global gradient-norm clip; 0 disables")
    mnist.add_argument("--batch-size", type=int, default=128)
    mnist.add_argument("--activation", default="relu")
    mnist.add_argument("--n-train", type=int, default=10_000, help="training images (default: 10,000; 0: all 50,000)")
    mnist.add_argument("--n-val", type=int, default=2_000, help="validation images (default: 2,000; 0: all)")
    mnist.add_argument("--n-test", type=int, default=0, help="test images (default 0: all 10,000)")
    mnist.add_argument("--train-eval", type=int, default=5_000,
                       help="training images re-evaluated each epoch for the fit/memorization metrics (0: all)")
    mnist.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    mnist.add_argument("--data-dir", default=None)
    toy = parser.add_argument_group("toy")
    toy.add_argument("--toy-n", type=int, default=10_000, help="points per split (train = val = test)")
    toy.add_argument("--toy-patience", type=int, default=3000, help="stopping window in epochs")
    toy.add_argument("--toy-max-epochs", type=int, default=200_000)
    toy.add_argument("--toy-lr", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--csv", default=None, help="write the table (means and stds) as CSV here")
    parser.add_argument("--json", default=None, help="write the settings, the table and every run's final metrics here")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    import json
    import sys
    import time

    parser = _parser()
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    objectives = args.objectives or list(MNIST_OBJECTIVES if args.dataset == "mnist" else TOY_OBJECTIVES)
    log = (lambda *a: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    try:
        if args.dataset == "mnist":
            from core.mnist import DataConfig, TrainConfig, fit

            base = TrainConfig(hidden=tuple(args.hidden), activation=args.activation, momentum=args.momentum,
                               clip_norm=args.clip_norm or None, batch_size=args.batch_size, epochs=args.epochs)
            configs = comparison_configs(objectives, args.rates, args.seeds, args.noise, base, args.lr,
                                         args.weight_decay, args.noise_seed)
            data = DataConfig(args.n_train or None, args.n_val or None, args.n_test or None, args.train_eval or None,
                              args.device, args.data_dir)

            def progress(e) -> None:
                log(f"[{100 * e.fraction:5.1f}% eta {e.eta_s:5.0f} s] {e.config.label} {e.config.noise.label} "
                    f"epoch {e.epoch}: test acc {1 - e.metrics['test_error']:.2%}, fit noisy "
                    f"{e.metrics['train_acc_noisy']:.2%} {e.status}")

            def work(cancel):
                return fit(configs, data, on_epoch=progress, cancel=cancel)
        else:
            from core.toy import ToyConfig, run_toy

            base = ToyConfig(n_train=args.toy_n, n_val=args.toy_n, n_test=args.toy_n, patience=args.toy_patience,
                             max_epochs=args.toy_max_epochs, lr=args.toy_lr, device=args.device)
            configs = toy_configs(objectives, args.rates, args.seeds, base)

            def work(cancel):
                results = []
                for cfg in configs:
                    if cancel.is_set():
                        break
                    log(f"toy: label noise {cfg.label_noise:.0%}, k = {', '.join(f'{k:g}' for k in cfg.ks)}, "
                        f"{cfg.runs} run(s)")
                    results.append(run_toy(cfg, cancel=cancel))
                return results
    except ValueError as exc:
        parser.error(str(exc))

    from core.data import MnistUnavailableError
    from core.jobs import run_interruptible

    start = time.perf_counter()
    try:
        results = run_interruptible(work)  # in a worker thread: Ctrl-C stops cleanly, keeping finished epochs
    except (MnistUnavailableError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    table = summarize(results) if args.dataset == "mnist" else summarize_toy(results)
    seconds = time.perf_counter() - start
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(format_table(table).to_string(index=False))
    noise = f"MNIST, {args.noise} label noise" if args.dataset == "mnist" else "toy, training labels flipped at random"
    print(f"{noise}; final epoch (toy: at the stopping rule), mean ± std over seeds; {seconds:.0f} s")
    if args.csv:
        table.to_csv(args.csv, index=False)
    if args.json:
        from core.mnist_cli import _jsonable

        if args.dataset == "mnist":
            runs = [{"label": r.config.label, **method_of(r.config), "rate": r.config.noise.rate, "status": r.status,
                     "config": r.config.to_dict(), "final": r.final} for r in results]
            settings = {"data": dataclasses.asdict(data), "base": base.to_dict()}
        else:
            runs = [{"rate": r.config.label_noise, "status": r.status, "per_run": r.per_run.to_dict("records")}
                    for r in results]
            settings = {"base": dataclasses.asdict(base)}
        payload = {"dataset": args.dataset, "noise": args.noise, "objectives": objectives, "rates": args.rates,
                   "seeds": args.seeds, "settings": settings, "seconds": seconds,
                   "table": table.to_dict("records"), "runs": runs}
        with open(args.json, "w") as fh:
            json.dump(_jsonable(payload), fh, indent=1)
    return 0


if __name__ == "__main__":
    import sys

    from core.noise import main as _main  # this module's own classes, not __main__'s copies (isinstance checks)

    sys.exit(_main())
