"""Every page in a real browser, with saved results: every chart has room, no page shows an exception.

Seeds a run store with tiny real runs (a toy run, an MNIST grid over two seeds with one stopped run, a
label-noise comparison; the Paper page shows its bundled study results), starts the app on it, opens every
page at 1400 x 900 and measures each visible Plotly plotting area (the subplot's drag
rectangle): each must be at least 240 x 160 px. Screenshots of every page at 1400 x 900 and 390 x 844
go to artifacts/screenshots/views-*.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app_server import chromium, streamlit_app

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"
MIN_W, MIN_H = 240, 160
PAGES = ["", "sensitivity", "toy", "mnist", "noise", "paper"]

pytestmark = pytest.mark.browser


def _seed(path: Path) -> None:
    """Tiny real runs of every experiment in the store at `path`."""
    import torch

    from core.engine.lab import Lab
    from core.engine.store import RunStore
    from core.mnist import DataConfig, TrainConfig
    from core.mnist import task as mnist_task
    from core.noise import comparison_configs
    from core.toy import ToyConfig
    from core.toy import task as toy_task

    torch.set_num_threads(1)
    lab = Lab(RunStore(path))
    toy_task.run_here(lab, ToyConfig(ks=(4.0, 1.0, 0.25), runs=2, n_train=1000, n_val=1000, n_test=1000,
                                     patience=50, max_epochs=400))
    data = DataConfig(n_train=1000, n_val=500, n_test=500, train_eval=500)
    configs = [TrainConfig(hidden=(32,), k=k, lr=0.1, epochs=2, seed=s) for k in (0.5, 1.0) for s in (0, 1)]
    ids, _ = mnist_task.run_here(lab, configs, data)
    stopped = lab.store.get_run(ids[0])  # the same configuration launched again and stopped
    rid = lab.store.create_run("mnist", stopped["config"], label=stopped["label"], group_id="again")
    lab.store.finish(rid, "stopped")
    noisy = comparison_configs(["ce", "tunable:k=0.5"], [0.4], seeds=(0, 1),
                               base=TrainConfig(hidden=(32,), epochs=2))
    mnist_task.run_here(lab, noisy, data, kind="noise")  # the Paper page shows its bundled study results


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory):
    db = tmp_path_factory.mktemp("views") / "runs.sqlite"
    _seed(db)
    with streamlit_app(db) as url:
        yield url


PLOT_AREAS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(gd => {
    const r = gd.getBoundingClientRect(); if (!r.width || !r.height) return [];   // hidden (a closed expander)
    const title = (gd.layout && gd.layout.title && gd.layout.title.text) || '(untitled)';
    return Array.from(gd.querySelectorAll('.nsewdrag')).map(d => {
        const b = d.getBoundingClientRect(); return {title, w: Math.round(b.width), h: Math.round(b.height)}; });
})"""


def _open(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stApp"]', timeout=30_000)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 1", timeout=60_000)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"] [data-testid=\"stSpinner\"]')",
                           timeout=30_000)
    page.wait_for_timeout(1200)


def _small_areas(page, path: str) -> list:
    """Plotting areas under MIN_W x MIN_H on the page, in every tab of it (a hidden tab's charts have no size
    until it is opened)."""
    small = [(path, a) for a in page.evaluate(PLOT_AREAS) if a["w"] < MIN_W or a["h"] < MIN_H]
    tabs = page.locator('[role="tab"]')
    for i in range(1, tabs.count()):
        tabs.nth(i).click()
        page.wait_for_timeout(1000)
        small += [(f"{path} tab {i}", a) for a in page.evaluate(PLOT_AREAS) if a["w"] < MIN_W or a["h"] < MIN_H]
    if tabs.count():
        tabs.nth(0).click()
    return small


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("(document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(max(height + 80, size["height"]), 9000)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def test_every_chart_has_room_and_no_page_fails(seeded_server):
    """At 1400 x 900 every visible Plotly plotting area on every page (with saved results) is at least
    240 x 160 px, and no page shows an exception; at 390 x 844 no page shows one either."""
    small, broken = [], []
    with chromium() as browser:
        for width, height in ((1400, 900), (390, 844)):
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            for path in PAGES:
                _open(page, f"{seeded_server}/{path}")
                name = f"views-{path or 'overview'}-{width}"
                if page.locator('[data-testid="stException"]').count():
                    broken.append((name, page.locator('[data-testid="stException"]').first.inner_text()[:300]))
                if width == 1400:
                    small += _small_areas(page, path)
                _shot(page, name)
            context.close()
    assert not broken, broken
    assert not small, small
