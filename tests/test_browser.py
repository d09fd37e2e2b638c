"""End to end: the real app under `streamlit run`, every page opened in headless Chromium.

Starts the server on a free loopback port, opens each page, waits for its Plotly charts to
render, asserts that no Streamlit exception or error box is shown, saves a screenshot per page
to artifacts/screenshots/, and stops the server. `make test` provides Chromium when it is
missing (scripts/ensure_browser.sh); a missing browser fails this test rather than skipping it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app_server import chromium, streamlit_app

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with streamlit_app(tmp_path_factory.mktemp("browser") / "runs.sqlite") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    yield pg
    context.close()


def _wait_for_charts(page, n: int, timeout: int = 60_000) -> None:
    """Until at least n Plotly charts have drawn."""
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}", timeout=timeout)


def _open(page, url: str, charts: int) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stApp"]', timeout=30_000)
    if charts:
        _wait_for_charts(page, charts)
    page.wait_for_timeout(500)


def _assert_clean(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    # Streamlit scrolls inside its main container: grow the viewport to the content for a whole-page shot
    height = page.evaluate("(document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(max(height + 80, size["height"]), 7000)})
    page.wait_for_timeout(400)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 0, errors.first.inner_text()


PAGES = [("overview", "", 1), ("sensitivity", "sensitivity", 1)]
for name, charts in (("toy", 1), ("mnist", 2), ("noise", 1)):  # empty pages show an example or a figure
    if (ROOT / "app" / "views" / f"{name}.py").exists():
        PAGES.append((name, name, charts))


@pytest.mark.parametrize("name,path,charts", PAGES, ids=[p[0] for p in PAGES])
def test_page_renders_without_errors(server, page, name, path, charts):
    """Each page loads in a real browser, draws its charts, and shows no exception or error box."""
    _open(page, f"{server}/{path}", charts)
    assert page.locator('[data-testid="stSidebarNav"]').count() == 1
    _assert_clean(page, name)


def test_sensitivity_settings_round_trip_through_the_url(server, page):
    """A shared link opens the same view, and changing a widget writes it back to the URL."""
    _open(page, f"{server}/sensitivity?k=1%2F8&k=2&axes=log-log", charts=1)
    chips = page.locator('[data-testid="stMultiSelect"]').first.inner_text()
    assert "1/8" in chips and "2" in chips and "1/16" not in chips
    legend = page.locator(".js-plotly-plot").first.inner_text()
    assert "k = 1/8" in legend
    page.get_by_text("linear", exact=True).first.click()
    page.wait_for_function("!window.location.search.includes('axes=log-log')", timeout=10_000)
    assert "k=1%2F8" in page.url or "k=1/8" in page.url
    _assert_clean(page, "sensitivity-shared-link")


def _chips(page) -> list[str]:
    """The texts of the first multiselect's chips."""
    tags = page.locator('[data-testid="stMultiSelect"]').first.locator("[data-tag]")
    return [t.get_attribute("aria-label") for t in tags.all()]


def test_typing_a_k_value_adds_exactly_that_value(server, page):
    """Typing 0 and Enter in the Add box adds nothing (it is refused in red; the multiselect used to add every
    preset containing a 0); typing 0.3 adds 0.3 alone, to the chips, the chart and the URL."""
    _open(page, f"{server}/sensitivity", charts=1)
    before = _chips(page)
    box = page.get_by_role("textbox", name="Add a k value")
    box.fill("0")
    box.press("Enter")
    page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=10_000)
    assert _chips(page) == before and "'0'" in page.locator('[data-testid="stAlertContentError"]').inner_text()
    box.fill("0.3")
    box.press("Enter")
    page.wait_for_function("window.location.search.includes('k=0.3')", timeout=10_000)
    page.wait_for_function("Array.from(document.querySelectorAll('.js-plotly-plot .legend'))"
                           ".some(l => l.textContent.includes('k = 0.3'))", timeout=10_000)
    assert _chips(page) == ["1/16", "1/4", "0.3", "1/2", "1", "2", "4"] and box.input_value() == ""
    _assert_clean(page, "sensitivity-typed-k")


def test_a_bad_link_is_named_and_the_url_shows_what_is_drawn(server, page):
    """A link with an unreadable k opens with a warning naming it; the chips and the URL keep the readable ones."""
    _open(page, f"{server}/sensitivity?k=1%2F8&k=bad&k=0.25", charts=1)
    warning = page.locator('[data-testid="stAlertContentWarning"]').inner_text()
    assert "k=bad" in warning and "1/8, 1/4" in warning
    assert _chips(page) == ["1/8", "1/4"]
    page.wait_for_function("!window.location.search.includes('bad')", timeout=10_000)
    assert "k=1%2F4" in page.url or "k=1/4" in page.url


def test_overview_path_and_local_favicon(server, page):
    """/overview opens the Overview (not 'Page not found'), and the tab's icon is served by the app itself."""
    _open(page, f"{server}/overview", charts=1)
    page.wait_for_timeout(1000)
    assert page.get_by_text("Page not found").count() == 0
    assert page.locator("h1").first.inner_text().startswith("Tunable sensitivity to large errors")
    icons = page.evaluate("Array.from(document.querySelectorAll('link[rel*=icon]')).map(l => l.href)")
    assert icons and all(href.startswith(server) for href in icons), icons


@pytest.mark.parametrize("name,path,charts", PAGES, ids=[p[0] for p in PAGES])
def test_pages_fit_a_phone(server, browser, name, path, charts):
    """At 390 x 844 px every page's title and form fields fit the screen (nothing wider than the viewport),
    and no chart title runs past its chart."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    phone = context.new_page()
    try:
        _open(phone, f"{server}/{path}", charts)
        too_wide = phone.evaluate("""() => Array.from(document.querySelectorAll(
              'h1, [data-testid="stTextInput"], [data-testid="stMultiSelect"], [data-testid="stNumberInput"],'
            + '[data-testid="stSelectbox"], [data-testid="stButton"]'))
            .filter(e => e.offsetParent !== null)
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 || e.scrollWidth > e.clientWidth + 1)
            .map(e => e.getAttribute('data-testid') || e.tagName)""")
        assert not too_wide, too_wide
        cut = phone.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot')).filter(p => {
              const t = p.querySelector('.gtitle'); if (!t) return false;
              return t.getBoundingClientRect().right > p.getBoundingClientRect().right + 1; }).length""")
        assert cut == 0
        _assert_clean(phone, f"phone-{name}")
    finally:
        context.close()


def test_toy_quick_look_runs_live_to_results(server, page):
    """Pressing 'Quick look' shows live progress and charts, then the per-k table and plots."""
    _open(page, f"{server}/toy", charts=1)
    page.get_by_role("button", name="Quick look").click()
    page.wait_for_selector('[data-testid="stProgress"]', timeout=30_000)
    _wait_for_charts(page, 3)
    _assert_clean(page, "toy-live")
    page.wait_for_selector('[data-testid="stProgress"]', state="detached", timeout=120_000)
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=30_000)
    _wait_for_charts(page, 3, timeout=30_000)
    page.wait_for_timeout(1000)
    assert "Test error against k" in page.content()
    _assert_clean(page, "toy-results")


def test_mnist_quick_preset_launches_and_learns(server, page):
    """Quick preset (shrunk for CI) launches from the browser; live curves appear, then history and comparison."""
    _open(page, f"{server}/mnist", charts=0)
    page.get_by_role("button", name="Quick").click()
    page.wait_for_timeout(800)
    hidden = page.get_by_role("textbox", name="Hidden widths")
    hidden.fill("64")
    hidden.press("Enter")
    images = page.get_by_role("spinbutton", name="Training images")
    images.fill("3000")
    images.press("Enter")
    page.wait_for_timeout(800)
    page.get_by_role("button", name="Launch").click()
    page.wait_for_selector('[data-testid="stProgress"]', timeout=30_000)
    _wait_for_charts(page, 2, timeout=90_000)
    _assert_clean(page, "mnist-live")
    page.wait_for_selector('[data-testid="stProgress"]', state="detached", timeout=180_000)
    page.wait_for_function("document.body.innerText.includes('selection protocol')", timeout=30_000)
    page.wait_for_timeout(1000)
    _assert_clean(page, "mnist-results")


def test_noise_toy_preset_runs_to_results(server, page):
    """The label-noise page's toy preset runs in the background and ends with its figures and table."""
    _open(page, f"{server}/noise", charts=0)
    page.get_by_role("button", name="Toy: 0/20/40% noise").click()
    _wait_for_charts(page, 1, timeout=180_000)
    page.wait_for_selector('[data-testid="stProgress"]', state="detached", timeout=180_000)
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=60_000)
    page.wait_for_timeout(1500)
    _assert_clean(page, "noise-toy-results")
