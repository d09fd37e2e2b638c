"""core.estimate: cost models, the per-device calibration file, refining from finished runs."""

from __future__ import annotations

import dataclasses

import pytest

from core import estimate as est
from core.estimate import estimate_mnist
from core.engine.store import RunStore
from core.mnist import DataConfig, TrainConfig
from core.toy import ToyConfig

CAL = est.Calibration("cpu", 5e10, dict(est.DEFAULT_EFFICIENCY), 0.0)


def test_mlp_estimate_is_startup_plus_flops_over_the_rate():
    """Twice the epochs or twice the configurations (one batched group) doubles the part above start-up."""
    data = DataConfig(n_train=10_000, device="cpu")
    one = est.estimate_mnist([TrainConfig(hidden=(800,), epochs=3)], data, CAL)
    startup = est.STARTUP_S["cpu"]
    assert est.estimate_mnist([TrainConfig(hidden=(800,), epochs=6)], data, CAL) - startup == pytest.approx(
        2 * (one - startup))
    assert est.estimate_mnist([TrainConfig(hidden=(800,), epochs=3, k=k) for k in (0.5, 1)], data, CAL) - startup \
        == pytest.approx(2 * (one - startup))
    flops = 3 * (784 * 800 + 800 * 10) * (6 * 10_000 + 2 * (10_000 + 10_000 + 10_000))
    assert one - startup == pytest.approx(flops / (5e10 * est.DEFAULT_EFFICIENCY["mnist"]))


def test_toy_estimate_follows_the_stopping_window_and_the_cap():
    """The toy's expected model-epochs grow with the stopping window and never pass the epoch cap."""
    base = ToyConfig(ks=(1.0, 0.25), runs=2, patience=1000)
    longer = dataclasses.replace(base, patience=2000)
    assert est.toy_model_epochs(longer) == pytest.approx(2 * est.toy_model_epochs(base))
    capped = dataclasses.replace(base, patience=100_000, max_epochs=5000)
    assert est.toy_model_epochs(capped) == 2 * 2 * 5000
    assert est.estimate_job("toy", {1: dataclasses.asdict(base)}, CAL) == pytest.approx(est.estimate_toy(base, CAL))


def test_calibration_is_measured_once_per_device_and_kept(tmp_path, monkeypatch):
    """The probe runs once; the second call reads calibration.json."""
    monkeypatch.setenv("TUNABLE_DATA_DIR", str(tmp_path))
    calls = []
    monkeypatch.setattr(est, "probe_flops", lambda device, **kw: calls.append(device) or 1e10)
    first = est.calibration("cpu")
    second = est.calibration("cpu")
    assert len(calls) == 1 and first.flops_per_s == second.flops_per_s == 1e10
    assert (tmp_path / "calibration.json").exists()


def _finished_like(store, configs, data, seconds: float, group: str) -> None:
    for c in configs:
        rid = store.create_run("mnist", {"train": c.to_dict(), "data": dataclasses.asdict(data)}, group_id=group,
                               device="cpu", status="running")
        store.finish(rid, "done")
        with store._write() as conn:  # as if it had taken `seconds`
            conn.execute("UPDATE runs SET seconds = ? WHERE id = ?", (seconds, rid))


def test_finished_runs_that_took_twice_as_long_double_the_next_estimate(tmp_path):
    """refine() scales the MLP rate by the measured/predicted ratio of the store's finished launches; a ratio
    inside the noise band (1.1 here) leaves it as it is."""
    data = DataConfig(n_train=50_000, device="cpu")
    configs = [TrainConfig(hidden=(800,), epochs=10, k=k) for k in (0.5, 1.0)]
    predicted = est.estimate_mnist(configs, data, CAL)
    near = RunStore(tmp_path / "near.sqlite")
    _finished_like(near, configs, data, 1.1 * predicted, "g")
    assert est.refine(CAL, near).efficiency == CAL.efficiency
    store = RunStore(tmp_path / "runs.sqlite")
    _finished_like(store, configs, data, 2 * predicted, "g")
    refined = est.refine(CAL, store)
    assert refined.efficiency["mnist"] == pytest.approx(CAL.efficiency["mnist"] / 2)
    startup = est.STARTUP_S["cpu"]
    assert est.estimate_mnist(configs, data, refined) - startup == pytest.approx(2 * (predicted - startup))


def test_a_study_expects_early_stopping_only_where_its_patience_allows():
    """Expected is the bound times the share of the epoch cap the runs reach: at least (patience + 1) / cap."""
    from core.study import StudyConfig

    short = StudyConfig.grid(["mnist"], [1], [16], [0.5], ks=[1.0], lrs=[0.1], seeds=[0], epochs=20, patience=18,
                             n_train=1000, n_val=500, n_test=500)
    expected, bound = est.estimate_study(short, cal=CAL)
    assert 19 / 20 > CAL.efficiency["study_stop"] and expected == pytest.approx(bound * 19 / 20)
    long = dataclasses.replace(short, epochs=40)
    expected, bound = est.estimate_study(long, cal=CAL)
    assert expected == pytest.approx(bound * CAL.efficiency["study_stop"])


def test_estimate_grows_with_work():
    """The MLP estimate grows with epochs, width, data and the number of runs."""
    small = estimate_mnist([TrainConfig(hidden=(64,), epochs=1)], DataConfig(n_train=1000, device="cpu"))
    big = estimate_mnist([TrainConfig(hidden=(800,), epochs=10)], DataConfig(device="cpu"))
    assert 0 < small < big
    assert estimate_mnist([TrainConfig(hidden=(800,), epochs=10)] * 2, DataConfig(device="cpu")) > big
