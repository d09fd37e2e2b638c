"""Tests of core/curves.py: the numbers behind the sensitivity-curves page."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from core.curves import (
    K_PRESETS,
    LOGIT_PRESETS,
    curves_frame,
    explore_vector,
    format_k,
    hard_easy_ratio,
    matching_k,
    parse_k,
    preset_logits,
    reference_ratios,
    reference_update_size,
    update_size,
)
from core.losses import make_objective
from core.pseudograd import pseudo_grad


def test_update_size_passes_through_corners_and_bends_with_k():
    """Every |eps|^k curve passes through (0, 0) and (1, 1); larger k lies lower inside (0, 1)."""
    ks = [parse_k(k) for k in K_PRESETS]
    for k in ks:
        assert update_size(np.array([0.0, 1.0]), k).tolist() == [0.0, 1.0]
    mid = [update_size(np.array([0.3]), k)[0] for k in sorted(ks)]
    assert all(a > b for a, b in zip(mid, mid[1:]))


def test_update_size_is_abs_f_y_of_the_pseudo_gradient():
    """The curve equals |f_y| computed by core.pseudograd at the same |eps_y|."""
    z_y = torch.linspace(-6, 6, 50, dtype=torch.float64)
    logits = torch.stack([z_y, torch.zeros_like(z_y), torch.full_like(z_y, 0.7)], 1)
    target = torch.zeros(50, dtype=torch.long)
    abs_eps = (1 - torch.softmax(logits, 1)[:, 0]).numpy()
    for k in (0.25, 1.0, 3.0):
        f_y = pseudo_grad(logits, target, k)[:, 0].numpy()
        np.testing.assert_allclose(update_size(abs_eps, k), -f_y, rtol=1e-10)


@pytest.mark.parametrize("name,spec", [("ce", "ce"), ("mae", "mae"), ("gce", "gce:q=0.7"), ("focal", "focal:gamma=2"),
                                       ("sce", "sce"), ("unhinged", "unhinged")])
def test_reference_sizes_equal_autograd_of_the_losses(name, spec):
    """Each reference curve equals |d loss / d z_y| from autograd of core.losses at the same p_y."""
    C = 10
    z_y = torch.linspace(-8, 8, 41, dtype=torch.float64)
    logits = torch.cat([z_y[:, None], torch.randn(41, C - 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))], 1)
    logits.requires_grad_()
    target = torch.zeros(41, dtype=torch.long)
    make_objective(spec).per_example(logits, target).sum().backward()
    abs_eps = (1 - torch.softmax(logits.detach(), 1)[:, 0]).numpy()
    expected = logits.grad[:, 0].abs().numpy()
    np.testing.assert_allclose(reference_update_size(name, abs_eps, num_classes=C), expected, rtol=1e-8, atol=1e-12)


def test_hard_easy_ratio_is_nine_to_the_k():
    """A hard example (0.9) outweighs an easy one (0.1) by 9^k: 9 for cross-entropy, 1 as k -> 0."""
    np.testing.assert_allclose(hard_easy_ratio(np.array([1.0, 0.5, 2.0, 1e-9])), [9.0, 3.0, 81.0, 1.0], rtol=1e-8)
    assert matching_k(9.0) == pytest.approx(1.0)
    ratios = reference_ratios(["ce", "mae", "gce"])
    assert ratios["Cross-entropy"] == pytest.approx(9.0)
    assert ratios["MAE (1 - p_y)"] == pytest.approx(1.0)
    assert matching_k(ratios["GCE (q=0.7)"]) == pytest.approx(0.3)  # GCE(q) weighs like k = 1 - q here
    with pytest.raises(ValueError, match="must lie in"):
        hard_easy_ratio(1.0, hard=1.5)


def test_curves_frame_normalize_and_log_axis():
    """normalize scales every curve to a peak of 1; log_x samples |eps| from 1e-4."""
    df = curves_frame([0.5, 2.0], ["mae", "focal"], normalize=True, log_x=True)
    assert set(df["curve"]) == {"k = 1/2", "k = 2", "MAE (1 - p_y)", "Focal (gamma=2)"}
    np.testing.assert_allclose(df.groupby("curve")["size"].max().to_numpy(), 1.0)
    assert df["abs_eps"].min() == pytest.approx(1e-4)


@pytest.mark.parametrize("text,value", [("1/16", 1 / 16), ("0.25", 0.25), ("2^-3", 0.125), ("2**2", 4.0), (" 3 ", 3.0), (0.5, 0.5)])
def test_parse_k_reads_user_text(text, value):
    """k can be typed as a decimal, a fraction or a power of two."""
    assert parse_k(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["0", "-1", "abc", "", "1/0", "nan", "inf"])
def test_parse_k_rejects_bad_text(text):
    """Anything that is not a finite k > 0 raises ValueError with a readable message."""
    with pytest.raises(ValueError, match="k"):
        parse_k(text)


def test_format_k_round_trips_presets():
    """Preset labels format back to themselves."""
    assert [format_k(parse_k(k)) for k in K_PRESETS] == list(K_PRESETS)


@pytest.mark.parametrize("preset", list(LOGIT_PRESETS))
@pytest.mark.parametrize("C,target", [(2, 0), (3, 2), (10, 4)])
def test_explorer_sums_to_zero_and_k1_is_cross_entropy(preset, C, target):
    """In the explorer every series sums to 0, and the cross-entropy bars equal p - onehot(y)."""
    logits = preset_logits(preset, C, target)
    bars, summary = explore_vector(logits, target, [0.25, 1.0, 4.0])
    assert np.abs(summary["sum_f"]).max() < 1e-12
    ce = bars[bars.series == "cross-entropy gradient"].sort_values("class")["value"].to_numpy()
    p = torch.softmax(torch.tensor(logits, dtype=torch.float64), 0).numpy()
    expected = p - np.eye(C)[target]
    np.testing.assert_allclose(ce, expected, atol=1e-12)
    np.testing.assert_allclose(bars[bars.series == "k = 1"].sort_values("class")["value"].to_numpy(), expected, atol=1e-12)


def test_presets_give_the_error_they_name():
    """'confident and right' has a small |eps_y|, 'confident and wrong' a large one, 'uncertain' in between."""
    eps = {}
    for preset in LOGIT_PRESETS:
        _, summary = explore_vector(preset_logits(preset, 5, 1), 1, [1.0])
        eps[preset] = summary["abs_eps_y"].iloc[0]
    assert eps["confident and right"] < 0.05 < eps["uncertain"] < 0.95 < eps["confident and wrong"]


def test_cli_prints_table():
    """`python -m core.curves --k 1/4 2` prints the rows and the reference ratios."""
    out = subprocess.run([sys.executable, "-m", "core.curves", "--k", "1/4", "2"], capture_output=True, text=True, check=True).stdout
    assert "1/4" in out and "81" in out and "Cross-entropy" in out
    bad = subprocess.run([sys.executable, "-m", "core.curves", "--k", "-1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "k must be" in bad.stderr


def test_hard_easy_curve_spans_the_k_range():
    """The ratio curve covers k in [1/64, 16] and equals (hard/easy)^k there."""
    from core.curves import hard_easy_curve

    k, ratio = hard_easy_curve(0.8, 0.2, points=50)
    assert k[0] == pytest.approx(1 / 64) and k[-1] == pytest.approx(16) and len(k) == 50
    np.testing.assert_allclose(ratio, 4.0**k)
