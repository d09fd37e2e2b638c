"""Dashboard state: one Lab (job queue + run store) per server process, and who this browser
session is. Every session watches every run; a session stops only the jobs it launched.

Shared input widgets (lists of k values, the saved-run picker) are in app/widgets.py."""

from __future__ import annotations

import secrets

import streamlit as st

from core.engine.lab import Lab
from core.engine.queue import JobManager

MAX_WAITING_PER_SESSION = 24  # jobs (groups of up to 16 runs) one browser session may have waiting


@st.cache_resource(show_spinner=False)
def get_lab() -> Lab:
    """The lab, created once per server process; runs left by a dead process are ended
    (running -> interrupted, queued -> stopped)."""
    lab = Lab(jobs=JobManager(max_queued_per_owner=MAX_WAITING_PER_SESSION))
    lab.store.recover_interrupted()
    return lab


def session_id() -> str:
    """This browser session's id: the owner of the jobs it launches."""
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = secrets.token_hex(6)
    return st.session_state["session_id"]


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "estimating…"
    s = max(0, int(round(s)))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
