"""Tests for the core/toy package (all but task.py, see test_toy_task.py): data, stopping rule,
fast path vs references, animation frames, population limit, CLI."""

import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from core.toy import (
    MAX_FRAMES,
    FrameRecorder,
    ToyConfig,
    ToyConfigError,
    _derivative_polys,
    _SortedErrors,
    draw_data,
    iter_toy,
    label_rule,
    population_ce,
    population_gradient,
    population_limit,
    run_reference,
    run_toy,
    stop_scan,
    stopping_epoch,
    threshold_error,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(n_train=400, n_val=400, n_test=400, runs=2, patience=100)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------- data
def test_labels_follow_the_interval_rule_and_x_is_uniform_on_the_square():
    """x lies in [-1, 1] and looks uniform; the label is +1 exactly when 0 <= x <= alpha."""
    cfg = ToyConfig(n_train=20_000, n_val=100, n_test=100, alpha=0.7)
    d = draw_data(cfg, 0)
    assert d.x_train.shape == (20_000,) and d.x_val.shape == (100,)
    assert d.x_train.min() >= -1 and d.x_train.max() <= 1
    assert abs(d.x_train.mean()) < 0.03 and abs(np.mean(d.x_train > 0.5) - 0.25) < 0.02
    for x, y in ((d.x_train, d.y_train), (d.x_val, d.y_val), (d.x_test, d.y_test)):
        np.testing.assert_array_equal(y == 1, (x >= 0) & (x <= 0.7))
    np.testing.assert_array_equal(label_rule(np.array([-1e-9, 0.0, 0.7, 0.70001]), 0.7), [-1, 1, 1, -1])


def test_data_depend_only_on_seed_and_run():
    """Same (seed, run) gives the same draw; another run or seed gives a different one."""
    cfg = ToyConfig(n_train=50, n_val=50, n_test=50)
    a, b = draw_data(cfg, 3), draw_data(cfg, 3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.w_init, b.w_init)
    assert not np.array_equal(a.x_train, draw_data(cfg, 4).x_train)
    other = ToyConfig(n_train=50, n_val=50, n_test=50, seed=1)
    assert not np.array_equal(a.x_train, draw_data(other, 3).x_train)
    assert np.all(np.abs(a.w_init) < cfg.init_scale)


def test_one_draw_is_shared_by_every_k_of_a_run():
    """Two models with the same k in the same run see the same data and init: identical results."""
    res = run_toy(ToyConfig(ks=(1.0, 0.5, 1.0), **TINY))
    pr = res.per_run
    for run in range(2):
        a = pr[(pr.k == 1.0) & (pr.run == run)]
        assert len(a) == 2
        assert a.iloc[0].drop("k").equals(a.iloc[1].drop("k"))
    assert pr[pr.run == 0].w_pos.nunique() > 1  # while k changes the outcome


def test_label_noise_flips_exactly_round_eta_n_training_labels():
    """label_noise flips exactly round(eta * n_train) training labels and no val/test label."""
    cfg = ToyConfig(n_train=333, n_val=200, n_test=200, label_noise=0.1)
    d = draw_data(cfg, 0)
    assert d.flipped == 33
    assert np.sum(d.y_train != label_rule(d.x_train, cfg.alpha)) == 33
    np.testing.assert_array_equal(d.y_val, label_rule(d.x_val, cfg.alpha))
    np.testing.assert_array_equal(d.y_test, label_rule(d.x_test, cfg.alpha))
    res = run_toy(ToyConfig(label_noise=0.25, ks=(1.0,), **TINY))
    assert np.allclose(res.per_run.label_noise_realized, 0.25)


@pytest.mark.parametrize("field,value", [("alpha", 1.2), ("ks", ()), ("ks", (1.0, -2.0)), ("runs", 0),
                                         ("reduction", "max"), ("label_noise", 1.0), ("method", "x")])
def test_bad_config_raises_a_specific_error(field, value):
    """An out-of-range ToyConfig field raises ToyConfigError naming the field."""
    with pytest.raises(ToyConfigError, match=field.split("_")[0]):
        ToyConfig(**{field: value})


# --------------------------------------------------------------------------- stopping rule
def test_stopping_rule_on_a_constructed_sequence():
    """A run stops once `patience` epochs stayed within tol of the window's first value."""
    assert stopping_epoch([10, 9, 9, 9.0005, 9, 8, 8], patience=3, tol=0.001) == 4
    assert stopping_epoch([10, 9, 9, 8, 8, 8, 8, 8], patience=3, tol=0.001) == 6
    assert stopping_epoch([10, 9, 9, 8, 8, 8], patience=3, tol=0.001) is None
    assert stopping_epoch([5, 5, 5], patience=2, tol=0.0) == 2  # epoch 0 opens the first window


def test_stopping_rule_compares_with_the_window_start_not_the_previous_epoch():
    """Slow drift (each step < tol, the total > tol) restarts the window."""
    drift = [9.0 + 0.0008 * e for e in range(6)] + [9.004] * 3
    # epochs 0..5 drift by 0.0008 each: the window restarts at epochs 2 and 4 (0.0016 > tol)
    assert stopping_epoch(drift, patience=3, tol=0.001) == 7


def _naive_stop(errs, patience, tol):
    ref, start = errs[0], 0
    for e in range(1, len(errs)):
        if abs(errs[e] - ref) > tol:
            ref, start = errs[e], e
        if e - start >= patience:
            return e
    return None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=40), st.integers(1, 6), st.integers(1, 9))
def test_chunked_stop_scan_equals_the_rule_epoch_by_epoch(seq, patience, chunk):
    """Scanning in chunks (as training does) gives the same stopping epoch as one scan."""
    errs = np.array(seq, dtype=float) * 0.1
    want = _naive_stop(list(errs), patience, 0.05)
    assert stopping_epoch(errs, patience, 0.05) == want
    anchor, start, got = errs[:1].copy(), np.zeros(1, dtype=np.int64), None
    for lo in range(1, len(errs), chunk):
        s = stop_scan(errs[None, lo:lo + chunk], lo, anchor, start, patience, 0.05)[0]
        if s >= 0:
            got = int(s)
            break
    assert got == want


# --------------------------------------------------------------------------- errors and derivatives
@settings(max_examples=100, deadline=None)
@given(st.floats(-5, 5), st.floats(-2, 2), st.integers(0, 2**31))
def test_sorted_error_count_equals_the_direct_count(w, b, seed):
    """searchsorted + prefix counts give the same error as counting argmax predictions."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, 300)
    y = np.where(rng.random(300) < 0.5, 1.0, -1.0)
    w = 0.0 if abs(w) < 0.5 else w
    direct = 100 * np.mean(np.where(w * x + b > 0, 1.0, -1.0) != y)
    assert _SortedErrors(x, y).percent(np.array(w), np.array(b)) == pytest.approx(direct, abs=1e-12)


@pytest.mark.parametrize("k", [4.0, 1.0, 0.0625])
def test_derivative_polynomials_match_autograd(k):
    """u^(j)(m) = sigmoid(-m)^k P_j(sigmoid(m)) agrees with repeated autograd of sigmoid(-m)^k."""
    m = torch.linspace(-6, 6, 25, dtype=torch.float64, requires_grad=True)
    P = _derivative_polys(k, 5)
    val = torch.sigmoid(-m) ** k
    p = torch.sigmoid(m).detach().numpy()
    for j in range(6):
        want = np.exp(-k * np.logaddexp(0, m.detach().numpy())) * np.polyval(P[j][::-1], p)
        np.testing.assert_allclose(val.detach().numpy(), want, rtol=1e-10, atol=1e-13)
        val = torch.autograd.grad(val.sum(), m, create_graph=True)[0]


# --------------------------------------------------------------------------- training
def test_k1_fast_path_is_cross_entropy_gradient_descent():
    """With k = 1 the fast path follows plain GD on F.cross_entropy of the 4-parameter model."""
    cfg = ToyConfig(ks=(1.0,), n_train=300, n_val=50, n_test=50, runs=1, max_epochs=80, lr=0.5)
    res = run_toy(cfg)
    d = draw_data(cfg, 0)
    x = torch.tensor(d.x_train)[:, None]
    target = torch.tensor(d.y_train > 0).long()  # class 0 is -1, class 1 is +1
    W = torch.tensor(d.w_init, requires_grad=True)
    B = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    for _ in range(80):
        loss = F.cross_entropy(x * W + B, target)
        gW, gB = torch.autograd.grad(loss, (W, B))
        with torch.no_grad():
            W -= cfg.lr * gW
            B -= cfg.lr * gB
    row = res.per_run.iloc[0]
    assert row.hit_max_epochs and row.epochs == 80
    got = torch.tensor([row.w_neg, row.w_pos, row.b_neg, row.b_pos], dtype=torch.float64)
    torch.testing.assert_close(got, torch.cat([W, B]).detach(), rtol=1e-9, atol=1e-11)


def test_fast_path_matches_the_float64_reference():
    """Taylor-refresh training gives the reference's test errors and stopping epochs."""
    cfg = ToyConfig(ks=(4.0, 1.0, 0.25, 0.0625), **TINY)
    fast, ref = run_toy(cfg).per_run, run_reference(cfg).per_run
    np.testing.assert_array_equal(fast.test_error, ref.test_error)
    assert np.max(np.abs(fast.epochs - ref.epochs)) <= 2
    np.testing.assert_allclose(fast.threshold, ref.threshold, rtol=1e-7)
    np.testing.assert_allclose(fast.test_ce, ref.test_ce, rtol=1e-7)
    assert fast.status.eq("done").all() and not fast.hit_max_epochs.any()  # all ended by the stopping rule


def test_same_seed_same_result_bit_for_bit():
    """Two runs of one config agree exactly; another seed does not."""
    cfg = ToyConfig(ks=(2.0, 0.125), **TINY)
    a, b = run_toy(cfg), run_toy(cfg)
    pd.testing.assert_frame_equal(a.per_run, b.per_run, check_exact=True)
    pd.testing.assert_frame_equal(a.history, b.history, check_exact=True)
    c = run_toy(ToyConfig(ks=(2.0, 0.125), seed=5, **TINY))
    assert not np.array_equal(a.per_run.w_pos, c.per_run.w_pos)


def test_runs_that_hit_max_epochs_are_flagged():
    """A run cut by max_epochs is flagged in per_run and counted in per_k."""
    res = run_toy(ToyConfig(ks=(1.0, 0.5), max_epochs=37, **TINY))
    assert res.per_run.hit_max_epochs.all() and (res.per_run.epochs == 37).all()
    assert (res.per_k.hit_max_epochs == 2).all()


def test_small_k_beats_cross_entropy_on_the_toy():
    """The paper's finding: mean test error at k = 1/8 is below k = 1, which is below k = 4."""
    cfg = ToyConfig(ks=(4.0, 1.0, 0.125), n_train=4000, n_val=4000, n_test=4000, runs=3, patience=500)
    per_k = run_toy(cfg).per_k.set_index("k")
    assert per_k.test_error_mean[0.125] < per_k.test_error_mean[1.0] < per_k.test_error_mean[4.0]


def test_progress_snapshots_and_final_result():
    """iter_toy yields snapshots with per-model arrays, ending in one that carries the result."""
    snaps = list(iter_toy(ToyConfig(ks=(1.0, 0.25), **TINY), every_s=0.0))
    assert len(snaps) >= 2 and snaps[-1].result is not None
    assert all(s.result is None for s in snaps[:-1])
    epochs = [s.epoch for s in snaps[:-1]]
    assert epochs == sorted(epochs)
    for s in snaps:
        assert 0 <= s.fraction_done <= 1 and s.val_error.shape == (4,) and s.frame().shape[0] == 4
    assert snaps[-1].stopped.all() and snaps[-1].result.status == "done"


@pytest.mark.parametrize("kind", ["event", "callable"])
def test_cancel_returns_a_partial_result(kind):
    """A set cancel Event (or a callable returning True) stops training and marks it stopped."""
    if kind == "event":
        cancel = threading.Event()
        cancel.set()
    else:
        cancel = lambda: True  # noqa: E731
    res = run_toy(ToyConfig(ks=(1.0,), runs=1), cancel=cancel)
    assert res.status == "stopped"
    assert res.per_run.status.eq("stopped").all() and res.elapsed_s < 5


# --------------------------------------------------------------------------- population limit
@pytest.mark.parametrize("w,b,k,noise", [(3.0, -0.2, 1.0, 0.0), (40.0, -1.0, 0.0625, 0.0),
                                         (0.7, 0.1, 4.0, 0.2), (-2.0, 0.3, 0.5, 0.0)])
def test_population_integrals_match_monte_carlo(w, b, k, noise):
    """The quadrature expectations agree with a 2M-sample Monte Carlo average (5 sigma)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 2_000_000)
    y = label_rule(x, 0.95)
    y_noisy = np.where(rng.random(x.size) < noise, -y, y)
    m = y_noisy * (w * x + b)
    v = y_noisy * np.exp(-k * np.logaddexp(0, m))
    for got, samples in zip(population_gradient(w, b, k, 0.95, noise), (v * x, v)):
        assert abs(got - samples.mean()) < 5 * samples.std() / math.sqrt(x.size) + 1e-12
    ce = np.logaddexp(0, -y * (w * x + b))
    assert abs(population_ce(w, b) - ce.mean()) < 5 * ce.std() / math.sqrt(x.size)
    err = 100 * np.mean(np.where(w * x + b > 0, 1.0, -1.0) != y)
    assert threshold_error(w, b) == pytest.approx(err, abs=0.2)


def test_threshold_error_closed_form_at_the_best_threshold():
    """The rule sign(x) errs exactly on (alpha, 1]: (1 - alpha) / 2; its mirror on the rest."""
    assert threshold_error(1.0, 0.0, 0.95) == pytest.approx(2.5)
    assert threshold_error(-1.0, 0.0, 0.95) == pytest.approx(97.5)
    assert threshold_error(2.0, -0.2, 0.95) == pytest.approx(100 * (0.1 + 0.05) / 2)


@pytest.mark.parametrize("k", [4.0, 0.25])
def test_population_limit_is_where_gradient_descent_converges(k):
    """Plain GD on the expected pseudo-gradient from a small init ends at population_limit's point."""
    lim = population_limit([k]).iloc[0]
    theta = np.array([0.05, 0.0])
    for _ in range(4000):
        theta = theta + 8.0 * population_gradient(theta[0], theta[1], k)
    np.testing.assert_allclose(theta, [lim.w, lim.b], rtol=1e-6)
    assert lim.grad_norm < 1e-12


def test_population_limit_default_grid_is_fast_and_ordered():
    """40 k values in [1/64, 16]; the limit error grows with k and starts near 0 threshold."""
    table = population_limit()
    assert len(table) == 40 and table.k.min() == pytest.approx(1 / 64) and table.k.max() == 16
    assert np.all(np.diff(table.error.to_numpy()) > 0)
    assert 2.5 < table.error.min() < 4.0 and (table.threshold > 0).all()


# --------------------------------------------------------------------------- CLI
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "core.toy", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_cli_help_lists_every_config_field():
    """--help works and offers an option for every ToyConfig field."""
    out = _cli("--help")
    assert out.returncode == 0
    for name in ToyConfig.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in out.stdout


def test_cli_tiny_run_writes_json_and_csv(tmp_path):
    """A tiny CLI run prints the per-k table and writes matching --json and --csv files."""
    j, c = tmp_path / "toy.json", tmp_path / "toy.csv"
    out = _cli("--n", "300", "--runs", "2", "--patience", "50", "--ks", "2,0.5", "--quiet",
               "--json", str(j), "--csv", str(c))
    assert out.returncode == 0, out.stderr
    assert "test_error_mean" in out.stdout
    data = json.loads(j.read_text())
    table = pd.read_csv(c)
    assert data["config"]["n_train"] == 300 and len(data["per_run"]) == 4
    assert table.k.tolist() == [2.0, 0.5]
    assert table.test_error_mean.tolist() == pytest.approx([r["test_error_mean"] for r in data["per_k"]])
    assert _cli("--runs", "0").returncode == 2


def test_thread_setting_is_restored_after_a_run():
    """cfg.threads applies during training only; torch's own setting comes back afterwards."""
    torch.set_num_threads(2)
    run_toy(ToyConfig(ks=(1.0,), threads=1, **TINY))
    assert torch.get_num_threads() == 2


def test_history_rows_stop_with_their_run():
    """history has a row every history_every epochs per model, and none after the model stopped."""
    res = run_toy(ToyConfig(ks=(4.0, 0.25), history_every=10, **TINY))
    h = res.history
    assert (h.epoch % 10 == 0).all() and len(h) > 0
    last = h.groupby(["k", "run"]).epoch.max()
    stop = res.per_run.set_index(["k", "run"]).epochs
    assert (last <= stop.loc[last.index]).all() and (last > stop.loc[last.index] - 10).all()


# --------------------------------------------------------------------------- animation frames
def test_frames_span_training_from_the_start_to_each_models_end():
    """Frames start at epoch 0 (every threshold 0: biases start at 0), end at the last epoch with
    each model's final threshold, hold at most MAX_FRAMES epochs, and are the same on a rerun."""
    cfg = ToyConfig(ks=(4.0, 0.25), **TINY)
    res = run_toy(cfg)
    f = res.frames
    epochs = np.sort(f.epoch.unique())
    assert epochs[0] == 0 and epochs[-1] == res.per_run.epochs.max() and 10 < len(epochs) <= MAX_FRAMES
    assert (f[f.epoch == 0].threshold == 0).all()
    last = f[f.epoch == epochs[-1]].set_index(["k", "run"]).threshold
    pd.testing.assert_series_equal(last, res.per_run.set_index(["k", "run"]).threshold, check_names=False)
    for (k, run), part in f.groupby(["k", "run"]):  # a model that ended stays where it ended
        stop = res.per_run.set_index(["k", "run"]).epochs[(k, run)]
        assert part[part.epoch >= stop].threshold.nunique() == 1
    pd.testing.assert_frame_equal(f, run_toy(cfg).frames, check_exact=True)


def test_frame_recorder_keeps_evenly_spaced_frames_however_long_training_lasts():
    """After any number of epochs the recorder holds n..2n frames, evenly spaced, epoch 0 first."""
    rec = FrameRecorder(max_frames=10)
    for epoch in range(0, 5000):
        if rec.wants(epoch):
            rec.add(epoch, np.array([float(epoch)]))
        if epoch > 20:
            assert 10 <= len(rec.epochs) <= 20
            assert rec.epochs[0] == 0 and len(set(np.diff(rec.epochs))) == 1
    table = rec.table(np.array([1.0]), np.array([0]), 4999, np.array([4999.0]))
    assert len(table) == 10 and table.epoch.iloc[0] == 0 and table.epoch.iloc[-1] == 4999
    assert (table.threshold == table.epoch).all()
