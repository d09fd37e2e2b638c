"""Plotly figures for the Label-noise page: plain functions, tables in, figure out (testable without a browser).

Inputs are the tables of core.noise: `curves(results)` (per-epoch means over seeds), `summarize(results)`
(final epoch, mean and std over seeds) and `summarize_toy(results)`. The k family is colored by k as on
every page (app.plots.k_colors); the other objectives get fixed colors and dashed lines.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from app.plots import _layout, k_colors

OTHER_COLORS = {  # objective name (core.losses) -> color, for everything outside the k family
    "gce": "#2ca02c", "sce": "#17becf", "nce_rce": "#8c564b", "focal": "#e377c2", "mae": "#7f7f7f",
    "unhinged": "#000000",
}


def _style(method: str, k: float) -> dict:
    """Line style of one method: k family (incl. 'ce' = k=1) solid in its k color, the others dashed."""
    if k is not None and not (isinstance(k, float) and math.isnan(k)):
        return dict(color=k_colors([float(k)])[float(k)], width=2.5, dash="solid")
    name = method.split(":")[0]
    return dict(color=OTHER_COLORS.get(name, "#444"), width=2, dash="dash")


def _series(frame: pd.DataFrame):
    """(name, part, style) per method (and lr / weight decay when one method has several), in table order."""
    keys = ["method", "lr", "weight_decay"] if {"lr", "weight_decay"} <= set(frame.columns) else ["method"]
    several = frame.groupby("method")[keys[1:]].nunique().gt(1).any(axis=1) if len(keys) > 1 else {}
    for key, part in frame.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        first = part.iloc[0]
        name = str(first["objective"])
        if len(keys) > 1 and several.get(key[0], False):
            name += f" lr={first['lr']:g}"
        yield name, part, _style(str(first["method"]), first.get("k"))


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
    _layout(fig, title or f"Clean test accuracy while training on {rate:.0%} noisy labels", "epoch",
            "test accuracy (%)", height=400)
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
    _layout(fig, f"Memorization at {rate:.0%} noise: what the network fits on its training set (last epoch: big dot)",
            "accuracy on the noisy training labels (%)", "accuracy on the true training labels (%)", height=420)
    return fig


def memorized_curves(curves: pd.DataFrame, rate: float) -> go.Figure:
    """Among flipped training examples: the share predicted as the noisy label, against epoch."""
    fig = go.Figure()
    part = curves[curves["rate"] == rate]
    for name, line, style in _series(part):
        line = line.sort_values("epoch")
        fig.add_trace(go.Scatter(x=line["epoch"], y=100 * line["memorized"], name=name, mode="lines+markers",
                                 line=style, hovertemplate=f"{name}<br>epoch %{{x}}<br>memorized %{{y:.1f}}%<extra></extra>"))
    _layout(fig, "Flipped examples memorized (predicted as their wrong label)", "epoch",
            "memorized (% of flipped examples)", height=400)
    fig.update_xaxes(dtick=1 if part["epoch"].nunique() <= 20 else None)
    return fig


def accuracy_vs_rate(table: pd.DataFrame, metric: str = "test_acc", y_title: str = "test accuracy (%)",
                     title: str = "Clean test accuracy against the noise rate") -> go.Figure:
    """Final `metric` (mean ± std over seeds, in %) against the noise rate, one line per method."""
    fig = go.Figure()
    for name, line, style in _series(table):
        line = line.sort_values("rate")
        fig.add_trace(go.Scatter(
            x=100 * line["rate"], y=100 * line[f"{metric}_mean"], name=name, mode="lines+markers", line=style,
            error_y=dict(type="data", array=(100 * line[f"{metric}_std"]).fillna(0), visible=True, thickness=1),
            hovertemplate=f"{name}<br>noise %{{x:.0f}}%<br>%{{y:.2f}}%<extra></extra>"))
    _layout(fig, title, "noise rate (% of training labels flipped)", y_title, height=400)
    return fig


def final_bars(table: pd.DataFrame, rate: float) -> go.Figure:
    """Final clean test accuracy per method at one rate: bars with the std over seeds."""
    part = table[table["rate"] == rate]
    names, colors = [], []
    for name, line, style in _series(part):
        names.append(name)
        colors.append(style["color"])
    fig = go.Figure(go.Bar(
        x=names, y=100 * part["test_acc_mean"], marker_color=colors,
        error_y=dict(type="data", array=(100 * part["test_acc_std"]).fillna(0), visible=True),
        text=[f"{v:.1f}" for v in 100 * part["test_acc_mean"]], textposition="outside"))
    _layout(fig, f"Final clean test accuracy at {rate:.0%} noise (mean ± std over seeds)", "", "test accuracy (%)",
            height=380)
    low = float((100 * part["test_acc_mean"]).min()) if len(part) else 0
    fig.update_yaxes(range=[max(0, low - 10), 100])
    return fig


def toy_error_vs_k(table: pd.DataFrame) -> go.Figure:
    """Toy: test error (%) against k (log axis), one line per noise rate (mean ± std over runs)."""
    fig = go.Figure()
    rates = sorted(table["rate"].unique())
    for i, rate in enumerate(rates):
        part = table[table["rate"] == rate].sort_values("k")
        shade = 0.15 + 0.75 * i / max(1, len(rates) - 1)
        fig.add_trace(go.Scatter(
            x=part["k"], y=100 * part["test_error_mean"], name=f"noise {rate:.0%}", mode="lines+markers",
            error_y=dict(type="data", array=(100 * part["test_error_std"]).fillna(0), visible=True, thickness=1),
            line=dict(color=f"rgba(40, 40, 160, {shade:.2f})", width=2),
            marker=dict(size=9, color=[k_colors([k])[k] for k in part["k"]], line=dict(color="black", width=1))))
    _layout(fig, "Toy: test error against k, per label-noise rate", "k (log scale)", "test error (%)", height=400)
    ticks = [2.0**e for e in range(-6, 5)]
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[f"1/{int(1 / t)}" if t < 1 else f"{t:g}" for t in ticks])
    return fig
