"""Tests of core.mnist.task: MLP grids on the engine (launch, save per epoch, read back, failures)."""

from __future__ import annotations

import pytest

from core.engine.lab import Lab
from core.engine.queue import JobManager
from core.engine.store import RunStore
from core.mnist import DataConfig, TrainConfig
from core.mnist.task import live_results, load as load_results, run_here as run_mnist, submit as submit_mnist
from core.mnist.selection import select

TINY = DataConfig(n_train=500, n_val=200, n_test=200, train_eval=200)


@pytest.fixture
def lab(tmp_path):
    lab = Lab(RunStore(tmp_path / "runs.sqlite"), JobManager())
    yield lab
    lab.jobs.shutdown(cancel=True, timeout=30)


def test_mnist_runs_saved_per_epoch_and_selectable(lab):
    """A launched grid saves every epoch of every run, live data mirrors it, and the saved runs feed selection."""
    configs = [TrainConfig(hidden=(16,), k=k, lr=0.1, epochs=2) for k in (0.5, 1.0)]
    launched = submit_mnist(lab, configs, TINY, owner="me")
    job = lab.jobs.get(launched.job_ids[0])
    assert job.meta["labels"] == dict(zip(launched.run_ids, ["k=0.5 lr=0.1 s0", "k=1 lr=0.1 s0"]))
    final = lab.jobs.wait(launched.job_ids[0], timeout=120)
    assert final.status == "done" and final.data == {}  # a finished job keeps no live data
    history = lab.store.history(launched.run_ids)
    assert sorted(history.groupby("run_id")["epoch"].max()) == [2, 2]
    results = load_results(lab.store, launched.run_ids)
    assert [r.config.k for r in results] == [0.5, 1.0] and all(len(r.history) == 2 for r in results)
    assert select(results).baseline["k"] == 1.0


def test_live_results_rebuild_run_results_from_job_data():
    """live_results turns a job's configs, curves and statuses into RunResults without the store."""
    config = {"train": TrainConfig(hidden=(8,), k=0.5).to_dict()}
    results = live_results({7: config}, {7: [{"epoch": 1, "val_error": 0.2}]}, {7: "running"})
    assert results[0].config.k == 0.5 and results[0].status == "running" and results[0].history[0]["epoch"] == 1


def test_bad_device_is_refused_and_a_crashing_group_fails_only_its_runs(lab, monkeypatch):
    """A device that does not exist is refused before anything is saved; an error inside training marks
    that group's runs failed with the message, and the job itself ends normally."""
    with pytest.raises(ValueError):
        submit_mnist(lab, [TrainConfig(hidden=(8,), epochs=1)], DataConfig(device="no-such-device"), owner="me")
    assert lab.store.list_runs().empty

    def broken(*args, **kwargs):
        raise RuntimeError("MNIST exploded")

    monkeypatch.setattr("core.mnist.group_task.load_data", broken)
    launched = submit_mnist(lab, [TrainConfig(hidden=(8,), epochs=1, k=k) for k in (0.5, 1.0)], TINY, owner="me")
    lab.jobs.wait(launched.job_ids[0], timeout=30)
    for run_id in launched.run_ids:
        run = lab.store.get_run(run_id)
        assert run["status"] == "failed" and "MNIST exploded" in run["error"]


def test_run_mnist_on_this_thread_returns_results_in_config_order(lab):
    """run_mnist (the CLI path) returns run ids and results in the order of the configs given."""
    configs = [TrainConfig(hidden=(8,), k=1.0, epochs=1), TrainConfig(hidden=(16,), k=0.5, epochs=1),
               TrainConfig(hidden=(8,), k=0.25, epochs=1)]
    run_ids, results = run_mnist(lab, configs, TINY)
    assert [r.config.k for r in results] == [1.0, 0.5, 0.25]
    assert [lab.store.get_run(i)["label"] for i in run_ids] == [c.label for c in configs]
    assert {lab.store.get_run(i)["status"] for i in run_ids} == {"done"}


def test_fit_is_run_here_through_the_lab(lab):
    """fit (the library API) trains through the Lab: given a lab, every run is saved in its store with
    the same status and epochs fit returns; the trained weights come back in memory, never stored."""
    from core.mnist import fit

    configs = [TrainConfig(hidden=(8,), k=k, lr=0.1, epochs=2) for k in (0.5, 1.0)]
    seen = []
    results = fit(configs, TINY, on_epoch=seen.append, lab=lab)
    runs = lab.store.list_runs(kind="mnist")
    assert sorted(runs["status"]) == ["done", "done"] and len(seen) == 4
    assert [e.status for e in seen if e.index == 0] == ["running", "done"]
    assert all(r.state is not None and r.status == "done" for r in results)
    assert "state" not in str(lab.store.get_run(int(runs["id"].iloc[0])).get("result"))


def test_failed_and_interrupted_runs_keep_their_status_when_read_back(lab):
    """load returns each run's stored status: a failed run reads "failed", not "stopped"."""
    configs = [TrainConfig(hidden=(8,), epochs=1)]
    run_ids, _ = run_mnist(lab, configs, TINY)
    run_id = lab.store.create_run("mnist", {"train": configs[0].to_dict(), "data": {}}, "x")
    lab.store.finish(run_id, "failed", error="boom")
    assert [r.status for r in load_results(lab.store, [run_ids[0], run_id])] == ["done", "failed"]
