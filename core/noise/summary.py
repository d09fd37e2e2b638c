"""Tables of a label-noise comparison: per-run rows, means ± std over seeds, curves, printing.

What: `summarize(results)` (MNIST RunResults, from fit or read back with core.mnist.task.load)
and `summarize_toy(results)` (toy results) give one row per (objective, rate) with mean and std over
seeds; `curves(results)` the per-epoch means for plots; `format_table` the printed form.

    from core.noise import summarize, format_table
    print(format_table(summarize(results)).to_string(index=False))
"""

from __future__ import annotations

import math

import pandas as pd

from core.noise.grid import method_of
from core.results import group_runs

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

    results: core.mnist.RunResults (from fit, or read back with core.mnist.load). Columns:
    method, objective, k, lr, weight_decay, noise, rate, seeds (runs), diverged, stopped, epochs (mean
    finished), then <metric>_mean and <metric>_std over seeds for test_acc, test_error, test_ce,
    train_acc_noisy, train_acc_true, memorized, corrected (final epoch; fractions, CE in nats), grouped by
    core.results: `n` runs averaged (only finished ones), diverged and stopped (stopped, failed or
    interrupted) runs counted in their columns and left out of the means; the std of one seed is nan.
    """
    runs = _runs_frame(results)
    metrics = ["test_acc", "test_error", "test_ce", "train_acc_noisy", "train_acc_true", "memorized", "corrected"]
    keys = ["method", "objective", "k", "lr", "weight_decay", "noise", "rate"]
    if runs.empty:
        return pd.DataFrame(columns=keys + ["seeds", "n", "diverged", "stopped", "epochs"]
                            + [f"{m}_{s}" for m in metrics for s in ("mean", "std", "lo", "hi")])
    runs["noise"] = runs["noise"].replace("none", "clean")
    res = group_runs(runs, keys, metrics, seed="seed", run_id="_order", label=None)
    table = res.groups.rename(columns={"n_diverged": "diverged"})
    table["seeds"] = table["run_ids"].map(len)
    table["stopped"] = table["n_stopped"] + table["n_failed"] + table["n_interrupted"]
    table["epochs"] = res.runs.groupby("group")["epochs"].mean().reindex(table["group"]).to_numpy()
    table["_order"] = table["run_ids"].map(min)
    first = runs.groupby("method", sort=False)["_order"].min()
    table["_m"] = table["method"].map(first)
    table = table.sort_values(["_m", "rate", "_order"], kind="stable")
    columns = keys + ["seeds", "n", "diverged", "stopped", "epochs"] + [f"{m}_{s}" for m in metrics
                                                                       for s in ("mean", "std", "lo", "hi")]
    return table[columns].reset_index(drop=True)


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
    rows with test_error in %), i.e. core.toy.ToyResults or core.toy.load's SavedToys. Columns: method,
    objective, k, rate, runs, then test_error, test_acc (fractions), test_ce and threshold, each as
    _mean and _std over runs, and epochs_mean. Sorted by k (descending), then rate.
    """
    frames = []
    for res in results:
        per_run = getattr(res, "per_run", None)
        if per_run is None or per_run.empty or getattr(res, "config", None) is None:
            continue
        frames.append(per_run.assign(rate=float(res.config.label_noise), status=getattr(res, "status", "done")))
    cols = ["method", "objective", "k", "rate", "runs"]
    metrics = ["test_error", "test_acc", "test_ce", "threshold"]
    if not frames:
        return pd.DataFrame(columns=cols + [f"{m}_{s}" for m in metrics for s in ("mean", "std")] + ["epochs_mean"])
    runs = pd.concat(frames, ignore_index=True)
    runs["test_error"] = runs["test_error"] / 100  # toy errors are in %
    runs["test_acc"] = 1 - runs["test_error"]
    runs["id"] = range(len(runs))
    table = group_runs(runs, ["k", "rate"], metrics + ["epochs"], seed="run", label=None).groups
    table = table.rename(columns={"n": "runs"}).drop(columns=["epochs_std", "epochs_lo", "epochs_hi"])
    table["method"] = [f"tunable:k={k:g}" for k in table["k"]]
    table["objective"] = [f"k = {k:g}" for k in table["k"]]
    table = table.sort_values(["k", "rate"], ascending=[False, True], kind="stable")
    return table[cols + [c for c in table.columns if c not in cols + ["group", "run_ids"]
                         and not c.startswith("n_")]].reset_index(drop=True)


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


TOY_TAG = "label noise"  # toy runs launched by a label-noise comparison are named "label noise · ..."


def saved_comparisons(store) -> list[dict]:
    """The comparisons a run store holds, newest first: one per launch (the store's group id), MNIST
    ones (kind "noise") and toy ones (kind "toy", named TOY_TAG or trained on noisy labels). Each is
    {"key": "mnist:<group>" | "toy:<group>", "ids", "created", "label"}; the label names what was run
    (never its status, which changes while it trains)."""
    out = []
    for kind, runs in (("mnist", store.list_runs(kind="noise")), ("toy", store.list_runs(kind="toy"))):
        if runs.empty:
            continue
        if kind == "toy":
            noisy = runs.get("cfg.label_noise", pd.Series(0.0, index=runs.index)).fillna(0) > 0
            runs = runs[runs["label"].str.startswith(TOY_TAG) | noisy]
            rate_col, what = "cfg.label_noise", "Toy"
        else:
            rate_col, what = "cfg.train.noise.rate", "MNIST"
        groups = [g if isinstance(g, str) and g else f"run{i}" for g, i in zip(runs["group_id"], runs["id"])]
        for group, part in runs.groupby(groups, sort=False):
            rates = sorted(part.get(rate_col, pd.Series([0.0])).fillna(0.0).unique())
            noise = ""
            if kind == "mnist":
                kinds = sorted(set(part.get("cfg.train.noise.kind", pd.Series(["symmetric"]))) - {"none"})
                noise = (", ".join(kinds) or "clean") + " "
            out.append(dict(key=f"{kind}:{group}",
                            ids=sorted(int(i) for i in part["id"]), created=part["created_at"].min(),
                            label=f"{what} · {noise}{', '.join(f'{r:.0%}' for r in rates)} noise · {len(part)} runs"))
    return sorted(out, key=lambda e: e["created"], reverse=True)
