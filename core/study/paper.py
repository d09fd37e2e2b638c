"""The published numbers (Tables 1, 3 and 4 of the paper) and our table beside them.

What: `paper_tables()` reads assets/paper_tables.csv (a copy of the paper's tables: data set,
layers, width, momentum, selected k, test error and test CE of k = 1 and of the selected k;
Table 3 and some rows of Table 4 give only the selected k). `join_paper(table)` adds the
matching published row to each of our cells as `paper_*` columns; `compare_with_paper(table)`
adds, per metric, our value minus the paper's (`*_diff`) and whether that difference is larger
than our spread over seeds (`*_beyond`), which is what the page colours.

Why: the study exists to check the paper's claim on our code; the comparison is part of its
output, not a step left to the reader.

    from core.study.paper import compare_with_paper, paper_tables
    paper_tables().query("layers == 5")
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from core.study.config import PAPER_NAMES
from core.study.table import choice_of

PAPER_CSV = Path(__file__).resolve().parents[2] / "assets" / "paper_tables.csv"
KEYS = ("dataset", "layers", "width", "momentum")
PAPER_METRICS = ("selected_k", "test_error_k1", "test_error_selected", "test_ce_k1", "test_ce_selected")


@lru_cache(maxsize=1)
def _read(path: str) -> pd.DataFrame:
    return pd.read_csv(path)


def paper_tables(path: str | Path = PAPER_CSV) -> pd.DataFrame:
    """The published rows: table, dataset (the paper's spelling), layers, width, momentum, PAPER_METRICS
    (errors in %, CE in nats; NaN where the paper gives only the selected k)."""
    return _read(str(path)).copy()


def join_paper(table: pd.DataFrame, path: str | Path = PAPER_CSV) -> pd.DataFrame:
    """`table` (one row per cell, our data set names) with the matching published row's
    `paper_table` and `paper_<metric>` columns (NaN where the paper has no such cell)."""
    paper = paper_tables(path).rename(columns={m: f"paper_{m}" for m in (*PAPER_METRICS, "table")})
    out = table.copy()
    out["_paper_name"] = out["dataset"].map(lambda d: PAPER_NAMES.get(d, d))
    paper = paper.rename(columns={"dataset": "_paper_name"})
    keys = ["_paper_name", "layers", "width", "momentum"]
    for key, kind in (("layers", int), ("width", int), ("momentum", float)):
        out[key], paper[key] = out[key].astype(kind), paper[key].astype(kind)
    joined = out.merge(paper.drop_duplicates(keys), on=keys, how="left")
    return joined.drop(columns="_paper_name")


def _k_spread(counts: str) -> tuple[float, float]:
    """Smallest and largest constant k chosen by some seed, from a k_counts text like '0.5:2 1:1'
    (a k schedule some seed chose, 'linear:1/4:2:1', has no single k: it is left out)."""
    ks = [k for k, _ in map(choice_of, (part.rsplit(":", 1)[0] for part in str(counts).split() if ":" in part))
          if k == k]
    return (min(ks), max(ks)) if ks else (math.nan, math.nan)


def compare_with_paper(table: pd.DataFrame, path: str | Path = PAPER_CSV) -> pd.DataFrame:
    """join_paper plus, per metric, `<metric>_diff` (ours minus the paper's) and `<metric>_beyond`
    (True when the difference is larger than our spread over seeds: |diff| > our std for errors and
    CE; for k, the paper's k lies outside the range of ks our seeds chose). NaN/False where either
    side is missing, or where we have a single seed (no spread to judge by)."""
    out = join_paper(table, path)
    for m in PAPER_METRICS[1:]:
        out[f"{m}_diff"] = out[m] - out[f"paper_{m}"]
        out[f"{m}_beyond"] = (out[f"{m}_diff"].abs() > out[f"{m}_std"]).fillna(False).astype(bool)
    out["selected_k_diff"] = np.log2(out["selected_k"] / out["paper_selected_k"])  # in doublings of k
    spread = out["k_counts"].map(_k_spread)
    lo, hi = spread.map(lambda s: s[0]), spread.map(lambda s: s[1])
    paper_k = out["paper_selected_k"]
    several = out["seeds"] > 1
    out["selected_k_beyond"] = (several & ((paper_k < lo) | (paper_k > hi))).fillna(False).astype(bool)
    return out
