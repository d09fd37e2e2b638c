"""Tests of core/experiments.py: launching toy and MNIST runs as jobs, saving them, reading them back."""

from __future__ import annotations

import time

import pytest

from core.experiments import Lab, estimate_mnist_seconds
from core.mnist import DataConfig, TrainConfig
from core.runstore import RunStore
from core.selection import select
from core.toy import ToyConfig


@pytest.fixture
def lab(tmp_path):
    lab = Lab(store=RunStore(tmp_path / "runs.sqlite"))
    yield lab
    lab.jobs.shutdown()


def test_toy_run_is_saved_and_read_back(lab):
    """A toy job is stored queued -> done with its per-k table, and load_toy returns the same table."""
    cfg = ToyConfig(ks=(4.0, 0.25), runs=2, n_train=800, n_val=800, n_test=800, patience=100)
    job, run_id = lab.submit_toy(cfg)
    final = lab.jobs.wait(job.id, timeout=60)
    assert final.status == "done" and final.result == run_id
    saved = lab.load_toy(run_id)
    assert saved.status == "done" and saved.config == cfg
    assert list(saved.per_k["k"]) == [4.0, 0.25] and len(saved.per_run) == 4
    assert not saved.history.empty and saved.history["epoch"].max() >= 100


def test_toy_live_data_carries_what_the_page_draws(lab):
    """While a toy job runs, its latest data holds the run id, alpha, a snapshot and a growing trace."""
    cfg = ToyConfig(ks=(1.0,), runs=1, n_train=20_000, n_val=20_000, n_test=20_000, patience=50_000, alpha=0.9)
    job, run_id = lab.submit_toy(cfg)
    deadline = time.time() + 30
    while "live" not in lab.jobs.get(job.id).data and time.time() < deadline:
        time.sleep(0.05)
    live = lab.jobs.get(job.id).data["live"]
    lab.jobs.cancel(job.id)
    assert live.run_id == run_id and live.alpha == 0.9
    assert set(live.trace.columns) >= {"epoch", "k", "run", "val_error", "threshold"}
    assert lab.jobs.wait(job.id, timeout=30).status in ("stopped", "done")
    assert lab.store.get_run(run_id)["status"] == "stopped"


def test_mnist_runs_saved_per_epoch_and_selectable(lab):
    """An MNIST job saves every epoch of every run; the saved runs feed the selection protocol."""
    pytest.importorskip("core.data")
    configs = [TrainConfig(hidden=(16,), k=k, lr=0.1, epochs=2) for k in (0.5, 1.0)]
    job, run_ids = lab.submit_mnist(configs, DataConfig(n_train=500, n_val=200, n_test=200, train_eval=200))
    assert job.meta["labels"] == {run_ids[0]: "k=0.5 lr=0.1 s0", run_ids[1]: "k=1 lr=0.1 s0"}
    assert lab.jobs.wait(job.id, timeout=120).status == "done"
    history = lab.store.history(run_ids)
    assert sorted(history.groupby("run_id")["epoch"].max()) == [2, 2]
    results = lab.load_mnist_results(run_ids)
    assert [r.config.k for r in results] == [0.5, 1.0] and all(len(r.history) == 2 for r in results)
    assert select(results).baseline["k"] == 1.0


def test_mnist_job_failure_marks_runs_failed(lab, monkeypatch):
    """A device that does not exist is refused up front; an error inside training marks every run failed."""
    with pytest.raises(ValueError):
        lab.submit_mnist([TrainConfig(hidden=(8,), epochs=1)], DataConfig(device="no-such-device"))

    def broken_fit(*args, **kwargs):
        raise RuntimeError("MNIST exploded")

    monkeypatch.setattr("core.experiments.fit", broken_fit)
    job, run_ids = lab.submit_mnist([TrainConfig(hidden=(8,), epochs=1, k=k) for k in (0.5, 1.0)], DataConfig())
    final = lab.jobs.wait(job.id, timeout=30)
    assert final.status == "failed" and "MNIST exploded" in final.error
    for run_id in run_ids:
        run = lab.store.get_run(run_id)
        assert run["status"] == "failed" and "MNIST exploded" in run["error"]


def test_estimate_grows_with_work():
    """The time estimate grows with epochs, width and data, and includes the start-up cost."""
    small = estimate_mnist_seconds([TrainConfig(hidden=(64,), epochs=1)], DataConfig(n_train=1000, device="cpu"))
    big = estimate_mnist_seconds([TrainConfig(hidden=(800,), epochs=10)], DataConfig(device="cpu"))
    assert 0 < small < big
    assert estimate_mnist_seconds([TrainConfig(hidden=(800,), epochs=10)] * 2, DataConfig(device="cpu")) > big
