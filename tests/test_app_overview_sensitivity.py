"""AppTest tests of the Overview and Sensitivity-curves pages, driving widgets by key."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import plotly_figures


def test_overview_renders_rule_and_links(app):
    """The overview shows the update rule in LaTeX, what k means, and links to the pages."""
    at = app()
    assert any("epsilon_y" in el.value and "^{k}" in el.value for el in at.latex)
    text = " ".join(m.value for m in at.markdown)
    assert "k < 1" in text and "k > 1" in text and "Cross-entropy" in text
    assert len(at.get("page_link")) >= 1


def test_sensitivity_default_view_draws_all_charts(app):
    """The default view draws the curves (k family + references), the ratio chart and the vector bars."""
    at = app("views/sensitivity.py")
    figs = plotly_figures(at)
    assert len(figs) == 3
    names = [t["name"] for t in figs[0]["data"]]
    assert names[:6] == ["k = 1/16", "k = 1/4", "k = 1/2", "k = 1", "k = 2", "k = 4"]
    assert "Cross-entropy" in names and "Focal (gamma=2)" in names
    k2 = figs[0]["data"][4]
    assert k2["y"][0] == 0 and k2["y"][-1] == pytest.approx(1.0)  # passes through (0,0) and (1,1)
    assert not at.error


def test_free_k_entry_and_bad_values(app):
    """Typed k values are drawn; unreadable or non-positive ones give a clear error, not a traceback."""
    at = app("views/sensitivity.py")
    at.multiselect(key="k").set_value(["1/4", "0.3", "bad", "-2"]).run()
    assert not at.exception
    assert "'bad'" in at.error[0].value and "'-2'" in at.error[0].value
    names = [t["name"] for t in plotly_figures(at)[0]["data"]]
    assert names[:2] == ["k = 1/4", "k = 0.3"]
    at.multiselect(key="k").set_value([]).run()
    assert "at least one k" in at.warning[0].value and not plotly_figures(at)


def test_log_axes_normalize_and_reference_parameters(app):
    """Log axes, per-curve normalization and the GCE q slider reach the figure."""
    at = app("views/sensitivity.py")
    at.radio(key="axes").set_value("log-log").run()
    at.checkbox(key="norm").check().run()
    at.slider(key="q").set_value(0.3).run()
    fig = plotly_figures(at)[0]
    assert fig["layout"]["xaxis"]["type"] == "log" and fig["layout"]["yaxis"]["type"] == "log"
    gce = next(t for t in fig["data"] if t["name"].startswith("GCE"))
    assert gce["name"] == "GCE (q=0.3)" and max(gce["y"]) == pytest.approx(1.0)


def test_hard_easy_ratio_view(app):
    """The hard/easy view marks each chosen k at (hard/easy)^k and rejects easy >= hard."""
    at = app("views/sensitivity.py")
    at.multiselect(key="k").set_value(["1/2", "2"]).run()
    ratio_fig = plotly_figures(at)[1]
    marks = {t["name"]: t["y"][0] for t in ratio_fig["data"] if t["mode"] == "markers+text"}
    assert marks == {"k = 0.5": pytest.approx(3.0), "k = 2": pytest.approx(81.0)}
    at.number_input(key="easy").set_value(0.5).run()
    at.number_input(key="hard").set_value(0.5).run()
    assert any("must be smaller" in e.value for e in at.error)


def test_full_vector_presets_sum_to_zero(app):
    """A logits preset fills the sliders; the bars of every series sum to 0; moving a slider goes custom."""
    at = app("views/sensitivity.py")
    at.slider(key="n").set_value(4).run()
    at.selectbox(key="y").set_value(2).run()
    at.selectbox(key="preset").set_value("confident and right").run()
    z = [at.slider(key=f"z{j}").value for j in range(4)]
    assert z[2] == 5.0 and max(z[:2] + z[3:]) < 5.0
    bars = plotly_figures(at)[2]["data"]
    for trace in bars:
        assert len(trace["y"]) == 4 and abs(sum(trace["y"])) < 1e-12
    assert "sums to 0" in at.success[0].value
    at.slider(key="z0").set_value(3.0).run()
    assert at.selectbox(key="preset").value == "custom"
    assert at.slider(key="z0").value == 3.0


def test_query_params_open_the_same_view(app):
    """Settings given in the URL query string open that view (what a shared link does)."""
    at = app("views/sensitivity.py", query={"k": ["1/8", "4"], "axes": "log-log", "n": "3"})
    assert at.multiselect(key="k").value == ["1/8", "4"]
    assert at.radio(key="axes").value == "log-log"
    assert at.slider(key="n").value == 3
    assert [t["name"] for t in plotly_figures(at)[0]["data"]][:2] == ["k = 1/8", "k = 4"]
