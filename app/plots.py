"""Plotly figure builders for every page: plain functions, data in, figure out (testable without a browser)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

TEMPLATE = "plotly_white"
REFERENCE_DASH = ("dash", "dot", "dashdot", "longdash", "longdashdot", "dash")


def k_colors(ks: list[float]) -> dict[float, str]:
    """One color per k, by log2 k on a fixed scale (1/64 dark blue ... 16 orange), the same on every page."""
    lo, hi = np.log2(1 / 64), np.log2(16)
    pos = [0.88 * float(np.clip((np.log2(k) - lo) / (hi - lo), 0, 1)) for k in ks]  # skip Plasma's pale yellow end
    return dict(zip(ks, sample_colorscale("Plasma", pos)))


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 430) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=title, xaxis_title=x, yaxis_title=y, height=height,
                      legend=dict(orientation="v"), margin=dict(l=60, r=20, t=60, b=50))
    return fig


def update_curves(df: pd.DataFrame, log_axes: bool = False) -> go.Figure:
    """|f_y| (and reference losses' |dL/dz_y|) against |eps_y|, from core.curves.curves_frame."""
    fig = go.Figure()
    ks = sorted(df.loc[df.family == "k", "k"].unique())
    colors = k_colors(ks)
    for k in ks:
        part = df[(df.family == "k") & (df.k == k)]
        fig.add_trace(go.Scatter(x=part.abs_eps, y=part["size"], name=part.curve.iloc[0], mode="lines",
                                 line=dict(color=colors[k], width=2.5)))
    for i, (name, part) in enumerate(df[df.family == "reference"].groupby("curve", sort=False)):
        fig.add_trace(go.Scatter(x=part.abs_eps, y=part["size"], name=name, mode="lines",
                                 line=dict(color="black", width=1.5, dash=REFERENCE_DASH[i % len(REFERENCE_DASH)])))
    _layout(fig, "How hard one example pushes its true-class logit", "|ε_y| = 1 − p_y (prediction error)",
            "|f_y|  (update of the true-class logit)")
    if log_axes:
        fig.update_xaxes(type="log")
        fig.update_yaxes(type="log", exponentformat="power")
    return fig


def hard_easy(k_grid: np.ndarray, ratios: np.ndarray, chosen: dict[float, float], references: dict[str, float],
              hard: float, easy: float) -> go.Figure:
    """The hard/easy weight ratio against k (log-log), chosen k marked, reference losses as lines."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=k_grid, y=ratios, mode="lines", name="(hard/easy)^k", line=dict(color="#444", width=2)))
    colors = k_colors(list(chosen))
    for k, r in chosen.items():
        fig.add_trace(go.Scatter(x=[k], y=[r], mode="markers+text", name=f"k = {k:g}", text=[f"{r:.3g}×"],
                                 textposition="top left", marker=dict(size=11, color=colors[k], line=dict(color="black", width=1))))
    for i, (name, r) in enumerate(references.items()):
        fig.add_hline(y=r, line=dict(dash=REFERENCE_DASH[i % len(REFERENCE_DASH)], width=1, color="black"),
                      annotation_text=f"{name}: {r:.3g}×", annotation_position="bottom right")
    _layout(fig, f"How much more a hard example (|ε_y| = {hard:g}) moves the model than an easy one (|ε_y| = {easy:g})",
            "k", "weight ratio hard / easy")
    fig.update_xaxes(type="log", tickvals=[2.0**e for e in range(-6, 5)],
                     ticktext=[f"1/{2**-e}" if e < 0 else f"{2**e}" for e in range(-6, 5)])
    fig.update_yaxes(type="log", exponentformat="power")
    return fig


def vector_bars(bars: pd.DataFrame, target: int) -> go.Figure:
    """Grouped bars of f_j per class for each series (cross-entropy gradient first)."""
    fig = go.Figure()
    colors = k_colors(sorted(bars.k.dropna().unique()))
    for name, part in bars.groupby("series", sort=False):
        k = part.k.iloc[0]
        is_ce = np.isnan(k)
        fig.add_trace(go.Bar(x=part["class"], y=part["value"], name=name, marker_color="black" if is_ce else colors[k],
                             marker_pattern_shape="/" if is_ce else ""))
    fig.add_vrect(x0=target - 0.5, x1=target + 0.5, fillcolor="gold", opacity=0.15, line_width=0,
                  annotation_text="true class", annotation_position="top")
    _layout(fig, "The full update vector f of one example", "class j", "f_j (negative: raise this logit)")
    fig.update_layout(barmode="group")
    fig.update_xaxes(dtick=1)
    return fig
