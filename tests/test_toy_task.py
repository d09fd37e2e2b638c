"""Tests for core/toy/task.py: the toy experiment on the engine (its events, a run saved while it
trains, Stop while queued or running, reading any saved run back, the CLI through the store)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import core.toy.task as task
from core.engine.executors import Epoch, Finished, Progress
from core.engine.lab import Lab
from core.engine.status import STATUSES
from core.engine.store import RunStore
from core.toy import MAX_FRAMES, ToyConfig, ToyLive, load as load_toy, submit as submit_toy, toy_task
from core.toy.__main__ import main as cli_main
from core.toy.config import float64_device

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(ks=(4.0, 0.25), runs=2, n_train=800, n_val=800, n_test=800, patience=100)
LONG = dict(ks=(1.0, 0.0625), runs=2, n_train=20_000, n_val=20_000, n_test=20_000, patience=50_000)  # until stopped


@pytest.fixture
def lab(tmp_path):
    lab = Lab(store=RunStore(tmp_path / "runs.sqlite"))
    yield lab
    lab.jobs.shutdown()


def _wait_for(condition, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_task_yields_live_progress_logged_epochs_and_one_finished(monkeypatch):
    """toy_task yields Progress with a ToyLive, Epochs at increasing epochs with JSON-able per-k
    means (k as text keys), and ends with one Finished("done") whose payload has the tables and frames."""
    monkeypatch.setattr(task, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(task, "EPOCH_EVERY_S", 0.0)
    events = list(toy_task(ToyConfig(**SMALL), threading.Event()))
    progress = [e for e in events if isinstance(e, Progress)]
    epochs = [e for e in events if isinstance(e, Epoch)]
    assert isinstance(events[-1], Finished) and sum(isinstance(e, Finished) for e in events) == 1
    assert len(progress) >= 2 and isinstance(progress[-1].live, ToyLive) and progress[-1].live.alpha == 0.95
    assert len(progress[-1].live.trace()) == 4 * len(progress[-1].live.trace_epochs)
    assert len(epochs) >= 2 and [e.epoch for e in epochs] == sorted(e.epoch for e in epochs)
    for e in epochs:
        json.dumps(e.metrics, allow_nan=False)
        assert set(e.metrics["val_error"]) == set(e.metrics["threshold"]) == {"4", "0.25"}
    assert epochs[-1].metrics["running"] == 0 and epochs[0].metrics["running"] > 0
    end = events[-1]
    assert end.status == "done" and end.status in STATUSES and end.index == 0
    assert {"per_k", "per_run", "history", "frames", "config", "elapsed_s"} <= set(end.result)
    assert len(end.result["frames"]["epochs"]) <= MAX_FRAMES and end.summary["hit_max_epochs"] == 0
    json.dumps(end.result, allow_nan=False)


def test_submitted_run_is_saved_and_read_back(lab):
    """A submitted toy run goes queued -> done in the store; load_toy gives its config, tables,
    logged trace and animation frames (per k and per run, from epoch 0 to the end)."""
    cfg = ToyConfig(**SMALL)
    launched = submit_toy(lab, cfg, owner="me")
    assert lab.store.get_run(launched.run_ids[0])["kind"] == "toy"
    assert lab.jobs.wait(launched.job_ids[0], timeout=60).status == "done"
    saved = load_toy(lab.store, launched.run_ids[0])
    assert saved.status == "done" and saved.finished and saved.config == cfg
    assert list(saved.per_k["k"]) == [4.0, 0.25] and len(saved.per_run) == 4
    assert set(saved.per_run["status"]) == {"done"}
    assert not saved.history.empty and saved.history["epoch"].max() >= 100
    assert not saved.trace.empty and saved.trace["running"].iloc[-1] == 0
    epochs = sorted(saved.frames["epoch"].unique())
    assert epochs[0] == 0 and epochs[-1] == saved.per_run["epochs"].max() and len(epochs) <= MAX_FRAMES
    assert len(saved.frame_runs) == 4 * len(epochs)
    final = saved.frame_runs[saved.frame_runs["epoch"] == epochs[-1]]
    np.testing.assert_allclose(final["threshold"], saved.per_run["threshold"], rtol=1e-5)
    assert lab.store.get_run(launched.run_ids[0])["summary"]["test_error_k0.25"] > 0


def test_epochs_are_logged_while_it_trains_and_stop_keeps_them(lab):
    """While a long run trains the store already holds its logged epochs; Stop ends it "stopped"
    with those epochs, its partial tables and frames kept."""
    launched = submit_toy(lab, ToyConfig(**LONG), owner="me")
    run_id, job_id = launched.run_ids[0], launched.job_ids[0]
    _wait_for(lambda: len(lab.store.history(run_id)) > 0)
    assert lab.store.get_run(run_id)["status"] == "running"  # progress saved before the end
    job = lab.jobs.get(job_id)
    assert isinstance(job.data["live"], ToyLive) and job.data["curves"][run_id]
    assert lab.jobs.cancel(job_id, owner="me")
    assert lab.jobs.wait(job_id, timeout=30).status == "stopped"
    saved = load_toy(lab.store, run_id)
    assert saved.status == "stopped" and not saved.trace.empty
    assert set(saved.per_run["status"]) == {"stopped"} and list(saved.per_k["k"]) == [1.0, 0.0625]
    assert saved.frames["epoch"].max() == saved.per_run["epochs"].max() > 0


def test_stop_while_queued_reads_stopped(lab):
    """A toy run stopped before its turn never starts and is saved "stopped" with nothing logged."""
    release = threading.Event()
    device = str(float64_device("auto"))
    blocker = lab.jobs.submit("blocker", lambda ctx: release.wait(30), device=device, owner="other")
    try:
        launched = submit_toy(lab, ToyConfig(**SMALL), owner="me")
        run_id, job_id = launched.run_ids[0], launched.job_ids[0]
        assert lab.jobs.get(job_id).status == "queued" and lab.store.get_run(run_id)["status"] == "queued"
        assert lab.jobs.cancel(job_id, owner="me")
        saved = load_toy(lab.store, run_id)
        assert saved.status == "stopped" and saved.per_k.empty and saved.trace.empty and saved.frames.empty
        assert lab.store.get_run(run_id)["started_at"] is None
    finally:
        release.set()
        lab.jobs.wait(blocker.id, timeout=30)


def test_an_interrupted_run_loads_its_logged_epochs_as_a_partial_trace(lab, monkeypatch):
    """A run whose process died after logging some epochs loads with its trace, and its
    animation frames come from the logged per-k mean thresholds."""
    monkeypatch.setattr(task, "EPOCH_EVERY_S", 0.0)
    cfg = ToyConfig(**LONG)
    run_id = lab.store.create_run("toy", cfg, "dies")
    lab.store.mark_running(run_id, "cpu")
    logged, cancel = 0, threading.Event()
    for event in toy_task(cfg, cancel):
        if isinstance(event, Epoch):
            lab.store.log_epoch(run_id, event.epoch, event.metrics)
            logged += 1
            if logged == 3:
                break  # the process dies here
    lab.store.finish(run_id, "interrupted", error="process 123 ended while the run was running")
    saved = load_toy(lab.store, run_id)
    assert saved.status == "interrupted" and saved.per_k.empty and saved.frame_runs.empty
    assert len(saved.trace) == 3 * 2 and set(saved.trace["k"]) == {1.0, 0.0625}
    assert len(saved.frames) == 3 * 2 and saved.frames["epoch"].is_monotonic_increasing
    assert "process 123" in saved.error


def _cli(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=env, **kw)


def test_cli_run_is_saved_and_listed_by_the_runstore_cli(tmp_path):
    """`python -m core.toy` saves its run in the store: `python -m core.runstore list --json` shows it done."""
    env = dict(os.environ, TUNABLE_RUNS_DB=str(tmp_path / "runs.sqlite"))
    out = _cli("core.toy", "--n", "300", "--runs", "1", "--patience", "50", "--ks", "2,1/2", "--quiet", env=env)
    assert out.returncode == 0, out.stderr
    assert "test_error_mean" in out.stdout and "saved as run 1" in out.stdout
    listed = json.loads(_cli("core.runstore", "list", "--json", env=env).stdout)
    assert len(listed) == 1
    run = listed[0]
    assert run["kind"] == "toy" and run["status"] == "done" and run["epochs"] >= 50
    assert run["config"]["ks"] == [2.0, 0.5] and "test_error_k0.5" in run["summary"]


def test_cli_ctrl_c_stops_and_saves_the_run(tmp_path):
    """Ctrl-C during a CLI run keeps the finished work: exit status 130, the run saved "stopped"."""
    db = tmp_path / "runs.sqlite"
    env = dict(os.environ, TUNABLE_RUNS_DB=str(db))
    proc = subprocess.Popen([sys.executable, "-m", "core.toy", "--n", "20000", "--runs", "2", "--ks", "1,1/16",
                             "--patience", "50000"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()  # the first progress line: it is training
        assert "runs still training" in line, line
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "stopped;" in stdout and "test_error_mean" in stdout
    run = RunStore(db).get_run(1)
    assert run["status"] == "stopped" and run["epochs_done"] > 0 and run["result"]["per_k"]


def test_cli_refuses_an_address_without_ray(capsys):
    """A Ray address with the local executor is refused with a message (exit status 2), nothing trained."""
    assert cli_main(["--executor", "local", "--ray-address", "10.0.0.5:6379", "--runs", "1"]) == 2
    assert "ray executor" in capsys.readouterr().err
