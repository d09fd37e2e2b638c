"""Tests for `python -m core.datamap` (core.datamap.cli) and its launch through the Lab
(core.datamap.experiment): the OUT.npz contract on real MNIST, the index mapping, the store, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.data import MnistUnavailableError, Subset, load_dataset, load_split
from core.datamap.cli import main
from core.datamap.experiment import KIND, DatamapConfig, launches, load_launch
from core.engine.store import RunStore
from core.labelnoise import NoiseSpec
from core.mnist.config import ConfigError
from tests.conftest import data_unavailable

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--n-train", "300", "--n-val", "100", "--n-test", "100", "--epochs", "2", "--hidden", "16", "--threads", "1",
        "--quiet"]


@pytest.fixture(scope="module")
def mnist():
    try:
        return load_dataset("mnist")
    except MnistUnavailableError as exc:
        data_unavailable(f"MNIST unavailable: {exc}")


@pytest.fixture(scope="module")
def launched(mnist, tmp_path_factory):
    """One tiny launch of the documented command: MNIST, 40% symmetric noise, k = 0.25 and 1."""
    tmp = tmp_path_factory.mktemp("datamap")
    args = ["--dataset", "mnist", "--noise", "symmetric:0.4", "--k", "0.25", "1", "--seed", "0", "--folds", "2",
            "--npz", str(tmp / "out.npz"), "--json", str(tmp / "out.json"), "--db", str(tmp / "runs.sqlite"), *TINY]
    code = main(args)
    return code, tmp


def test_the_command_writes_the_contract(launched, mnist):
    """Exit 0; OUT.npz holds index (the first 300 of MNIST's 60,000 in their distributed order), given and
    true labels (true = MNIST's own labels at index), flipped = given != true (about 40%), k, p_given
    (K, epochs, N) and the (K, N) scores."""
    code, tmp = launched
    assert code == 0
    with np.load(tmp / "out.npz") as f:
        np.testing.assert_array_equal(f["index"], np.arange(300))
        np.testing.assert_array_equal(f["true_label"], mnist.train_y[f["index"]])
        np.testing.assert_array_equal(f["flipped"], f["given_label"] != f["true_label"])
        assert 0.3 < f["flipped"].mean() < 0.5
        assert f["k"].tolist() == [0.25, 1.0]
        assert f["p_given"].shape == (2, 2, 300)
        for key in ("confidence", "variability", "aum", "push"):
            assert f[key].shape == (2, 300) and np.isfinite(f[key]).all(), key
        assert f["cv_probs"].shape == (300, 10)
    report = json.loads((tmp / "out.json").read_text())
    assert [row["k"] for row in report["per_k"]] == [0.25, 1.0]
    assert any(row["detector"].startswith("cleanlab") for row in report["detection"])


def test_index_maps_to_the_raw_training_images(mnist):
    """The trainer's training image i is the data set's standard training image index[i] = i (load_split
    keeps the first images, in order, and holds out the LAST ones for validation)."""
    split = load_split(subset=Subset(300, 10, 10), device="cpu", dataset="mnist")
    np.testing.assert_array_equal(split.train_x.numpy(), mnist.train_x[:300].reshape(300, -1) / np.float32(255))
    np.testing.assert_array_equal(split.val_x[:10].numpy(),
                                  mnist.train_x[50_000:50_010].reshape(10, -1) / np.float32(255))


def test_every_run_is_in_the_store_and_survives_a_restart(launched):
    """Three runs of kind datamap (two k, one reference), all done, each naming its file; a fresh RunStore
    on the same database reads back the same data map."""
    _, tmp = launched
    store = RunStore(tmp / "runs.sqlite")
    runs = store.list_runs(kind=KIND)
    assert len(runs) == 3 and set(runs["status"]) == {"done"}
    assert runs["final.dynamics"].notna().sum() == 2 and runs["final.cv_probs"].notna().sum() == 1
    k_runs = runs[runs["final.dynamics"].notna()]
    assert (k_runs["cfg.dynamics"] == k_runs["final.dynamics"]).all()  # known from the start (a crash keeps it)
    table = launches(store)
    assert len(table) == 1 and table["done"].iloc[0] == 3
    dyn = load_launch(store, table["launch"].iloc[0])
    with np.load(tmp / "out.npz") as f:
        np.testing.assert_array_equal(dyn.p_given, f["p_given"])
        np.testing.assert_array_equal(dyn.cv_probs, f["cv_probs"])


@pytest.mark.parametrize("args", [
    ["--k", "0", "--npz", "x.npz"],
    ["--noise", "gaussian:0.3", "--npz", "x.npz"],
    ["--noise", "symmetric:1.5", "--npz", "x.npz"],
    ["--k", "1"],  # no --npz
    ["--npz", "/nonexistent-folder/x.npz"],
    ["--folds", "1", "--npz", "x.npz"],
    ["--lr", "0.1", "0.2", "0.3", "--npz", "x.npz"],
    ["--dataset", "imagenet", "--npz", "x.npz"],
    ["--epochs", "zero", "--npz", "x.npz"],
    ["--n-train", "55000", "--npz", "x.npz"],  # MNIST has 50,000 training images before validation
])
def test_bad_arguments_exit_2_with_one_line(args, tmp_path, capsys):
    """Bad flags exit 2 with a one-line message on stderr and no traceback, before any training."""
    assert main([*args, "--db", str(tmp_path / "r.sqlite")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "error" in err


def test_a_failed_run_exits_1(mnist, tmp_path, capsys, monkeypatch):
    """The reference run raises: the command names the error and exits 1; the k runs still end done and
    their data map is written."""
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory in fold 1")

    monkeypatch.setattr("core.datamap.experiment.cross_val_probs", broken)
    code = main([*TINY, "--noise", "symmetric:0.2", "--folds", "2", "--npz", str(tmp_path / "o.npz"),
                 "--db", str(tmp_path / "r.sqlite")])
    assert code == 1
    assert "out of memory in fold 1" in capsys.readouterr().err
    runs = RunStore(tmp_path / "r.sqlite").list_runs(kind=KIND)
    assert sorted(runs["status"]) == ["done", "done", "failed"]
    assert (tmp_path / "o.npz").exists()


def test_ctrl_c_exits_130_and_keeps_the_finished_epochs(mnist, tmp_path):
    """SIGINT after the first epoch: the runs end stopped, the data map of the finished epochs is written,
    exit 130."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "core.datamap", "--n-train", "500", "--n-val", "50", "--n-test",
                             "50", "--epochs", "200", "--hidden", "16", "--threads", "1", "--folds", "0", "--npz",
                             str(tmp_path / "o.npz"), "--db", str(tmp_path / "r.sqlite")],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    for line in proc.stderr:
        if "epoch 2" in line or time.time() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert set(RunStore(tmp_path / "r.sqlite").list_runs(kind=KIND)["status"]) == {"stopped"}
    with np.load(tmp_path / "o.npz") as f:
        assert 2 <= f["p_given"].shape[1] < 200


def test_config_checks_its_fields():
    """Unknown data set, repeated k, a learning-rate list of the wrong length: ConfigError with the reason."""
    for kwargs, words in (({"dataset": "imagenet"}, "unknown data set"), ({"ks": (1.0, 1.0)}, "distinct"),
                          ({"ks": (0.5, 1.0), "lrs": (0.1, 0.2, 0.3)}, "one per k"), ({"folds": 1}, "folds")):
        with pytest.raises(ConfigError, match=words):
            DatamapConfig(noise=NoiseSpec(), **kwargs)
