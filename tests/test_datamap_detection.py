"""Tests for core.datamap.detection: AUROC and precision against independent references, cleanlab's
reference detector, and the cross-validated probabilities it reads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from core.datamap.detection import auroc, cleanlab_reference, cross_val_probs, detection_table, precision_at
from core.datamap.io import Dynamics
from core.datamap.metrics import per_example


def test_auroc_matches_scikit_learn_with_ties():
    """The rank form equals sklearn's roc_auc_score, ties included (scores rounded to 1 decimal)."""
    rng = np.random.default_rng(0)
    positive = rng.random(500) < 0.3
    score = np.round(rng.random(500) + positive * 0.4, 1)
    assert auroc(score, positive) == pytest.approx(roc_auc_score(positive, score), abs=1e-12)


def test_auroc_extremes_and_empty_class():
    """Perfect separation gives 1, reversed 0, a class missing gives NaN."""
    assert auroc(np.array([0.1, 0.2, 0.9]), np.array([False, False, True])) == 1.0
    assert auroc(np.array([0.9, 0.2, 0.1]), np.array([False, False, True])) == 0.0
    assert math.isnan(auroc(np.array([1.0, 2.0]), np.array([True, True])))


def test_precision_at_counts_positives_among_the_top_scores():
    """Top 2 of scores (.9, .8, .1, .7) are items 0 and 1; one of them is positive: 0.5."""
    assert precision_at(np.array([0.9, 0.8, 0.1, 0.7]), np.array([True, False, True, False]), 2) == 0.5
    assert math.isnan(precision_at(np.array([1.0]), np.array([True]), 0))


def _noisy_probs(n=600, classes=5, rate=0.3, seed=0):
    """Given labels with `rate` flipped, and probabilities that put 0.8 on the TRUE class."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, classes, n)
    flipped = rng.random(n) < rate
    given = np.where(flipped, (true + rng.integers(1, classes, n)) % classes, true)
    probs = np.full((n, classes), 0.2 / (classes - 1))
    probs[np.arange(n), true] = 0.8
    return given, true, flipped, probs


def test_cleanlab_reference_finds_flips_when_the_model_knows_the_truth():
    """With probabilities that favour the true class, cleanlab flags nearly exactly the flipped labels."""
    given, _, flipped, probs = _noisy_probs()
    out = cleanlab_reference(given, probs, flipped)
    assert out["flag_precision"] > 0.95 and out["flag_recall"] > 0.95
    assert out["auroc"] > 0.99 and out["precision_at_rate"] > 0.95


def test_detection_table_per_k_and_reference():
    """One row per (detector, k) plus cleanlab's when probabilities are present; empty without flips."""
    given, true, flipped, probs = _noisy_probs(n=200)
    p = np.where(flipped, 0.1, 0.9)[None, None, :].repeat(2, 1).repeat(2, 0).astype(np.float16)  # (2, 2, N)
    dyn = Dynamics(k=np.array([0.5, 1.0]), index=np.arange(200), given_label=given, true_label=true, p_given=p,
                   margin=(p - 0.5).astype(np.float16), log_eps=np.log1p(-p.astype(float)).astype(np.float16),
                   k_epoch=np.array([[0.5, 0.5], [1.0, 1.0]], dtype=np.float32), cv_probs=probs)
    table = detection_table(dyn, per_example(dyn))
    assert len(table) == 5 and table["k"].isna().sum() == 1
    assert (table.loc[table["k"].notna(), "auroc"] == 1.0).all()  # the scores separate the flips perfectly
    clean = Dynamics(**{**dyn.__dict__, "given_label": true})
    assert detection_table(clean, per_example(clean)).empty


def test_cross_val_probs_are_out_of_fold_probabilities_that_learn():
    """Rows are probabilities; on separable blobs the out-of-fold predictions are mostly right; a label
    that contradicts its blob is NOT predicted (the model that predicts it never saw it)."""
    g = torch.Generator().manual_seed(0)
    means = torch.randn(3, 6, generator=g) * 4
    y = torch.randint(0, 3, (300,), generator=g)
    x = means[y] + torch.randn(300, 6, generator=g) * 0.5
    labels = y.clone()
    labels[:30] = (y[:30] + 1) % 3  # 30 wrong labels
    probs = cross_val_probs(x, labels, 3, folds=3, hidden=(16,), epochs=15, lr=0.05, seed=0)
    assert probs.shape == (300, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    assert (probs.argmax(1) == y.numpy()).mean() > 0.9
    assert (probs[:30].argmax(1) == labels[:30].numpy()).mean() < 0.2


def test_cross_val_probs_rejects_bad_folds():
    """Fewer than 2 folds, or more folds than examples, is refused with a message."""
    with pytest.raises(ValueError, match="folds"):
        cross_val_probs(torch.zeros(5, 2), torch.zeros(5, dtype=torch.long), 2, folds=1)
