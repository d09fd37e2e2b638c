"""Paper-tables figures: the selected k against depth and one cell's validation error over (k, lr).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.plots.style import layout
from core.curves import format_k
from core.study.table import choice_label


_DATASET_COLORS = {"mnist": "#2c5bd8", "fashion-mnist": "#1a9850", "svhn": "#d7301f", "cifar10": "#f28e2b",
                   "cifar100": "#9c27b0"}
_K_TICKS = [2.0**e for e in range(-4, 4)]


def _k_axis(fig: go.Figure, **where) -> None:
    fig.update_yaxes(type="log", tickvals=_K_TICKS, ticktext=[format_k(t) for t in _K_TICKS], **where)


def study_depth(table: pd.DataFrame, per_seed: pd.DataFrame) -> go.Figure:
    """Selected k against the number of hidden layers, one colour per data set (one line per width and
    momentum): filled markers the choice on seed means, bars the range the seeds chose (small dots each
    seed's choice), open diamonds the paper's selected k (core.study.paper.join_paper's paper_selected_k)."""
    fig = go.Figure()
    if table.empty:
        return layout(fig, "Selected k against depth (no finished cell)", "hidden layers", "selected k")
    series = table.groupby(["dataset", "width", "momentum"], sort=False)
    for i, ((dataset, width, momentum), part) in enumerate(series):
        part = part.sort_values("layers")
        shift = (i - (series.ngroups - 1) / 2) * 0.15  # side by side, so series at one depth do not hide each other
        color = _DATASET_COLORS.get(dataset, "#666666")
        name = f"{dataset} · width {width} · momentum {momentum:g}"
        seeds = per_seed[(per_seed["dataset"] == dataset) & (per_seed["width"] == width)
                         & (per_seed["momentum"] == momentum)]
        spread = seeds.groupby("layers")["selected_k"].agg(["min", "max"]).reindex(part["layers"])
        fig.add_trace(go.Scatter(
            x=part["layers"] + shift, y=part["selected_k"], mode="lines+markers", name=name, legendgroup=name,
            marker=dict(size=12, color=color, line=dict(color="black", width=1)), line=dict(color=color, width=2),
            error_y=dict(type="data", symmetric=False, visible=True, color=color,
                         array=(spread["max"].to_numpy() - part["selected_k"].to_numpy()),
                         arrayminus=(part["selected_k"].to_numpy() - spread["min"].to_numpy())),
            customdata=part["layers"],
            hovertemplate="%{customdata} hidden layers<br>selected k %{y:.4g}<extra>" + name + "</extra>"))
        if len(seeds):
            jitter = (seeds["seed"].rank(method="dense") - 1) * 0.05 - 0.05
            fig.add_trace(go.Scatter(x=seeds["layers"] + shift + jitter.to_numpy(), y=seeds["selected_k"], mode="markers",
                                     name=f"{name}: per seed", legendgroup=name, showlegend=False, opacity=0.6,
                                     marker=dict(size=6, color=color),
                                     hovertemplate="seed choice k %{y:g}<extra></extra>"))
        if "paper_selected_k" in part and part["paper_selected_k"].notna().any():
            fig.add_trace(go.Scatter(x=part["layers"] + shift, y=part["paper_selected_k"], mode="markers+lines",
                                     name=f"{name}: paper", legendgroup=name,
                                     marker=dict(size=13, symbol="diamond-open", color=color, line=dict(width=2)),
                                     line=dict(color=color, dash="dot", width=1)))
    scheduled = sum(bool(s) for s in (*table.get("selected_schedule", ()), *per_seed.get("selected_schedule", ())))
    layout(fig, "Selected k against depth", "hidden layers", "selected k (log scale)",
           subtitle="bars: range of the seeds' choices; ◇: the paper's k"
           + (f"; {scheduled} choice(s) of a k schedule are not drawn (no single k)" if scheduled else ""), height=400)
    depths = sorted(table["layers"].unique())
    fig.update_xaxes(tickvals=depths, range=[depths[0] - 0.6, depths[-1] + 0.6])
    ks = pd.concat([table["selected_k"], per_seed.get("selected_k", pd.Series(dtype=float)),
                    table.get("paper_selected_k", pd.Series(dtype=float))]).dropna()
    ks = ks if len(ks) else pd.Series([1.0])  # every choice a k schedule: centre the axis on k = 1
    _k_axis(fig, range=[math.log10(min(ks.min(), 1.0) / 1.5), math.log10(max(ks.max(), 1.0) * 1.5)])
    fig.add_hline(y=1, line=dict(color="#999", dash="dash", width=1))
    return fig


def study_surface(surface: pd.DataFrame, title: str, selected: tuple[str, float] | None = None,
                  baseline: tuple[str, float] | None = None) -> go.Figure:
    """Mean validation error (%) over seeds for every (k or k schedule, lr) of one cell as a heatmap (cells
    where a seed diverged or ended at chance are marked ×): constant ks by value, then the schedules.
    `selected` and `baseline` (choice label as core.study.table.choice_label writes it, lr) are circled."""
    schedules = surface["schedule"] if "schedule" in surface else pd.Series("", index=surface.index)
    rows = [(bool(s), 0.0 if s else k, s, choice_label(k, s)) for k, s in zip(surface["k"], schedules)]
    surface = surface.assign(choice=[label for *_, label in rows])
    order = [label for *_, label in sorted(set(rows))]  # constant ks by value, then the schedules
    grid = surface.pivot_table(index="choice", columns="lr", values="val_error", aggfunc="first").reindex(order)
    bad = surface.assign(bad=(surface["diverged"] > 0) | (surface["at_chance"] > 0)).pivot_table(
        index="choice", columns="lr", values="bad", aggfunc="first").reindex_like(grid).fillna(False).astype(bool)
    ks, lrs = list(grid.index), [f"{lr:g}" for lr in grid.columns]
    values = grid.to_numpy(dtype=float)
    text = [[("×" if bad.iat[i, j] else (f"{v:.2f}" if np.isfinite(v) else "")) for j, v in enumerate(row)]
            for i, row in enumerate(values)]
    finite = values[np.isfinite(values) & ~bad.to_numpy()]
    zmax = float(np.quantile(finite, 0.9)) if finite.size else None
    fig = go.Figure(go.Heatmap(z=values, x=lrs, y=ks, text=text, texttemplate="%{text}", colorscale="Viridis_r",
                               zmax=zmax, colorbar=dict(title="val error %"),
                               hovertemplate="k %{y}, lr %{x}<br>validation error %{z:.2f}%<extra></extra>"))
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=ks)
    for point, name, color in ((baseline, "k = 1 at its best lr", "#ffffff"), (selected, "selected", "#d7301f")):
        if point is not None:
            fig.add_trace(go.Scatter(x=[f"{point[1]:g}"], y=[point[0]], mode="markers", name=name,
                                     marker=dict(size=34, symbol="circle-open", color=color, line=dict(width=3))))
    layout(fig, title, "learning rate", "k", height=360)
    return fig
