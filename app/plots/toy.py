"""Toy-experiment figures: the distribution D with each k's threshold, its animation over epochs, training
traces, and per-k results against k with the population limit (inputs from core.toy).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.plots.style import fitted_k_axis, fitted_range, k_colors, layout
from core.curves import format_k


def _toy_background(fig: go.Figure, alpha: float, x_range: tuple[float, float] = (-1.02, 1.02)) -> None:
    """D's bands (label −1 on [−1, 0) and (α, 1], +1 on [0, α]), their labels inside `x_range`,
    and the best threshold t = 0."""
    lo, hi = x_range
    band = dict(y0=0, y1=1, line_width=0, layer="below")
    fig.add_shape(type="rect", x0=-1, x1=0, fillcolor="#9ecae1", opacity=0.55, **band)
    fig.add_shape(type="rect", x0=0, x1=alpha, fillcolor="#fdae6b", opacity=0.55, **band)
    fig.add_shape(type="rect", x0=alpha, x1=1, fillcolor="#9ecae1", opacity=0.55, **band)
    labels = ((max(lo, -1) / 2, "label −1"), (min(hi, alpha) / 2, "label +1"), ((alpha + 1) / 2, "−1"))
    for x, text in labels:
        if lo < x < hi:
            fig.add_annotation(x=x, y=0.97, text=text, showarrow=False, font=dict(size=13), yanchor="top")
    if lo < (alpha + 1) / 2 < hi:
        fig.add_annotation(x=(alpha + 1) / 2, y=0.12, text="unlearnable<br>by a threshold<br>near 0", showarrow=False,
                           font=dict(size=10, color="#444"))
    fig.add_vline(x=0, line=dict(color="black", width=2, dash="dash"))
    fig.add_annotation(x=0, y=1.08, text="best threshold t = 0", showarrow=False, yref="y")


def _toy_subtitle(alpha: float, label_noise: float) -> str:
    title = f"x uniform on [−1, 1], label +1 on [0, {alpha:g}]"
    return title + (f", {label_noise:.0%} of training labels flipped" if label_noise else "")


def _rows(ks) -> dict[float, float]:
    """The height of each k's row on the picture of D (small k on top, as in the legend order)."""
    ks = sorted(ks)
    return {k: 0.85 - 0.65 * j / max(1, len(ks) - 1) for j, k in enumerate(ks)}


def toy_distribution(alpha: float, thresholds: pd.DataFrame | None = None, label_noise: float = 0.0) -> go.Figure:
    """The distribution D on [-1, 1]: where the labels are, the best threshold, the unlearnable points.

    `thresholds` (columns k, threshold) draws the current/learned threshold of each model.
    """
    fig = go.Figure()
    _toy_background(fig, alpha)
    if thresholds is not None and len(thresholds):
        ks = sorted(thresholds["k"].unique())
        colors, rows = k_colors(ks), _rows(ks)
        for k in ks:
            t = thresholds.loc[thresholds["k"] == k, "threshold"].to_numpy()
            y = rows[k] + np.linspace(-0.02, 0.02, len(t))
            fig.add_trace(go.Scatter(x=t, y=y, mode="markers", name=f"k = {format_k(k)}",
                                     marker=dict(symbol="line-ns-open", size=16, line=dict(width=3), color=colors[k])))
    layout(fig, "The distribution D", "x", "", subtitle=_toy_subtitle(alpha, label_noise), height=260)
    fig.update_yaxes(visible=False, range=[0, 1.15])
    fig.update_xaxes(range=[-1.02, 1.02])
    return fig


def toy_trace(trace: pd.DataFrame, column: str, title: str, y_title: str, subtitle: str | None = None) -> go.Figure:
    """One line per (k, run) of `column` against epoch, colored by k, one legend entry per k."""
    fig = go.Figure()
    ks = sorted(trace["k"].unique())
    colors = k_colors(ks)
    for k in ks:
        for i, (run, part) in enumerate(trace[trace["k"] == k].groupby("run")):
            part = part.sort_values("epoch")
            fig.add_trace(go.Scatter(x=part["epoch"], y=part[column], mode="lines", name=f"k = {format_k(k)}",
                                     legendgroup=f"k{k}", showlegend=i == 0, opacity=0.8,
                                     line=dict(color=colors[k], width=1.5),
                                     hovertemplate=f"k = {format_k(k)} run {run}<br>epoch %{{x}}<br>%{{y:.4g}}<extra></extra>"))
    return layout(fig, title, "epoch", y_title, subtitle=subtitle, height=360)


def toy_vs_k(per_k: pd.DataFrame, metric: str, title: str, y_title: str,
             population: pd.DataFrame | None = None, population_column: str | None = None) -> go.Figure:
    """Mean ± std over runs of a per-k metric against k (log2 axis), with the population-limit curve."""
    fig = go.Figure()
    if population is not None and population_column:
        fig.add_trace(go.Scatter(x=population["k"], y=population[population_column], mode="lines",
                                 name="population limit (n → ∞)", line=dict(color="#888", dash="dot", width=2)))
    colors = k_colors(list(per_k["k"]))
    fig.add_trace(go.Scatter(
        x=per_k["k"], y=per_k[f"{metric}_mean"], mode="markers+lines", name="mean over runs ± std",
        error_y=dict(type="data", array=per_k[f"{metric}_std"].fillna(0), visible=True),
        marker=dict(size=10, color=[colors[k] for k in per_k["k"]], line=dict(color="black", width=1)),
        line=dict(color="black", width=1)))
    layout(fig, title, "k (log scale)", y_title, subtitle="points: mean ± std over runs; dotted: n → ∞ limit"
           if population is not None else "mean ± std over runs", height=360)
    mean, std = per_k[f"{metric}_mean"].to_numpy(float), per_k[f"{metric}_std"].fillna(0).to_numpy(float)
    fig.update_yaxes(range=fitted_range([mean - std, mean + std], pad=0.15))  # the limit curve may leave the frame
    return fitted_k_axis(fig, per_k["k"])


def _zoom(values: np.ndarray) -> tuple[float, float]:
    """An x range around the thresholds (robust to a few wild early values), always showing t = 0."""
    values = values[np.isfinite(values)]
    lo, hi = (np.quantile(values, [0.02, 0.98]) if len(values) else (0.0, 0.1))
    pad = 0.15 * max(hi - lo, 0.02)
    return float(max(-1.02, min(lo - pad, -0.02))), float(min(1.02, max(hi + pad, 0.05)))


def toy_animation(alpha: float, means: pd.DataFrame | None, runs: pd.DataFrame | None = None,
                  limit: pd.DataFrame | None = None, label_noise: float = 0.0, title: str | None = None) -> go.Figure:
    """The thresholds of each k moving on the picture of D over epochs, played in the browser.

    means: epoch, k, threshold (mean over runs), one frame per epoch; runs: epoch, k, run,
    threshold (each run, thin marks); limit: k, threshold (the n → ∞ limit, fixed crosses).
    It opens on the last frame (where training ended); Play runs from the first epoch, Pause and
    the slider scrub, all client-side (Plotly frames): no server round trip per frame. The x axis
    zooms on the thresholds (they move within a few hundredths of 0).
    """
    means = means if means is not None and len(means) else pd.DataFrame(columns=["epoch", "k", "threshold"])
    runs = runs if runs is not None and len(runs) else None
    ks = sorted(set(means["k"]) | (set(limit["k"]) if limit is not None else set()))
    colors, rows = k_colors(ks), _rows(ks)
    values = [d["threshold"].to_numpy(float) for d in (means, runs, limit) if d is not None]
    x_range = _zoom(np.concatenate(values))
    fig = go.Figure()
    _toy_background(fig, alpha, x_range)
    if limit is not None:
        for i, k in enumerate(ks):
            t = limit.loc[limit["k"] == k, "threshold"]
            fig.add_trace(go.Scatter(x=t, y=[rows[k]] * len(t), mode="markers", name="n → ∞ limit",
                                     legendgroup="limit", showlegend=i == 0,
                                     hovertemplate=f"k = {format_k(k)}<br>limit t*=%{{x:.4f}}<extra></extra>",
                                     marker=dict(symbol="x-thin-open", size=14, color=colors[k], line=dict(width=2))))
    epochs, moving, positions = _moving(means, runs, ks, rows, colors)
    n_static = len(fig.data)
    for trace in moving:
        fig.add_trace(trace)
    layout(fig, title or "The distribution D", "x (zoomed on the thresholds)", "", legend="none",
           subtitle=_toy_subtitle(alpha, label_noise) if title is None else ", ".join(
               text for text, shown in (("◆ mean over runs", len(means)), ("| each run", runs is not None),
                                        ("× the n → ∞ limit", limit is not None)) if shown),
           height=300 + 22 * len(ks) + (90 if len(epochs) > 1 else 0))
    fig.update_yaxes(range=[0, 1.15], tickvals=[rows[k] for k in ks], ticktext=[f"k = {format_k(k)}" for k in ks],
                     showgrid=False, zeroline=False)
    fig.update_xaxes(range=list(x_range))
    if len(epochs) > 1:  # a frame sends only the x positions; everything else stays as drawn
        fig.frames = [go.Frame(name=str(e), traces=list(range(n_static, len(fig.data))),
                               data=[dict(type="scatter", x=x[f].tolist()) for x in positions])
                      for f, e in enumerate(epochs)]
        for trace, x in zip(fig.data[n_static:], positions):
            trace.x = x[-1]  # open on the last frame
        _player(fig, epochs)
    return fig


def _moving(means: pd.DataFrame, runs: pd.DataFrame | None, ks: list, rows: dict, colors: dict):
    """(epochs, traces, positions): the traces of every run's threshold (thin marks, if `runs`) and
    of each k's mean (diamonds) at the first epoch, and each trace's x at every epoch, (F, n)."""
    mean = means.pivot(index="epoch", columns="k", values="threshold").reindex(columns=[k for k in ks])
    epochs = [int(e) for e in mean.index]
    traces, positions = [], []
    if runs is not None:
        table = runs.pivot(index="epoch", columns=["k", "run"], values="threshold").reindex(mean.index)
        col_k = [k for k, _ in table.columns]
        rank = pd.Series(col_k).groupby(col_k).cumcount().to_numpy()
        size = pd.Series(col_k).map(pd.Series(col_k).value_counts()).to_numpy()
        y = [rows[k] + (0.06 * r / max(1, n - 1) - 0.03 if n > 1 else 0.0) for k, r, n in zip(col_k, rank, size)]
        traces.append(go.Scatter(
            x=table.to_numpy()[0], y=y, mode="markers", name="each run", opacity=0.6,
            text=[f"k = {format_k(k)} run {r}" for k, r in table.columns],
            hovertemplate="%{text}<br>t=%{x:.4f}<extra></extra>",
            marker=dict(symbol="line-ns-open", size=12, line=dict(width=2), color=[colors[k] for k in col_k])))
        positions.append(table.to_numpy())
    if epochs:
        traces.append(go.Scatter(
            x=mean.to_numpy()[0], y=[rows[k] for k in ks], mode="markers", name="mean over runs",
            text=[f"k = {format_k(k)}" for k in ks], hovertemplate="%{text}<br>mean t=%{x:.4f}<extra></extra>",
            marker=dict(symbol="diamond", size=13, color=[colors[k] for k in ks], line=dict(width=1, color="black"))))
        positions.append(mean.to_numpy())
    return epochs, traces, positions


def _player(fig: go.Figure, epochs: list) -> None:
    """Play/Pause buttons and an epoch slider over the figure's frames (all in the browser)."""
    play = dict(frame=dict(duration=120, redraw=False), transition=dict(duration=0), fromcurrent=False, mode="immediate")
    pause = dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0), mode="immediate")
    fig.update_layout(
        updatemenus=[dict(type="buttons", direction="left", x=0, y=-0.18, xanchor="left", yanchor="top",
                          pad=dict(r=10, t=0), showactive=False,
                          buttons=[dict(label="▶ Play", method="animate", args=[None, play]),
                                   dict(label="❚❚ Pause", method="animate", args=[[None], pause])])],
        sliders=[dict(active=len(epochs) - 1, x=0.16, len=0.84, y=-0.12, yanchor="top", pad=dict(t=0, b=0),
                      currentvalue=dict(prefix="epoch ", visible=True, xanchor="right"),
                      steps=[dict(label=f"{e:,}", method="animate", args=[[str(e)], pause]) for e in epochs])],
        margin=dict(l=80, b=150))
