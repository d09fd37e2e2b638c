"""core.results: one grouping of runs for every chart and table."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from core.results import config_keys, dash, group_runs, mean_std, summary_stats, unique_labels, varying


def _runs() -> pd.DataFrame:
    """Quick twice (k 1/2 and 1, seed 0), the second launch stopped; plus k = 1 with seeds 1, 2."""
    return pd.DataFrame([
        dict(id=1, label="k = 1/2 · lr 0.1 · seed 0", status="done", k=0.5, lr=0.1, hidden=[800], seed=0, err=0.106),
        dict(id=2, label="k = 1 · lr 0.1 · seed 0", status="done", k=1.0, lr=0.1, hidden=[800], seed=0, err=0.104),
        dict(id=3, label="k = 1/2 · lr 0.1 · seed 0", status="stopped", k=0.5, lr=0.1, hidden=[800], seed=0, err=0.175),
        dict(id=4, label="k = 1 · lr 0.1 · seed 0", status="stopped", k=1.0, lr=0.1, hidden=[800], seed=0, err=0.172),
        dict(id=5, label="k = 1 · lr 0.1 · seed 1", status="done", k=1.0, lr=0.1, hidden=[800], seed=1, err=0.110),
        dict(id=6, label="k = 1 · lr 0.1 · seed 2", status="done", k=1.0, lr=0.1, hidden=[800], seed=2, err=0.108),
    ])


def test_groups_by_configuration_without_the_seed():
    """Runs that differ only in seed form one group; runs of another k form another."""
    res = group_runs(_runs(), ["k", "lr", "hidden", "seed"], ["err"], seed="seed")
    assert list(res.groups["k"]) == [0.5, 1.0]
    assert "seed" not in res.keys
    assert list(res.groups["n"]) == [1, 3]


def test_stopped_runs_are_left_out_of_the_means_and_counted():
    """A stopped run's (worse) error never enters the mean; its group tallies it as stopped."""
    res = group_runs(_runs(), ["k", "lr"], ["err"], seed="seed")
    one = res.groups.set_index("k").loc[1.0]
    assert one["err_mean"] == pytest.approx((0.104 + 0.110 + 0.108) / 3)
    assert one["n_stopped"] == 1 and one["n_done"] == 3
    assert res.left_out == {"stopped": 2}


def test_interval_only_from_three_runs_and_matches_t():
    """The 95% interval is mean ± t(0.975, n-1)·std/√n, only when n >= 3 (t(0.975, 2) = 4.3027)."""
    s = summary_stats([1.0, 2.0, 3.0])
    assert s["std"] == pytest.approx(1.0)
    assert s["lo"] == pytest.approx(2.0 - 4.302653 / math.sqrt(3), abs=1e-5)
    two = summary_stats([1.0, 2.0])
    assert math.isnan(two["lo"]) and two["std"] == pytest.approx(math.sqrt(0.5))
    assert math.isnan(summary_stats([1.0])["std"])


def test_labels_are_unique():
    """Two runs with the same k, lr and seed get their run number in their labels; others keep theirs."""
    res = group_runs(_runs(), ["k", "lr"], ["err"], seed="seed")
    labels = list(res.runs["run_label"])
    assert len(set(labels)) == len(labels)
    assert labels[0] == "k = 1/2 · lr 0.1 · seed 0 · #1" and labels[4] == "k = 1 · lr 0.1 · seed 1"
    assert unique_labels(["a", "b"], [1, 2]) == ["a", "b"]


def test_config_keys_skip_seed_and_device():
    """A store listing's configuration is every cfg.* column except the seed and where it ran."""
    frame = pd.DataFrame(columns=["id", "cfg.train.k", "cfg.train.seed", "cfg.data.device", "cfg.data.n_train"])
    assert config_keys(frame, seed="cfg.train.seed") == ["cfg.train.k", "cfg.data.n_train"]


def test_varying_names_what_differs():
    """Only keys that differ between groups need naming in a legend."""
    res = group_runs(_runs(), ["k", "lr", "hidden"], ["err"], seed="seed")
    assert varying(res.groups, res.keys) == ["k"]


def test_missing_values_are_dashes():
    """None, NaN and infinities read '–'; one run has no '± std'."""
    assert dash(None) == dash(float("nan")) == "–"
    assert dash(0.1234) == "0.12"
    assert mean_std(3.851, float("nan")) == "3.85" and mean_std(3.851, 0.24) == "3.85 ± 0.24"
    assert mean_std(float("nan"), 1.0) == "–"


def test_latest_values_fill_a_running_run_from_its_last_epoch():
    """A finished run keeps its final value; a running one shows its latest epoch's (not blank)."""
    from core.results import latest_values

    runs = pd.DataFrame(dict(id=[1, 2], status=["done", "running"], **{"final.test_error": [0.1, float("nan")]}))
    history = pd.DataFrame(dict(run_id=[1, 2, 2], epoch=[1, 1, 2], test_error=[0.3, 0.5, 0.4]))
    out = latest_values(runs, history, ["test_error"])
    assert list(out["test_error"]) == [0.1, 0.4]


def test_export_keeps_only_the_pages_columns_in_its_units():
    """An export has exactly the page's columns, headed with units, fractions shown as %."""
    from core.results import export_table

    frame = pd.DataFrame(dict(run_id=[1], test_error=[0.0123], **{"cfg.other_page": [None]}))
    out = export_table(frame, {"run_id": "run", "test_error": "test error (%)"}, percent=["test_error"])
    assert list(out.columns) == ["run", "test error (%)"]
    assert out["test error (%)"].iloc[0] == pytest.approx(1.23)
