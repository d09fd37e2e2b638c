"""Tests for core.datamap.io: run files, the OUT.npz contract, combining runs, load time."""

from __future__ import annotations

import time

import numpy as np
import pytest

from core.datamap.io import (
    Dynamics,
    DynamicsFileError,
    RunDynamics,
    class_names,
    combine,
    read_run,
    write_run,
)

CONTRACT = {  # key: (shape in terms of K, E, N)
    "index": ("N",), "given_label": ("N",), "true_label": ("N",), "flipped": ("N",), "k": ("K",),
    "p_given": ("K", "E", "N"), "confidence": ("K", "N"), "variability": ("K", "N"), "aum": ("K", "N"),
    "push": ("K", "N"),
}


def _run(k: float, epochs: int = 3, n: int = 50, seed: int = 0) -> RunDynamics:
    rng = np.random.default_rng(seed)
    p = rng.random((epochs, n)).astype(np.float16)
    true = rng.integers(0, 10, n).astype(np.int16)
    given = true.copy()
    given[:10] = (true[:10] + 1) % 10
    return RunDynamics(p_given=p, margin=(p - 0.5).astype(np.float16),
                       log_eps=np.log1p(-p.astype(np.float32) * 0.99).astype(np.float16),
                       k=np.full(epochs, k, np.float32), index=np.arange(n, dtype=np.int32), given_label=given,
                       true_label=true, dataset="mnist", config={"k": k, "lr": 0.1})


def test_run_file_round_trip(tmp_path):
    """What write_run saves, read_run gives back exactly (arrays, data set, config)."""
    run = _run(0.5)
    write_run(tmp_path / "r.npz", run)
    back = read_run(tmp_path / "r.npz")
    for name in ("p_given", "margin", "log_eps", "k", "index", "given_label", "true_label"):
        np.testing.assert_array_equal(getattr(back, name), getattr(run, name))
    assert back.dataset == "mnist" and back.config == {"k": 0.5, "lr": 0.1}


def test_a_missing_or_foreign_file_is_a_clear_error(tmp_path):
    """A missing file, or an .npz without the run's arrays, raises DynamicsFileError naming the file."""
    with pytest.raises(DynamicsFileError, match="nope.npz"):
        read_run(tmp_path / "nope.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(DynamicsFileError, match="other.npz"):
        Dynamics.load(tmp_path / "other.npz")


def test_combine_sorts_by_k_and_pads_a_shorter_run():
    """Runs given as k = 1, 0.25 come out as 0.25, 1; a 2-epoch run is padded with NaN to 3 epochs."""
    dyn = combine([_run(1.0), _run(0.25, epochs=2)], noise="symmetric 20%", run_ids=[7, 8])
    assert dyn.k.tolist() == [0.25, 1.0] and dyn.run_ids == [8, 7]
    assert dyn.p_given.shape == (2, 3, 50)
    assert np.isnan(dyn.p_given[0, 2]).all() and not np.isnan(dyn.p_given[1]).any()
    assert np.isnan(dyn.k_epoch[0, 2]) and dyn.k_epoch[1].tolist() == [1.0] * 3
    assert dyn.flipped.sum() == 10


def test_combine_refuses_runs_over_different_images():
    """Runs that recorded different image sets cannot be compared side by side."""
    with pytest.raises(DynamicsFileError, match="same training images"):
        combine([_run(1.0, n=50), _run(0.5, n=40)])


def test_out_npz_holds_the_contract(tmp_path):
    """OUT.npz has every contract key with its shape: index, labels, flipped (bool), k, p_given (K, E, N),
    confidence, variability, aum, push (K, N); and loads back as the same Dynamics."""
    dyn = combine([_run(0.25), _run(1.0)], noise="symmetric 20%")
    dyn.save(tmp_path / "out.npz")
    sizes = {"K": 2, "E": 3, "N": 50}
    with np.load(tmp_path / "out.npz") as f:
        for key, shape in CONTRACT.items():
            assert f[key].shape == tuple(sizes[s] for s in shape), key
        assert f["flipped"].dtype == bool and f["flipped"].sum() == 10
        np.testing.assert_allclose(f["confidence"], np.nanmean(dyn.p_given.astype(np.float32), 1), rtol=1e-5)
    back = Dynamics.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(back.p_given, dyn.p_given)
    assert back.noise == "symmetric 20%" and back.k.tolist() == [0.25, 1.0]


def test_a_large_launch_loads_in_under_a_second(tmp_path):
    """4 runs x 20 epochs x 50,000 examples: reading and combining the run files, and loading the combined
    file, each take under a second (float16 curves, uncompressed)."""
    paths = []
    for i, k in enumerate((0.25, 0.5, 1.0, 2.0)):
        paths.append(tmp_path / f"{i}.npz")
        write_run(paths[-1], _run(k, epochs=20, n=50_000, seed=i))
    start = time.perf_counter()
    dyn = combine([read_run(p) for p in paths])
    assert time.perf_counter() - start < 1.0
    dyn.save(tmp_path / "out.npz")
    start = time.perf_counter()
    Dynamics.load(tmp_path / "out.npz")
    assert time.perf_counter() - start < 1.0


def test_class_names():
    """Fashion-MNIST's classes by name, digits as themselves."""
    assert class_names("fashion-mnist")[4] == "coat"
    assert class_names("mnist")[3] == "3"
