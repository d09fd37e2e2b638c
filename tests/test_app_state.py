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
