"""AppTest tests of the Toy-experiment page: presets run, bad fields block Run, a run to completion with
its animation, Stop (running and queued), two sessions, the store's status, the empty state."""

from __future__ import annotations

import os

import pytest

from core.engine.store import RunStore
from tests.conftest import plotly_figures, poll_until

LONG = dict(n=20_000, runs=3, ks=("1/16", "4"), patience=50_000)  # trains until stopped


def _tiny(at, n=600, runs=2, ks=("4", "1/4"), patience=200):
    at.multiselect(key="toy_k").set_value(list(ks))
    at.number_input(key="toy_runs").set_value(runs)
    at.number_input(key="toy_n").set_value(n)
    at.number_input(key="toy_patience").set_value(patience)
    return at


def _stop_buttons(at) -> list:
    return [b for b in at.button if (b.key or "").startswith("toy_stop_")]


def _lines(at) -> list[str]:
    """The live view's job lines (progress texts)."""
    return [p.proto.text for p in at.get("progress")]


def _lab():
    from app.state import get_lab

    return get_lab()


def _figure(at, title: str) -> dict:
    return next(f for f in plotly_figures(at) if f["layout"]["title"]["text"].startswith(title))


def test_empty_state_shows_d_and_the_limit_thresholds(app):
    """With no saved runs the page says which button to press and draws D and, per k of the paper,
    the n -> infinity threshold (all right of 0, growing with k)."""
    at = app("views/toy.py")
    assert "Quick look" in at.info[0].value
    limit = _figure(at, "Each k's threshold as n → ∞")
    crosses = [t for t in limit["data"] if t["name"] == "n → ∞ limit"]
    assert len(crosses) == 7
    xs = [t["x"][0] for t in sorted(crosses, key=lambda t: t["y"][0], reverse=True)]  # top row: smallest k
    assert all(0 < x < 0.2 for x in xs) and xs == sorted(xs)


def test_tiny_run_to_completion_shows_animation_table_and_plots(app):
    """A tiny config runs in the background; when it ends the page shows its status from the store,
    the thresholds' animation (frames, Play, slider), the per-k table and plots."""
    at = app("views/toy.py")
    _tiny(at).button(key="toy_run").click().run()
    assert not at.error
    poll_until(at, lambda a: a.dataframe and not a.get("progress"))
    table = at.dataframe[0].value
    assert list(table["k"]) == ["4", "1/4"]
    assert (table["test_error_mean"] > 0).all() and (table["epochs_mean"] >= 200).all()
    err = _figure(at, "Test error against k")
    assert any(t["name"].startswith("population limit") for t in err["data"])
    _figure(at, "Test cross-entropy against k")
    anim = _figure(at, "How the thresholds moved")
    assert 10 < len(anim["frames"]) <= 80 and anim["frames"][0]["name"] == "0"
    assert len(anim["layout"]["sliders"][0]["steps"]) == len(anim["frames"])
    assert [b["label"] for b in anim["layout"]["updatemenus"][0]["buttons"]] == ["▶ Play", "❚❚ Pause"]
    assert {t["name"] for t in anim["data"]} >= {"each run", "mean over runs", "n → ∞ limit"}
    assert at.selectbox(key="toy_pick").index == 0
    assert any("Status: **done**" in c.value for c in at.caption)
    assert len(at.get("download_button")) == 2


def test_stop_button_stops_and_keeps_the_run(app):
    """While a run trains, Results shows the store's status ("running") and points to the live view;
    Stop ends it within seconds, saved as stopped with its partial table and animation."""
    at = app("views/toy.py")
    _tiny(at, **LONG).button(key="toy_run").click().run()
    poll_until(at, lambda a: len(a.get("progress")) == 1 and _stop_buttons(a) and a.get("plotly_chart"))
    assert any("Status: **running**" in c.value for c in at.caption)
    assert any("live view above" in i.value for i in at.info)
    _stop_buttons(at)[0].click().run()
    poll_until(at, lambda a: not a.get("progress"), timeout=30)
    assert at.selectbox(key="toy_pick").index == 0  # the run just started (newest first), not an older one
    assert any("Status: **stopped**" in c.value for c in at.caption)
    assert any("Stopped before every run" in w.value for w in at.warning)
    assert at.dataframe and _figure(at, "How the thresholds moved")


@pytest.mark.parametrize("key,value,reason", [("toy_lr", 1e-9, "Learning rate must be"),
                                              ("toy_runs", 0, "Runs must be"),
                                              ("toy_n", 50, "Points per split must be")])
def test_a_field_out_of_range_blocks_run_with_the_reason(app, key, value, reason):
    """An out-of-range field disables Run with the reason beside it, and nothing starts; the
    fields have no browser-side bounds, so an entry is never left unapplied (in red) while a run
    goes ahead with the previous value."""
    at = app("views/toy.py")
    for field in at.number_input:
        assert not field.proto.has_min and not field.proto.has_max, field.key
    at.number_input(key=key).set_value(value).run()
    assert at.button(key="toy_run").disabled
    assert any(reason in e.value for e in at.error)
    assert not _lab().jobs.jobs(kind="toy") and _lab().store.list_runs(kind="toy").empty
    at.number_input(key=key).set_value({"toy_lr": 0.01, "toy_runs": 2, "toy_n": 600}[key]).run()
    assert not at.button(key="toy_run").disabled and not at.error


def test_an_unreadable_k_blocks_run_even_next_to_good_ones(app):
    """A typed k that is not a number blocks Run (it is not silently dropped), with the reason beside
    Run; no k at all blocks it too."""
    at = app("views/toy.py")
    at.multiselect(key="toy_k").set_value(["1"]).run()
    at.text_input(key="toy_k_add").input("zero").run()
    assert any("Ignored 'zero'" in e.value for e in at.error)
    assert any("fix 'zero'" in e.value for e in at.error) and at.button(key="toy_run").disabled
    at.text_input(key="toy_k_add").input("").run()
    assert not at.button(key="toy_run").disabled
    at.multiselect(key="toy_k").set_value([]).run()
    assert at.button(key="toy_run").disabled and any("at least one k" in e.value for e in at.error)


def test_presets_fill_the_form_and_start_a_run(app):
    """Quick look fills the form and runs it at once (one click); Paper protocol does the same."""
    at = app("views/toy.py")
    at.button(key="toy_quick").click().run()
    assert at.number_input(key="toy_runs").value == 3 and at.number_input(key="toy_n").value == 5000
    runs = _lab().store.list_runs(kind="toy")
    assert len(runs) == 1 and runs["cfg.n_train"].iloc[0] == 5000 and runs["cfg.runs"].iloc[0] == 3
    poll_until(at, lambda a: a.dataframe and not a.get("progress"))
    assert list(at.dataframe[0].value["k"]) == ["4", "1", "1/4", "1/16"]
    at.button(key="toy_paper").click().run()
    runs = _lab().store.list_runs(kind="toy")
    assert len(runs) == 2 and runs["cfg.n_train"].iloc[0] == 30_000 and runs["cfg.runs"].iloc[0] == 10
    assert _lab().jobs.cancel_all(kind="toy") == 1


def test_two_sessions_watch_each_other_and_stop_only_their_own(app):
    """A second session sees the first's running job without a Stop button for it; its own run
    queues behind it, and stopping it while queued saves it as "stopped"."""
    first = app("views/toy.py")
    _tiny(first, **LONG).button(key="toy_run").click().run()
    poll_until(first, lambda a: _stop_buttons(a))
    second = app("views/toy.py")
    assert any("another session's" in line for line in _lines(second)) and not _stop_buttons(second)
    _tiny(second, n=600, runs=1, ks=("1",), patience=100).button(key="toy_run").click().run()
    assert any("queued" in line and "yours" in line for line in _lines(second))
    assert len(_stop_buttons(second)) == 1  # its own queued job only
    _stop_buttons(second)[0].click().run()
    poll_until(second, lambda a: any("Status: **stopped**" in c.value for c in a.caption), timeout=30)
    assert any("Stopped before it started" in w.value for w in second.warning)
    assert any("another session's" in line for line in _lines(second))  # the first one still trains
    first.run()
    _stop_buttons(first)[0].click().run()
    poll_until(first, lambda a: not a.get("progress"), timeout=30)


def test_a_run_going_on_in_another_process_shows_its_logged_epochs(app):
    """A run the store says is running, with no job in this app (e.g. the CLI), is shown as running
    elsewhere with the epochs it logged, never as "see the live view above"."""
    at = app("views/toy.py")
    store = RunStore(os.environ["TUNABLE_RUNS_DB"])
    run_id = store.create_run("toy", {"ks": [4.0, 0.25]}, "from a terminal")
    store.mark_running(run_id, "cpu")
    for epoch in (100, 200):
        store.log_epoch(run_id, epoch, {"running": 4, "val_error": {"4": 9.0, "0.25": 4.5},
                                        "threshold": {"4": 0.1, "0.25": 0.03}})
    at.run()
    assert any("Status: **running**" in c.value for c in at.caption)
    assert any("another process" in i.value for i in at.info)
    assert not any("live view above" in i.value for i in at.info)
    assert _figure(at, "Validation error (logged epochs")


def test_run_keeps_going_across_a_page_switch(app):
    """A toy run started here keeps training while the user is on another page, and is shown on return."""
    at = app("views/toy.py")
    _tiny(at, n=5000, runs=2, ks=("1/4", "4"), patience=1500).button(key="toy_run").click().run()
    at.switch_page("views/overview.py").run()
    assert not at.exception
    at.switch_page("views/toy.py").run()
    assert at.get("progress") or at.dataframe  # still running (live view) or already finished
    poll_until(at, lambda a: a.dataframe and not a.get("progress"))
    assert list(at.dataframe[0].value["k"]) == ["4", "1/4"]
    assert at.multiselect(key="toy_k").value == ["1/4", "4"]  # settings persisted across the switch


def test_a_preset_is_highlighted_only_while_the_form_holds_it(app):
    """After 'Quick look' its button is the highlighted one; once a field changes, no preset is highlighted."""
    at = app("views/toy.py")
    assert at.button(key="toy_paper").proto.type == "primary"  # the untouched form holds the paper protocol
    at.button(key="toy_quick").click().run()
    assert at.button(key="toy_quick").proto.type == "primary" and at.button(key="toy_paper").proto.type == "secondary"
    at.number_input(key="toy_runs").set_value(5).run()
    assert at.button(key="toy_quick").proto.type == "secondary"
    for b in _stop_buttons(at):
        b.click().run()
    poll_until(at, lambda a: not a.get("progress"), timeout=60)


def test_the_launch_caption_quotes_the_estimate_the_live_line_starts_from(app):
    """The form's caption gives core.estimate's figure for this configuration on this machine."""
    from app.live import calibrated
    from app.state import fmt_seconds
    from core.estimate import estimate_toy
    from core.toy import ToyConfig

    at = _tiny(app("views/toy.py")).run()
    cfg = ToyConfig(ks=(4.0, 0.25), runs=2, n_train=600, n_val=600, n_test=600, patience=200)
    expected = fmt_seconds(estimate_toy(cfg, calibrated()))
    assert any(f"about {expected} here" in c.value for c in at.caption)


def _job(kind: str, configs: dict, **fields):
    from core.engine.jobs import Job

    base = dict(id="j", name="n", kind=kind, device="cpu", owner="o", status="running", submitted_at=0.0,
                started_at=0.0, finished_at=None, elapsed_s=5.0, fraction=0.95, message="", eta_s=0.3,
                queue_position=None, cancel_requested=False, data={}, meta={"configs": configs, "launch": "L"},
                result=None, error=None, traceback=None)
    return Job(**{**base, **fields})


def test_time_left_comes_from_the_estimate_not_an_optimistic_fraction():
    """A toy job whose progress guess says 95% a quarter of the way into its estimate ('time left ≈ 0 s' with
    most runs still training, the job's own eta) is given its estimate less the time it has run; a launch in
    several parts gets one line for all of them."""
    import dataclasses

    from app.live import calibrated, launch_left, time_left
    from core.estimate import estimate_toy
    from core.toy import ToyConfig

    cfg = ToyConfig()  # the paper protocol
    total = estimate_toy(cfg, calibrated())
    job = _job("toy", {1: dataclasses.asdict(cfg)}, elapsed_s=total / 4, eta_s=total / 100)
    assert time_left(job) == pytest.approx(total * 3 / 4)
    assert time_left(job) > 10 * job.eta_s
    parts = [job, _job("toy", {2: dataclasses.asdict(cfg)}, id="k", status="queued", elapsed_s=0.0)]
    assert "2 parts" in launch_left(parts) and "left in all" in launch_left(parts)
