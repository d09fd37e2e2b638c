"""AppTest tests of the Overview and Sensitivity-curves pages, driving widgets by key."""

from __future__ import annotations

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
    assert names[:6] == ["k = 1/16", "k = 1/4", "k = 1/2", "k = 1 (= cross-entropy)", "k = 2", "k = 4"]
    assert "Focal (γ = 2)" in names and "MAE (1 - p_y)" in names
    k2 = figs[0]["data"][4]
    assert k2["y"][0] == 0 and k2["y"][-1] == pytest.approx(1.0)  # passes through (0,0) and (1,1)
    assert not at.error


def _k_names(at) -> list[str]:
    return [t["name"] for t in plotly_figures(at)[0]["data"] if t["name"].startswith("k = ")]


def test_typing_a_value_adds_exactly_that_value(app):
    """The Add box adds exactly what was typed (canonical form), never the presets that match the text;
    an unreadable entry adds nothing and stays in the box beside an error."""
    at = app("views/sensitivity.py")
    before = at.multiselect(key="k").value
    at.text_input(key="k_add").set_value("0").run()  # used to add 1/16 ... every option containing a 0
    assert at.multiselect(key="k").value == before and at.text_input(key="k_add").value == "0"
    assert "'0'" in at.error[0].value
    at.text_input(key="k_add").set_value("0.3").run()
    assert at.multiselect(key="k").value == ["1/16", "1/4", "0.3", "1/2", "1", "2", "4"]
    assert at.text_input(key="k_add").value == "" and not at.error
    at.text_input(key="k_add").set_value("2^-5, 0.125").run()  # several at once, written as every page writes k
    assert at.multiselect(key="k").value[:3] == ["1/32", "1/16", "1/8"]
    assert _k_names(at)[:3] == ["k = 1/32", "k = 1/16", "k = 1/8"]


def test_unreadable_k_values_do_not_stay_as_chips(app):
    """Entries that are not k values (set in the widget's state) leave the chips for the Add box, in red;
    the chart draws the readable ones; no k at all gives a warning, not a traceback."""
    at = app("views/sensitivity.py")
    at.multiselect(key="k").set_value(["1/4", "0.3", "bad", "-2"]).run()
    assert not at.exception
    assert at.multiselect(key="k").value == ["1/4", "0.3"]
    assert at.text_input(key="k_add").value == "bad, -2"
    assert "'bad'" in at.error[0].value and "'-2'" in at.error[0].value
    assert _k_names(at) == ["k = 1/4", "k = 0.3"]
    at.text_input(key="k_add").set_value("").run()
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
    assert gce["name"] == "GCE (q = 0.3)" and max(gce["y"]) == pytest.approx(1.0)
    assert fig["layout"]["yaxis"]["title"]["text"] == "|f_y| ÷ its peak"  # the axis says what is drawn


def test_hard_easy_ratio_view(app):
    """The hard/easy view marks each chosen k at (hard/easy)^k and rejects easy >= hard."""
    at = app("views/sensitivity.py")
    at.multiselect(key="k").set_value(["1/2", "2"]).run()
    ratio_fig = plotly_figures(at)[1]
    marks = {t["name"]: t["y"][0] for t in ratio_fig["data"] if t["mode"] == "markers+text"}
    assert marks == {"k = 1/2": pytest.approx(3.0), "k = 2": pytest.approx(81.0)}
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


def test_a_bad_link_parameter_is_named_not_dropped_silently(app):
    """A link with unreadable k values opens with the readable ones, a warning naming each bad parameter
    and what was kept, and a URL rewritten to what is shown (canonical: 0.25 -> 1/4)."""
    at = app("views/sensitivity.py", query={"k": ["1/8", "bad", "0.25", "-1"]})
    assert at.multiselect(key="k").value == ["1/8", "1/4"]
    warning = at.warning[0].value
    assert "`k=bad`" in warning and "`k=-1`" in warning and "1/8, 1/4" in warning
    assert at.query_params["k"] == ["1/8", "1/4"]
    assert _k_names(at) == ["k = 1/8", "k = 1/4"]
    at.text_input(key="k_add").set_value("3").run()
    assert at.query_params["k"] == ["1/8", "1/4", "3"] and not at.warning  # changed: the note has served


def test_hard_easy_table_writes_k_one_way(app):
    """The hard/easy table writes k as format_k does and says the unit of the ratio in its header."""
    at = app("views/sensitivity.py")
    table = at.dataframe[0].value
    assert "hard / easy weight (×)" in table.columns
    assert "pseudo-gradient, k = 1/16" in set(table["loss"])
    assert "1/16" in set(table["k with the same ratio"]) and "0.0625" not in set(table["k with the same ratio"])


def test_cross_entropy_is_never_an_invisible_overlay(app):
    """With k = 1 drawn, the CE overlay (identical to it) is not a second, hidden legend entry: k = 1 says it is
    cross-entropy. Without k = 1, the CE overlay is drawn."""
    at = app("views/sensitivity.py")
    names = [t["name"] for t in plotly_figures(at)[0]["data"]]
    assert "Cross-entropy" not in names and "k = 1 (= cross-entropy)" in names
    at.multiselect(key="k").set_value(["1/2", "2"]).run()
    assert "Cross-entropy" in [t["name"] for t in plotly_figures(at)[0]["data"]]


def test_focal_parameter_is_written_as_its_slider_writes_it():
    """The slider says 'Focal γ'; the legend and the ratio labels say 'Focal (γ = 2)', not 'gamma=2'."""
    from app.plots.sensitivity import display_name

    assert display_name("Focal (gamma=2)") == "Focal (γ = 2)" and display_name("GCE (q=0.7)") == "GCE (q = 0.7)"


def test_many_k_values_never_repeat_a_colour():
    """Eleven typed k values (not powers of two) get eleven different colours, none of them k = 1's black
    (cross-entropy's) or a reference loss's colour."""
    from app import plots

    ks = [0.3, 0.35, 0.45, 0.6, 0.7, 0.8, 1.2, 1.4, 1.7, 2.5, 3.5]
    colors = plots.k_colors(ks)
    assert len(set(colors.values())) == len(ks)
    assert not set(colors.values()) & (set(plots.REFERENCE_COLORS.values()) | {plots.k_colors([1])[1.0]})
