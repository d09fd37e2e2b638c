"""End to end: the live Playground under `streamlit run`, driven in headless Chromium.

It plays by itself, a click on a panel adds a point and a click on a point flips it (every panel gets the change,
training goes on), a k typed while it plays joins without a reset, Pause / Step / scrubbing behave, a hidden
tab stops asking for frames, 8 k keep panels at least 300 px wide at 1400 x 900 (two per row from four k), and
on a 390 px phone nothing is wider than the screen. Screenshots go to artifacts/screenshots/playground_*.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app_server import chromium, streamlit_app

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"
CANVAS = "document.querySelector('.pgc-root')"
LINK = "/playground?dataset=moons&points=300&noise=0&outliers=0&ks=1%2F4&ks=1&ks=4&steps=5000&seeds=1"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The dashboard under `streamlit run` on a free loopback port (its own run database); stopped at the end."""
    with streamlit_app(tmp_path_factory.mktemp("pg") / "runs.sqlite") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _wait(page, condition: str, arg=None, timeout: int = 30_000) -> None:
    """page.wait_for_function for a JS expression or arrow function that reads the canvas. Streamlit re-mounts
    the component when a preset or a setting changes, so for a moment there is no canvas: a condition that
    throws then (reading null) counts as "not yet" instead of failing the wait."""
    if condition.lstrip().startswith("(") and "=>" in condition.split("{")[0]:
        js = f"(a) => {{ try {{ return ({condition})(a); }} catch (e) {{ return false; }} }}"
    else:
        js = f"() => {{ try {{ return ({condition}); }} catch (e) {{ return false; }} }}"
    page.wait_for_function(js, arg=arg, timeout=timeout)


def _open(browser, url: str, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    _wait(page, f"() => {{ const r = {CANVAS}; return r && Number(r.dataset.frames) > 3; }}",
                           timeout=60_000)
    return context, page


def _state(page, expr: str):
    return page.evaluate(f"(() => {{ const S = {CANVAS}.__pg; return {expr}; }})()")


def _step(page) -> int:
    return int(page.evaluate(f"{CANVAS}.dataset.step"))


def _wait_step_past(page, step: int, timeout: int = 15_000) -> None:
    _wait(page, f"(s) => Number({CANVAS}.dataset.step) > s", arg=step, timeout=timeout)


def _shot(page, name: str) -> None:
    """A screenshot of the screen as the user sees it, and one of the whole page (viewport grown to fit)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    size = page.viewport_size
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(max(height + 80, size["height"]), 6000)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / f"{name}_full.png"))
    page.set_viewport_size(size)
    assert page.locator('[data-testid="stException"]').count() == 0


def _wait_or_report(page, condition: str, name: str, timeout: int = 20_000) -> None:
    """Wait for `condition`; if it never holds, fail with the canvas's state and a screenshot to look at."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        _wait(page, condition, timeout=timeout)
    except PlaywrightTimeout:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"playground_failed_{name}.png"))
        state = _state(page, "[S.gen, S.titles, S.playing, S.alive, S.queue.length, S.inflight, S.seq, S.sentSeq]")
        pills = page.evaluate("Array.from(document.querySelectorAll('[data-testid=\"stButtonGroup\"] button'))"
                              ".map(b => b.innerText + ':' + (b.getAttribute('aria-checked') || b.getAttribute("
                              "'aria-pressed') || b.getAttribute('kind')))")
        alerts = page.evaluate("Array.from(document.querySelectorAll('[data-testid=\"stAlert\"]'))"
                               ".map(a => a.innerText.slice(0, 60))")
        raise AssertionError(f"{condition} never held; canvas [gen, titles, playing, alive, queued, inflight, "
                             f"seq, sent]: {state}; pills {pills}; alerts {alerts}; url {page.url}; "
                             f"screenshot playground_failed_{name}.png") from None


def _panel_point(page, panel: int, fx: float, fy: float) -> tuple[float, float]:
    """Page coordinates of the point at fractions (fx, fy) of panel `panel`'s field (0, 0 = top left)."""
    box = page.locator(".pgc-canvas").bounding_box()
    size, per_row = _state(page, "S.geom.size"), _state(page, "S.geom.perRow")
    x0 = (panel % per_row) * (size + 14)
    y0 = (panel // per_row) * (size + 46 + 14) + 46
    return box["x"] + x0 + fx * size, box["y"] + y0 + fy * size


_LONELIEST = """(() => { const p = S.shown.points; let best = 0, far = -1;
    for (let i = 0; i < p.n; i++) { let near = Infinity;
      for (let j = 0; j < p.n; j++) {
        if (j !== i) near = Math.min(near, Math.hypot(p.xy[2*i] - p.xy[2*j], p.xy[2*i+1] - p.xy[2*j+1]));
      }
      if (near > far) { far = near; best = i; } }
    return best; })()"""


def test_it_plays_takes_clicks_and_steers_while_playing(app_url, browser):
    """Opens playing; a click on empty field adds a point to every panel and a click on a point flips its label,
    with training going on; a k typed mid-play joins as a new panel without a reset; Pause stops, Step moves one
    frame, scrubbing shows a recorded frame, Reset starts a new record at step 0; a hidden tab stops training."""
    context, page = _open(browser, app_url + LINK, 1400, 900)
    try:
        step = _step(page)
        _wait_step_past(page, step)
        _shot(page, "playground_1400")
        n = int(page.evaluate(f"{CANVAS}.dataset.n"))
        page.mouse.click(*_panel_point(page, 1, 0.04, 0.04))  # the empty top-left corner of the middle panel
        _wait(page, f"(n) => Number({CANVAS}.dataset.n) === n + 1", arg=n, timeout=10_000)
        assert _state(page, "S.shown.points.label[S.shown.points.n - 1]") == 1  # red, the default class
        index = _state(page, _LONELIEST)  # a point no other point overlaps, so the click can only mean it
        xy = _state(page, f"Array.from(S.shown.points.xy.slice({2 * index}, {2 * index + 2}))")
        bounds = _state(page, "S.shown.points.bounds")
        label = _state(page, f"S.shown.points.label[{index}]")
        fx, fy = (xy[0] - bounds[0]) / (bounds[1] - bounds[0]), 1 - (xy[1] - bounds[2]) / (bounds[3] - bounds[2])
        page.mouse.click(*_panel_point(page, 0, fx, fy))  # that point, clicked in the first panel
        _wait(page, "([i, l]) => { const S = document.querySelector('.pgc-root').__pg;"
                               " return S.shown.points.label[i] === 1 - l; }", arg=[index, label], timeout=10_000)
        step = _step(page)
        _wait_step_past(page, step)  # training goes on with the edited data

        before = _step(page)
        box = page.get_by_role("textbox", name="Add a k value")
        box.fill("2")
        box.press("Enter")
        _wait(page, f"{CANVAS}.dataset.titles.split('|').includes('k = 2')", timeout=15_000)
        assert _step(page) >= before  # no reset: it goes on from the current weights
        _wait_step_past(page, _step(page))
        _shot(page, "playground_1400_four_k")
        assert _state(page, "S.geom.perRow") == 2 and _state(page, "S.geom.size") >= 300  # two per row from 4 k

        page.get_by_role("button", name="❚❚ Pause").click()
        page.wait_for_timeout(600)
        paused = _step(page)
        page.wait_for_timeout(700)
        assert _step(page) == paused
        page.get_by_role("button", name="Step ▸").click()
        _wait(page, f"(s) => Number({CANVAS}.dataset.step) === s + 5", arg=paused, timeout=10_000)
        page.locator(".pgc-range").fill("0")
        _wait(page, f"{CANVAS}.dataset.step === '0'", timeout=5_000)  # the first recorded frame
        gen = _state(page, "S.gen")
        page.get_by_role("button", name="⟲ Reset").click()  # back to step 0 with fresh weights: a new record
        _wait(page, f"(g) => {{ const S = {CANVAS}.__pg; return S.gen !== g && S.history.length === 1; }}",
                               arg=gen, timeout=10_000)
        paused = _step(page)

        page.get_by_role("button", name="▶ Play").click()
        _wait_step_past(page, paused + 5)
        _hide(page)
    finally:
        context.close()


def _hide(page) -> None:
    """The tab goes to the background: what was queued or in flight plays out, then no request, so no training."""
    page.evaluate("Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
                  "document.dispatchEvent(new Event('visibilitychange'))")
    _wait(page, f"() => {{ const S = {CANVAS}.__pg; return !S.inflight && !S.queue.length; }}",
                           timeout=15_000)
    step, sent = _step(page), _state(page, "S.seq")
    page.wait_for_timeout(1000)
    assert _step(page) == step and _state(page, "S.seq") == sent  # no more requests: nothing trains


def _click_with_a_canvas_request(page, selector: str, text: str, timeout: int = 10_000) -> None:
    """Click the element `selector` that shows `text` in the same browser tick as a canvas request for frames, as
    happens now and then while it plays: Streamlit sends both as one rerun of the canvas fragment alone. Waits
    until the canvas (re-mounted after a preset or a setting changes) and the element are both on the page."""
    page.wait_for_function("""([selector, text]) => {
        const root = document.querySelector('.pgc-root'), S = root && root.__pg;
        const target = Array.from(document.querySelectorAll(selector)).find(e => e.innerText.includes(text));
        if (!S || !S.setTriggerValue || !target) return false;
        S.seq += 1; S.sentSeq = S.seq; S.inflight = performance.now();
        S.setTriggerValue("req", {seq: S.seq, gen: S.gen, want: 1, spf: 5, edits: [], reset: S.resetId, until: 0});
        target.click();
        return true; }""", arg=[selector, text], timeout=timeout)


def test_a_preset_and_an_outlier_clicked_into_its_corner(app_url, browser):
    """The teacher's minute: the default preset plays with its sentence on screen; pressing another preset starts
    it (also when the press reaches the server with a canvas request for frames); back on the outliers preset, an
    outlier clicked into the empty corner joins every panel at once."""
    context, page = _open(browser, app_url + "/playground", 1400, 900)
    try:
        assert "Cross-entropy reaches out" in page.locator('[data-testid="stAlert"]').first.inner_text()
        page.locator('[data-testid="stButtonGroup"]').get_by_text("Spiral: seeds matter").click()
        _wait(page, f"{CANVAS}.dataset.titles.split('|').includes('k = 4')", timeout=20_000)
        _wait(page, "Array.from(document.querySelectorAll('[data-testid=\"stAlert\"]'))"
                               ".some(a => a.innerText.includes('By step 200'))", timeout=10_000)
        _click_with_a_canvas_request(page, '[data-testid="stButtonGroup"] button', "Outliers: CE vs k = 1/4")
        _wait_or_report(page, f"{CANVAS}.dataset.titles.split('|').length === 2", "preset_switch")
        _wait_step_past(page, 20)
        page.get_by_role("button", name="◆ outlier").click()
        n = int(page.evaluate(f"{CANVAS}.dataset.n"))
        page.mouse.click(*_panel_point(page, 0, 0.95, 0.06))  # the empty top-right corner
        _wait(page, f"(n) => Number({CANVAS}.dataset.n) === n + 1", arg=n, timeout=10_000)
        assert _state(page, "S.shown.points.kind[S.shown.points.n - 1]") == 2  # drawn as an outlier
        page.locator(".pgc-speed").select_option("20")  # on to the stop step, 20 steps per frame
        _wait(page, f"Number({CANVAS}.dataset.step) >= 400 && !{CANVAS}.__pg.playing", timeout=40_000)
        assert "Paused at step 400" in page.locator(".pgc-status").inner_text()  # the preset's stop step
        _shot(page, "playground_1400_outlier_clicked")
    finally:
        context.close()


def test_eight_k_keep_panels_readable_at_1400(app_url, browser):
    """Eight k at 1400 x 900: every panel at least 300 px wide, three per row; choosing another data set restarts
    from step 0 and the canvas says so."""
    ks = "&".join(f"ks={k}" for k in ("1%2F16", "1%2F8", "1%2F4", "1%2F2", "1", "2", "4", "8"))
    context, page = _open(browser, f"{app_url}/playground?dataset=spiral&points=100&seeds=1&{ks}", 1400, 900)
    try:
        assert _state(page, "S.geom.size") >= 300 and _state(page, "S.geom.perRow") == 3
        assert len(page.evaluate(f"{CANVAS}.dataset.titles").split("|")) == 8
        _shot(page, "playground_1400_eight_k")
        _choose(page, "Data set", "circles")  # new data: a new session, and the canvas says so
        _wait(page, "document.querySelector('.pgc-status').innerText.includes('restarted from step 0')",
                               timeout=15_000)
    finally:
        context.close()


def _choose(page, label: str, option: str) -> None:
    """Pick `option` in the selectbox `label` (a rerun may close the list as it opens: then open it again)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label)
    for _ in range(3):
        box.locator("input").first.click()
        try:
            page.get_by_role("option", name=option).click(timeout=5_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise AssertionError(f"could not choose {option!r} in {label!r}")


def test_it_fits_a_phone(app_url, browser):
    """At 390 x 844 the controls, the panels and the colour key fit the screen (nothing wider than it)."""
    context, page = _open(browser, app_url + "/playground", 390, 844)
    try:
        too_wide = page.evaluate("""() => Array.from(document.querySelectorAll(
              '.pgc-bar, .pgc-btn, .pgc-canvas, .pgc-key, .pgc-key-item, .pgc-scrub, [data-testid="stButton"]'))
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.className)""")
        assert not too_wide, too_wide
        assert _state(page, "S.geom.perRow") == 1
        _shot(page, "playground_phone")
    finally:
        context.close()
