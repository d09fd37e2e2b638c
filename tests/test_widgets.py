"""app/widgets.py's run picker under the browser's way of sending picks: as labels, read back with the
options of the run before. When runs are added in between (a launch while the page reruns), a pick the
old options do not know must come back as its run, never as an exception box."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _picker_page():
    import streamlit as st

    from app.widgets import pick_saved

    labels = st.session_state.get("labels", {1: "#1 k = 1"})
    multi = st.session_state.get("multi", True)
    st.session_state["picked"] = pick_saved("Runs", labels, "sel", multi=multi)


def _open(multi: bool) -> AppTest:
    at = AppTest.from_function(_picker_page, default_timeout=30)
    at.session_state["multi"] = multi
    return at.run()


def test_a_pick_the_previous_options_lacked_comes_back_as_its_run():
    at = _open(multi=True)
    assert at.session_state["picked"] == [1]
    at.multiselect(key="sel").set_value([1, "#2 k = 2"])  # what the browser sends: the labels it shows
    at.session_state["labels"] = {2: "#2 k = 2", 1: "#1 k = 1"}  # run 2 was launched in between
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert sorted(at.session_state["picked"]) == [1, 2]


def test_a_deleted_pick_is_dropped_without_an_exception():
    at = _open(multi=True)
    at.multiselect(key="sel").set_value(["#7 k = 4"])  # a run this server no longer has
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["picked"] == []


def test_single_pick_survives_a_grown_list_and_falls_back_when_gone():
    at = _open(multi=False)
    assert at.session_state["picked"] == 1
    at.session_state["labels"] = {2: "#2 k = 2", 1: "#1 k = 1"}
    at.run()
    at.selectbox(key="sel").set_value(2).run()
    assert at.session_state["picked"] == 2
    at.session_state["labels"] = {1: "#1 k = 1"}  # run 2 deleted elsewhere
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["picked"] == 1
