"""The Playground page in AppTest (opens playing, presets, bad input, URL settings) and its figure builder."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import plotly.io as pio
import pytest

from app import plots
from conftest import plotly_figures
from core.playground import DataConfig, PlaygroundConfig, fit
from core.playground.presets import DEFAULT_PRESET, PRESETS

PAGE = "views/playground.py"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _animation(at) -> dict:
    figs = plotly_figures(at)
    assert len(figs) == 1, f"expected the one animated figure, got {len(figs)}"
    return figs[0]


def _panels(fig: dict) -> list[str]:
    """The k panel titles of the animated figure (each panel has its background picture)."""
    titles = [a["text"] for a in fig["layout"]["annotations"] if a["text"].startswith("<b>k = ")]
    assert len([im for im in fig["layout"]["images"] if im.get("xref") != "paper"]) == len(titles)
    return titles


def test_page_opens_playing_the_default_preset(app):
    """A first visit trains the form's settings (the default preset) and shows its animation: frames, Play, a panel per k."""
    at = app(PAGE)
    fig = _animation(at)
    cfg = PRESETS[DEFAULT_PRESET].config
    assert len(fig["frames"]) == cfg.frames
    assert len(_panels(fig)) == len(cfg.ks)
    assert fig["layout"]["updatemenus"][0]["buttons"][0]["label"] == "▶ Play"
    assert any("saved as run #" in c.value for c in at.caption)
    assert not at.error


def test_a_preset_click_runs_it_and_shows_its_commentary(app):
    """Pressing a preset fills the form, trains it at once and shows K panels with their frames and the commentary."""
    at = app(PAGE)
    at.button(key="pg_preset_k-family").click().run()
    assert not at.exception
    fig = _animation(at)
    ks = PRESETS["k-family"].config.ks
    assert _panels(fig) == ["<b>k = 1/4</b>", "<b>k = 1/2</b>", "<b>k = 1 (cross-entropy)</b>", "<b>k = 2</b>",
                            "<b>k = 4</b>"]
    assert len(fig["frames"]) == PRESETS["k-family"].config.frames and len(ks) == 5
    assert PRESETS["k-family"].commentary in at.info[0].value
    assert at.multiselect(key="ks").value == ["1/4", "1/2", "1", "2", "4"]


def test_bad_input_blocks_the_run_with_a_message_beside_the_button(app):
    """An out-of-range field or an unreadable hidden width disables Train and play and says why; nothing else runs."""
    at = app(PAGE)
    shown = _animation(at)["frames"][-1]
    at.number_input(key="points").set_value(5).run()
    assert at.button(key="pg_go").disabled
    assert "points must be a whole number from 10" in at.error[0].value
    at.number_input(key="points").set_value(300)
    at.text_input(key="hidden").set_value("16, x").run()
    assert at.button(key="pg_go").disabled and "hidden widths" in at.error[0].value
    at.text_input(key="hidden").set_value("16, 16")
    at.number_input(key="noise").set_value(0.6).run()
    assert at.button(key="pg_go").disabled and "label noise" in at.error[0].value
    assert _animation(at)["frames"][-1] == shown  # the last run is still what is shown
    assert not at.exception


def test_url_parameters_set_the_widgets_and_the_run(app):
    """A shared link (?dataset=circles&points=120&noise=0.1&ks=1/2&ks=2&steps=60) fills the form and plays that run."""
    at = app(PAGE, query={"dataset": "circles", "points": "120", "noise": "0.1", "ks": ["1/2", "2"], "steps": "60"})
    assert at.selectbox(key="dataset").value == "circles"
    assert at.number_input(key="points").value == 120 and at.number_input(key="steps").value == 60
    assert at.multiselect(key="ks").value == ["1/2", "2"]
    assert _panels(_animation(at)) == ["<b>k = 1/2</b>", "<b>k = 2</b>"]
    command = next(c.value for c in at.caption if "python -m core.playground" in c.value)
    assert "--dataset circles --points 120 --label-noise 0.1 --outliers 15 --k 1/2 2" in command and "--steps 60" in command


def test_a_bad_url_value_is_named_in_a_warning(app):
    """A link value that cannot be used is named in a warning (Streamlit would drop it silently)."""
    at = app(PAGE, query={"points": "lots", "dataset": "swirl"})
    text = " ".join(w.value for w in at.warning)
    assert "points=lots" in text and "dataset=swirl" in text
    assert _animation(at)  # the defaults still play


# --------------------------------------------------------------------------- figure builder
@pytest.fixture(scope="module")
def small_result():
    return fit(PlaygroundConfig(data=DataConfig("moons", points=60, label_noise=0.1, outliers=4), ks=(0.25, 1.0, 4.0),
                                steps=20, frames=6, grid=12), "cpu")


def test_animation_frames_carry_only_what_changes(small_result):
    """One frame per snapshot; each updates the K point sets and the 2K accuracy curves (by trace index) and the
    K background pictures; the marker sizes are the push sizes of that snapshot."""
    spec = plots.playground_animation(small_result).to_dict()
    k = len(small_result.config.ks)
    assert [f["name"] for f in spec["frames"]] == [str(s) for s in small_result.steps]
    for frame in spec["frames"]:
        assert [spec["data"][i]["type"] for i in frame["traces"]] == [t["type"] for t in frame["data"]]
        assert len(frame["data"]) == 3 * k and all(t["type"] == "scatter" for t in frame["data"])
        images = frame["layout"]["images"]
        assert len(images) == k and all(im["source"].startswith("data:image/png;base64,") for im in images)
    sizes = np.frombuffer(base64.b64decode(spec["frames"][-1]["data"][1]["marker"]["size"]["bdata"]), dtype=np.uint8)
    np.testing.assert_array_equal(sizes, plots.push_sizes(small_result.push)[-1, 1])


def test_field_picture_shows_blue_red_and_a_black_boundary_where_p_crosses_one_half():
    """p rising left to right gives a picture that is blue on the left, red on the right, dark in the middle column."""
    from PIL import Image

    prob = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (40, 1))  # p(red) = x
    uri = plots.field_image(prob, scale=2)
    rgb = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")).astype(int)
    assert rgb.shape == (80, 80, 3)
    left, right, middle = rgb[40, 2], rgb[40, -3], rgb[40, 38:42].min(0)
    assert left[2] > left[0] and right[0] > right[2]  # blue, red
    assert middle.max() < 90 and rgb[:, 38:42].min(1).max() < 90  # a dark line the whole way down


def test_marker_size_grows_with_the_share_of_the_push():
    """Equal pushes give equal 7 px markers; a point pushing 4x the average is bigger; sizes stay within 3..30 px."""
    assert (plots.push_sizes(np.full((2, 5), 0.3)) == 7).all()
    sizes = plots.push_sizes(np.array([1.0, 1.0, 1.0, 13.0, 1e-9]))
    assert sizes[3] > sizes[0] > sizes[4] and sizes.min() >= 3 and sizes.max() <= 30


def test_one_panel_per_row_for_phones_and_a_light_payload(small_result):
    """per_row=1 stacks the K panels; the whole animated figure of a preset-sized run stays under 1 MB of JSON."""
    fig = plots.playground_animation(small_result, per_row=1)
    domains = sorted({tuple(fig.layout[f"yaxis{i if i > 1 else ''}"].domain) for i in range(1, 4)})
    assert len(domains) == 3  # three rows
    big = fit(PRESETS["clean"].config, "cpu")
    payload = pio.to_json(plots.playground_animation(big), validate=False)
    assert len(payload) < 1_000_000 and len(json.loads(payload)["frames"]) == PRESETS["clean"].config.frames
