"""Process-wide dashboard state: one Lab (job queue + run store) shared by every page and session."""

from __future__ import annotations

import streamlit as st

from core.curves import parse_k
from core.experiments import Lab


@st.cache_resource(show_spinner=False)
def get_lab() -> Lab:
    """The lab, created once per server process; runs left 'running' by a dead process become 'interrupted'."""
    lab = Lab()
    lab.store.recover_interrupted()
    return lab


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
