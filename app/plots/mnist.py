"""MNIST-runs figures: per-epoch curves of runs and final metrics against k, from core.results groups
(mean ± std over seeds; a line joins configurations that differ only in k).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from app.plots.style import k_colors, k_axis, layout


def run_curves(history: pd.DataFrame, labels: dict[int, str], column: str, title: str, y_title: str,
               ks: dict[int, float] | None = None, percent: bool = False) -> go.Figure:
    """One line per run of a per-epoch metric (from RunStore.history), colored by the run's k when given."""
    fig = go.Figure()
    colors = k_colors(sorted(set(ks.values()))) if ks else {}
    dashes = ("solid", "dash", "dot", "dashdot", "longdash")
    seen: dict[float, int] = {}
    for run_id, part in history.groupby("run_id", sort=True):
        if column not in part or part[column].isna().all():
            continue
        k = (ks or {}).get(run_id)
        color = colors.get(k) if k is not None else None
        n = seen[k] = seen.get(k, -1) + 1
        y = part[column] * (100 if percent else 1)
        fig.add_trace(go.Scatter(x=part["epoch"], y=y, mode="lines+markers", name=labels.get(run_id, f"run {run_id}"),
                                 line=dict(color=color, dash=dashes[n % len(dashes)], width=2), marker=dict(size=5)))
    layout(fig, title, "epoch", y_title, height=380, legend="below")
    fig.update_xaxes(dtick=1 if len(history) and history["epoch"].max() <= 20 else None)
    return fig


def final_vs_k(runs: pd.DataFrame, column: str, title: str, y_title: str) -> go.Figure:
    """Final metric of each run against k (log2 axis), one marker series per learning rate."""
    fig = go.Figure()
    symbols = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross")
    for i, (lr, part) in enumerate(runs.sort_values("k").groupby("lr", sort=True)):
        fig.add_trace(go.Scatter(x=part["k"], y=part[column] * 100, mode="markers+lines", name=f"lr = {lr:g}",
                                 marker=dict(size=10, symbol=symbols[i % len(symbols)]), line=dict(width=1)))
    layout(fig, title, "k (log scale)", y_title, height=380, legend="below")
    return k_axis(fig)
