"""End to end: a browser keeps its jobs across a reload and a new tab; another browser never gets them.

Launches the toy paper protocol (about a minute of training) on the real app in headless
Chromium, reloads mid-run and opens a second tab: both still show Stop on the job, and Stop still
stops it. A second browser (a new context, with its own cookies) sees the job but no Stop.
"""

from __future__ import annotations

import re

import pytest

from tests.test_browser import SHOTS, browser, server  # noqa: F401 (module fixtures: the app and Chromium)

pytestmark = pytest.mark.browser


def _toy_page(context, url: str):
    page = context.new_page()
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{url}/toy", wait_until="networkidle")
    page.get_by_role("button", name="Paper protocol").wait_for(timeout=60_000)
    return page


def _stop_buttons(page):
    return page.get_by_role("button", name=re.compile(r"^Stop$"))


def test_reload_and_new_tab_keep_stop_another_browser_does_not(server, browser):  # noqa: F811
    """Reload mid-run and a second tab of the same browser keep Stop on the job, and Stop works
    after the reload; another browser sees the job running but gets no Stop button."""
    mine = browser.new_context()
    page = _toy_page(mine, server)
    assert any(c["name"] == "tsl_owner" for c in mine.cookies()), "the owner cookie is written on first open"
    page.get_by_role("button", name="Paper protocol").click()  # a preset runs at once
    _stop_buttons(page).first.wait_for(timeout=60_000)

    page.reload(wait_until="networkidle")
    _stop_buttons(page).first.wait_for(timeout=60_000)  # still mine after F5
    tab = _toy_page(mine, server)
    _stop_buttons(tab).first.wait_for(timeout=60_000)  # and in a new tab of this browser
    tab.close()

    other = browser.new_context()
    theirs = _toy_page(other, server)
    theirs.get_by_text(re.compile("another session.s")).first.wait_for(timeout=60_000)
    assert _stop_buttons(theirs).count() == 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    theirs.screenshot(path=str(SHOTS / "owner_other_browser.png"))

    _stop_buttons(page).first.click()
    page.get_by_text(re.compile(r"stopped", re.I)).first.wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "owner_after_stop.png"))
    other.close()
    mine.close()
