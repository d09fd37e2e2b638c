"""Tests for core.mnist: batched training, metrics, divergence, cancellation, selection and the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from core.data import MnistUnavailableError, Subset, load_split
from core.losses import ObjectiveSpec
from core.mnist.__main__ import main
from core.mnist.selection import select
from core.mnist import (
    METRIC_KEYS,
    BatchTrainer,
    ConfigError,
    DataConfig,
    RunResult,
    TrainConfig,
    epoch_order,
    fit,
)
from core.labelnoise import NoiseSpec
from core.pseudograd import tunable_cross_entropy
from tests.conftest import data_unavailable

ROOT = Path(__file__).resolve().parents[1]
SMALL = DataConfig(n_train=512, n_val=256, n_test=256, train_eval=256, device="cpu")
TIMING_KEYS = ("seconds", "elapsed")


@pytest.fixture(scope="module")
def small_split():
    try:
        return load_split(subset=Subset(SMALL.n_train, SMALL.n_val, SMALL.n_test), device="cpu")
    except MnistUnavailableError as exc:
        data_unavailable(f"MNIST is not available here: {exc}")


def _tiny(**kw) -> TrainConfig:
    base = dict(hidden=(32,), lr=0.1, momentum=0.5, batch_size=64, epochs=2, seed=0)
    return TrainConfig(**{**base, **kw})


def _numbers(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in history]


def _exact(history: list[dict]) -> list[dict]:
    """The metrics without timings, NaN (a metric that does not apply) as "nan", for == comparison."""
    return [{k: ("nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in h.items()}
            for h in _numbers(history)]


def test_batched_equals_separate(small_split):
    """Runs trained together in one batch give the same metrics and weights as each trained alone."""
    configs = [
        _tiny(k=0.5, lr=0.2, seed=1),
        _tiny(k=2.0, lr=0.05, momentum=0.9, seed=2, clip_norm=0.5),  # clipping active
        _tiny(objective=ObjectiveSpec("gce"), lr=0.3, seed=1, weight_decay=1e-3),
        _tiny(k=1.0, seed=3, noise=NoiseSpec("symmetric", 0.3, seed=1)),
    ]
    together = fit(configs, SMALL, split=small_split)
    for config, joint in zip(configs, together):
        (alone,) = fit([config], SMALL, split=small_split)
        assert joint.status == alone.status == "done"
        for a, b in zip(_numbers(joint.history), _numbers(alone.history)):
            assert a.keys() == b.keys()
            for key in a:
                # counts of right/wrong predictions may flip for an example on a decision boundary
                tol = 2 / 256 if key.endswith(("error", "acc_noisy", "acc_true", "memorized", "corrected")) else 1e-5
                assert a[key] == pytest.approx(b[key], rel=1e-4, abs=tol, nan_ok=True), key
        for name, tensor in joint.state.items():
            torch.testing.assert_close(tensor, alone.state[name], rtol=1e-4, atol=1e-6)


def test_single_run_matches_plain_pytorch_loop(small_split):
    """One run equals nn.Sequential + tunable_cross_entropy + clip_grad_norm_ + torch.optim.SGD over epoch_order batches."""
    config = _tiny(k=0.5, lr=0.3, momentum=0.9, seed=4, clip_norm=1.0, weight_decay=1e-3)
    (result,) = fit([config], SMALL, split=small_split)
    net = BatchTrainer([config], small_split).model.to_sequential(0)
    optimizer = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    x, y = small_split.train_x, small_split.train_y
    for epoch in range(1, config.epochs + 1):
        order = epoch_order(config.seed, epoch, len(x))
        for batch in order.split(config.batch_size):
            optimizer.zero_grad()
            k = torch.full((len(batch),), config.k)
            tunable_cross_entropy(net(x[batch]), y[batch], k=k).backward()
            nn.utils.clip_grad_norm_(net.parameters(), config.clip_norm)
            optimizer.step()
    for name, tensor in net.state_dict().items():
        torch.testing.assert_close(result.state[name], tensor, rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        test_error = (net(small_split.test_x).argmax(1) != small_split.test_y).float().mean().item()
    assert result.final["test_error"] == pytest.approx(test_error, abs=1 / 256)


def test_same_seed_same_result_bit_for_bit(small_split):
    """Two fits of the same configurations give identical metrics and weights, bit for bit (CPU)."""
    configs = [_tiny(k=0.5, seed=7), _tiny(k=1.5, seed=8)]
    a = fit(configs, SMALL, split=small_split)
    b = fit(configs, SMALL, split=small_split)
    for ra, rb in zip(a, b):
        assert _exact(ra.history) == _exact(rb.history)
        assert all(torch.equal(ra.state[n], rb.state[n]) for n in ra.state)
    assert not torch.equal(a[0].state["0.weight"], a[1].state["0.weight"])  # the seed matters


def test_short_run_learns_mnist():
    """A 784-64-10 net trained 3 epochs on 3,000 real MNIST images reaches validation error < 20%."""
    data = DataConfig(n_train=3000, n_val=1000, n_test=1000, device="cpu")
    try:
        results = fit([TrainConfig(hidden=(64,), lr=0.1, momentum=0.9, epochs=3, k=k) for k in (1.0, 0.5)], data)
    except MnistUnavailableError as exc:
        data_unavailable(f"MNIST is not available here: {exc}")
    for r in results:
        errors = [h["val_error"] for h in r.history]
        assert r.status == "done" and len(errors) == 3
        assert errors[-1] < 0.20, (r.config.label, errors)
        assert errors[-1] < errors[0]
        assert r.final["test_error"] < 0.25


def test_divergent_run_is_isolated(small_split):
    """A run with a huge learning rate is marked diverged after its first epoch; its batch-mates finish normally."""
    configs = [_tiny(lr=0.1, epochs=3), _tiny(lr=1e5, clip_norm=None, epochs=3), _tiny(lr=0.1, seed=1, epochs=3)]
    (expected,) = fit([configs[0]], SMALL, split=small_split)
    events = []
    results = fit(configs, SMALL, split=small_split, on_epoch=events.append)
    good, bad, other = results
    assert bad.status == "diverged" and len(bad.history) == 1 and bad.state is None
    assert good.status == other.status == "done" and len(good.history) == 3
    assert _numbers(good.history)[-1] == pytest.approx(_numbers(expected.history)[-1], rel=1e-4, abs=1e-5, nan_ok=True)
    assert [e.status for e in events if e.index == 1] == ["diverged"]
    assert events[-1].fraction == pytest.approx(1.0)


def test_cancel_stops_within_a_step_and_keeps_finished_epochs(small_split):
    """Setting cancel mid-epoch makes fit return quickly; runs are 'stopped' with their finished epochs."""
    cancel = threading.Event()
    fired = {}

    def on_epoch(event):
        if event.epoch == 1 and "t" not in fired:  # cancel part-way into epoch 2
            fired["t"] = threading.Timer(0.02, lambda: (fired.setdefault("set", time.perf_counter()), cancel.set()))
            fired["t"].start()

    configs = [_tiny(epochs=50, batch_size=16), _tiny(epochs=50, batch_size=16, seed=1)]
    results = fit(configs, SMALL, split=small_split, on_epoch=on_epoch, cancel=cancel)
    latency = time.perf_counter() - fired["set"]
    assert latency < 0.5
    for r in results:
        assert r.status == "stopped"
        assert 1 <= len(r.history) < 50
        assert r.state is not None
    assert fit(configs, SMALL, split=small_split, cancel=cancel)[0].history == []  # already set: nothing runs


def test_every_epoch_reports_every_metric(small_split):
    """on_epoch fires once per run and epoch with all METRIC_KEYS, finite values, rising fraction and an ETA."""
    events = []
    configs = [_tiny(epochs=2), _tiny(epochs=3, k=0.5, hidden=(16,))]  # two groups
    results = fit(configs, SMALL, split=small_split, on_epoch=events.append)
    assert sorted((e.index, e.epoch) for e in events) == [(0, 1), (0, 2), (1, 1), (1, 2), (1, 3)]
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert all(e.eta_s >= 0 for e in events) and events[-1].eta_s == pytest.approx(0.0, abs=1e-9)
    for r in results:
        assert r.device == "cpu" and r.seconds > 0
        assert list(r.frame().columns) == list(METRIC_KEYS)
        for h in r.history:
            assert set(h) == set(METRIC_KEYS)
            for key in ("train_loss", "train_ce", "train_error", "val_ce", "val_error", "test_ce", "test_error"):
                assert math.isfinite(h[key])
            assert 0 <= h["train_error"] <= 1 and h["train_acc_noisy"] == pytest.approx(1 - h["train_error"])
            assert h["noise_rate"] == 0 and math.isnan(h["memorized"])
    assert [e.status for e in events if e.index == 1] == ["running", "running", "done"]


def test_noise_on_train_and_val_labels_only(small_split):
    """Noise is applied to train+val labels together (as NoiseSpec.apply on their concatenation); test labels stay clean."""
    spec = NoiseSpec("symmetric", 0.4, seed=2)
    trainer = BatchTrainer([_tiny(noise=spec), _tiny()], small_split)
    both = torch.cat([small_split.train_y, small_split.val_y])
    expected = spec.apply(both, 10).labels
    n = len(small_split.train_y)
    assert torch.equal(trainer.train_y[0], expected[:n]) and torch.equal(trainer.val_y[0], expected[n:])
    assert torch.equal(trainer.train_y[1], small_split.train_y)  # the clean batch-mate is unaffected
    assert (trainer.val_y[0] != small_split.val_y).float().mean().item() == pytest.approx(0.4, abs=0.08)
    (result,) = fit([_tiny(noise=spec, epochs=1)], SMALL, split=small_split)
    h = result.final
    assert h["noise_rate"] == pytest.approx(0.4, abs=1e-3)
    assert 0 <= h["memorized"] <= 1 and 0 <= h["corrected"] <= 1 and h["memorized"] + h["corrected"] <= 1
    assert h["train_acc_noisy"] == pytest.approx(1 - h["train_error"])


def _fake(method: dict, lr: float, seed: int, val: float, test: float, status: str = "done") -> RunResult:
    config = TrainConfig(lr=lr, seed=seed, epochs=2, **method)
    last = {key: math.nan for key in METRIC_KEYS} | {"epoch": 2, "val_error": val, "val_ce": val * 3,
                                                     "test_error": test, "test_ce": test * 3}
    first = dict(last, val_error=0.0)  # a better earlier epoch must NOT be used: selection reads the final epoch
    return RunResult(config, status, [first, last], "cpu", 1.0)


def test_selection_picks_lr_per_k_then_k_on_validation():
    """select picks each k's lr by mean final validation error over seeds, then k by validation; k=1 likewise."""
    runs = [
        # k = 0.5: lr 0.1 wins on mean validation (0.030) although seed 1 of lr 0.3 has the lowest single value
        _fake({"k": 0.5}, 0.1, 0, 0.030, 0.040), _fake({"k": 0.5}, 0.1, 1, 0.030, 0.040),
        _fake({"k": 0.5}, 0.3, 0, 0.050, 0.010), _fake({"k": 0.5}, 0.3, 1, 0.015, 0.010),
        # k = 1: lr 0.3 wins on validation (0.035) though lr 0.1 has the better test error
        _fake({"k": 1.0}, 0.1, 0, 0.040, 0.020), _fake({"k": 1.0}, 0.1, 1, 0.040, 0.020),
        _fake({"k": 1.0}, 0.3, 0, 0.035, 0.050), _fake({"k": 1.0}, 0.3, 1, 0.035, 0.050),
        # k = 2: a diverged seed disqualifies lr 0.3 whatever the other seed says
        _fake({"k": 2.0}, 0.1, 0, 0.060, 0.060), _fake({"k": 2.0}, 0.1, 1, 0.060, 0.060),
        _fake({"k": 2.0}, 0.3, 0, 0.001, 0.001), _fake({"k": 2.0}, 0.3, 1, math.nan, math.nan, "diverged"),
        _fake({"k": 2.0}, 1.0, 0, 0.0, 0.0, "stopped"),  # stopped runs are ignored
    ]
    s = select(runs)
    chosen = {row["method"]: row["lr"] for _, row in s.per_method.iterrows()}
    assert chosen == {"k=0.5": 0.1, "k=1": 0.3, "k=2": 0.1}
    assert (s.best["method"], s.best["lr"]) == ("k=0.5", 0.1)
    assert s.best["test_error"] == pytest.approx(0.040) and s.best["test_ce"] == pytest.approx(0.120)
    assert (s.baseline["method"], s.baseline["lr"], s.baseline["test_error"]) == ("k=1", 0.3, pytest.approx(0.050))
    assert len(s.table) == 6 and set(s.table["seeds"]) == {2}
    assert s.table.loc[(s.table["method"] == "k=2") & (s.table["lr"] == 0.3), "diverged"].item() == 1
    assert list(s.summary().index) == ["selected", "k=1 (cross-entropy)"]


def test_selection_refuses_mixed_settings():
    """select raises ConfigError when the runs differ in anything but k, lr, seed and objective."""
    runs = [_fake({"k": 1.0}, 0.1, 0, 0.1, 0.1), RunResult(TrainConfig(hidden=(400,), epochs=2), "done",
                                                           [{"val_error": 0.1}], "cpu", 1.0)]
    with pytest.raises(ConfigError, match="one setting"):
        select(runs)


def test_config_validation_and_labels():
    """TrainConfig rejects bad fields with ConfigError, folds 'tunable:k=..' into k, and labels runs like 'k=0.5 lr=0.1 s0'."""
    assert TrainConfig(k=0.5, lr=0.1).label == "k=0.5 lr=0.1 s0"
    assert TrainConfig(objective="tunable:k=0.25") == TrainConfig(k=0.25)
    assert TrainConfig(objective="gce:q=0.7", seed=2).label == "GCE (q=0.7) lr=0.1 s2"
    assert TrainConfig.from_dict(TrainConfig(objective="gce", noise=NoiseSpec("symmetric", 0.2)).to_dict()) == \
        TrainConfig(objective="gce", noise=NoiseSpec("symmetric", 0.2))
    for bad in ({"k": 0}, {"lr": -1.0}, {"momentum": 1.0}, {"hidden": (0,)}, {"activation": "swish"},
                {"epochs": 0}, {"objective": "nope"}, {"clip_norm": 0.0}):
        with pytest.raises(ConfigError):
            TrainConfig(**bad)


def test_cli_help_and_tiny_train_run_to_json(tmp_path):
    """`python -m core.mnist --help` works, a tiny `train` run writes per-epoch histories to --json, and
    its runs are saved in the run store (listed by `python -m core.runstore list --json`, as the dashboard sees them)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TUNABLE_RUNS_DB=str(tmp_path / "runs.sqlite"))
    help_out = subprocess.run([sys.executable, "-m", "core.mnist", "--help"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
    assert help_out.returncode == 0 and "train" in help_out.stdout and "select" in help_out.stdout
    out = tmp_path / "runs.json"
    proc = subprocess.run(
        [sys.executable, "-m", "core.mnist", "train", "--k", "0.5", "1", "--lr", "0.1", "--hidden", "16",
         "--epochs", "2", "--n-train", "300", "--n-val", "100", "--n-test", "100", "--device", "cpu",
         "--json", str(out), "--quiet"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "k=0.5 lr=0.1 s0" in proc.stdout
    runs = json.loads(out.read_text())["runs"]
    assert [r["label"] for r in runs] == ["k=0.5 lr=0.1 s0", "k=1 lr=0.1 s0"]
    assert all(r["status"] == "done" and len(r["history"]) == 2 for r in runs)
    assert set(runs[0]["history"][0]) == set(METRIC_KEYS)
    listed = subprocess.run([sys.executable, "-m", "core.runstore", "list", "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    saved = sorted(json.loads(listed.stdout), key=lambda r: r["id"])
    assert [(r["kind"], r["status"], r["epochs"], r["label"]) for r in saved] == [
        ("mnist", "done", 2, "k=0.5 lr=0.1 s0"), ("mnist", "done", 2, "k=1 lr=0.1 s0")]
    assert saved[0]["config"]["train"]["k"] == 0.5 and saved[0]["provenance"]["device"] == "cpu"
    assert [r["run_id"] for r in runs] == [r["id"] for r in saved]


def test_cli_select_prints_summary_and_writes_csv(tmp_path, capsys, small_split):
    """`select` on a tiny k x lr grid prints the per-method choice and the summary, and writes the table to --csv."""
    csv = tmp_path / "table.csv"
    code = main(["select", "--k", "0.5", "1", "--lr", "0.05", "0.2", "--hidden", "16", "--epochs", "1",
                 "--n-train", "512", "--n-val", "256", "--n-test", "256", "--device", "cpu", "--quiet",
                 "--csv", str(csv)])
    assert code == 0
    out = capsys.readouterr().out
    assert "selection summary" in out and "k=1 (cross-entropy)" in out
    assert len(csv.read_text().strip().splitlines()) == 1 + 4


def test_group_events_report_progress_within_an_epoch_and_finish_each_run(small_split):
    """train_events reports progress several times inside the first epoch (no bar stuck at 0), and each
    run's Finished comes right after its own last Epoch, flagged at chance level when it learned nothing."""
    from core.engine.executors import Epoch, Finished, Progress
    from core.mnist import train_events
    from core.mnist.config import at_chance

    configs = [_tiny(lr=0.1, epochs=2), _tiny(lr=0.1, epochs=2, seed=1), _tiny(lr=0.03, epochs=1, seed=2)]
    events = list(train_events(configs, small_split, train_eval=None))
    first_epoch = events.index(next(e for e in events if isinstance(e, Epoch)))
    inside = [e for e in events[:first_epoch] if isinstance(e, Progress)]
    assert len(inside) >= 5 and 0 < inside[0].fraction < inside[-1].fraction <= 3 / 5 + 1e-9  # epoch 1 is 3 of 5 run-epochs
    finished = {e.index: (i, e) for i, e in enumerate(events) if isinstance(e, Finished)}
    for index, (i, event) in finished.items():
        assert isinstance(events[i - 1], (Epoch, Finished)) and event.status == "done"
    assert finished[2][0] < finished[0][0]  # the 1-epoch run ended before its 2-epoch group-mates
    assert all(e.summary["at_chance"] == at_chance(e.summary["val_error"]) for _, e in finished.values())
    assert at_chance(0.9) and at_chance(0.86) and not at_chance(0.6) and at_chance(0.985, num_classes=100)


def test_selection_never_selects_a_run_at_chance_level():
    """A cell whose runs ended at chance level (learned nothing, though 'done') is never selected."""
    def result(k, lr, val_error):
        history = [{"epoch": 1, "val_error": val_error, "val_ce": 2.3, "test_error": val_error, "test_ce": 2.3}]
        return RunResult(TrainConfig(k=k, lr=lr, epochs=1), "done", history, "cpu", 1.0)

    chosen = select([result(1.0, 0.1, 0.05), result(1.0, 100.0, 0.90), result(0.5, 0.1, 0.04),
                     result(0.5, 100.0, 0.899)])
    assert chosen.best["lr"] == 0.1 and chosen.best["k"] == 0.5
    assert chosen.table.set_index(["k", "lr"]).loc[(1.0, 100.0), "at_chance"] == 1
