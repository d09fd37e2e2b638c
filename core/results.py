"""One results model: runs grouped by their configuration minus the seed, with n, mean, std, 95% CI.

What: `group_runs(runs, keys, metrics)` takes one row per run (a run-store listing, a per-run table of
a comparison, a toy experiment's per-run table) and returns `Results`: the runs, each with a unique
label and whether it counts, and one row per configuration (the `keys` columns; the seed is not one
of them) with n, and for every metric its mean, std (n >= 2) and 95% t-interval (n >= 3). Only runs
whose status is in `counted` (default: done) enter the aggregates; the others are counted per status
(`n_stopped`, `n_failed`, ...) so a view can say "2 stopped runs left out".

Why: every chart "against k", "against the noise rate" or comparing configurations, and every summary
table, reads one grouping, so a line never joins runs of different configurations or seeds in k order,
stopped runs never pull a mean, and two runs never share one legend label.

    from core.results import group_runs
    res = group_runs(store.list_runs(kind="mnist"), keys=config_keys(frame), metrics=["final.test_error"],
                     seed="cfg.train.seed")
    res.groups[["cfg.train.k", "n", "final.test_error_mean", "final.test_error_std"]]

`dash(value, fmt)` writes a missing value as "–" (the tables' one rule for missing numbers).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from core.engine.status import DONE, STATUSES

COUNTED = (DONE,)  # statuses whose runs enter the means by default
MISSING = "–"  # how every table writes a missing number


@dataclass(frozen=True)
class Results:
    """Runs and their configurations' aggregates (see group_runs)."""

    runs: pd.DataFrame  # one row per run: the input columns, plus run_label (unique), counted (bool), group (int)
    groups: pd.DataFrame  # one row per configuration: keys, n, n_<status>, <metric>_mean/_std/_lo/_hi
    keys: tuple[str, ...]  # the configuration columns (the seed is not one)
    metrics: tuple[str, ...]  # the aggregated columns

    @property
    def left_out(self) -> dict[str, int]:
        """How many runs did not count, by status (e.g. {'stopped': 2}), for a caption."""
        out = self.runs.loc[~self.runs["counted"], "status"].value_counts()
        return {str(s): int(n) for s, n in out.items()}


def summary_stats(values: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """n, mean, std (ddof 1; nan below 2 values) and the `level` t-interval of the mean (nan below 3
    values: with 2 seeds the interval is ±12.7 std, no help to a reader). Nan values are skipped."""
    x = np.asarray([v for v in values if v is not None and v == v], dtype=float)
    n = len(x)
    out = dict(n=n, mean=float(x.mean()) if n else math.nan, std=float(x.std(ddof=1)) if n >= 2 else math.nan,
               lo=math.nan, hi=math.nan)
    if n >= 3:
        half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * out["std"] / math.sqrt(n)
        out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
    return out


def _hashable(value):
    """A cell usable as a group key: lists (hidden widths) as tuples, dicts as sorted item tuples, NaN as None."""
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list | np.ndarray):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def unique_labels(labels: Sequence[str], ids: Sequence[Hashable]) -> list[str]:
    """The labels, with ' · #<id>' added to each one that another run shares (legends and pickers
    must tell runs apart)."""
    counts = Counter(labels)
    return [f"{lab} · #{i}" if counts[lab] > 1 else str(lab) for lab, i in zip(labels, ids)]


def config_keys(runs: pd.DataFrame, seed: str, prefix: str = "cfg.") -> list[str]:
    """The configuration columns of a run-store listing: every `prefix` column except the seed, the
    device choice and the thread count (they change where and how fast a run trains, not what it is)."""
    skip = {seed, f"{prefix}data.device", f"{prefix}device", f"{prefix}threads", f"{prefix}data.threads"}
    return [c for c in runs.columns if c.startswith(prefix) and c not in skip]


def group_runs(runs: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str], *, seed: str | None = None,
               status: str = "status", run_id: str = "id", label: str | None = "label",
               counted: Sequence[str] = COUNTED) -> Results:
    """Group `runs` by `keys` (configuration minus seed) and aggregate `metrics` over the counted runs.

    Groups keep the order of their first run. `seed`, when given, must not be a key (a seed is a
    repetition, not a configuration). Runs with another status stay in `runs` (counted False) and are
    tallied per group in n_<status>. Without `label`, run labels are '#<id>'.
    """
    keys = [k for k in keys if k != seed]
    frame = runs.reset_index(drop=True).copy()
    for column in keys:
        frame[column] = [_hashable(v) for v in frame[column]] if column in frame else None
    frame["counted"] = frame[status].isin(counted) if status in frame else True
    texts = [str(v) for v in frame[label]] if label and label in frame else [f"#{i}" for i in frame[run_id]]
    frame["run_label"] = unique_labels(texts, list(frame[run_id])) if run_id in frame else texts
    frame["group"] = frame.groupby(keys, sort=False, dropna=False).ngroup() if keys and len(frame) else 0
    rows = []
    for g, part in frame.groupby("group", sort=False):
        row = {k: part[k].iloc[0] for k in keys}
        used = part[part["counted"]]
        row["group"], row["n"], row["run_ids"] = int(g), len(used), list(part[run_id]) if run_id in part else []
        if status in part:
            tally = part[status].value_counts()
            row.update({f"n_{s}": int(tally.get(s, 0)) for s in STATUSES})
        for m in metrics:
            values = pd.to_numeric(used[m], errors="coerce") if m in used else pd.Series(dtype=float)
            s = summary_stats(values.tolist())
            row.update({f"{m}_mean": s["mean"], f"{m}_std": s["std"], f"{m}_lo": s["lo"], f"{m}_hi": s["hi"]})
        rows.append(row)
    columns = [*keys, "group", "n", "run_ids"] + [f"{m}_{s}" for m in metrics for s in ("mean", "std", "lo", "hi")]
    groups = pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)
    return Results(frame, groups, tuple(keys), tuple(metrics))


def latest_values(runs: pd.DataFrame, history: pd.DataFrame, metrics: Sequence[str], *, run_id: str = "id",
                  final_prefix: str = "final.") -> pd.DataFrame:
    """`runs` with one column per metric: the run's final value (`final.<metric>`) when it has one, else
    its latest logged epoch's (a running or stopped run), so a comparison is not blank while training."""
    out = runs.copy()
    last = (history.sort_values("epoch").groupby("run_id").last() if len(history)
            else pd.DataFrame(columns=list(metrics)))
    for m in metrics:
        final = out[f"{final_prefix}{m}"] if f"{final_prefix}{m}" in out else pd.Series(math.nan, index=out.index)
        latest = out[run_id].map(last[m]) if m in last else pd.Series(math.nan, index=out.index)
        out[m] = pd.to_numeric(final, errors="coerce").fillna(pd.to_numeric(latest, errors="coerce"))
    return out


def export_table(frame: pd.DataFrame, columns: dict[str, str], percent: Sequence[str] = ()) -> pd.DataFrame:
    """A page's CSV: only `columns` ({column: header with unit}), in that order, `percent` columns
    (fractions) times 100, so a download holds what the page shows and nothing of other pages."""
    out = frame.reindex(columns=list(columns)).copy()
    for column in percent:
        if column in out:
            out[column] = 100 * pd.to_numeric(out[column], errors="coerce")
    return out.rename(columns=columns)


def varying(groups: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """The keys that differ between groups (what a legend or a line must name); constant ones go in
    a caption instead."""
    return [k for k in keys if k in groups and groups[k].map(repr).nunique() > 1]


def dash(value, fmt: str = "{:.2f}") -> str:
    """A number as a table shows it, '–' when missing (None, NaN, empty)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or value == "":
        return MISSING
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return str(value)


def mean_std(mean, std, fmt: str = "{:.2f}") -> str:
    """'3.85 ± 0.24', or '3.85' for one run, or '–'."""
    if mean is None or not (isinstance(mean, int | float) and math.isfinite(mean)):
        return MISSING
    if std is None or not math.isfinite(std):
        return fmt.format(mean)
    return f"{fmt.format(mean)} ± {fmt.format(std)}"
