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
    published = [f for f in frames if "selected k" in f and "test error % k = 1" in f and not {"seed", "seeds"} & set(f)]
    assert sum(len(f) for f in published) == 36
    assert {5, 3, 1} <= {int(v) for f in published for v in f["hidden layers"]}
    assert not any("None" in str(v) or "_" in c for f in published for c in f for v in f[c])  # words, '–' for missing
    assert [b.key for b in at.button if b.key.startswith("paper_preset_")] == [
        "paper_preset_mnist-1layer", "paper_preset_fashion-depth", "paper_preset_paper-table1",
        "paper_preset_paper-tables34"]
    assert sum("about" in c.value and "at most" in c.value for c in at.caption) >= 4  # each preset's estimate
    ours = [f for f in frames if "selected k (per seed)" in f]
    assert ours and {"paper's k", "test error % k = 1"} <= set(ours[0].columns)
    assert all("_" not in c for c in ours[0].columns) and "1.000" not in ours[0].to_string()
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
        ours = [f for f in _tables(at) if "selected k (per seed)" in f]
        if ours:
            break
    assert ours, "the study did not finish within 120 s"
    assert len(ours[0]) == 1 and {"paper's k", "test error % k = 1"} <= set(ours[0].columns)
    titles = [f["layout"]["title"]["text"] for f in plotly_figures(at)]
    assert any("Selected k against depth" in t for t in titles) and any("(k, lr)" in t for t in titles)


def test_bad_grid_is_refused_with_a_message(app):
    """A grid the study cannot run (no data set chosen) shows st.error and disables Start, no traceback."""
    at = app("views/paper.py")
    at.multiselect(key="paper_datasets").unselect("mnist").run()
    assert not at.exception
    assert any("Cannot start" in e.value for e in at.error)
    assert at.button(key="paper_start").disabled


def test_the_cell_picker_belongs_to_the_study_shown(app):
    """Picking another study shows its own cells in the Cell box, first cell chosen (not the previous study's
    third cell)."""
    at = app("views/paper.py")
    at.selectbox(key="paper_pick").set_value("example:study_fashion_depth").run()
    next(s for s in at.selectbox if (s.key or "").startswith("paper_cell")).set_value(2).run()
    at.selectbox(key="paper_pick").set_value("example:study_mnist_1layer").run()
    box = next(s for s in at.selectbox if (s.key or "").startswith("paper_cell"))
    assert len(box.options) == 1 and box.options[0].startswith("MNIST") and box.value == 0
    titles = [f["layout"]["title"]["text"] for f in plotly_figures(at)]
    assert not any("Fashion" in t for t in titles)


def test_study_labels_carry_no_progress_and_the_caption_counts_from_the_store(app):
    """The study picker names the study; how many runs finished is said once, in the caption drawn from
    the store (the label said 0/48 while the caption below said 3/48)."""
    at = app("views/paper.py")
    assert not any("finished" in o for o in at.selectbox(key="paper_pick").options)
    assert any("120/120 runs finished" in c.value for c in at.caption)  # the bundled fashion-depth result


def test_a_cell_without_results_is_named_once():
    """A note about a cell that cannot be summarized names the cell once ('MNIST · 1 x 400 · ...:' was said twice)."""
    from core.study import StudyConfig
    from core.study.table import study_table

    study = StudyConfig.grid(["mnist"], [1], [400], [0.5], ks=[0.5, 1.0], lrs=[0.1], seeds=[0])
    cell = study.cells[0]
    _, notes = study_table({cell: []})
    assert len(notes) == 1 and notes[0].count(cell.label) == 1


def test_a_stopped_study_offers_resume_with_its_estimate(app):
    """A study stopped before its runs trained shows how many runs are left and a Resume button that queues
    only those."""
    from app.state import get_lab
    from core.study import StudyConfig
    from core.study import submit as submit_study

    at = app("views/paper.py")
    lab = get_lab()
    study = StudyConfig.grid(["mnist"], [1], [16], [0.5], ks=[0.5, 1.0], lrs=[0.1], seeds=[0], epochs=1, patience=1,
                             n_train=300, n_val=200, n_test=200)
    submit_study(lab, study, owner="someone else")
    lab.jobs.cancel_all()
    for job in lab.jobs.jobs():
        lab.jobs.wait(job.id, timeout=60)
    at.run()  # the picker lists the new study
    at.selectbox(key="paper_pick").set_value(f"store:{study.id}").run()
    assert any("2 of 2 runs are not finished" in c.value and "Resume" in c.value for c in at.caption)
    at.button(key=f"paper_resume_{study.id}").click().run()
    assert len(lab.store.list_runs(kind="study")) == 4  # the two stopped, and the two queued again
    lab.jobs.cancel_all()
