"""Plotly figure builders for every page: plain functions, data in, figure out (testable without a browser).

Shared look: `k_colors` gives each k its colour on every page (neighbouring k clearly differ, k = 1 is
black), `REFERENCE_COLORS` the other losses theirs, and `_layout` fonts a projector can show (legend 14 px).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.curves import format_k

TEMPLATE = "plotly_white"
REFERENCE_DASH = ("dash", "dot", "dashdot", "longdash", "longdashdot", "dash")
FONT_SIZE = 14  # axis titles, ticks and legends; readable from the back of a room
# k = 2^e -> its colour. Neighbouring powers of two differ in hue and lightness (CIE ΔE ≥ 40), k = 1
# (cross-entropy) is black, k < 1 take cool colours and k > 1 warm ones.
K_PALETTE = {-6: "#5e3c99", -5: "#00838f", -4: "#9c27b0", -3: "#0aa1dd", -2: "#1a9850", -1: "#2c5bd8",
             0: "#111111", 1: "#d7301f", 2: "#f28e2b", 3: "#c51b7d", 4: "#8c510a"}
_K_SPARE = ("#b8860b", "#00a087", "#e7298a", "#666666", "#3f007d", "#b15928", "#4daf4a", "#377eb8")
# Other losses (core.losses / core.curves names): their own colours (and dashed lines) on every page.
REFERENCE_COLORS = {"ce": "#111111", "mae": "#7f7f7f", "gce": "#b8860b", "focal": "#e377c2", "sce": "#17becf",
                    "unhinged": "#6b8e23", "nce_rce": "#8c564b"}


def _lab(color: str) -> np.ndarray:
    """CIE L*a*b* of '#rrggbb' (D65), to tell how different two colours look."""
    rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ lin
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def color_distance(a: str, b: str) -> float:
    """CIE76 ΔE between two '#rrggbb' colours (about 2: just noticeable; above 30: clearly different)."""
    return float(np.linalg.norm(_lab(a) - _lab(b)))


def k_colors(ks) -> dict[float, str]:
    """Each k's colour, the same on every page: a power of two always gets its K_PALETTE colour; any other k
    gets the colour of the nearest free power of two, or a spare one, that differs clearly (ΔE ≥ 25) from
    the colours already given in the figure."""
    ks = sorted({float(k) for k in ks})
    out: dict[float, str] = {}
    for k in ks:
        e = math.log2(k)
        if abs(e - round(e)) < 1e-9 and round(e) in K_PALETTE:
            out[k] = K_PALETTE[round(e)]
    taken = set(out.values())
    for k in ks:
        if k in out:
            continue
        e = math.log2(k)
        nearest = [K_PALETTE[p] for p in sorted(K_PALETTE, key=lambda p: abs(p - e)) if K_PALETTE[p] not in taken]
        candidates = nearest + [c for c in _K_SPARE if c not in taken]
        out[k] = next((c for c in candidates if all(color_distance(c, t) >= 25 for t in taken)),
                      candidates[0] if candidates else "#444444")
        taken.add(out[k])
    return out


def reference_color(name: str) -> str:
    """The colour of a reference loss from its core name ('gce') or its label ('GCE (q=0.7)', 'Cross-entropy')."""
    key = name.split(":")[0].split(" ")[0].split("(")[0].lower().replace("+", "_").replace("-", "")
    key = {"crossentropy": "ce", "cross": "ce"}.get(key, key)
    return REFERENCE_COLORS.get(key, "#444444")


def k_axis(fig: go.Figure, lo: int = -6, hi: int = 4) -> go.Figure:
    """A log2 x axis for k, ticked 1/64 ... 16 as format_k writes k."""
    ticks = [2.0**e for e in range(lo, hi + 1)]
    return fig.update_xaxes(type="log", tickvals=ticks, ticktext=[format_k(t) for t in ticks])


TITLE_CHARS = 44  # a title line that fits a phone (390 px) at 16 px; Plotly does not wrap titles itself


def wrap_title(title: str, width: int = TITLE_CHARS) -> str:
    """The title in lines of at most `width` characters (broken at spaces, joined by <br>)."""
    lines: list[str] = []
    for word in title.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 430, legend: str = "right") -> go.Figure:
    """Shared look. legend="below": a horizontal legend under the chart, so that on a phone the plot keeps
    the whole width; "right": a vertical one beside it."""
    where = (dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left")
             if legend == "below" else dict(orientation="v"))
    fig.update_layout(template=TEMPLATE, title=dict(text=wrap_title(title), font=dict(size=FONT_SIZE + 2),
                                                    automargin=True, yref="paper"),
                      xaxis_title=x, yaxis_title=y, height=height, font=dict(size=FONT_SIZE),
                      legend=dict(font=dict(size=FONT_SIZE), **where), margin=dict(l=60, r=20, t=40, b=50))
    for axis in (fig.update_xaxes, fig.update_yaxes):  # explicit: Streamlit's chart theme sets smaller ones
        axis(tickfont=dict(size=FONT_SIZE - 1), title_font=dict(size=FONT_SIZE))
    return fig


def update_curves(df: pd.DataFrame, log_axes: bool = False) -> go.Figure:
    """|f_y| (and reference losses' |dL/dz_y|) against |eps_y|, from core.curves.curves_frame.

    On log axes the y axis starts at (smallest |ε_y|)², not at the 1e-15 a steep curve reaches there:
    curves with slope above 2 leave through the bottom.
    """
    fig = go.Figure()
    ks = sorted(df.loc[df.family == "k", "k"].unique())
    colors = k_colors(ks)
    for k in ks:
        part = df[(df.family == "k") & (df.k == k)]
        fig.add_trace(go.Scatter(x=part.abs_eps, y=part["size"], name=part.curve.iloc[0], mode="lines",
                                 line=dict(color=colors[k], width=3)))
    for i, (name, part) in enumerate(df[df.family == "reference"].groupby("curve", sort=False)):
        fig.add_trace(go.Scatter(x=part.abs_eps, y=part["size"], name=name, mode="lines",
                                 line=dict(color=reference_color(name), width=2.5,
                                           dash=REFERENCE_DASH[i % len(REFERENCE_DASH)])))
    # taller with more curves: on a phone the legend below takes one row per curve
    _layout(fig, "How hard one example pushes its true-class logit", "|ε_y| = 1 − p_y (prediction error)",
            "|f_y| (true-class update)", height=380 + 16 * len(fig.data), legend="below")
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
                             gap=0.07 * (y_range[1] - y_range[0]))
    for i, ((name, r), y) in enumerate(zip(refs, heights)):
        color = reference_color(name)
        fig.add_hline(y=r, line=dict(dash=REFERENCE_DASH[i % len(REFERENCE_DASH)], width=2, color=color))
        fig.add_annotation(x=1, xref="x domain", xanchor="right", y=y, yref="y", yanchor="bottom", showarrow=False,
                           text=f"{name}: {times(r)}", font=dict(color=color, size=FONT_SIZE),
                           bgcolor="rgba(255,255,255,0.8)")
    _layout(fig, f"How much more a hard example (|ε_y| = {hard:g}) moves the model than an easy one ({easy:g})",
            "k", "weight ratio hard / easy", legend="below")
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
    _layout(fig, "The full update vector f of one example", "class j", "f_j (negative: raise this logit)", legend="below")
    fig.update_layout(barmode="group")
    fig.update_xaxes(dtick=1)
    return fig


# ----------------------------------------------------------------------------- toy experiment

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


def _toy_title(alpha: float, label_noise: float) -> str:
    title = f"The distribution D: x uniform on [−1, 1], label +1 on [0, {alpha:g}]"
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
    _layout(fig, _toy_title(alpha, label_noise), "x", "", height=260)
    fig.update_yaxes(visible=False, range=[0, 1.15])
    fig.update_xaxes(range=[-1.02, 1.02])
    return fig


def toy_trace(trace: pd.DataFrame, column: str, title: str, y_title: str) -> go.Figure:
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
    return _layout(fig, title, "epoch", y_title, height=360)


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
    _layout(fig, title, "k (log scale)", y_title, height=380)
    ticks = [2.0**e for e in range(-6, 5)]
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[format_k(t) for t in ticks])
    return fig


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
    _layout(fig, title or _toy_title(alpha, label_noise), "x (zoomed on the thresholds)", "",
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
        margin=dict(l=80, r=20, t=60, b=150))


# ----------------------------------------------------------------------------- MNIST runs

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
    _layout(fig, title, "epoch", y_title, height=380, legend="below")
    fig.update_xaxes(dtick=1 if len(history) and history["epoch"].max() <= 20 else None)
    return fig


def final_vs_k(runs: pd.DataFrame, column: str, title: str, y_title: str) -> go.Figure:
    """Final metric of each run against k (log2 axis), one marker series per learning rate."""
    fig = go.Figure()
    symbols = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross")
    for i, (lr, part) in enumerate(runs.sort_values("k").groupby("lr", sort=True)):
        fig.add_trace(go.Scatter(x=part["k"], y=part[column] * 100, mode="markers+lines", name=f"lr = {lr:g}",
                                 marker=dict(size=10, symbol=symbols[i % len(symbols)]), line=dict(width=1)))
    _layout(fig, title, "k (log scale)", y_title, height=380, legend="below")
    return k_axis(fig)


# ----------------------------------------------------------------------------- label noise
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
    _layout(fig, title or f"Clean test accuracy while training on {rate:.0%} noisy labels", "epoch",
            "test accuracy (%)", height=400, legend="below")
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
            "accuracy on the noisy training labels (%)", "accuracy on the true training labels (%)", height=420, legend="below")
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
            "memorized (% of flipped examples)", height=400, legend="below")
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
    _layout(fig, title, "noise rate (% of training labels flipped)", y_title, height=400, legend="below")
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
    _layout(fig, title or f"Final clean test accuracy at {rate:.0%} noise (mean ± std over seeds)",
            "test accuracy (%)", "", height=140 + 34 * len(names), legend="below")
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
    _layout(fig, "Toy: test error against k, per label-noise rate", "k (log scale)", "test error (%)", height=400,
            legend="below")
    return k_axis(fig)


# ----------------------------------------------------------------------------- playground
# Input: core.playground.PlaygroundResult. One animated figure: a panel per k (p(red) of that network as a
# background picture with its 50% boundary drawn in, the training points sized by how hard they push that
# network) above the accuracy curves. Everything the animation needs travels in Plotly frames, so playing it
# costs no server round trip. Why pictures and not contour/heatmap traces: with scatter traces in the same
# frames, plotly.js redraws only the scatter traces while playing and contours/heatmaps vanish until the last
# frame (plotly.js#4491, plotly.py#5256); WebGL scatter avoids that but costs ~3x per frame in a browser
# without a GPU. A layout image per panel updates on the fast path (redraw=False): ~90 ms per frame there.

CLASS_COLORS = ("#2166ac", "#b2182b")  # class 0 blue, class 1 red (markers)
FIELD_ENDS = ((0x7f, 0xb2, 0xe0), (0xf7, 0xf7, 0xf7), (0xec, 0x8a, 0x8a))  # p(red) 0, 1/2, 1: light blue, white, light red
POINT_SYMBOLS = {"clean": 0, "flipped": 4, "outlier": 2}  # plotly's symbol numbers: circle, x, diamond
FIELD_LEVELS = 200  # palette entries 0..199: p(red); 200..255: the boundary line, white to black


def _field_palette() -> list[int]:
    t = np.linspace(0, 1, FIELD_LEVELS)[:, None]
    lo, mid, hi = (np.array(c, dtype=float) for c in FIELD_ENDS)
    field = np.where(t < 0.5, lo + (mid - lo) * 2 * t, mid + (hi - mid) * (2 * t - 1))
    line = np.linspace(mid, (20, 20, 20), 256 - FIELD_LEVELS)
    return np.concatenate([field, line]).round().astype(np.uint8).ravel().tolist()


_PALETTE = _field_palette()


def field_image(prob: np.ndarray, scale: float = 1.5) -> str:
    """p(red) on a grid (rows bottom first, as core.playground's prob) as a PNG data URI, `scale` times finer.

    The 50% boundary is drawn as a line about 2 pixels wide whatever the slope of p, from the distance to
    the 1/2 level, |p - 1/2| / |grad p| (in pixels), so a sharp and a gentle boundary both show as a line.
    """
    import base64
    import io

    from PIL import Image

    size = (round(scale * prob.shape[1]), round(scale * prob.shape[0]))  # (width, height)
    p = np.asarray(Image.fromarray(prob[::-1].astype(np.float32), mode="F").resize(size, Image.BILINEAR))
    gy, gx = np.gradient(p)
    alpha = np.clip(1.5 - np.abs(p - 0.5) / (np.hypot(gx, gy) + 1e-9), 0, 1)  # 1 on the line, 0 beyond 1.5 px
    index = np.where(alpha > 0, FIELD_LEVELS + np.round(alpha * (255 - FIELD_LEVELS)),
                     np.round(np.clip(p, 0, 1) * (FIELD_LEVELS - 1)))
    image = Image.fromarray(index.astype(np.uint8), mode="P")
    image.putpalette(_PALETTE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def push_sizes(push: np.ndarray) -> np.ndarray:
    """Marker sizes (px, uint8) from |f_y| (..., N): a point's share of its model's update, as marker size.

    A point pushing as hard as its panel's average point gets 7 px, 4x the average 12 px, capped at 30 px.
    At step 0 every point has the same |f_y|, so every marker is 7 px.
    """
    rel = push / np.maximum(push.mean(-1, keepdims=True), 1e-12)
    return np.clip(2 + 5 * np.sqrt(rel), 3, 30).round().astype(np.uint8)


def _k_title(k: float) -> str:
    from core.curves import format_k  # (imported here so this section stands on its own)

    return f"k = {format_k(k)}" + (" (cross-entropy)" if k == 1 else "")


def _legend_keys(ds) -> list[go.Scatter]:
    """Legend-only entries explaining the panels' markers (the panels' own traces stay out of the legend)."""
    keys = [("label red", "circle", CLASS_COLORS[1]), ("label blue", "circle", CLASS_COLORS[0])]
    keys += [("label flipped", "x", "#444")] if ds.flipped.any() else []
    keys += [("outlier (far away, wrong label)", "diamond", "#444")] if ds.outlier.any() else []
    return [go.Scatter(x=[None], y=[None], mode="markers", name=name, legendgroup="points",
                       marker=dict(symbol=symbol, color=color, size=12)) for name, symbol, color in keys]


def _typed(a: np.ndarray) -> dict:
    """plotly.js's typed-array form {dtype, bdata, shape}: base64 bytes instead of a JSON list of numbers."""
    import base64

    a = np.ascontiguousarray(a)
    short = {"uint8": "u1", "int32": "i4", "float32": "f4", "float64": "f8"}[str(a.dtype)]
    return {"dtype": short, "bdata": base64.b64encode(a.tobytes()).decode("ascii"),
            "shape": ",".join(map(str, a.shape))}


def _points(result, m: int, sizes: np.ndarray) -> go.Scatter:
    """Panel m's training points at snapshot 0: colour = label seen in training, symbol = kind, size = push."""
    ds = result.dataset
    kind = np.where(ds.outlier, "outlier", np.where(ds.flipped, "flipped", "clean"))
    return go.Scatter(
        x=ds.x_train[:, 0], y=ds.x_train[:, 1], mode="markers", showlegend=False, text=kind,
        marker=dict(size=sizes[0, m], symbol=np.array([POINT_SYMBOLS[t] for t in kind], dtype=np.uint8),
                    color=ds.y_train.astype(np.uint8), cmin=0, cmax=1,
                    colorscale=[[0, CLASS_COLORS[0]], [1, CLASS_COLORS[1]]], line=dict(color="white", width=0.8)),
        hovertemplate="%{text} point<extra></extra>")


def _accuracy_traces(result, colors: dict[float, str]) -> list[go.Scatter]:
    """Test (solid) and train (dotted) accuracy per k at snapshot 0 (the frames extend them)."""
    traces = []
    for m, k in enumerate(result.config.ks):
        for what, acc, dash in (("test", result.test_acc, "solid"), ("train", result.train_acc, "dot")):
            traces.append(go.Scatter(
                x=result.steps[:1], y=np.round(100 * acc[:1, m], 1), mode="lines", name=f"{_k_title(k)}, {what}",
                legendgroup=f"acc{m}", line=dict(color=colors[k], width=4 if what == "test" else 2.5, dash=dash),
                hovertemplate=f"{_k_title(k)}<br>step %{{x}}<br>{what} accuracy %{{y}}%<extra></extra>"))
    return traces


def _frame(result, frame: int, sizes: np.ndarray, name: str, traces: list[int]) -> dict:
    """One Plotly frame as a plain dict: only what changes (pictures, marker sizes, the curves so far)."""
    ks = range(len(result.config.ks))
    data = [{"type": "scatter", "marker": {"size": _typed(sizes[frame, m])}} for m in ks]
    steps = _typed(result.steps[: frame + 1].astype(np.int32))
    for m in ks:
        data += [{"type": "scatter", "x": steps, "y": _typed(np.round(100 * acc[: frame + 1, m], 1))}
                 for acc in (result.test_acc, result.train_acc)]
    images = [{"source": field_image(result.prob[frame, m])} for m in ks]  # merged into layout.images[m]
    return {"name": name, "data": data, "traces": traces, "layout": {"images": images}}


def _animation_controls(names: list[str], frame_ms: int) -> dict:
    """Play / Pause buttons and a step slider, all client-side (Plotly.animate, fast path: no full redraw)."""
    play = dict(frame=dict(duration=frame_ms, redraw=False), fromcurrent=True, transition=dict(duration=0),
                mode="immediate")
    still = dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0), mode="immediate")
    return dict(
        updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0, y=1.0, xanchor="left",
                          yanchor="bottom", pad=dict(t=0, b=86), font=dict(size=16),
                          buttons=[dict(label="▶ Play", method="animate", args=[None, play]),
                                   dict(label="❚❚ Pause", method="animate", args=[[None], still])])],
        sliders=[dict(active=0, x=0, len=1, y=1.0, yanchor="bottom", pad=dict(t=0, b=34),
                      currentvalue=dict(prefix="step ", xanchor="right", font=dict(size=16, color="#222")),
                      font=dict(color="rgba(0,0,0,0)"), ticklen=4,  # 40 tick labels would be a blur
                      steps=[dict(label=n, method="animate", args=[[n], still]) for n in names])])


def _field_key(fig: go.Figure, y: float) -> None:
    """A colour strip explaining the panels' backgrounds, centred at paper height y."""
    strip = field_image(np.tile(np.linspace(0, 1, 128, dtype=np.float32), (4, 1)), scale=1)
    fig.add_layout_image(source=strip, xref="paper", yref="paper", x=0.3, y=y, sizex=0.4, sizey=0.018,
                         xanchor="left", yanchor="middle", sizing="stretch", layer="above")
    for x, text, anchor in ((0.3, "blue (p(red) = 0)  ", "right"), (0.7, "  red (p(red) = 1)", "left")):
        fig.add_annotation(x=x, y=y, xref="paper", yref="paper", text=text, showarrow=False, xanchor=anchor,
                           font=dict(size=14))
    fig.add_annotation(x=0.5, y=y, yshift=18, xref="paper", yref="paper", showarrow=False, font=dict(size=14),
                       text="background: what each network predicts there; black line: its boundary (p = 50%)")


def playground_animation(result, per_row: int | None = None, frame_ms: int = 90) -> go.Figure:
    """The playground's animated figure: one panel per k (up to `per_row` side by side), accuracy below.

    Panel m shows p(red) of model m as its background (the black line is its 50% decision boundary) and the
    training points: colour = the label training sees, × = label flipped, ◆ = outlier, marker size = the
    point's share of that model's update (|f_y| relative to the panel's mean). Frames hold the snapshots.
    """
    from plotly.subplots import make_subplots

    ks = list(result.config.ks)
    per_row = max(1, min(per_row or len(ks), len(ks)))
    rows = -(-len(ks) // per_row)
    colors = k_colors(ks)
    titles = [f"<b>{_k_title(k)}</b>" for k in ks] + [""] * (rows * per_row - len(ks)) + [""]
    specs = [[{} for _ in range(per_row)] for _ in range(rows)] + [[{"colspan": per_row}] + [None] * (per_row - 1)]
    fig = make_subplots(rows=rows + 1, cols=per_row, specs=specs, subplot_titles=titles, horizontal_spacing=0.02,
                        row_heights=[1.0] * rows + [0.6], vertical_spacing=0.16 / rows, figure=AnimatedFigure())
    sizes = push_sizes(result.push)  # (F, K, N)
    x0, x1, y0, y1 = result.dataset.bounds
    for m, k in enumerate(ks):
        r, c = 1 + m // per_row, 1 + m % per_row
        fig.add_trace(_points(result, m, sizes), row=r, col=c)
        fig.update_xaxes(range=[x0, x1], showticklabels=False, showgrid=False, zeroline=False, row=r, col=c)
        fig.update_yaxes(range=[y0, y1], showticklabels=False, showgrid=False, zeroline=False, constrain="domain",
                         scaleanchor="x" if m == 0 else f"x{m + 1}", row=r, col=c)
        fig.add_layout_image(source=field_image(result.prob[0, m]), x=x0, y=y1, sizex=x1 - x0, sizey=y1 - y0,
                             xanchor="left", yanchor="top", sizing="stretch", layer="below", row=r, col=c)
        fig.layout.annotations[m].font = dict(size=21, color=colors[k])
    animated = list(range(len(fig.data)))
    fig.add_traces(_accuracy_traces(result, colors), rows=rows + 1, cols=1)
    animated += list(range(animated[-1] + 1, len(fig.data)))
    fig.add_traces(_legend_keys(result.dataset), rows=rows + 1, cols=1)
    axis_fonts = dict(title_font=dict(size=16), tickfont=dict(size=14))
    fig.update_xaxes(title_text="training step", range=[0, int(result.steps[-1])], row=rows + 1, col=1, **axis_fonts)
    low = float(min(result.train_acc.min(), result.test_acc.min()))
    fig.update_yaxes(title_text="accuracy (%)", range=[max(0.0, 100 * low - 5), 102], row=rows + 1, col=1,
                     **axis_fonts)
    top = fig.get_subplot(rows + 1, 1).yaxis.domain[1]  # the colour key sits between the panels and the curves
    _field_key(fig, top + 0.45 * (fig.get_subplot(rows, 1).yaxis.domain[0] - top))
    names = [str(int(s)) for s in result.steps]
    fig.update_layout(template=TEMPLATE, height=210 + 420 * rows + 320, font=dict(size=15),
                      margin=dict(l=10, r=10, t=150, b=20), legend=dict(orientation="h", y=-0.1, font=dict(size=15)))
    fig.set_raw(frames=[_frame(result, f, sizes, name, animated) for f, name in enumerate(names)],
                layout=_animation_controls(names, frame_ms))
    return fig


class AnimatedFigure(go.Figure):
    """A go.Figure whose animation frames (and slider/buttons) stay plain dicts, merged in by to_dict() (and
    so by to_json, to_html and st.plotly_chart). Turning ~500 frame traces and 40 slider steps into
    plotly.graph_objects costs 0.4-1 s (validation and deep copies), as long as training the models; these
    dicts are built here from known keys.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._raw_frames: list[dict] = []
        self._raw_layout: dict = {}

    def set_raw(self, frames: list[dict], layout: dict) -> None:
        """Frames as plotly.js expects them ({"name", "data": partial traces, "traces": their indices,
        "layout"}) and layout keys added as they are (updatemenus, sliders)."""
        self._raw_frames, self._raw_layout = frames, layout

    def to_dict(self) -> dict:
        spec = super().to_dict()
        spec["frames"] = self._raw_frames
        spec["layout"].update(self._raw_layout)
        return spec

    def to_plotly_json(self) -> dict:
        return self.to_dict()


# ----------------------------------------------------------------------------- paper tables (core.study)
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
        return _layout(fig, "Selected k against depth (no finished cell)", "hidden layers", "selected k")
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
    _layout(fig, "Selected k against depth", "hidden layers (bars: range of the seeds' choices; ◇ the paper)",
            "selected k (log scale)", height=440)
    depths = sorted(table["layers"].unique())
    fig.update_xaxes(tickvals=depths, range=[depths[0] - 0.6, depths[-1] + 0.6])
    ks = pd.concat([table["selected_k"], per_seed.get("selected_k", pd.Series(dtype=float)),
                    table.get("paper_selected_k", pd.Series(dtype=float))]).dropna()
    _k_axis(fig, range=[math.log10(min(ks.min(), 1.0) / 1.5), math.log10(max(ks.max(), 1.0) * 1.5)])
    fig.add_hline(y=1, line=dict(color="#999", dash="dash", width=1))
    return fig


def study_surface(surface: pd.DataFrame, title: str, selected: tuple[float, float] | None = None,
                  baseline: tuple[float, float] | None = None) -> go.Figure:
    """Mean validation error (%) over seeds for every (k, lr) of one cell as a heatmap (cells where a
    seed diverged or ended at chance are marked ×); `selected` and `baseline` (k, lr) are circled."""
    grid = surface.pivot_table(index="k", columns="lr", values="val_error", aggfunc="first").sort_index()
    bad = surface.assign(bad=(surface["diverged"] > 0) | (surface["at_chance"] > 0)).pivot_table(
        index="k", columns="lr", values="bad", aggfunc="first").reindex_like(grid).fillna(False).astype(bool)
    ks, lrs = [format_k(k) for k in grid.index], [f"{lr:g}" for lr in grid.columns]
    values = grid.to_numpy(dtype=float)
    text = [[("×" if bad.iat[i, j] else (f"{v:.2f}" if np.isfinite(v) else "")) for j, v in enumerate(row)]
            for i, row in enumerate(values)]
    finite = values[np.isfinite(values) & ~bad.to_numpy()]
    zmax = float(np.quantile(finite, 0.9)) if finite.size else None
    fig = go.Figure(go.Heatmap(z=values, x=lrs, y=ks, text=text, texttemplate="%{text}", colorscale="Viridis_r",
                               zmax=zmax, colorbar=dict(title="val error %"),
                               hovertemplate="k %{y}, lr %{x}<br>validation error %{z:.2f}%<extra></extra>"))
    for point, name, color in ((baseline, "k = 1 at its best lr", "#ffffff"), (selected, "selected", "#d7301f")):
        if point is not None:
            fig.add_trace(go.Scatter(x=[f"{point[1]:g}"], y=[format_k(point[0])], mode="markers", name=name,
                                     marker=dict(size=34, symbol="circle-open", color=color, line=dict(width=3))))
    _layout(fig, title, "learning rate", "k", height=380)
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return fig
