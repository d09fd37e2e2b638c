"""The paper's selection protocol (Section 6): the learning rate per k on validation, then k on
validation, and the selected (k, lr) compared with the best k = 1 (cross-entropy) model.

    from core.mnist import fit
    from core.selection import select
    choice = select(fit(grid_of_configs, data))
    choice.summary()      # selected (k, lr) beside the best k = 1 model: val/test error, test CE
    choice.table          # every (k, lr) cell, averaged over seeds

Works on fresh results and on runs read back from the run store (core.mnist.task.load).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from core.mnist.config import ConfigError
from core.mnist.group_task import RunResult
from core.mnist.config import at_chance
from core.results import group_runs

__all__ = ["Selection", "select"]

_SETTING = ("hidden", "activation", "momentum", "weight_decay", "clip_norm", "batch_size", "epochs", "noise")


@dataclass(frozen=True)
class Selection:
    """The paper's protocol over a grid of methods (k values or objectives) x learning rates x seeds.

    Every figure is the final epoch's, averaged over seeds. For each method the learning rate
    with the lowest mean validation error is chosen (a cell where any seed diverged is never
    chosen, nor one where any seed ended at chance level, i.e. learned nothing; ties go to the lower
    validation CE, then the smaller lr); then the method with the
    lowest validation error among those. `baseline` is the k = 1 (cross-entropy) method with its
    lr chosen the same way, for comparison on the test set. Runs that were stopped are ignored.
    """

    table: pd.DataFrame  # one row per (method, lr): seeds, diverged, val/test error and CE (means), test_error_std
    per_method: pd.DataFrame  # one row per method: the lr chosen on validation, same columns
    best: dict  # the selected row of per_method
    baseline: dict | None  # the k = 1 row of per_method (or 'ce'); None if the grid has no k = 1

    def summary(self) -> pd.DataFrame:
        """Selected (k, lr) beside the best k = 1 model: method, k, lr, val_error, test_error, test_ce."""
        cols = ["method", "k", "lr", "seeds", "val_error", "test_error", "test_ce"]
        rows = {"selected": self.best}
        if self.baseline is not None:
            rows["k=1 (cross-entropy)"] = self.baseline
        return pd.DataFrame({name: {c: row[c] for c in cols} for name, row in rows.items()}).T


_METRICS = ("val_error", "val_ce", "test_error", "test_ce")


def _cell_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, lr) from one row per run, through the one results model (core.results):
    seeds, diverged and at-chance counts, metric means over the seeds, and the test error's std."""
    frame = runs.assign(id=range(len(runs)), status=runs["diverged"].map({True: "diverged", False: "done"}),
                        at_chance=runs["at_chance"].astype(float))
    res = group_runs(frame, keys=["method", "k", "lr"], metrics=[*_METRICS, "at_chance"], seed="seed",
                     counted=("done", "diverged"), label=None)
    g = res.groups
    table = pd.DataFrame({
        "method": g["method"], "k": pd.to_numeric(g["k"]), "lr": g["lr"], "seeds": g["n"],
        "diverged": g["n_diverged"].astype(int),
        "at_chance": (g["at_chance_mean"].fillna(0) * g["n"]).round().astype(int),
        **{m: g[f"{m}_mean"] for m in _METRICS}, "test_error_std": g["test_error_std"],
    })
    return table.reset_index(drop=True)


def select(results: Sequence[RunResult], num_classes: int = 10) -> Selection:
    """Choose the lr per k (or objective), then k, on the final-epoch validation error; see Selection."""
    usable = [r for r in results if r.status in ("done", "diverged")]
    if not usable:
        raise ValueError("select needs finished runs (status 'done' or 'diverged'); none were given")
    settings = {tuple(getattr(r.config, f) for f in _SETTING) for r in usable}
    if len(settings) > 1:
        raise ConfigError(
            f"select compares k and lr within one setting, but the runs differ in some of {', '.join(_SETTING)}; "
            "call select once per setting"
        )
    rows = []
    for r in usable:
        c, last = r.config, r.final
        rows.append({
            "method": c.method, "k": c.k if c.objective is None else math.nan, "lr": c.lr, "seed": c.seed,
            "diverged": r.status == "diverged",
            "at_chance": r.status != "diverged" and at_chance(last.get("val_error", math.nan), num_classes),
            **{key: (math.nan if r.status == "diverged" else last.get(key, math.nan))
               for key in ("val_error", "val_ce", "test_error", "test_ce")},
        })
    runs = pd.DataFrame(rows)
    table = _cell_table(runs)
    bad = (table["diverged"] > 0) | (table["at_chance"] > 0) | table["val_error"].isna()
    ranked = table.assign(_bad=bad).sort_values(
        ["_bad", "val_error", "val_ce", "lr"], kind="stable")
    per_method = ranked.groupby("method", sort=False).head(1)
    per_method = per_method.sort_values(["_bad", "val_error", "val_ce", "lr"], kind="stable")
    best = per_method.iloc[0].drop("_bad").to_dict()
    per_method = per_method.drop(columns="_bad").sort_values(["k", "method"], kind="stable").reset_index(drop=True)
    table = table.sort_values(["k", "method", "lr"], kind="stable").reset_index(drop=True)
    baseline = None
    for name in ("k=1", "ce"):
        match = per_method[per_method["method"] == name]
        if len(match):
            baseline = match.iloc[0].to_dict()
            break
    return Selection(table=table, per_method=per_method, best=best, baseline=baseline)
