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


def k_values(label: str, key: str, default: list[str], options: list[str], **kwargs) -> list[float]:
    """A multiselect of k values with free entry; unreadable entries are reported, not raised."""
    raw = st.multiselect(label, options=options, default=default, accept_new_options=True, key=key, **kwargs)
    ks, bad = [], []
    for text in raw:
        try:
            value = parse_k(text)
        except ValueError:
            bad.append(text)
            continue
        if value > 64:
            bad.append(text)
        elif value not in ks:
            ks.append(value)
    if bad:
        st.error(f"Ignored {', '.join(repr(b) for b in bad)}: k must be a number in (0, 64], "
                 "written like 0.25, 1/4 or 2^-2.")
    return sorted(ks)


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "estimating…"
    s = max(0, int(round(s)))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
