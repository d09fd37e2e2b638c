"""AppTest tests of the Label-noise page: tiny MNIST and toy comparisons to completion, Stop, bad input."""

from __future__ import annotations

import time

import pytest

from tests.conftest import ROOT, plotly_figures

PAGE = "views/noise.py"


def _poll_until(at, done, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.3)
        at.run()  # run_every does not fire in AppTest: poll by rerunning
        assert not at.exception, [e.value for e in at.exception]
        if done(at):
            return at
    raise AssertionError("timed out waiting for the page")


def _tiny_mnist(at, n_train=500, epochs=1, rates=("0.4",), seeds=1):
    """Two objectives (k = 1/4 and CE), one hidden layer of 32, a few hundred images."""
    at.radio(key="noise_dataset").set_value("MNIST")
    at.multiselect(key="noise_k").set_value(["1/4"])
    at.multiselect(key="noise_rates").set_value(list(rates))
    for name in ("gce", "sce", "nce_rce", "mae", "focal", "unhinged"):
        at.checkbox(key=f"noise_{name}").uncheck()
    at.checkbox(key="noise_ce").check()
    at.text_input(key="noise_hidden").set_value("32")
    at.number_input(key="noise_epochs").set_value(epochs)
    at.number_input(key="noise_seeds").set_value(seeds)
    at.number_input(key="noise_n_train").set_value(n_train)
    at.number_input(key="noise_n_test").set_value(500)
    return at


def _stop_button(at):
    return next((b for b in at.button if b.key and b.key.startswith("noise_stop_")), None)


def _finished(at) -> bool:
    return bool(at.dataframe) and not at.get("progress")


def test_page_renders_and_explains_what_to_do(app):
    """With no saved comparisons the page renders without error, says which preset to press and shows the
    bundled result of that preset (bars from 0, k written as on every page, the k family in its k colours)."""
    at = app(PAGE)
    assert not at.error
    assert any("Quick: 40% symmetric" in i.value for i in at.info)
    (bars,) = plotly_figures(at)
    assert bars["layout"]["title"]["text"].startswith("Example: final clean test accuracy")
    assert bars["layout"]["xaxis"]["range"][0] == 0
    names = list(bars["data"][0]["y"])
    assert names[:3] == ["k = 1/4", "k = 1/2", "CE"] and "GCE (q = 0.7)" in names
    gce_rows = [line for line in (ROOT / "assets" / "noise_results.md").read_text().splitlines()
                if line.startswith("| GCE (q = 0.7)")]
    measured = float(gce_rows[-1].split("|")[3].split("±")[0])  # the Quick table is the file's last
    assert bars["data"][0]["x"][names.index("GCE (q = 0.7)")] == pytest.approx(measured)


def test_typed_noise_rate_adds_exactly_that_rate(app):
    """Typing 0.3 (or 30%) adds the rate 0.3 only; '1' is refused in red and blocks Run."""
    at = app(PAGE)
    at.text_input(key="noise_rates_add").set_value("30%").run()
    assert at.multiselect(key="noise_rates").value == ["0.3", "0.4"]
    at.text_input(key="noise_rates_add").set_value("1").run()
    assert at.multiselect(key="noise_rates").value == ["0.3", "0.4"]
    assert any("'1'" in e.value and "noise rates" in e.value for e in at.error)
    at.button(key="noise_run").click().run()
    assert any("marked in red" in e.value for e in at.error) and not at.get("progress")


def test_tiny_mnist_comparison_shows_table_and_figures(app):
    """A tiny MNIST comparison runs in the background; when it ends the table (one row per objective) and the
    accuracy, bar, memorization and memorized figures appear, and it is listed as a saved comparison."""
    at = _tiny_mnist(app(PAGE))
    at.button(key="noise_run").click().run()
    assert not at.error, [e.value for e in at.error]
    _poll_until(at, _finished)
    table = at.dataframe[0].value
    assert list(table["objective"]) == ["k = 1/4", "CE"] and set(table["noise rate"]) == {"40%"}
    assert "test accuracy (%)" in table.columns and "test cross-entropy (nats)" in table.columns
    titles = [f["layout"]["title"]["text"] for f in plotly_figures(at)]
    assert any(t.startswith("Clean test accuracy while training") for t in titles)
    assert any(t.startswith("Memorization at 40%") for t in titles)
    assert any(t.startswith("Flipped examples memorized") for t in titles)
    assert at.selectbox(key="noise_pick").value.startswith("mnist:")
    assert any("**done**" in c.value for c in at.caption)
    assert len(at.get("download_button")) == 2


def test_tiny_toy_comparison_shows_error_against_k(app):
    """A tiny toy comparison at two noise rates ends with a (k, rate) table and the error-against-k figure."""
    at = app(PAGE)
    at.radio(key="noise_dataset").set_value("1-D toy").run()
    at.multiselect(key="noise_k").set_value(["4", "1/4"])
    at.multiselect(key="noise_rates").set_value(["0", "0.2"])
    at.number_input(key="noise_seeds").set_value(2)
    at.number_input(key="noise_toy_n").set_value(500)
    at.number_input(key="noise_toy_patience").set_value(50)
    at.button(key="noise_run").click().run()
    assert not at.error, [e.value for e in at.error]
    _poll_until(at, _finished)
    assert at.selectbox(key="noise_pick").value.startswith("toy:")
    table = at.dataframe[0].value
    assert len(table) == 3 * 2  # k = 4, 1 (CE), 1/4 at two rates
    titles = [f["layout"]["title"]["text"].replace("<br>", " ") for f in plotly_figures(at)]  # wrapped for phones
    assert "Toy: test error against k" in titles
    assert "Toy: test error against the noise rate" in titles
    assert any("Why noise can lower the toy's test error" in c.value for c in at.caption)  # the surprise, explained


def test_bad_input_shows_an_error_not_a_traceback(app):
    """Unreadable hidden widths or noise rates are refused with st.error when Run is pressed."""
    at = _tiny_mnist(app(PAGE))
    at.text_input(key="noise_hidden").set_value("wide")
    at.button(key="noise_run").click().run()
    assert any("hidden widths" in e.value for e in at.error)
    at.text_input(key="noise_hidden").set_value("32")
    at.multiselect(key="noise_rates").set_value(["lots"])
    at.button(key="noise_run").click().run()
    assert any("noise rates" in e.value for e in at.error)
    assert not at.exception and not at.get("progress")


def test_stop_button_stops_and_keeps_the_runs(app):
    """Stop ends a long comparison within seconds; its runs are saved as stopped and listed."""
    at = _tiny_mnist(app(PAGE), n_train=20_000, epochs=50)
    at.button(key="noise_run").click().run()
    _poll_until(at, lambda a: len(a.get("progress")) == 1 and _stop_button(a) is not None)
    _stop_button(at).click().run()
    _poll_until(at, lambda a: not a.get("progress"), timeout=30)
    assert at.selectbox(key="noise_pick").value.startswith("mnist:")
    assert any("**stopped**" in c.value for c in at.caption)


def _toy_run(store, group: str, rate: float, status: str = "done") -> int:
    import dataclasses

    from core.toy import ToyConfig

    cfg = ToyConfig(ks=(4.0, 1.0), runs=1, n_train=500, n_val=500, n_test=500, label_noise=rate)
    rid = store.create_run("toy", dataclasses.asdict(cfg), label=f"label noise · 2 k, noise {rate:.0%}",
                           group_id=group)
    if status != "queued":
        store.finish(rid, status)
    return rid


def test_toy_comparisons_are_grouped_by_their_launch_not_by_their_labels(tmp_path):
    """Two toy comparisons whose run labels look alike stay two comparisons (grouped by the store's group id),
    each with all of its noise rates."""
    from core.engine.store import RunStore
    from core.noise.summary import saved_comparisons

    store = RunStore(tmp_path / "runs.sqlite")  # its own: other tests' comparisons are not this test's
    a = [_toy_run(store, "launchA", r) for r in (0.0, 0.2)]
    b = [_toy_run(store, "launchB", 0.4)]
    found = {e["key"]: e["ids"] for e in saved_comparisons(store)}
    assert found == {"toy:launchA": a, "toy:launchB": b}


def test_picker_labels_never_carry_a_status_and_the_status_is_the_stores(app, monkeypatch):
    """A comparison's label in the picker says what it is, not 'no finished epoch' (which went stale beside
    'Status: done'); the status line beside it is drawn in a fragment that polls the store while its runs
    are active."""
    from core.engine.store import RunStore
    from tests.test_app_mnist import _fragments

    seen = _fragments(monkeypatch)
    store = RunStore()
    ids = [_toy_run(store, "g1", r, status="queued") for r in (0.0, 0.2)]
    at = app(PAGE)
    assert seen.get("saved.<locals>.view") == 1.0
    label_before = at.selectbox(key="noise_pick").options[0]
    assert "no finished epoch" not in label_before
    assert any("2 **queued**" in c.value for c in at.caption)
    for rid in ids:
        store.finish(rid, "stopped")
    at.run()
    assert at.selectbox(key="noise_pick").options[0] == label_before
    assert any("2 **stopped**" in c.value for c in at.caption)
