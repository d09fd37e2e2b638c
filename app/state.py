"""Dashboard state: one Lab (job queue + run store) per server process, and who this browser
session is. Every session watches every run; a session stops only the jobs it launched."""

from __future__ import annotations

import secrets

import streamlit as st

from core.curves import parse_k
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


def positive_values(label: str, key: str, default: list[str], options: list[str], *, what: str = "k",
                    upper: float = 64.0, **kwargs) -> list[float]:
    """A multiselect of positive numbers with free entry (0.25, 1/4, 2^-2); unreadable or out-of-range
    entries are reported with st.error, not raised. Returns the distinct values, sorted."""
    raw = st.multiselect(label, options=options, default=default, accept_new_options=True, key=key, **kwargs)
    values, bad = [], []
    for text in raw:
        try:
            value = parse_k(text)
        except ValueError:
            value = None
        if value is None or value > upper:
            bad.append(text)
        elif value not in values:
            values.append(value)
    if bad:
        st.error(f"Ignored {', '.join(repr(b) for b in bad)}: {what} must be a number in (0, {upper:g}], "
                 "written like 0.25, 1/4 or 2^-2.")
    return sorted(values)


def k_values(label: str, key: str, default: list[str], options: list[str], **kwargs) -> list[float]:
    """positive_values for k (in (0, 64])."""
    return positive_values(label, key, default, options, what="k", upper=64.0, **kwargs)


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "estimating…"
    s = max(0, int(round(s)))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
