"""Example-lens figures: data maps per k, per-image curves over epochs, push shares, detection scores,
and the image galleries (HTML cards that wrap to the screen's width).

Plain functions: arrays in (from core.datamap), a Plotly figure (or an HTML string) out, in the shared
style (style.layout).
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from app.plots.style import k_colors, layout
from core.curves import format_k
from core.datamap.metrics import AMBIGUOUS_VARIABILITY, EASY_CONFIDENCE

MAX_POINTS = 6000  # points drawn per data map (an even sample beyond; every flipped point is kept if it fits)
FLIPPED, CLEAN = "#d7301f", "#8fa8c8"  # flipped examples stand out in red over pale-blue clean ones
RIGHT, WRONG = "#2c7fb8", "#f28e2b"


def _sample(n: int, keep: np.ndarray, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most `limit` of n points: all of `keep` (if they fit), the rest drawn evenly."""
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    kept = np.flatnonzero(keep)
    if len(kept) > limit // 2:
        kept = rng.choice(kept, limit // 2, replace=False)
    others = np.setdiff1d(np.arange(n), kept)
    return np.sort(np.concatenate([kept, rng.choice(others, limit - len(kept), replace=False)]))


def data_map(confidence: np.ndarray, variability: np.ndarray, k: float, *, index: np.ndarray,
             given: np.ndarray, true: np.ndarray, flipped: np.ndarray | None, correctness: np.ndarray,
             class_names: list[str] | None = None, height: int = 360) -> go.Figure:
    """One k's data map: variability (x) against confidence (y), one point per training example.

    Coloured flipped vs clean when `flipped` is given (noise was injected), else by whether the
    given label was mostly predicted (correctness >= 0.5). The regions are drawn and named.
    customdata carries each point's position in the arrays (for click-to-inspect)."""
    names = class_names or [str(c) for c in range(int(max(given.max(), true.max())) + 1)]
    if flipped is not None and flipped.any():
        groups = [("clean", ~flipped, CLEAN), ("flipped", flipped, FLIPPED)]
    else:
        right = correctness >= 0.5
        groups = [("mostly right", right, RIGHT), ("mostly wrong", ~right, WRONG)]
    shown = _sample(len(confidence), groups[1][1])
    fig = go.Figure()
    for name, mask, color in groups:
        pos = shown[mask[shown]]
        text = [f"#{index[i]} · given {names[given[i]]}" + (f" · true {names[true[i]]}" if given[i] != true[i]
                                                            else "") for i in pos]
        fig.add_trace(go.Scattergl(
            x=variability[pos], y=confidence[pos], mode="markers", name=f"{name} ({int(mask.sum()):,})",
            marker=dict(color=color, size=5, opacity=0.75 if name in ("flipped", "mostly wrong") else 0.5),
            customdata=pos, text=text,
            hovertemplate="%{text}<br>confidence %{y:.2f} · variability %{x:.2f}<extra></extra>"))
    _regions(fig)
    share = f" · {len(shown):,} of {len(confidence):,} shown" if len(shown) < len(confidence) else ""
    layout(fig, f"Data map at k = {format_k(k)}", "variability (std of p(given) over epochs)",
           "confidence (mean p(given))", subtitle=f"one point per training image{share}; click one to see it",
           height=height)
    fig.update_xaxes(range=[0, max(0.5, float(np.nanmax(variability, initial=0)) + 0.02)])
    fig.update_yaxes(range=[-0.02, 1.02])
    fig.update_layout(clickmode="event+select", dragmode="pan")
    return fig


def _regions(fig: go.Figure) -> None:
    """The region borders and names (core.datamap.metrics thresholds), behind the points."""
    line = dict(color="#999", width=1, dash="dot")
    fig.add_vline(x=AMBIGUOUS_VARIABILITY, line=line, layer="below")
    fig.add_shape(type="line", x0=0, x1=AMBIGUOUS_VARIABILITY, y0=EASY_CONFIDENCE, y1=EASY_CONFIDENCE, line=line,
                  layer="below")
    for text, x, y, anchor in (("easy-to-learn", 0.005, 0.98, "top"), ("hard-to-learn", 0.005, 0.02, "bottom"),
                               ("ambiguous", AMBIGUOUS_VARIABILITY + 0.01, 0.98, "top")):
        fig.add_annotation(x=x, y=y, text=f"<b>{text}</b>", showarrow=False, xanchor="left", yanchor=anchor,
                           font=dict(size=12, color="#555"), bgcolor="rgba(255,255,255,0.6)")


def image_curves(values: np.ndarray, ks: np.ndarray, title: str, y_title: str, *, subtitle: str | None = None,
                 log: bool = False, height: int = 300) -> go.Figure:
    """One line per k of a per-epoch value of one image (values (K, E), NaN after a run's end)."""
    colors = k_colors(ks)
    fig = go.Figure()
    epochs = np.arange(1, values.shape[1] + 1)
    for slot, k in enumerate(ks):
        fig.add_trace(go.Scatter(x=epochs, y=values[slot], mode="lines+markers", name=f"k = {format_k(k)}",
                                 line=dict(color=colors[float(k)], width=2), marker=dict(size=6),
                                 hovertemplate=f"k = {format_k(k)}<br>epoch %{{x}}<br>%{{y:.3g}}<extra></extra>"))
    layout(fig, title, "epoch", y_title, subtitle=subtitle, height=height)
    fig.update_xaxes(dtick=1 if len(epochs) <= 20 else None)
    if log:
        fig.update_yaxes(type="log", exponentformat="power")
    else:
        fig.update_yaxes(range=[-0.03, 1.03])
    return fig


def push_share(share: np.ndarray, ks: np.ndarray, noise_rate: float, height: int = 340) -> go.Figure:
    """Per k, the share of each epoch's total push that went to flipped examples (share (K, E)),
    against the noise rate: the share if the push ignored whether a label is right."""
    colors = k_colors(ks)
    fig = go.Figure()
    epochs = np.arange(1, share.shape[1] + 1)
    fig.add_trace(go.Scatter(x=[epochs[0], epochs[-1]], y=[100 * noise_rate] * 2, mode="lines",
                             name=f"share of flipped labels ({noise_rate:.0%})", hoverinfo="skip",
                             line=dict(color="#999", dash="dot", width=2)))
    for slot, k in enumerate(ks):
        fig.add_trace(go.Scatter(x=epochs, y=100 * share[slot], mode="lines+markers", name=f"k = {format_k(k)}",
                                 line=dict(color=colors[float(k)], width=2),
                                 hovertemplate=f"k = {format_k(k)}<br>epoch %{{x}}<br>%{{y:.1f}}% of the push"
                                               "<extra></extra>"))
    layout(fig, "Push that went to flipped labels", "epoch", "flipped share of total push (%)",
           subtitle="push = |ε_y|^k summed over the epoch's examples", height=height)
    fig.update_xaxes(dtick=1 if len(epochs) <= 20 else None)
    values = np.concatenate([100 * share[np.isfinite(share)], [100 * noise_rate]])
    fig.update_yaxes(range=[max(0.0, values.min() - 5), min(100.0, values.max() + 5)])
    return fig


def detection_bars(table, height: int = 340) -> go.Figure:
    """AUROC per k of 'low confidence' and 'low AUM' against the known flips, cleanlab's as a line."""
    per_k = table[table["k"].notna()]
    ks = sorted(per_k["k"].unique())
    fig = go.Figure()
    for detector, color in (("low confidence", "#2c5bd8"), ("low AUM", "#1a9850")):
        part = per_k[per_k["detector"] == detector].set_index("k").reindex(ks)
        fig.add_trace(go.Bar(x=[f"k = {format_k(k)}" for k in ks], y=part["auroc"], name=detector, marker_color=color,
                             text=[f"{v:.3f}" for v in part["auroc"]], textposition="outside",
                             hovertemplate=f"{detector}<br>%{{x}}<br>AUROC %{{y:.3f}}<extra></extra>"))
    ref = table[table["k"].isna()]
    if len(ref) and math.isfinite(float(ref["auroc"].iloc[0])):
        value = float(ref["auroc"].iloc[0])
        fig.add_trace(go.Scatter(x=[f"k = {format_k(k)}" for k in ks], y=[value] * len(ks), mode="lines",
                                 name=f"cleanlab reference ({value:.3f})", hoverinfo="skip",
                                 line=dict(color="#111", dash="dash", width=2)))
    layout(fig, "Finding the flipped labels (AUROC)", "", "AUROC (1 = perfect, 0.5 = chance)",
           subtitle="how well a low score separates flipped from clean", height=height)
    lo = float(np.nanmin(table["auroc"].to_numpy(dtype=float), initial=1.0))
    fig.update_yaxes(range=[max(0.5, lo - 0.05), 1.01])
    fig.update_layout(barmode="group")
    return fig


def thumbnail(image: np.ndarray, scale: int = 3) -> np.ndarray:
    """A uint8 image (H, W) or (H, W, 3) enlarged `scale` times with sharp pixels."""
    return np.repeat(np.repeat(image, scale, 0), scale, 1)


def _png(image: np.ndarray) -> str:
    """A uint8 image as a base64 PNG data URL."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def gallery_html(images: np.ndarray, cards: list[tuple[int, str]], key: str, size: int = 84) -> str:
    """Cards of thumbnails with captions in a wrapping row (8 a row on a laptop, 3 on a phone). cards:
    (image number in `images`, caption HTML, already escaped); `key` names the gallery's CSS class."""
    items = "".join(
        f'<figure style="width:{size + 40}px;margin:0"><img src="{_png(thumbnail(images[i]))}" width="{size}" '
        f'height="{size}" style="image-rendering:pixelated;display:block" alt="training image {i}">'
        f'<figcaption style="font-size:12px;line-height:1.35;color:#444">{caption}</figcaption></figure>'
        for i, caption in cards)
    return f'<div class="dm-gallery-{key}" style="display:flex;flex-wrap:wrap;gap:10px 8px">{items}</div>'
