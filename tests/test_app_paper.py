"""AppTest of the Paper tables page: the published tables when empty, a tiny study launched from the page."""

from __future__ import annotations

import time

from conftest import plotly_figures


def _tables(at) -> list:
    return [d.value for d in at.dataframe]


def test_empty_page_shows_the_published_tables_and_the_bundled_result(app):
    """With no study in the store, the page shows the paper's Tables 1, 3 and 4 (all 36 published rows)
    and a bundled result (assets/study_*.json): our table beside the paper's, and the depth figure."""
    at = app("views/paper.py")
    assert not at.error
    frames = _tables(at)
    published = [f for f in frames if "selected_k" in f and "test_error_k1" in f and not {"seed", "seeds"} & set(f)]
    assert sum(len(f) for f in published) == 36
    assert {5, 3, 1} <= {int(v) for f in published for v in f["layers"]}
    assert [b.key for b in at.button if b.key.startswith("paper_preset_")] == [
        "paper_preset_mnist-1layer", "paper_preset_fashion-depth", "paper_preset_paper-table1",
        "paper_preset_paper-tables34"]
    assert any("≤" in c.value for c in at.caption)  # every preset shows its estimate before it starts
    ours = [f for f in frames if "k chosen per seed (k:seeds)" in f]
    assert ours and {"selected_k", "paper_selected_k"} <= set(ours[0].columns)
    assert at.selectbox(key="paper_pick").value.startswith("example:study_")
    assert any("Selected k against depth" in f["layout"]["title"]["text"] for f in plotly_figures(at))


def test_tiny_study_launched_from_the_page_finishes_and_shows_our_table(app):
    """A tiny grid started from the page trains in the background, and once done the page shows our
    table (one row per cell, the paper's columns beside ours), the depth figure and the surface."""
    at = app("views/paper.py")
    at.number_input(key="paper_ntrain").set_value(300)
    at.number_input(key="paper_neval").set_value(200)
    at.number_input(key="paper_epochs").set_value(2)
    at.number_input(key="paper_patience").set_value(1)
    at.number_input(key="paper_seeds").set_value(1)
    at.text_input(key="paper_widths_add").input("16").run()
    at.multiselect(key="paper_widths").unselect("400").run()
    at.button(key="paper_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.5)
        at.run()
        ours = [f for f in _tables(at) if "k chosen per seed (k:seeds)" in f]
        if ours:
            break
    assert ours, "the study did not finish within 120 s"
    assert len(ours[0]) == 1 and {"selected_k", "paper_selected_k", "test_error_k1"} <= set(ours[0].columns)
    titles = [f["layout"]["title"]["text"] for f in plotly_figures(at)]
    assert any("Selected k against depth" in t for t in titles) and any("(k, lr)" in t for t in titles)


def test_bad_grid_is_refused_with_a_message(app):
    """A grid the study cannot run (no data set chosen) shows st.error and disables Start, no traceback."""
    at = app("views/paper.py")
    at.multiselect(key="paper_datasets").unselect("mnist").run()
    assert not at.exception
    assert any("Cannot start" in e.value for e in at.error)
    assert at.button(key="paper_start").disabled
