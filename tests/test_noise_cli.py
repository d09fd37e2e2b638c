"""Tests for the label-noise comparison in core.noise: the grid, the tables, compare() and the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from core.losses import ObjectiveSpec
from core.mnist import ConfigError, RunResult, TrainConfig
from core.engine.status import from_jsonable
from core.labelnoise import NoiseSpec
from core.noise import (
    UNHINGED_WEIGHT_DECAY, Method, compare, comparison_configs, curves, default_lr, format_table, parse_method,
    summarize, summarize_toy, toy_configs, toy_ks,
)
from core.noise.__main__ import main
from tests.conftest import ROOT


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.noise", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _result(objective: str, rate: float, seed: int, test_error: float, status: str = "done", epochs: int = 2,
            memorized: float = 0.1) -> RunResult:
    """A RunResult with a made-up history whose last epoch has the given test error."""
    cfg = TrainConfig(hidden=(8,), objective=objective, lr=0.1, epochs=epochs, seed=seed,
                      noise=NoiseSpec("symmetric" if rate else "none", rate))
    history = [{"epoch": e, "test_error": test_error + 0.1 * (epochs - e), "test_ce": 0.5, "train_acc_noisy": 0.6,
                "train_acc_true": 0.9, "memorized": memorized, "corrected": 0.8} for e in range(1, epochs + 1)]
    return RunResult(cfg, status, history, "cpu", 1.0)


# ----------------------------------------------------------------------------- the grid

def test_grid_is_objectives_by_rates_by_seeds_with_per_objective_defaults():
    """comparison_configs gives one config per (objective, rate, seed), with the default lr and weight decay
    per objective, clean labels at rate 0, and the same label-noise seed everywhere."""
    configs = comparison_configs(["ce", "tunable:k=0.25", "unhinged", "mae@0.5"], [0.0, 0.4], [0, 1], noise_seed=7)
    assert len(configs) == 4 * 2 * 2
    ce = [c for c in configs if c.objective == ObjectiveSpec("ce")]
    assert [(c.noise.kind, c.noise.rate, c.seed) for c in ce] == [("none", 0.0, 0), ("none", 0.0, 1),
                                                                   ("symmetric", 0.4, 0), ("symmetric", 0.4, 1)]
    assert {c.noise.seed for c in configs} == {7}
    k = [c for c in configs if c.objective is None]
    assert {c.k for c in k} == {0.25} and {c.lr for c in k} == {default_lr("tunable:k=0.25")}
    assert {c.weight_decay for c in configs if c.objective == ObjectiveSpec("unhinged")} == {UNHINGED_WEIGHT_DECAY}
    assert {c.weight_decay for c in configs if c.objective != ObjectiveSpec("unhinged")} == {0.0}
    assert {c.lr for c in configs if c.objective == ObjectiveSpec("mae")} == {0.5}  # 'spec@lr' wins


def test_one_lr_for_all_and_momentum_scaled_defaults():
    """`lr` overrides every default (not an explicit 'spec@lr'); defaults keep lr / (1 - momentum) fixed."""
    configs = comparison_configs(["ce", "gce@0.7"], [0.4], lr=0.05)
    assert [c.lr for c in configs] == [0.05, 0.7]
    assert default_lr("ce", momentum=0.5) == pytest.approx(5 * default_lr("ce", momentum=0.9))


@pytest.mark.parametrize("args, message", [
    (dict(objectives=[], rates=[0.4]), "at least one objective"),
    (dict(objectives=["ce"], rates=[1.2]), "noise rate"),
    (dict(objectives=["nope"], rates=[0.4]), "unknown objective"),
    (dict(objectives=["ce@-1"], rates=[0.4]), "learning rate"),
    (dict(objectives=["ce"], rates=[0.4], noise="none"), "symmetric"),
])
def test_bad_grid_settings_raise_value_errors(args, message):
    """Bad grid settings raise ValueError naming the problem (the CLI and page show it)."""
    with pytest.raises(ValueError, match=message):
        comparison_configs(**args)


def test_bad_shared_lr_or_weight_decay_raise_config_error():
    """A non-positive lr for all, or a negative weight decay, raises core.mnist's ConfigError."""
    with pytest.raises(ConfigError, match="lr"):
        comparison_configs(["ce"], [0.4], lr=0.0)
    with pytest.raises(ConfigError, match="weight_decay"):
        comparison_configs(["ce"], [0.4], weight_decay=-1.0)


def test_toy_accepts_only_the_k_family():
    """The toy grid takes k values (ce = k = 1), one ToyConfig per rate with one run per seed; others are refused."""
    assert toy_ks(["ce", "tunable:k=0.25", Method(ObjectiveSpec("tunable", {"k": 4.0}))]) == (4.0, 1.0, 0.25)
    configs = toy_configs(["ce", "tunable:k=0.25"], [0.0, 0.2], seeds=[3, 4])
    assert [(c.label_noise, c.runs, c.seed, c.ks) for c in configs] == [(0.0, 2, 3, (1.0, 0.25)), (0.2, 2, 3, (1.0, 0.25))]
    with pytest.raises(ValueError, match="only the k family"):
        toy_ks(["ce", "gce"])


def test_parse_method_reads_spec_and_lr():
    """'spec@lr' parses into the objective and its own learning rate; plain 'spec' has none."""
    assert parse_method("tunable:k=0.25@0.01") == Method(ObjectiveSpec("tunable", {"k": 0.25}), 0.01)
    assert parse_method("gce").lr is None


# ----------------------------------------------------------------------------- the tables

def test_summarize_means_and_stds_over_seeds_and_skips_diverged():
    """summarize gives one row per (method, rate) in input order, mean and std over seeds of the last epoch;
    a diverged run is counted, not averaged."""
    results = [_result("gce", 0.4, 0, 0.10), _result("gce", 0.4, 1, 0.20), _result("gce", 0.4, 2, 0.9, "diverged"),
               _result("ce", 0.4, 0, 0.30), _result("ce", 0.0, 0, 0.05)]
    table = summarize(results)
    assert list(zip(table["method"], table["rate"])) == [("gce:q=0.7", 0.4), ("ce", 0.0), ("ce", 0.4)]
    gce = table.iloc[0]
    assert gce["seeds"] == 3 and gce["diverged"] == 1
    assert gce["test_error_mean"] == pytest.approx(0.15) and gce["test_acc_mean"] == pytest.approx(0.85)
    assert gce["test_error_std"] == pytest.approx(pd.Series([0.1, 0.2]).std())
    assert math.isnan(table.iloc[2]["test_error_std"])  # one seed: no spread
    assert table.loc[1, "noise"] == "clean"
    text = format_table(table)
    assert list(text["objective"]) == ["GCE (q=0.7)", "CE", "CE"] and text.loc[0, "test acc %"] == "85.0 ± 7.1"


def test_curves_average_each_epoch_over_seeds():
    """curves gives per-epoch means over seeds (diverged runs left out), one row per (method, rate, epoch)."""
    results = [_result("ce", 0.4, 0, 0.10, epochs=3), _result("ce", 0.4, 1, 0.20, epochs=3),
               _result("mae", 0.4, 0, 0.5, status="diverged", epochs=3)]
    cv = curves(results)
    assert list(cv["epoch"]) == [1, 2, 3] and set(cv["method"]) == {"ce"}
    assert cv["test_acc"].tolist() == pytest.approx([1 - 0.35, 1 - 0.25, 1 - 0.15])
    assert (cv["seeds"] == 2).all()


def test_summarize_toy_converts_percent_and_groups_by_k_and_rate():
    """summarize_toy turns the toy's per-run test error (%) into fractions, one row per (k, rate)."""
    class Saved:  # the two attributes summarize_toy reads (ToyResult and SavedToy both have them)
        def __init__(self, rate, errors):
            self.config = type("Cfg", (), {"label_noise": rate})()
            self.per_run = pd.DataFrame({"k": [1.0, 1.0, 0.25, 0.25], "run": [0, 1, 0, 1], "test_error": errors,
                                         "test_ce": 0.4, "threshold": 0.0, "epochs": 100})

    table = summarize_toy([Saved(0.0, [4.0, 6.0, 3.0, 3.0]), Saved(0.2, [8.0, 8.0, 2.0, 4.0])])
    assert list(zip(table["k"], table["rate"])) == [(1.0, 0.0), (1.0, 0.2), (0.25, 0.0), (0.25, 0.2)]
    assert table["test_error_mean"].tolist() == pytest.approx([0.05, 0.08, 0.03, 0.03])
    assert (table["runs"] == 2).all()


def test_compare_toy_returns_the_table():
    """compare(dataset='toy') trains one toy run per rate and returns one row per (k, rate) with sane errors."""
    from core.toy import ToyConfig

    table = compare(["ce", "tunable:k=0.25"], [0.0, 0.2], [0], dataset="toy",
                    base=ToyConfig(n_train=500, n_val=500, n_test=500, patience=50))
    assert len(table) == 4 and set(table["rate"]) == {0.0, 0.2}
    assert table["test_error_mean"].between(0, 0.5).all()


# ----------------------------------------------------------------------------- the command line

def test_help_lists_the_options(capsys):
    """`python -m core.noise --help` exits 0 and documents the grid options and the per-objective defaults."""
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ("--objectives", "--noise", "--rates", "--seeds", "--dataset", "--lr", "--weight-decay", "--json"):
        assert option in text
    assert "unhinged" in text.lower() and "weight decay" in text


def test_cli_tiny_mnist_comparison_writes_json(tmp_path):
    """A tiny MNIST comparison prints a table and writes JSON with one row per (objective, rate), values in range."""
    path = tmp_path / "out.json"
    out = _cli("--objectives", "ce", "tunable:k=0.5", "gce", "--rates", "0", "0.4", "--seeds", "0", "--n-train", "500",
               "--n-val", "200", "--n-test", "500", "--epochs", "1", "--hidden", "32", "--threads", "1", "--quiet",
               "--json", str(path), "--csv", str(tmp_path / "out.csv"))
    assert out.returncode == 0, out.stderr
    assert "k = 0.5" in out.stdout and "GCE (q=0.7)" in out.stdout
    payload = from_jsonable(json.loads(path.read_text()))  # the one JSON policy: NaN is written "NaN"
    table = pd.DataFrame(payload["table"])
    assert list(zip(table["method"], table["rate"])) == [
        ("ce", 0.0), ("ce", 0.4), ("tunable:k=0.5", 0.0), ("tunable:k=0.5", 0.4), ("gce:q=0.7", 0.0),
        ("gce:q=0.7", 0.4)]
    for column in ("test_acc_mean", "train_acc_noisy_mean", "train_acc_true_mean"):
        assert table[column].between(0, 1).all()
    assert table.loc[table["rate"] == 0.4, "memorized_mean"].between(0, 1).all()
    assert table.loc[table["rate"] == 0.0, "memorized_mean"].isna().all()  # nothing flipped
    assert (table.loc[table["rate"] == 0.0, "test_acc_mean"] > 0.15).all()  # 4 steps on clean labels beat chance (10%)
    assert len(payload["runs"]) == 6 and pd.read_csv(tmp_path / "out.csv").shape[0] == 6


def test_cli_tiny_toy_comparison(tmp_path, capsys):
    """The toy comparison from the CLI (main, in-process): one row per (k, rate), errors in [0, 50%]."""
    path = tmp_path / "toy.json"
    code = main(["--dataset", "toy", "--objectives", "tunable:k=4", "tunable:k=0.25", "--rates", "0", "0.2",
                 "--seeds", "0", "1", "--toy-n", "600", "--toy-patience", "100", "--quiet", "--json", str(path)])
    assert code == 0 and "k = 0.25" in capsys.readouterr().out
    table = pd.DataFrame(from_jsonable(json.loads(path.read_text()))["table"])
    assert sorted(zip(table["k"], table["rate"])) == [(0.25, 0.0), (0.25, 0.2), (4.0, 0.0), (4.0, 0.2)]
    assert table["test_error_mean"].between(0, 0.5).all() and (table["runs"] == 2).all()


@pytest.mark.parametrize("args, message", [
    (["--dataset", "toy", "--objectives", "gce"], "only the k family"),
    (["--rates", "1.0"], "--rates"),
    (["--objectives", "ce@fast"], "learning rate"),
])
def test_cli_refuses_bad_input_with_a_message(args, message, capsys):
    """Bad input exits with status 2 and one line naming the problem, before any training."""
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
