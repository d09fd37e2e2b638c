"""The paper's selection protocol in every cell of a study, and the table of the paper's columns.

What: `cell_summary(cell, results)` runs core.mnist.selection.select on one cell's runs twice:
  - on the means over seeds (the headline): the lr per k on mean validation error, then k; the
    selected (k, lr) and the k = 1 model at its own best lr are then compared seed by seed on the
    test set (paired differences, selected minus k = 1, with a 95% t-interval over seeds);
  - on each seed alone (the spread): which k the protocol picks for that seed, and how often
    each k wins across seeds.
`study_table(cells_results)` stacks one row per cell (TABLE_COLUMNS); `per_seed_table` the
per-seed choices (for the figure of selected k against depth).

Why: the paper reports one selected k per architecture; several seeds say how firm that choice
is, and pairing seeds (same initialization and data order for both models) removes most of the
seed-to-seed variation from the difference.

How: every figure is the early-stopped epoch's (the epoch of lowest validation error, as the
fit's Finished summary `best_*`): `at_best_epoch` cuts each history there before selecting.
Errors are in percent, as in the paper; cross-entropy in nats.

    from core.study.table import cell_summary, study_table
    row = cell_summary(cell, results)        # dict of TABLE_COLUMNS
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from core.kvalue import format_k
from core.mnist import RunResult
from core.mnist.selection import select
from core.schedule import parse_schedule
from core.study.config import CELL_FIELDS, Cell

METRICS = ("test_error", "test_ce")  # compared between the selected model and k = 1
TABLE_COLUMNS = (
    *CELL_FIELDS, "selected_k", "selected_schedule", "selected_lr", "k1_lr", "seeds",
    "test_error_k1", "test_error_selected", "test_ce_k1", "test_ce_selected",
    "test_error_k1_std", "test_error_selected_std", "test_ce_k1_std", "test_ce_selected_std",
    "val_error_k1", "val_error_selected",
    "diff_test_error", "diff_test_error_lo", "diff_test_error_hi",
    "diff_test_ce", "diff_test_ce_lo", "diff_test_ce_hi",
    "k_counts", "epochs_selected",
)  # errors in %, CE in nats; diff_* = selected minus k = 1, paired by seed, with a 95% t-interval;
# selected_k is nan and selected_schedule its text ("linear:1/4:2") when a k schedule was selected, else ""


def at_best_epoch(result: RunResult) -> RunResult:
    """The run as of its early-stopped epoch: history cut after the epoch of lowest validation
    error (the first such), so `final` holds what the fit's summary calls best_*. Diverged runs
    and runs with non-finite validation error are returned as they are."""
    errors = [h.get("val_error", math.nan) for h in result.history]
    finite = [e for e in errors if e == e and math.isfinite(e)]
    if result.status == "diverged" or not finite:
        return result
    best = errors.index(min(finite))
    return dataclasses.replace(result, history=result.history[: best + 1])


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the `level` t-interval of the mean over `values` (nan bounds for fewer than 2)."""
    x = np.asarray([v for v in values if v == v], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def choice_of(method: str) -> tuple[float, str]:
    """(selected_k, selected_schedule) of a selected method: (0.5, "") for 'k=0.5', (nan, text) for a schedule."""
    text = method.removeprefix("k=")
    try:
        return float(text), ""
    except ValueError:
        return math.nan, text


def choice_label(k: float, schedule: str = "") -> str:
    """How pages and the README write a choice: '1/2' for a k, '1/4→2 (linear)' for a schedule, '–' for none."""
    if isinstance(schedule, str) and schedule:
        return parse_schedule(schedule).label.removeprefix("k ")
    return format_k(float(k)) if k is not None and k == k else "–"


def choices_label(study) -> str:
    """A study's k choices in words: '1/4, 1, 2, 1/4→2 (linear)' (its ks, then its k schedules)."""
    return ", ".join([*(choice_label(k) for k in study.ks), *(choice_label(math.nan, s) for s in study.k_schedules)])


def counts_label(counts) -> str:
    """A k_counts text ('0.5:2 linear:1/4:2:1') as '1/2 ×2, 1/4→2 (linear) ×1': each choice, then its seeds."""
    if not isinstance(counts, str) or not counts:
        return "–"
    pairs = (part.rsplit(":", 1) for part in counts.split())
    return ", ".join(f"{choice_label(*choice_of(text))} ×{n}" for text, n in pairs)


def _by_seed(results: Sequence[RunResult], method: str, lr: float) -> dict[int, dict]:
    """seed -> final metrics (errors in %) of the runs with this method (k or k schedule) and lr."""
    out = {}
    for r in results:
        if r.config.method == method and r.config.lr == lr and r.status == "done" and r.history:
            m = r.final
            out[r.config.seed] = {"test_error": 100 * m["test_error"], "test_ce": m["test_ce"],
                                  "val_error": 100 * m["val_error"], "epoch": m["epoch"]}
    return out


def _std(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def seed_choices(results: Sequence[RunResult]) -> list[dict]:
    """The protocol on each seed alone: seed, selected k and lr, k = 1's lr, and both test metrics."""
    rows = []
    for seed in sorted({r.config.seed for r in results}):
        try:
            choice = select([r for r in results if r.config.seed == seed])
        except ValueError:
            continue  # no finished run for this seed
        if choice.baseline is None or choice.best["val_error"] != choice.best["val_error"]:
            continue
        base = choice.baseline
        k, schedule = choice_of(choice.best["method"])
        rows.append({"seed": seed, "selected_k": k, "selected_schedule": schedule, "selected_lr": choice.best["lr"],
                     "k1_lr": base["lr"], **{f"{m}_selected": choice.best[m] * (100 if "error" in m else 1)
                                             for m in METRICS},
                     **{f"{m}_k1": base[m] * (100 if "error" in m else 1) for m in METRICS}})
    return rows


def _counts_text(methods: Sequence[str]) -> str:
    """e.g. '0.5:2 1:1 linear:1/4:2:1' (the choice, then how many seeds chose it): ks by value, then schedules."""
    order = sorted(Counter(methods).items(), key=lambda item: (choice_of(item[0])[1], choice_of(item[0])[0]))
    return " ".join(f"{method.removeprefix('k=')}:{n}" for method, n in order)


def _method(choice: dict) -> str:
    """The method text of a seed_choices row: 'k=0.5' or 'k=linear:1/4:2'."""
    return f"k={choice['selected_schedule'] or format(choice['selected_k'], 'g')}"


def cell_summary(cell: Cell, results: Sequence[RunResult]) -> dict:
    """One row of TABLE_COLUMNS for a cell's runs (see module docstring); ValueError when no
    finished run of k = 1 or of any k is there to compare."""
    runs = [at_best_epoch(r) for r in results]
    choice = select(runs)
    if choice.baseline is None:
        raise ValueError(f"{cell.label}: no finished k = 1 run to compare with")
    method, lr, base_lr = choice.best["method"], choice.best["lr"], choice.baseline["lr"]
    chosen, base = _by_seed(runs, method, lr), _by_seed(runs, choice.baseline["method"], base_lr)
    paired = sorted(set(chosen) & set(base))
    k, schedule = choice_of(method)
    row = {**dataclasses.asdict(cell), "selected_k": k, "selected_schedule": schedule, "selected_lr": lr,
           "k1_lr": base_lr, "seeds": len(paired)}
    for m in METRICS:
        sel, ref = [chosen[s][m] for s in paired], [base[s][m] for s in paired]
        row.update({f"{m}_selected": float(np.mean(sel)) if sel else math.nan, f"{m}_selected_std": _std(sel),
                    f"{m}_k1": float(np.mean(ref)) if ref else math.nan, f"{m}_k1_std": _std(ref)})
        row[f"diff_{m}"], row[f"diff_{m}_lo"], row[f"diff_{m}_hi"] = t_interval([a - b for a, b in zip(sel, ref)])
    row["val_error_selected"] = float(np.mean([chosen[s]["val_error"] for s in paired])) if paired else math.nan
    row["val_error_k1"] = float(np.mean([base[s]["val_error"] for s in paired])) if paired else math.nan
    row["epochs_selected"] = float(np.mean([chosen[s]["epoch"] for s in paired])) if paired else math.nan
    row["k_counts"] = _counts_text([_method(c) for c in seed_choices(runs)])
    return {c: row[c] for c in TABLE_COLUMNS}


def study_table(cells_results: Mapping[Cell, Sequence[RunResult]]) -> tuple[pd.DataFrame, list[str]]:
    """One cell_summary row per cell that can be summarized, and a note for each that cannot."""
    rows, notes = [], []
    for cell, results in cells_results.items():
        try:
            rows.append(cell_summary(cell, results))
        except ValueError as exc:  # the cell's label once, whether or not the message names it already
            text = str(exc)
            notes.append(text if text.startswith(cell.label) else f"{cell.label}: {text}")
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS)), notes


def per_seed_table(cells_results: Mapping[Cell, Sequence[RunResult]]) -> pd.DataFrame:
    """One row per (cell, seed): the protocol run on that seed alone (seed_choices)."""
    rows = [{**dataclasses.asdict(cell), **choice}
            for cell, results in cells_results.items()
            for choice in seed_choices([at_best_epoch(r) for r in results])]
    columns = [*CELL_FIELDS, "seed", "selected_k", "selected_schedule", "selected_lr", "k1_lr", "test_error_selected",
               "test_ce_selected", "test_error_k1", "test_ce_k1"]
    return pd.DataFrame(rows, columns=columns)


def selection_surface(results: Sequence[RunResult]) -> pd.DataFrame:
    """Mean validation and test error (%) over seeds per (k or k schedule, lr) at the early-stopped epoch,
    with diverged and at-chance counts: the surface the protocol chooses on (core.mnist.selection's table).
    `schedule` is the schedule's text ("" for a constant k; `k` is then where the schedule starts)."""
    table = select([at_best_epoch(r) for r in results]).table
    table = table[table["method"].str.startswith("k=")].copy()
    table["schedule"] = [choice_of(m)[1] for m in table["method"]]
    for column in ("val_error", "test_error", "test_error_std"):
        table[column] = 100 * table[column]
    return table[["k", "schedule", "lr", "seeds", "diverged", "at_chance", "val_error", "val_ce", "test_error",
                  "test_ce"]]
