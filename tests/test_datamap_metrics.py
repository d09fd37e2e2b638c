"""Tests for core.datamap.metrics: each score against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.datamap.io import Dynamics
from core.datamap.metrics import (
    given_up,
    hardest,
    lagging,
    per_example,
    per_k_table,
    push_share,
    reference_slot,
    region,
)

NAN = math.nan


def _dyn(p, margin, k=(1.0,), given=None, true=None):
    """A Dynamics from p_given and margin lists shaped (K, E, N); log_eps = log(1 - p)."""
    p = np.asarray(p, dtype=np.float16)
    margin = np.asarray(margin, dtype=np.float16)
    n = p.shape[2]
    given = np.zeros(n, dtype=np.int64) if given is None else np.asarray(given)
    true = given.copy() if true is None else np.asarray(true)
    k_epoch = np.where(np.isnan(p[:, :, 0]), np.nan, np.asarray(k, dtype=np.float32)[:, None]).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_eps = np.log1p(-p.astype(np.float64)).astype(np.float16)
    return Dynamics(k=np.asarray(k, dtype=float), index=np.arange(n), given_label=given, true_label=true, p_given=p,
                    margin=margin, log_eps=log_eps, k_epoch=k_epoch)


def test_scores_of_two_examples_by_hand():
    """Example 0: p = .5, .75, .25 and margins 1, 2, -1 (right, right, wrong); example 1: p = .25 always,
    margins -1. Confidence .5 / .25, variability sqrt(1/24) / 0, correctness 2/3 / 0, AUM 2/3 / -1,
    forgetting 1 / 0, push at k = 1: mean(1 - p) = .5 / .75."""
    d = _dyn([[[0.5, 0.25], [0.75, 0.25], [0.25, 0.25]]], [[[1, -1], [2, -1], [-1, -1]]])
    s = per_example(d)
    np.testing.assert_allclose(s["confidence"][0], [0.5, 0.25])
    np.testing.assert_allclose(s["variability"][0], [math.sqrt(1 / 24), 0.0], atol=1e-7)
    np.testing.assert_allclose(s["correctness"][0], [2 / 3, 0.0])
    np.testing.assert_allclose(s["aum"][0], [2 / 3, -1.0])
    np.testing.assert_array_equal(s["forgetting"][0], [1, 0])
    np.testing.assert_allclose(s["push"][0], [0.5, 0.75], rtol=1e-3)


def test_push_is_one_minus_p_to_the_k():
    """At k = 1/4 the push of p = 0.84 is 0.16^(1/4) = 0.632..., of p = 0 it is 1."""
    d = _dyn([[[0.84, 0.0]]], [[[1, -1]]], k=(0.25,))
    np.testing.assert_allclose(per_example(d)["push"][0], [0.16**0.25, 1.0], rtol=2e-3)


def test_epochs_after_a_runs_end_are_left_out():
    """A run that stopped after 2 of 3 epochs (NaN after) is scored on its 2 epochs only."""
    d = _dyn([[[0.2], [0.4], [NAN]]], [[[-1], [1], [NAN]]])
    s = per_example(d)
    np.testing.assert_allclose(s["confidence"][0], [0.3], rtol=1e-3)
    np.testing.assert_allclose(s["correctness"][0], [0.5])
    np.testing.assert_array_equal(s["forgetting"][0], [0])


def test_push_share_of_flipped_examples_by_hand():
    """Two examples, one flipped: pushes (1 - p) = .9 (flipped) and .1 -> share .9; next epoch .5 and .5 -> .5."""
    d = _dyn([[[0.1, 0.9], [0.5, 0.5]]], [[[-1, 1], [0, 0]]], given=[1, 0], true=[0, 0])
    np.testing.assert_allclose(push_share(d)[0], [0.9, 0.5], rtol=2e-3)


def test_push_share_is_nan_without_flips():
    """No flipped label: no share to report."""
    assert np.isnan(push_share(_dyn([[[0.1, 0.9]]], [[[-1, 1]]]))).all()


def test_regions_follow_the_thresholds():
    """Variability above 0.2 is ambiguous whatever the confidence; else confidence >= .5 easy, below hard."""
    out = region(np.array([0.9, 0.1, 0.9, 0.5]), np.array([0.05, 0.05, 0.3, 0.2]))
    assert list(out) == ["easy-to-learn", "hard-to-learn", "ambiguous", "easy-to-learn"]


def test_reference_slot_prefers_k_one_then_the_largest_above_one():
    """k = 1 when present; else the largest k > 1; None when every k < 1."""
    assert reference_slot(np.array([0.25, 1.0, 2.0])) == 1
    assert reference_slot(np.array([0.25, 2.0, 4.0])) == 2
    assert reference_slot(np.array([0.25, 0.5])) is None


def test_given_up_finds_clean_images_small_k_left_and_k_one_learned():
    """Example 0 (clean, .2 at k = 1/4, .9 at k = 1) is given up; 1 is learned by both; 2 is flipped (never
    counted); 3 is low at both. lagging ranks clean examples by how far k < 1 trails k = 1."""
    p = [[[0.2, 0.9, 0.1, 0.1]] * 2, [[0.9, 0.95, 0.9, 0.2]] * 2]
    d = _dyn(p, np.zeros((2, 2, 4)), k=(0.25, 1.0), given=[0, 0, 1, 0], true=[0, 0, 0, 0])
    s = per_example(d)
    assert given_up(d, s)[0].tolist() == [0]
    assert lagging(d, s, 0).tolist() == [0, 3, 1]
    assert given_up(_dyn(p, np.zeros((2, 2, 4)), k=(0.25, 0.5)), s) == {}


def test_hardest_orders_by_each_score():
    """Lowest confidence / AUM first, most forgotten / largest push first; NaN last."""
    s = {"confidence": np.array([[0.5, 0.1, NAN, 0.3]]), "aum": np.array([[1.0, -2.0, 0.0, 3.0]]),
         "forgetting": np.array([[0, 3, 1, 2]]), "push": np.array([[0.1, 0.9, 0.5, 0.2]])}
    assert hardest(s, "confidence", 0, 4).tolist() == [1, 3, 0, 2]
    assert hardest(s, "aum", 0, 2).tolist() == [1, 2]
    assert hardest(s, "forgetting", 0, 2).tolist() == [1, 3]
    assert hardest(s, "push", 0, 1).tolist() == [1]
    with pytest.raises(ValueError, match="unknown ranking"):
        hardest(s, "loss", 0, 1)


def test_per_k_table_splits_clean_and_flipped():
    """Mean confidence of the clean and of the flipped examples, per k."""
    d = _dyn([[[0.8, 0.6, 0.1]]], [[[1, 1, -1]]], given=[0, 0, 1], true=[0, 0, 0])
    row = per_k_table(d, per_example(d))[0]
    assert row["confidence_clean"] == pytest.approx(0.7, rel=1e-3)
    assert row["confidence_flipped"] == pytest.approx(0.1, rel=1e-3)
    assert row["easy-to-learn"] == 2 and row["hard-to-learn"] == 1
