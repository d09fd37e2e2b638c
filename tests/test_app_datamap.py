"""AppTest tests of the Example lens page: the bundled example on an empty lab, URL settings (good and bad),
the Quick preset, and a tiny launch through the Lab that lands as a readable result."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from app.plots import datamap as charts
from core.datamap.experiment import launches
from core.engine.store import RunStore
from tests.conftest import ROOT, plotly_figures, poll_until
from tests.conftest import data_unavailable
from tests.app_server import chromium, streamlit_app

PAGE = "views/datamap.py"


def _titles(at) -> list[str]:
    return [f["layout"]["title"]["text"] for f in plotly_figures(at)]


def _gallery(at, key: str = "hardest") -> str:
    return next((h.proto.body for h in at.get("html") if f"dm-gallery-{key}" in h.proto.body), "")


def test_empty_lab_reads_the_bundled_example(app):
    """With no runs, the page reads the bundled Quick result: a data map per k (flipped vs clean), the hardest
    images (12, the first flipped), the push shares, and AUROC per k beside cleanlab's reference."""
    at = app(PAGE)
    assert at.selectbox(key="dm_launch").value == "example"
    assert [s.value for s in at.subheader] == ["1 · Data maps, one per k", "2 · The hardest images",
                                               "3 · Whom each k ignores", "4 · Finding the label errors"]
    titles = _titles(at)
    assert {"Data map at k = 1/4", "Data map at k = 1", "Push that went to flipped labels",
            "Finding the flipped labels (AUROC)"} <= set(titles)
    maps = [f for f in plotly_figures(at) if f["layout"]["title"]["text"].startswith("Data map")]
    assert [t["name"].split(" (")[0] for t in maps[0]["data"]] == ["clean", "flipped"]
    assert "40% of the set" in at.info[0].value
    table = next(d.value for d in at.dataframe if "AUROC" in d.value.columns)
    assert table["detector"].str.startswith("cleanlab").sum() == 1
    assert (table["AUROC"] > 0.9).all()  # every detector finds the flips on MNIST
    gallery = _gallery(at)
    if not gallery:
        data_unavailable("MNIST images unavailable here")
    assert gallery.count("<figure") == 12 and "(true <b>" in gallery  # lowest confidence: flipped labels


def test_url_settings_choose_the_view(app):
    """?score=push&gk=1&n=4 sorts the gallery by push at k = 1 and shows 4 images; the settings stay in the URL."""
    at = app(PAGE, query={"score": "push", "gk": "1", "n": "4"})
    assert at.selectbox(key="dm_score").value == "push"
    assert at.selectbox(key="dm_gk").value == "1"
    assert at.number_input(key="dm_n").value == 4
    assert not at.warning
    gallery = _gallery(at)
    if gallery:
        assert gallery.count("<figure") == 4
    assert at.query_params["score"] == "push" and at.query_params["n"] == "4"


def test_bad_url_values_warn_and_fall_back(app):
    """Unusable URL values are each named in a warning, the defaults are shown, and nothing raises."""
    at = app(PAGE, query={"score": "loss", "n": "1000", "ds": "imagenet", "rate": "0.97", "lr": "1e-9",
                          "epochs": "nan", "gk": "zero", "launch": "deadbeef", "dm_k": "abc"})
    text = " ".join(w.value for w in at.warning)
    for bad in ("score=loss", "n=1000", "ds=imagenet", "rate=0.97", "lr=1e-9", "epochs=nan", "gk=zero", "dm_k=abc"):
        assert bad in text
    assert "deadbeef" in text  # a launch id that is not in this store
    assert at.selectbox(key="dm_score").value == "confidence"
    assert at.number_input(key="dm_n").value == 12
    assert at.selectbox(key="dm_ds").value == "mnist"
    assert not at.exception


def test_quick_preset_fills_the_form_and_launches(app):
    """Quick: MNIST, 40% symmetric noise, k = 1/4 and 1, 4,000 images, 10 epochs, launched at once (then Stop)."""
    at = app(PAGE)
    at.button(key="dm_quick").click().run()
    assert at.selectbox(key="dm_ds").value == "mnist" and at.selectbox(key="dm_noise").value == "symmetric"
    assert at.number_input(key="dm_rate").value == pytest.approx(0.4)
    assert at.multiselect(key="dm_k").value == ["1/4", "1"]
    assert at.number_input(key="dm_ntrain").value == 4000 and at.number_input(key="dm_epochs").value == 10
    assert len(at.get("progress")) >= 1 and "yours" in at.get("progress")[0].proto.text
    next(b for b in at.button if b.key and b.key.startswith("dm_stop_")).click().run()
    poll_until(at, lambda a: not a.get("progress"), timeout=90)


def test_a_tiny_launch_without_noise_lands_as_a_result(app):
    """A small clean launch trains through the Lab, then the page reads it: maps coloured by correctness,
    no label-error section to fill, runs saved as kind datamap."""
    at = app(PAGE)
    at.selectbox(key="dm_noise").set_value("none").run()
    at.number_input(key="dm_ntrain").set_value(500).run()
    at.number_input(key="dm_epochs").set_value(2).run()
    at.button(key="dm_launch_button").click().run()
    assert not at.error, [e.value for e in at.error]
    poll_until(at, lambda a: not a.get("progress"), timeout=180)
    picked = at.selectbox(key="dm_launch")
    assert picked.value != "example" and "2 of 2 runs done" in picked.format_func(picked.value)  # no reference run
    maps = [f for f in plotly_figures(at) if f["layout"]["title"]["text"].startswith("Data map")]
    assert len(maps) == 2 and maps[0]["data"][0]["name"].startswith("mostly right")
    assert any("nothing to find" in i.value for i in at.info)
    assert "No label was flipped" in at.info[0].value


def test_a_command_training_in_another_process_shows_live_and_its_epochs_so_far(app, tmp_path):
    """`python -m core.datamap` running elsewhere on the same store: the page shows its curves live and
    already reads the epochs each run has saved (its files are rewritten every epoch)."""
    at = app(PAGE)
    proc = subprocess.Popen([sys.executable, "-m", "core.datamap", "--n-train", "1000", "--epochs", "200", "--hidden",
                             "16", "--threads", "1", "--quiet", "--npz", str(tmp_path / "o.npz")],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        poll_until(at, lambda a: any("another process" in s.value for s in a.subheader), timeout=120)
        running = launches(RunStore())["launch"].iloc[0]  # the app's store ($TUNABLE_RUNS_DB)
        at.selectbox(key="dm_launch").set_value(running).run()
        poll_until(at, lambda a: "clean labels" in a.info[0].value and
                   any(t.startswith("Data map") for t in _titles(a)), timeout=120)
        assert "0 of 2 runs done" in at.selectbox(key="dm_launch").format_func(running)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_data_map_builder_samples_large_sets_and_keeps_the_flips():
    """A 20,000-image map draws at most MAX_POINTS points, every flipped one among them when they fit;
    the legend counts all images; customdata points back into the arrays."""
    rng = np.random.default_rng(0)
    n = 20_000
    flipped = rng.random(n) < 0.1
    fig = charts.data_map(rng.random(n), rng.random(n) * 0.4, 0.25, index=np.arange(n), given=np.zeros(n, int),
                          true=np.where(flipped, 1, 0), flipped=flipped, correctness=rng.random(n))
    clean, flips = fig.data
    assert len(clean.x) + len(flips.x) == charts.MAX_POINTS
    assert len(flips.x) == flipped.sum() and flips.name == f"flipped ({flipped.sum():,})"
    assert flipped[np.asarray(flips.customdata)].all() and not flipped[np.asarray(clean.customdata)].any()
    assert fig.layout.title.text == "Data map at k = 1/4"


def test_gallery_html_has_one_card_per_image_with_its_caption():
    """One <figure> per card, each a PNG data URL and the caption given."""
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    out = charts.gallery_html(images, [(0, "#0 · given <b>3</b>"), (4, "#4")], "t")
    assert out.count("<figure") == 2 and out.count("data:image/png;base64,") == 2
    assert "#0 · given <b>3</b>" in out and 'class="dm-gallery-t"' in out


# ----------------------------------------------------------------------------- in a real browser
PLOT_SIZES = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => {
    const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
    const t = gd.querySelector('.gtitle').getBoundingClientRect();
    return {width: r.width, height: r.height, titleHeight: t.height};})"""


@pytest.fixture(scope="module")
def lens_url(tmp_path_factory):
    """The real app under `streamlit run` with an empty run store (so the page reads the bundled example);
    its output is kept in artifacts/lens_server.log."""
    (ROOT / "artifacts").mkdir(exist_ok=True)
    with streamlit_app(tmp_path_factory.mktemp("lens") / "runs.sqlite", log=ROOT / "artifacts" / "lens_server.log") as url:
        yield url


@pytest.mark.browser
def test_in_a_browser_charts_fit_and_a_click_shows_the_image(lens_url):
    """At 1400x900 every plotting area is at least 240x160 px with a one-line title, and clicking a point of
    a data map shows that image (and puts it in the URL); at 390x844 the charts keep at least 240 px of width."""
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{lens_url}/datamap")
        page.wait_for_selector("text=Finding the label errors", timeout=180_000)
        time.sleep(3)
        assert page.locator("[data-testid='stException']").count() == 0
        sizes = page.evaluate(PLOT_SIZES)
        assert len(sizes) >= 4
        assert all(s["width"] >= 240 and s["height"] >= 160 and s["titleHeight"] < 30 for s in sizes), sizes
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        time.sleep(1)
        x, y = page.evaluate("""() => { const gd = document.querySelectorAll('.js-plotly-plot')[0];
            const t = gd._fullData[1], r = gd.querySelector('.nsewdrag').getBoundingClientRect();
            return [r.left + gd._fullLayout.xaxis.l2p(t.x[0]), r.top + gd._fullLayout.yaxis.l2p(t.y[0])]; }""")
        page.mouse.click(x, y)
        page.wait_for_selector("text=The image you picked", timeout=30_000)
        page.wait_for_function("() => location.search.includes('img=')", timeout=15_000)
        assert "launch=example" in page.url
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.goto(f"{lens_url}/datamap")
        phone.wait_for_selector("text=Finding the label errors", timeout=180_000)
        time.sleep(3)
        assert all(s["width"] >= 240 for s in phone.evaluate(PLOT_SIZES))
