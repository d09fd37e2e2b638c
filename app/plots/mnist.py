"""MNIST-runs figures: per-epoch curves of runs and final metrics against k, from core.results groups
(mean ± std over seeds; a line joins configurations that differ only in k).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from app.plots.style import fitted_k_axis, k_colors, layout


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
                                 line=dict(color=color, dash=dashes[n % len(dashes)], width=2), marker=dict(size=7)))
    layout(fig, title, "epoch", y_title, height=380, legend="below")
    fig.update_xaxes(dtick=1 if len(history) and history["epoch"].max() <= 20 else None)
    return fig


def _value(v) -> str:
    """A configuration value in a legend: 0.1 -> '0.1', (800, 800) -> '800-800'."""
    if isinstance(v, tuple | list):
        return "-".join(_value(x) for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def final_vs_k(groups: pd.DataFrame, metric: str, title: str, y_title: str, *, k: str = "k",
               series: dict[str, str] | None = None, percent: bool = True, subtitle: str | None = None) -> go.Figure:
    """Mean ± std over seeds of a final metric against k (log2 axis), from core.results groups.

    One line per value of the `series` columns ({column: its name in the legend}, e.g. {"lr": "lr"}):
    a line joins configurations that differ only in k, in k order; n (runs averaged) shows on hover.
    """
    fig = go.Figure()
    series = {c: n for c, n in (series or {}).items() if c in groups}
    scale = 100 if percent else 1
    symbols = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross")
    parts = groups.groupby(list(series), sort=True, dropna=False) if series else [((), groups)]
    for i, (key, part) in enumerate(parts):
        key = key if isinstance(key, tuple) else (key,)
        part = part[part["n"] > 0].sort_values(k)
        if part.empty:
            continue
        name = " · ".join(f"{label} {_value(v)}" for label, v in zip(series.values(), key)) or "mean over seeds"
        fig.add_trace(go.Scatter(
            x=part[k], y=part[f"{metric}_mean"] * scale, mode="markers+lines", name=name,
            error_y=dict(type="data", array=(part[f"{metric}_std"] * scale).fillna(0), visible=True, thickness=1.5),
            marker=dict(size=11, symbol=symbols[i % len(symbols)], line=dict(color="white", width=1)),
            line=dict(width=2), customdata=part["n"],
            hovertemplate=f"{name}<br>k %{{x:.4g}}<br>%{{y:.2f}} (n = %{{customdata}})<extra></extra>"))
    layout(fig, title, "k (log scale)", y_title, height=360,
           subtitle=subtitle or "mean ± std over seeds; finished runs only")
    return fitted_k_axis(fig, groups[k] if k in groups else [])
