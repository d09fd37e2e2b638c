"""AppTest tests of the Toy-experiment page: a tiny run to completion, the Stop button, saved runs."""

from __future__ import annotations

import pytest

from tests.conftest import plotly_figures, poll_until


def _tiny(at, n=600, runs=2, ks=("4", "1/4"), patience=200):
    at.multiselect(key="toy_k").set_value(list(ks))
    at.number_input(key="toy_runs").set_value(runs)
    at.number_input(key="toy_n").set_value(n)
    at.number_input(key="toy_patience").set_value(patience)
    return at


def test_empty_state_explains_what_to_do(app):
    """With no saved runs the page shows D and says which button to press."""
    at = app("views/toy.py")
    assert "Quick look" in at.info[0].value
    assert len(plotly_figures(at)) == 1


def test_tiny_run_to_completion_shows_table_and_plots(app):
    """A tiny config runs in the background, and its per-k table and plots appear when it ends."""
    at = app("views/toy.py")
    _tiny(at).button(key="toy_run").click().run()
    assert not at.error
    poll_until(at, lambda a: a.dataframe and not a.get("progress"))
    table = at.dataframe[0].value
    assert list(table["k"]) == ["4", "1/4"]
    assert (table["test_error_mean"] > 0).all() and (table["epochs_mean"] >= 200).all()
    figs = plotly_figures(at)
    titles = [f["layout"]["title"]["text"] for f in figs]
    assert "Test error against k" in titles and "Test cross-entropy against k" in titles
    err = next(f for f in figs if f["layout"]["title"]["text"] == "Test error against k")
    assert any(t["name"].startswith("population limit") for t in err["data"])
    assert at.selectbox(key="toy_pick").index == 0
    assert any("Status: **done**" in c.value for c in at.caption)
    assert len(at.get("download_button")) == 2


def test_stop_button_stops_and_keeps_the_run(app):
    """Stop ends a long run within seconds; it is saved as stopped with its partial table."""
    at = app("views/toy.py")
    _tiny(at, n=20_000, runs=3, ks=("1/16", "4"), patience=50_000).button(key="toy_run").click().run()
    poll_until(at, lambda a: len(a.get("progress")) == 1 and a.button(key="toy_stop") is not None)
    at.button(key="toy_stop").click().run()
    poll_until(at, lambda a: not a.get("progress"), timeout=30)
    assert at.selectbox(key="toy_pick").index == 0  # the run just started (newest first), not an older one
    assert any("Status: **stopped**" in c.value for c in at.caption)
    assert any("Stopped before" in w.value for w in at.warning)


def test_bad_settings_show_an_error_not_a_traceback(app):
    """An impossible setting (no k values) is refused with a message."""
    at = app("views/toy.py")
    at.multiselect(key="toy_k").set_value(["zero"]).run()
    assert any("Ignored 'zero'" in e.value for e in at.error)
    assert at.button(key="toy_run").disabled


def test_run_keeps_going_across_a_page_switch(app):
    """A toy run started here keeps training while the user is on another page, and is shown on return."""
    at = app("views/toy.py")
    _tiny(at, n=5000, runs=2, ks=("1/4", "4"), patience=1500).button(key="toy_run").click().run()
    at.switch_page("views/overview.py").run()
    assert not at.exception
    at.switch_page("views/toy.py").run()
    assert at.get("progress") or at.dataframe  # still running (live view) or already finished
    poll_until(at, lambda a: a.dataframe and not a.get("progress"))
    assert list(at.dataframe[0].value["k"]) == ["4", "1/4"]
    assert at.multiselect(key="toy_k").value == ["1/4", "4"]  # settings persisted across the switch
