"""Comparing the k family with label-noise-robust losses on noisy labels (MNIST or the 1-D toy).

The noise itself (seeded flips, memorization metrics) is core.labelnoise; this package is the
comparison: `grid` (which runs, default learning rates), `summary` (tables), `task` (the engine
verbs: submit, run_here, load), `compare` (train a grid in this process through the Lab and return
its table), `__main__` (`python -m core.noise`: every run saved in the run store).

    from core.noise import compare, comparison_configs, summarize, curves
    table = compare(["ce", "tunable:k=0.25", "gce", "mae@0.2"], rates=[0.4], seeds=[0, 1])
    compare(["ce", "tunable:k=0.25"], [0.2], dataset="toy")   # the 1-D toy, k family only

    python -m core.noise --rates 0.4 --seeds 0 1 --n-train 10000 --epochs 8   # --help for all options
    python -m core.noise --dataset toy --rates 0 0.2 0.4
"""

from __future__ import annotations

import pandas as pd

from core.mnist import DataConfig, fit
from core.noise.grid import (
    DATASETS, DEFAULT_MOMENTUM, EFFECTIVE_LR, UNHINGED_WEIGHT_DECAY, Method, comparison_configs, default_lr,
    default_weight_decay, method_of, parse_method, toy_configs, toy_ks,
)
from core.noise.summary import curves, format_table, summarize, summarize_toy
from core.toy import run_toy

__all__ = [
    "DATASETS", "DEFAULT_MOMENTUM", "EFFECTIVE_LR", "UNHINGED_WEIGHT_DECAY", "Method", "compare",
    "comparison_configs", "curves", "default_lr", "default_weight_decay", "format_table", "method_of",
    "parse_method", "summarize", "summarize_toy", "toy_configs", "toy_ks",
]


def compare(objectives, rates, seeds=(0,), *, dataset: str = "mnist", noise: str = "symmetric", base=None,
            data=None, lr: float | None = None, weight_decay: float | None = None, noise_seed: int = 0,
            on_epoch=None, on_progress=None, cancel=None, lab=None) -> pd.DataFrame:
    """Train the grid objectives x rates x seeds and return its table (summarize / summarize_toy).

    dataset "mnist": comparison_configs(...) trained by core.mnist.group_task on `data` (a DataConfig;
    default 10,000 training images), on_epoch gets fit's EpochEvents. dataset "toy": toy_configs(...)
    (`base` a ToyConfig) trained one rate after the other by core.toy.run_toy, on_progress gets its
    ToySnapshots. `cancel` (a threading.Event) stops early; the table then holds what finished.
    Every run goes through the Lab (`lab`, default: one with an in-memory run store).
    """
    if dataset == "mnist":
        configs = comparison_configs(objectives, rates, seeds, noise, base, lr, weight_decay, noise_seed)
        return summarize(fit(configs, data or DataConfig(n_train=10_000), on_epoch=on_epoch, cancel=cancel, lab=lab))
    if dataset == "toy":
        results = []
        for cfg in toy_configs(objectives, rates, seeds, base):
            if cancel is not None and cancel.is_set():
                break
            results.append(run_toy(cfg, on_progress=on_progress, cancel=cancel, lab=lab))
        return summarize_toy(results)
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
