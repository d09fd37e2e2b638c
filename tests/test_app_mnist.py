"""AppTest tests of the MNIST-runs page: launch, live progress, history, comparison, delete, bad input."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, plotly_figures, poll_until

pytest.importorskip("core.data")


def _tiny(at, epochs=2, n_train=1000, ks=("1/2", "1"), lrs=("0.1",)):
    at.text_input(key="mnist_hidden").set_value("32")
    at.number_input(key="mnist_ntrain").set_value(n_train)
    at.number_input(key="mnist_epochs").set_value(epochs)
    at.multiselect(key="mnist_k").set_value(list(ks))
    at.multiselect(key="mnist_lr").set_value(list(lrs))
    return at.run()


def test_empty_page_and_quick_preset_fills_the_form_and_launches(app):
    """With no runs the page says what to press and shows the bundled example of Quick (its curves, k written
    as on every page); the Quick preset fills a small 784-800-10 grid and starts it."""
    at = app("views/mnist.py")
    assert "Quick" in at.info[0].value
    example = {f["layout"]["title"]["text"]: f for f in plotly_figures(at)}
    val = example["Example: validation error"]
    assert [t["name"] for t in val["data"]] == ["k = 1/2 · lr 0.1 · seed 0", "k = 1 · lr 0.1 · seed 0"]
    assert all(0 < y < 20 for t in val["data"] for y in t["y"])  # percent, and it learned
    at.button(key="mnist_quick").click().run()
    assert at.text_input(key="mnist_hidden").value == "800"
    assert at.number_input(key="mnist_ntrain").value == 10_000
    assert any("2 run(s) = 2 k × 1 learning rate(s) × 1 seed(s)" in c.value for c in at.caption)
    assert len(at.get("progress")) == 1 and "yours" in at.get("progress")[0].proto.text
    next(b for b in at.button if b.key and b.key.startswith("mnist_stop_")).click().run()
    poll_until(at, lambda a: not a.get("progress"), timeout=60)
    assert set(at.dataframe[0].value["status"]) == {"stopped"}


def test_launch_trains_live_and_lands_in_history(app):
    """A tiny grid launched from the form shows progress, then its runs, curves and the selection protocol."""
    at = _tiny(app("views/mnist.py"))
    at.button(key="mnist_launch").click().run()
    assert not at.error
    poll_until(at, lambda a: a.dataframe and (a.dataframe[0].value["status"] == "done").sum() == 2 and not a.get("progress"))
    hist = at.dataframe[0].value
    assert set(hist["run"]) == {"k = 1/2 · lr 0.1 · seed 0", "k = 1 · lr 0.1 · seed 0"}
    # chance is 90%: it learns, even on 1,000 images
    errors = hist["test error (%)"].astype(float)  # shown as text, so a missing one reads '–'
    assert (hist["epochs"] == 2).all() and (errors < 80).all() and (errors > 1).all()
    assert {"time (s)", "validation error (%)", "test cross-entropy (nats)"} <= set(hist.columns)
    figs = {f["layout"]["title"]["text"]: f for f in plotly_figures(at)}
    assert {"Validation error", "Test cross-entropy", "Final test error against k"} <= set(figs)
    assert {t["name"] for t in figs["Validation error"]["data"]} == set(hist["run"])
    summary = at.dataframe[1].value
    assert list(summary.index) == ["selected", "best k = 1 (cross-entropy)"]
    assert set(summary["k"]) <= {"1/2", "1"} and set(summary["method"]) <= {"k = 1/2", "k = 1"}
    assert "test error (%)" in summary.columns
    assert len(at.get("download_button")) == 1


def test_bad_input_is_reported_not_raised(app):
    """Unreadable hidden widths or learning rates give st.error and disable Launch."""
    at = app("views/mnist.py")
    at.text_input(key="mnist_hidden").set_value("abc").run()
    assert any("hidden widths" in e.value for e in at.error)
    assert at.button(key="mnist_launch").disabled
    at.text_input(key="mnist_hidden").set_value("32").run()
    at.multiselect(key="mnist_lr").set_value(["fast"]).run()
    assert any("'fast'" in e.value for e in at.error)
    assert at.button(key="mnist_launch").disabled and any("learning rate" in e.value for e in at.error)
    at.multiselect(key="mnist_lr").set_value(["0.1"]).run()
    at.text_input(key="mnist_lr_add").set_value("0").run()  # typed: refused, kept in the box, blocks Launch
    assert at.multiselect(key="mnist_lr").value == ["0.1"] and at.text_input(key="mnist_lr_add").value == "0"
    assert at.button(key="mnist_launch").disabled and any("marked in red" in e.value for e in at.error)
    at.text_input(key="mnist_lr_add").set_value("0.03").run()  # exactly the typed value, not 0.003 or 0.3
    assert at.multiselect(key="mnist_lr").value == ["0.03", "0.1"] and not at.button(key="mnist_launch").disabled


def test_a_red_field_never_runs_a_hidden_value(app):
    """Epochs 0 (or any out-of-range entry) blocks Launch with the reason beside the button; nothing is queued."""
    at = _tiny(app("views/mnist.py"), epochs=0)
    assert at.button(key="mnist_launch").disabled
    assert any("epochs must be an integer >= 1" in e.value for e in at.error)
    assert not at.get("progress") and "No MNIST runs yet" in at.info[0].value
    at = _tiny(at, epochs=2, n_train=100)
    assert at.button(key="mnist_launch").disabled
    assert any("training images must be a whole number from 500" in e.value for e in at.error)
    at.button(key="mnist_quick").click().run()  # a preset replaces the red field and runs what it shows
    assert at.number_input(key="mnist_ntrain").value == 10_000 and len(at.get("progress")) == 1
    next(b for b in at.button if b.key and b.key.startswith("mnist_stop_")).click().run()
    poll_until(at, lambda a: not a.get("progress"), timeout=60)


def test_stop_and_delete(app):
    """Stop ends a running job keeping finished epochs; selected runs can be deleted after confirming."""
    at = _tiny(app("views/mnist.py"), epochs=50, n_train=2000, ks=("1", "2"))
    at.button(key="mnist_launch").click().run()
    poll_until(at, lambda a: len(a.get("progress")) == 1 and "epoch 2" in a.get("progress")[0].proto.text)
    stop = next(b for b in at.button if b.key and b.key.startswith("mnist_stop_"))
    stop.click().run()
    poll_until(at, lambda a: not a.get("progress"), timeout=60)
    hist = at.dataframe[0].value
    newest = hist.iloc[0]
    assert newest["status"] == "stopped" and 1 <= newest["epochs"] < 50
    n_before = len(hist)
    at.multiselect(key="mnist_sel").set_value([int(newest["#"])]).run()
    at.button(key="mnist_delete").click().run()
    assert any("confirm" in i.value for i in at.info)
    at.checkbox(key="mnist_confirm").check().run()
    at.button(key="mnist_delete").click().run()
    assert len(at.dataframe[0].value) == n_before - 1 == 1
    assert not at.checkbox(key="mnist_confirm").value  # disarmed: the next selection needs a new tick


def test_runs_survive_a_crash_and_a_restart(app, tmp_path):
    """A run whose process died mid-training shows as interrupted, with its finished epochs, after a restart."""
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import os
        from core.mnist import DataConfig, TrainConfig
        from core.engine.store import RunStore
        store = RunStore()
        cfg = TrainConfig(hidden=(32,), k=0.25, lr=0.3, epochs=10)
        run_id = store.create_run("mnist", {"train": cfg.to_dict(), "data": {}}, cfg.label, group_id="crash")
        store.mark_running(run_id, "cpu")
        for epoch in (1, 2):
            store.log_epoch(run_id, epoch, {"val_error": 0.5 / epoch, "test_error": 0.5 / epoch, "test_ce": 1.0,
                                            "train_loss": 1.0})
        os._exit(1)  # the machine "stops" mid-run
    """)
    subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), env=dict(os.environ), check=False)
    at = app("views/mnist.py")  # a fresh Lab: what a restarted app sees
    hist = at.dataframe[0].value
    crashed = hist[hist["run"] == "k = 1/4 · lr 0.3 · seed 0"].iloc[0]
    assert crashed["status"] == "interrupted" and crashed["epochs"] == 2
    at.multiselect(key="mnist_sel").set_value([int(crashed["#"])]).run()
    val = next(f for f in plotly_figures(at) if f["layout"]["title"]["text"] == "Validation error")
    assert val["data"][0]["y"] == [50.0, 25.0]


def test_a_grid_launched_on_ray_from_the_page_shows_live_and_lands_done(app, tmp_path, monkeypatch):
    """Choosing Ray under 'Where to train' runs the grid as Ray tasks; its epochs stream back, it shows
    in the live view as this session's job, and its runs end 'done' in the history."""
    monkeypatch.setenv("HOME", str(tmp_path))  # Ray 2.60 writes its auth token under $HOME
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    ray = pytest.importorskip("ray")
    at = _tiny(app("views/mnist.py"), epochs=1, n_train=500)
    at.radio(key="mnist_executor").set_value("Ray").run()
    at.button(key="mnist_launch").click().run()
    assert not at.error, [e.value for e in at.error]
    try:
        poll_until(at, lambda a: a.dataframe and (a.dataframe[0].value["status"] == "done").sum() == 2
                   and not a.get("progress"), timeout=180)
    finally:
        ray.shutdown()
    assert (at.dataframe[0].value["epochs"] == 1).all()


def test_a_cli_run_in_another_process_shows_live_on_the_page(app, tmp_path):
    """Runs that `python -m core.mnist train` is training in another process appear under 'Training in
    another process' with their live curves, and land in the history as done when they end."""
    import os
    import subprocess
    import sys

    at = app("views/mnist.py")
    env = dict(os.environ, PYTHONPATH=str(ROOT))  # the app fixture pointed TUNABLE_RUNS_DB at this test's store
    cli = subprocess.Popen(
        [sys.executable, "-m", "core.mnist", "train", "--k", "0.5", "1", "--hidden", "16", "--epochs", "40",
         "--n-train", "2000", "--n-val", "200", "--n-test", "200", "--device", "cpu", "--quiet"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        poll_until(at, lambda a: any(s.value == "Training in another process" for s in a.subheader)
                   and any(f["layout"]["title"]["text"].startswith("Validation error (live)") for f in plotly_figures(a)),
                   timeout=120)
    finally:
        cli.send_signal(2)  # Ctrl-C: the CLI stops cleanly and saves the runs as stopped
        cli.wait(60)
    poll_until(at, lambda a: not any(s.value == "Training in another process" for s in a.subheader), timeout=30)
    assert set(at.dataframe[0].value["status"]) == {"stopped"}


def _seed_store(runs) -> None:
    """Runs written straight into the page's store: (k, lr, seed, status, final test error)."""
    import dataclasses

    from core.engine.store import RunStore
    from core.mnist import DataConfig, TrainConfig

    store = RunStore()
    for k, lr, seed, status, err in runs:
        config = {"train": TrainConfig(hidden=(32,), k=k, lr=lr, epochs=2, seed=seed).to_dict(),
                  "data": dataclasses.asdict(DataConfig(n_train=1000))}
        rid = store.create_run("mnist", config, label=f"k={k}", group_id="g")
        store.mark_running(rid)
        for epoch in (1, 2):
            store.log_epoch(rid, epoch, {"val_error": err + 0.01, "test_error": err + 0.02 * (2 - epoch),
                                         "test_ce": 0.4, "train_loss": 0.3})
        store.finish(rid, status, summary={"test_error": err, "val_error": err + 0.01} if status == "done" else None)


def test_final_error_against_k_is_one_line_per_configuration_mean_over_seeds(app):
    """Two seeds and a stopped relaunch of each k: one line per learning rate, in k order, through the mean of
    the finished seeds (the stopped run's worse error is left out), and every legend label unique."""
    _seed_store([(0.5, 0.1, 0, "done", 0.10), (0.5, 0.1, 1, "done", 0.12), (1.0, 0.1, 0, "done", 0.11),
                 (1.0, 0.1, 1, "done", 0.13), (0.5, 0.1, 0, "stopped", 0.175), (1.0, 0.1, 0, "stopped", 0.172)])
    at = app("views/mnist.py")
    at.multiselect(key="mnist_sel").set_value(list(range(1, 7))).run()
    figs = {f["layout"]["title"]["text"]: f for f in plotly_figures(at)}
    lines = figs["Final test error against k"]["data"]
    assert len(lines) == 1
    assert list(lines[0]["x"]) == [0.5, 1.0]
    assert list(lines[0]["y"]) == pytest.approx([11.0, 12.0])
    names = [t["name"] for t in figs["Validation error"]["data"]]
    assert len(names) == 6 and len(set(names)) == 6
    assert any("2 stopped" in c.value for c in at.caption)



def _fragments(monkeypatch) -> dict:
    """Record every st.fragment a page defines: {qualified name of the function: run_every}."""
    import streamlit as st

    seen, real = {}, st.fragment

    def fragment(func=None, *, run_every=None, **kw):
        def wrap(f):
            seen[f.__qualname__] = run_every
            return real(f, run_every=run_every, **kw)
        return wrap(func) if func is not None else wrap

    monkeypatch.setattr(st, "fragment", fragment)
    return seen


def test_history_statuses_are_drawn_in_a_polling_fragment_while_runs_are_active(app, monkeypatch):
    """The history table (status, epochs) and the comparison are drawn inside a fragment that polls the store
    while any MNIST run is queued or running ('#13 queued, 0 epochs' stayed beside a live chart at epoch 2),
    and stops polling once none is."""
    from core.engine.store import RunStore

    seen = _fragments(monkeypatch)
    _seed_store([(0.5, 0.1, 0, "done", 0.10)])
    rid = RunStore().create_run("mnist", RunStore().get_run(1)["config"], label="again", group_id="h")
    app("views/mnist.py")
    assert seen.get("history.<locals>.view") == 1.0
    RunStore().finish(rid, "stopped")
    seen.clear()
    app("views/mnist.py")
    assert "history.<locals>.view" in seen and seen["history.<locals>.view"] is None


def test_history_writes_missing_numbers_as_dashes(app):
    """A run stopped before its first epoch shows '–' for its errors, time and device in the history."""
    from core.engine.store import RunStore

    _seed_store([(0.5, 0.1, 0, "done", 0.10)])
    RunStore().create_run("mnist", RunStore().get_run(1)["config"], label="again", group_id="h", status="stopped")
    hist = app("views/mnist.py").dataframe[0].value
    stopped = hist[hist["status"] == "stopped"].iloc[0]
    assert stopped["test error (%)"] == stopped["time (s)"] == stopped["device"] == "–"
    assert hist[hist["status"] == "done"].iloc[0]["test error (%)"] == "10.00"
