"""Server-wide page state: where pages train is the server's choice, shown read-only (app/live.py,
app/state.py); the owner of a browser's jobs is covered end to end in tests/test_browser_owner.py."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("page", ["views/mnist.py", "views/toy.py", "views/noise.py"])
def test_ray_address_is_the_servers_and_read_only(app, monkeypatch, page):
    """'Where to train' shows $TUNABLE_RAY_ADDRESS as text and offers no field to type an address."""
    monkeypatch.setenv("TUNABLE_RAY_ADDRESS", "10.0.0.5:6379")
    at = app(page)
    assert not [t for t in at.text_input if "ray" in (t.key or "").lower() or "Ray" in t.label]
    assert any("10.0.0.5:6379" in c.value for c in at.caption)


def test_owner_token_is_random_and_stable_within_a_session(app):
    """A session's owner token is a 22-character URL-safe random token that stays the same across reruns."""
    at = app("views/toy.py")
    first = at.session_state["session_id"]
    at.run()
    assert at.session_state["session_id"] == first and len(first) == 22


@pytest.mark.parametrize("page,key", [("views/sensitivity.py", "k_add"), ("views/toy.py", "toy_k_add"),
                                      ("views/mnist.py", "mnist_k_add")])
def test_any_add_a_k_box_takes_any_text_without_an_exception(app, page, key):
    """Typing a subnormal, an overflow, nan, a negative, 0, text or a complex power into an
    'Add a k value' box leaves the chips as they were and names the entry: never an exception box."""
    at = app(page)
    chips = next(m for m in at.multiselect if m.key == key.removesuffix("_add")).value
    for text in ["1e-320", "1e309", "nan", "-1", "0", "abc", "2^5000", "(-2)^0.5"]:
        box = next(t for t in at.text_input if t.key == key)
        box.set_value(text).run()
        assert not at.exception, (text, [e.value for e in at.exception])
        assert next(m for m in at.multiselect if m.key == key.removesuffix("_add")).value == chips, text
        assert any(text in (m.value or "") for m in [*at.error, *at.warning]) or box.value == text, text


@pytest.mark.parametrize("content", ["directory", "not-a-database"])
def test_unusable_run_database_is_one_message_on_every_page(app, monkeypatch, tmp_path, content):
    """A run database that is a directory or not SQLite: every page shows the store's message (the
    file, move it aside) as an error, never an exception box; a usable file opens the page again."""
    db = tmp_path / "broken.sqlite"
    db.mkdir() if content == "directory" else db.write_bytes(b"not a database\n" * 64)
    monkeypatch.setenv("TUNABLE_RUNS_DB", str(db))
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60).run()
    for page in ("views/mnist.py", "views/toy.py"):
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(str(db) in e.value and "move it aside" in e.value.lower() for e in at.error), at.error
    monkeypatch.setenv("TUNABLE_RUNS_DB", str(tmp_path / "fresh.sqlite"))
    at.switch_page("views/toy.py").run()
    assert not at.exception and not at.error
