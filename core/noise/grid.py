"""The label-noise comparison grid: which objectives, at which learning rates, on which noise.

What: `comparison_configs(objectives, rates, seeds, ...)` gives the MNIST grid (core.mnist
TrainConfigs) and `toy_configs(...)` the toy's (core.toy ToyConfigs, the k family only), with
per-objective default learning rates (`default_lr`: EFFECTIVE_LR per objective, chosen on a sweep
recorded in assets/noise_results.md) and weight decay (`UNHINGED_WEIGHT_DECAY`).

Why: the page, the CLI and Python users compare the same grid with the same defaults.

    from core.noise import comparison_configs
    configs = comparison_configs(["ce", "tunable:k=0.25", "gce", "mae@0.2"], rates=[0.4], seeds=[0, 1])
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from core.labelnoise import NOISE_KINDS, NoiseSpec, _check_rate, _check_seed
from core.losses import ObjectiveSpec, parse_objective
from core.mnist.config import ConfigError, TrainConfig
from core.toy import ToyConfig

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
    ks = toy_ks(objectives)
    seeds = [_check_seed(s) for s in seeds]
    rates = [_check_rate(r) for r in rates]
    if not seeds or not rates:
        raise ValueError("choose at least one seed and one noise rate")
    base = base or ToyConfig(n_train=10_000, n_val=10_000, n_test=10_000)
    return [dataclasses.replace(base, ks=ks, runs=len(seeds), seed=seeds[0], label_noise=rate) for rate in rates]
