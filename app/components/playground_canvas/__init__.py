"""The live Playground canvas: a Streamlit components-v2 element that draws the panels and plays them.

What: `canvas(message, key=...)` mounts the element with a message from `player.Player.answer` and returns the
element's result, whose `req` trigger carries the canvas's next request (frames wanted, steps per frame,
clicked edits, reset). canvas.js draws each k's panel on an HTML canvas (p(red) field, the 50% boundary, the
points sized by their push), plays the frames at up to 20 per second, records them for scrubbing back, and turns
clicks into edits; canvas.css styles its controls.

Why a component: Play must run at 15+ frames per second and react to a click within half a second. A whole
Streamlit rerun per frame is far too slow, and st.plotly_chart does not report clicks on empty canvas
(streamlit#8824). The element lives in a fragment, so each request reruns only that fragment; static JS and
CSS (no npm build) are read from this folder once per server process.

    from app.components.playground_canvas import canvas
    result = canvas(player.answer(None), key="pg_canvas", on_req_change=lambda: None)
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

_HERE = Path(__file__).parent

_component = st.components.v2.component(
    "tunable.playground_canvas",
    html='<div class="pgc-root"></div>',
    css=(_HERE / "canvas.css").read_text(encoding="utf-8"),
    js=(_HERE / "canvas.js").read_text(encoding="utf-8"),
    isolate_styles=False,  # its classes are all prefixed pgc-; a light DOM lets browser tests find them
)


def canvas(message: dict, *, key: str, on_req_change=lambda: None):
    """Mount (or update) the canvas with one message; the result's `req` is the canvas's request (or None)."""
    return _component(key=key, data=message, on_req_change=on_req_change, width="stretch", height="content")
