"""The one look of every chart: colours (k, reference losses), titles, legends, sizes, axis ranges.

What: `k_colors` gives each k its colour on every page (neighbouring powers of two clearly differ, k = 1
is black); `REFERENCE_COLORS` the other losses theirs; `layout(fig, title, x, y, subtitle=...)` the shared
frame: a short one-line title (details in a smaller subtitle line), the legend below the plot (never
beside it, so a phone keeps the plot's width), fonts a projector can show, and a top and bottom margin
sized to the title and the legend so neither runs into the plot; `fitted_range` fits an axis to the
measured values (a reference curve may leave the frame).

Why: a chart is read on a projector at 1400 px and on a phone at 390 px; a wrapped title or a legend
on the right takes the plot's room at one of them.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
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
        reserved = taken | set(REFERENCE_COLORS.values()) | {K_PALETTE[0]}  # black is k = 1 (cross-entropy) alone
        nearest = [K_PALETTE[p] for p in sorted(K_PALETTE, key=lambda p: abs(p - e)) if K_PALETTE[p] not in reserved]
        candidates = nearest + [c for c in _K_SPARE if c not in reserved]
        out[k] = next((c for c in candidates if all(color_distance(c, t) >= 25 for t in taken)), None) \
            or _farthest(candidates + _wheel(12), taken)
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


def _wheel(n: int) -> list[str]:
    """n colours around the hue circle at two lightness levels (spares past the palette)."""
    out = []
    for i in range(n):
        r, g, b = colorsys.hls_to_rgb((i * 0.618) % 1.0, 0.35 if i % 2 else 0.5, 0.75)
        out.append("#%02x%02x%02x" % (round(255 * r), round(255 * g), round(255 * b)))
    return out


def _farthest(candidates: list[str], taken: set[str]) -> str:
    """The candidate whose nearest taken colour is farthest (no repeat while any colour differs)."""
    free = [c for c in candidates if c not in taken] or candidates
    return max(free, key=lambda c: min((color_distance(c, t) for t in taken), default=1e9))


TITLE_CHARS = 38  # the longest title: one line on a phone (a 358 px chart at 390 px) at 16 px bold
SUBTITLE_CHARS = 52  # the longest subtitle line, at 12 px (fits 390 px)
LEGEND_CHAR_PX = 8.0  # about one character of the 14 px legend font
LEGEND_ROW_PX = 24  # one legend row
LEGEND_WIDTH_PX = 560  # the width the legend is sized for (a half-width chart at 1400 px)


def wrap_title(title: str, width: int = TITLE_CHARS) -> str:
    """The text in lines of at most `width` characters (broken at spaces, joined by <br>)."""
    lines: list[str] = []
    for word in title.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def split_title(title: str, subtitle: str | None = None) -> tuple[str, str | None]:
    """A title longer than TITLE_CHARS as (its head, the rest in the subtitle line), split at ' (', ': '
    or ' · ', else at the last space that fits, so a title is always one line."""
    if len(title) <= TITLE_CHARS:
        return title, subtitle
    cuts = [title.rfind(sep, 0, TITLE_CHARS + 1) for sep in (": ", " (", " · ")]  # in order of preference
    cut = next((c for c in cuts if c >= 12), title.rfind(" ", 0, TITLE_CHARS + 1))
    head, rest = title[:cut].rstrip(":"), title[cut:].strip(" :·")
    if rest.startswith("(") and rest.endswith(")"):
        rest = rest[1:-1]
    return head, rest + (f"; {subtitle}" if subtitle else "")


def legend_rows(names: list[str], width_px: float = LEGEND_WIDTH_PX) -> int:
    """How many rows a horizontal legend of `names` takes at `width_px` (symbol and gap included)."""
    rows, used = 1, 0.0
    for name in names:
        w = 50 + LEGEND_CHAR_PX * len(str(name))
        if used and used + w > width_px:
            rows, used = rows + 1, 0.0
        used += w
    return rows if names else 0


def layout(fig: go.Figure, title: str, x: str, y: str, *, subtitle: str | None = None, height: int = 400,
           legend: str = "below") -> go.Figure:
    """The shared frame. The plotting area keeps `height` minus the title and axis margins; the legend
    below adds its rows to the figure's height rather than taking them from the plot. legend="inside"
    puts it in the top-right corner of the plot (few short entries), "none" hides it."""
    title, subtitle = split_title(title, subtitle)
    sub = wrap_title(subtitle, SUBTITLE_CHARS) if subtitle else None
    top = 36 + (16 * (sub.count("<br>") + 1) + 6 if sub else 0)
    names = [t.name for t in fig.data if t.name and t.showlegend is not False]
    rows = legend_rows(names) if legend == "below" else 0
    bottom = 56 + (LEGEND_ROW_PX * rows + 8 if rows else 0)
    where = {"below": dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left"),
             "inside": dict(orientation="v", x=0.99, xanchor="right", y=0.99, yanchor="top",
                            bgcolor="rgba(255,255,255,0.75)")}.get(legend, {})
    fig.update_layout(
        template=TEMPLATE, height=height + top + bottom - 92, font=dict(size=FONT_SIZE),
        title=dict(text=title, x=0, xanchor="left", xref="container", y=1, yref="container", yanchor="top",
                   pad=dict(t=8, l=8), font=dict(size=FONT_SIZE + 2),  # from the figure's edge, not the axis
                   subtitle=dict(text=sub, font=dict(size=FONT_SIZE - 2, color="#555")) if sub else None),
        xaxis_title=x, yaxis_title=y, showlegend=legend != "none" and bool(names),
        legend=dict(font=dict(size=FONT_SIZE), **where), margin=dict(l=64, r=20, t=top, b=bottom))
    for axis in (fig.update_xaxes, fig.update_yaxes):  # explicit: Streamlit's chart theme sets smaller ones
        axis(tickfont=dict(size=FONT_SIZE - 1), title_font=dict(size=FONT_SIZE), automargin=True)
    return fig




def fitted_range(values, pad: float = 0.08, include: tuple[float, ...] = (), log: bool = False) -> list[float] | None:
    """An axis range around the finite `values` (and `include`), `pad` of the span on each side; on a
    log axis the range is in log10 units, as Plotly wants it. None when there is nothing to fit."""
    v = np.asarray([*np.ravel(np.asarray(values, dtype=float)), *include], dtype=float)
    v = v[np.isfinite(v) & ((v > 0) if log else True)]
    if not len(v):
        return None
    if log:
        v = np.log10(v)
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo if hi > lo else max(abs(hi) * 0.1, 0.05 if log else 1e-3)
    return [lo - pad * span, hi + pad * span]


def fitted_k_axis(fig: go.Figure, ks, pad: float = 0.35) -> go.Figure:
    """A log2 k axis ticked at the powers of two inside the measured ks (written as format_k writes
    k), spanning those ks and half an octave around them, not 1/64 to 16."""
    ks = sorted({float(k) for k in ks if k and k > 0})
    if not ks:
        return k_axis(fig)
    lo, hi = math.log2(ks[0]) - pad, math.log2(ks[-1]) + pad
    ticks = [2.0**e for e in range(math.floor(lo), math.ceil(hi) + 1) if lo <= e <= hi]
    ticks = sorted(set(ticks) | ({k for k in ks if len(ticks) < 2}))
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[format_k(t) for t in ticks],
                     range=[lo * math.log10(2), hi * math.log10(2)])
    return fig
