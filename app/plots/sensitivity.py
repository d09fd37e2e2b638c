"""Sensitivity-curves figures: update size against prediction error, the hard/easy ratio against k, the
full update vector of one example (inputs from core.curves).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.plots.style import REFERENCE_DASH, FONT_SIZE, k_colors, reference_color, k_axis, layout
from core.curves import format_k


def display_name(name: str) -> str:
    """A reference loss's name as the page's controls write it: 'Focal (gamma=2)' -> 'Focal (γ = 2)'."""
    return name.replace("gamma=", "γ = ").replace("q=", "q = ")


def update_curves(df: pd.DataFrame, log_axes: bool = False, normalized: bool = False) -> go.Figure:
    """|f_y| (and reference losses' |dL/dz_y|) against |eps_y|, from core.curves.curves_frame.

    Cross-entropy is the k = 1 curve itself: when k = 1 is drawn, its legend entry says so and the CE
    overlay (which would hide exactly under it) is left out. On log axes the y axis starts at (smallest
    |ε_y|)², not at the 1e-15 a steep curve reaches there: curves with slope above 2 leave through the bottom.
    """
    fig = go.Figure()
    ks = sorted(df.loc[df.family == "k", "k"].unique())
    colors = k_colors(ks)
    for k in ks:
        part = df[(df.family == "k") & (df.k == k)]
        name = part.curve.iloc[0] + (" (= cross-entropy)" if k == 1 else "")
        fig.add_trace(go.Scatter(x=part.abs_eps, y=part["size"], name=name, mode="lines",
                                 line=dict(color=colors[k], width=3)))
    for i, (name, part) in enumerate(df[df.family == "reference"].groupby("curve", sort=False)):
        if 1.0 in ks and reference_color(name) == reference_color("ce"):
            continue
        fig.add_trace(go.Scatter(x=part.abs_eps, y=part["size"], name=display_name(name), mode="lines",
                                 line=dict(color=reference_color(name), width=2.5,
                                           dash=REFERENCE_DASH[i % len(REFERENCE_DASH)])))
    layout(fig, "Update size against prediction error", "|ε_y| = 1 − p_y (prediction error)",
           "|f_y| ÷ its peak" if normalized else "|f_y| (true-class update)", height=400,
           subtitle="each curve scaled to peak 1" if normalized else "how hard one example pushes its true-class logit")
    if log_axes:
        fig.update_xaxes(type="log")
        positive = df.loc[(df["size"] > 0) & (df.abs_eps > 0)]
        if len(positive):
            x_min = float(positive.abs_eps.min())
            lo = max(float(positive["size"].min()), x_min**2)
            hi = float(positive["size"].max())
            fig.update_yaxes(range=[math.log10(lo) - 0.1, math.log10(hi) + 0.1])
        fig.update_yaxes(type="log", exponentformat="power")
    return fig


def times(r: float) -> str:
    """A ratio as a reader says it: '9×', '1.93×', '6,561×' (no 6.56e+03)."""
    return f"{r:,.0f}×" if r >= 1000 else f"{r:.3g}×"


def _label_heights(values: list[float], lo: float, hi: float, gap: float) -> list[float]:
    """Heights (log10) for labels at log10 `values`: inside [lo, hi] and at least `gap` apart, each as near
    its value as that allows (labels of close lines are pushed apart, in their order)."""
    order = np.argsort(values)
    placed = np.clip(np.asarray(values, dtype=float)[order], lo, hi)
    for i in range(1, len(placed)):
        placed[i] = max(placed[i], placed[i - 1] + gap)
    overflow = placed[-1] - hi if len(placed) else 0
    if overflow > 0:  # pushed past the top: slide the stack down
        placed -= overflow
        for i in range(len(placed) - 2, -1, -1):
            placed[i] = min(placed[i], placed[i + 1] - gap)
    out = np.empty_like(placed)
    out[order] = placed
    return out.tolist()


def hard_easy(k_grid: np.ndarray, ratios: np.ndarray, chosen: dict[float, float], references: dict[str, float],
              hard: float, easy: float) -> go.Figure:
    """The hard/easy weight ratio against k (log-log), chosen k marked, reference losses as lines.

    On a log axis Plotly places annotations at log10 of y (shapes at y itself), so each reference's label
    is an annotation at log10(ratio), at the right edge, kept inside the plotted range and apart from the
    other labels. The y axis spans the marked k and the references.
    """
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=k_grid, y=ratios, mode="lines", name="(hard/easy)^k", line=dict(color="#444", width=2)))
    colors = k_colors(list(chosen))
    for k, r in chosen.items():
        fig.add_trace(go.Scatter(x=[k], y=[r], mode="markers+text", name=f"k = {format_k(k)}", text=[times(r)],
                                 textposition="top left", textfont=dict(color=colors[k]),
                                 marker=dict(size=13, color=colors[k], line=dict(color="black", width=1))))
    # y spans the marked k and the references (and ratio 1, at k -> 0), not the whole curve up to k = 16:
    # the curve leaves through the top, and close reference lines keep room for their labels
    values = [1.0, float(np.min(ratios))] + list(chosen.values()) + list(references.values())
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    lo, hi = math.log10(min(positive)), math.log10(max(positive))
    pad = 0.06 * max(hi - lo, 1.0)
    y_range = [lo - pad, hi + 3 * pad]  # room above for the top label
    refs = [(name, r) for name, r in references.items() if r > 0 and math.isfinite(r)]
    heights = _label_heights([math.log10(r) for _, r in refs], y_range[0] + 0.5 * pad, y_range[1] - 1.5 * pad,
                             gap=0.085 * (y_range[1] - y_range[0]))
    for i, ((name, r), y) in enumerate(zip(refs, heights)):
        color = reference_color(name)
        fig.add_hline(y=r, line=dict(dash=REFERENCE_DASH[i % len(REFERENCE_DASH)], width=2, color=color))
        fig.add_annotation(x=1, xref="x domain", xanchor="right", y=y, yref="y", yanchor="bottom", showarrow=False,
                           text=f"{name}: {times(r)}", font=dict(color=color, size=FONT_SIZE),
                           bgcolor="rgba(255,255,255,0.8)")
    layout(fig, "Hard against easy: weight ratio", "k", "weight ratio hard / easy (×)",
           subtitle=f"hard example |ε_y| = {hard:g}, easy one {easy:g}", height=400)
    k_axis(fig)
    fig.update_yaxes(type="log", exponentformat="power", range=y_range)
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
    layout(fig, "Update vector f of one example", "class j", "f_j (negative: raise this logit)")
    fig.update_layout(barmode="group")
    fig.update_xaxes(dtick=1)
    return fig
