"""Playground figures: the animated panels of each k's network on 2-D data, above its accuracy curves.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from app.plots.style import TEMPLATE, k_colors
from core.curves import format_k


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
