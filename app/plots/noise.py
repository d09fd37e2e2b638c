"""Label-noise figures: clean accuracy while training, the memorization view, final bars, accuracy
against the noise rate and the toy's error against k (inputs: core.noise tables).
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from app.plots.style import FONT_SIZE, fitted_k_axis, fitted_range, k_colors, layout, reference_color
from core.curves import format_k


# Inputs are the tables of core.noise: `curves(results)` (per-epoch means over seeds), `summarize(results)`
# (final epoch, mean and std over seeds) and `summarize_toy(results)`. The k family is colored by k as on
# every page; the other objectives get their REFERENCE_COLORS and dashed lines.


def _has_k(k) -> bool:
    return k is not None and not (isinstance(k, float) and math.isnan(k))


def _style(method: str, k: float, colors: dict[float, str]) -> dict:
    """Line style of one method: k family (incl. 'ce' = k=1) solid in its k color, the others dashed."""
    if _has_k(k):
        return dict(color=colors[float(k)], width=3, dash="solid")
    return dict(color=reference_color(method), width=2.5, dash="dash")


def objective_name(objective: str, k) -> str:
    """An objective's label with k written as on every page: 'k = 0.25' -> 'k = 1/4'."""
    return f"k = {format_k(float(k))}" if _has_k(k) and str(objective).startswith("k =") else str(objective)


def _series(frame: pd.DataFrame):
    """(name, part, style) per method (and lr / weight decay when one method has several), in table order."""
    keys = ["method", "lr", "weight_decay"] if {"lr", "weight_decay"} <= set(frame.columns) else ["method"]
    several = frame.groupby("method")[keys[1:]].nunique().gt(1).any(axis=1) if len(keys) > 1 else {}
    colors = k_colors([float(k) for k in frame["k"] if _has_k(k)]) if "k" in frame else {}
    for key, part in frame.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        first = part.iloc[0]
        name = objective_name(first["objective"], first.get("k"))
        if len(keys) > 1 and several.get(key[0], False):
            name += f" lr={first['lr']:g}"
        yield name, part, _style(str(first["method"]), first.get("k"), colors)


def accuracy_curves(curves: pd.DataFrame, rate: float, title: str | None = None) -> go.Figure:
    """Clean test accuracy (%) against epoch, one line per method (mean over seeds, ± std band as error bars)."""
    fig = go.Figure()
    part = curves[curves["rate"] == rate]
    for name, line, style in _series(part):
        line = line.sort_values("epoch")
        fig.add_trace(go.Scatter(
            x=line["epoch"], y=100 * line["test_acc"], name=name, mode="lines+markers", line=style,
            error_y=dict(type="data", array=(100 * line["test_acc_std"]).fillna(0), visible=True, thickness=1),
            hovertemplate=f"{name}<br>epoch %{{x}}<br>test accuracy %{{y:.2f}}%<extra></extra>"))
    layout(fig, title or "Clean test accuracy while training", "epoch", "test accuracy (%)",
           subtitle=f"{rate:.0%} of training labels flipped; mean ± std over seeds", height=380)
    fig.update_xaxes(dtick=1 if part["epoch"].nunique() <= 20 else None)
    return fig


def memorization(curves: pd.DataFrame, rate: float) -> go.Figure:
    """Fit to the noisy training labels (x) against fit to the true ones (y), one path per method over epochs.

    A model that learns the true rule and ignores the flips moves up (true ≈ 100%, noisy ≈ 1 − rate); one
    that memorizes the flips moves right and then down toward the diagonal (noisy → 100%).
    """
    fig = go.Figure()
    part = curves[curves["rate"] == rate]
    ideal_x = 100 * (1 - rate)
    fig.add_trace(go.Scatter(x=[0, 100], y=[0, 100], mode="lines", name="memorizes every flip (y = x)",
                             line=dict(color="#bbb", dash="dot", width=1), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[ideal_x], y=[100], mode="markers", name="ignores every flip",
                             marker=dict(symbol="star", size=14, color="gold", line=dict(color="black", width=1))))
    for name, line, style in _series(part):
        line = line.sort_values("epoch")
        fig.add_trace(go.Scatter(
            x=100 * line["train_acc_noisy"], y=100 * line["train_acc_true"], name=name, mode="lines+markers",
            line=style, marker=dict(size=[5] * (len(line) - 1) + [11]), text=line["epoch"],
            hovertemplate=f"{name}<br>epoch %{{text}}<br>fit to noisy labels %{{x:.1f}}%<br>"
                          f"fit to true labels %{{y:.1f}}%<extra></extra>"))
    layout(fig, f"Memorization at {rate:.0%} noise", "fit to noisy training labels (%)",
           "fit to true training labels (%)", subtitle="each method's path over epochs; big dot: the last epoch",
           height=420)
    xs = [*(100 * part["train_acc_noisy"]), ideal_x]
    ys = [*(100 * part["train_acc_true"]), 100.0]
    fig.update_xaxes(range=fitted_range(xs, pad=0.12))  # the data and the star, not the whole diagonal
    fig.update_yaxes(range=fitted_range(ys, pad=0.12))
    return fig


def memorized_curves(curves: pd.DataFrame, rate: float) -> go.Figure:
    """Among flipped training examples: the share predicted as the noisy label, against epoch."""
    fig = go.Figure()
    part = curves[curves["rate"] == rate]
    for name, line, style in _series(part):
        line = line.sort_values("epoch")
        fig.add_trace(go.Scatter(x=line["epoch"], y=100 * line["memorized"], name=name, mode="lines+markers",
                                 line=style, hovertemplate=f"{name}<br>epoch %{{x}}<br>memorized %{{y:.1f}}%<extra></extra>"))
    layout(fig, "Flipped examples memorized", "epoch", "memorized (% of flipped examples)",
           subtitle="flipped training examples predicted as their wrong label", height=380)
    fig.update_xaxes(dtick=1 if part["epoch"].nunique() <= 20 else None)
    return fig


def accuracy_vs_rate(table: pd.DataFrame, metric: str = "test_acc", y_title: str = "test accuracy (%)",
                     title: str = "Test accuracy against the noise rate") -> go.Figure:
    """Final `metric` (mean ± std over seeds, in %) against the noise rate, one line per method."""
    fig = go.Figure()
    for name, line, style in _series(table):
        line = line.sort_values("rate")
        fig.add_trace(go.Scatter(
            x=100 * line["rate"], y=100 * line[f"{metric}_mean"], name=name, mode="lines+markers", line=style,
            error_y=dict(type="data", array=(100 * line[f"{metric}_std"]).fillna(0), visible=True, thickness=1),
            hovertemplate=f"{name}<br>noise %{{x:.0f}}%<br>%{{y:.2f}}%<extra></extra>"))
    layout(fig, title, "noise rate (% of training labels flipped)", y_title, subtitle="mean ± std over seeds",
           height=380)
    return fig


def final_bars(table: pd.DataFrame, rate: float, title: str | None = None) -> go.Figure:
    """Final clean test accuracy per method at one rate: horizontal bars from 0 (long method names stay
    readable on a phone), the std over seeds as error bars, the value written inside each bar."""
    part = table[table["rate"] == rate]
    names, colors = [], []
    for name, line, style in _series(part):
        names.append(name)
        colors.append(style["color"])
    acc = 100 * part["test_acc_mean"]
    fig = go.Figure(go.Bar(
        y=names, x=acc, orientation="h", marker_color=colors,
        error_x=dict(type="data", array=(100 * part["test_acc_std"]).fillna(0), visible=True, color="#444"),
        text=[f"{v:.1f}" for v in acc], textposition="inside", insidetextanchor="start",
        textfont=dict(color="white", size=FONT_SIZE), hovertemplate="%{y}: %{x:.1f}%<extra></extra>"))
    layout(fig, title or f"Final clean test accuracy at {rate:.0%} noise", "test accuracy (%)", "",
           subtitle="mean ± std over seeds", height=max(300, 120 + 34 * len(names)), legend="none")
    fig.update_xaxes(range=[0, 100])  # bars start at 0
    fig.update_yaxes(autorange="reversed")  # in table order, top to bottom
    return fig


def toy_error_vs_k(table: pd.DataFrame) -> go.Figure:
    """Toy: test error (%) against k (log axis), one line per noise rate (mean ± std over runs).

    Each rate has its own grey, dash and marker shape (darker: more noise); the markers are filled with
    their k's colour.
    """
    fig = go.Figure()
    rates = sorted(table["rate"].unique())
    colors = k_colors(table["k"])
    dashes, symbols = ("solid", "dash", "dot", "dashdot", "longdash"), ("circle", "square", "diamond", "triangle-up",
                                                                       "pentagon")
    for i, rate in enumerate(rates):
        part = table[table["rate"] == rate].sort_values("k")
        level = int(170 - 140 * i / max(1, len(rates) - 1))
        grey = f"rgb({level}, {level}, {level})"
        name, symbol = f"noise {rate:.0%}", symbols[i % len(symbols)]
        y = 100 * part["test_error_mean"]
        fig.add_trace(go.Scatter(
            x=part["k"], y=y, name=name, mode="lines+markers", legendgroup=name,
            error_y=dict(type="data", array=(100 * part["test_error_std"]).fillna(0), visible=True, thickness=1,
                         color=grey),
            line=dict(color=grey, width=2.5, dash=dashes[i % len(dashes)]), marker=dict(size=12, symbol=symbol,
                                                                                       color=grey)))
        fig.add_trace(go.Scatter(
            x=part["k"], y=y, mode="markers", legendgroup=name, showlegend=False, name=name,
            text=[f"k = {format_k(float(k))}" for k in part["k"]],
            hovertemplate=f"{name}<br>%{{text}}<br>test error %{{y:.2f}}%<extra></extra>",
            marker=dict(size=11, symbol=symbol, color=[colors[float(k)] for k in part["k"]],
                        line=dict(color="black", width=1))))
    layout(fig, "Toy: test error against k", "k (log scale)", "test error (%)",
           subtitle="one line per label-noise rate; mean ± std over runs", height=380)
    return fitted_k_axis(fig, table["k"])
