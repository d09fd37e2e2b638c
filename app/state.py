"""Dashboard state: one Lab (job queue + run store) per server process, and who this browser is.

Every session watches every run; a browser stops only the jobs it launched. Its identity (the
owner of its jobs) is a random 128-bit token kept in a cookie of that browser (`tsl_owner`,
SameSite=Strict, a year): a reload or a new tab of the same browser reads it back, so Stop stays
on its jobs and its waiting jobs count against one cap; another browser has another cookie and
never gets them. The cookie is written by a one-line script on the first page a browser opens
(st.html with JavaScript) and read from the request (st.context.cookies); nothing else identifies
a visitor, and the token is never shown on a page.

Shared input widgets (lists of k values, the saved-run picker) are in app/widgets.py."""

from __future__ import annotations

import re
import secrets

import streamlit as st

from core.engine.lab import Lab
from core.engine.queue import JobManager
from core.engine.store import RunStoreError

MAX_WAITING_PER_SESSION = 24  # jobs (groups of up to 16 runs) one browser session may have waiting


@st.cache_resource(show_spinner=False)
def get_lab() -> Lab:
    """The lab, created once per server process; runs left by a dead process are ended
    (running -> interrupted, queued -> stopped), and this process ends its own when it exits."""
    lab = Lab(jobs=JobManager(max_queued_per_owner=MAX_WAITING_PER_SESSION))
    lab.store.recover_interrupted()
    lab.end_runs_at_exit()  # SIGTERM or exit of the server: its runs end "interrupted" at once
    return lab


OWNER_COOKIE = "tsl_owner"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)


def _cookie_owner() -> str | None:
    try:
        token = st.context.cookies.get(OWNER_COOKIE)
    except Exception:  # noqa: BLE001 - no request context (a bare script run): no cookie
        return None
    return token if isinstance(token, str) and _TOKEN.fullmatch(token) else None


def session_id() -> str:
    """This browser's owner token (see the module docstring): the owner of the jobs it launches."""
    owner = st.session_state.get("session_id")
    if owner is None:
        owner = _cookie_owner() or secrets.token_urlsafe(16)
        st.session_state["session_id"] = owner
    return owner


def remember_owner() -> None:
    """Write this session's owner token into the browser's cookie once, when the browser does not
    hold it yet (called by app/main.py on every run; it costs nothing afterwards)."""
    owner = session_id()
    if _cookie_owner() == owner or st.session_state.get("_owner_cookie_written") == owner:
        return
    st.session_state["_owner_cookie_written"] = owner
    with st.sidebar:
        st.html(f"<script>document.cookie = '{OWNER_COOKIE}={owner}; path=/; max-age=31536000; SameSite=Strict';"
                "</script>", unsafe_allow_javascript=True, width="content")


def lab_problem() -> str | None:
    """None when the run database opens; else the store's one-line message (which file, move it
    aside), so a page shows it instead of an exception. Nothing is cached on failure: once the file
    is moved aside, the next reload opens a new database."""
    try:
        get_lab()
    except RunStoreError as exc:
        return str(exc)
    return None


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "estimating…"
    s = max(0, int(round(s)))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
