"""Tests for core.noise: label-noise generation and memorization metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.labelnoise import MNIST_PAIRS, NoiseSpec, asymmetric_noise, memorization_metrics, symmetric_noise

C = 10


def _labels(n_per_class: int = 600) -> torch.Tensor:
    """Balanced labels 0..C-1, shuffled with a fixed seed."""
    labels = torch.arange(C).repeat(n_per_class)
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]


@pytest.mark.parametrize("eta", [0.0, 0.2, 0.4, 0.6, 0.8, 0.333])
def test_symmetric_flips_exactly_round_eta_n(eta):
    """Symmetric noise flips exactly round(eta * N) labels, and the mask marks exactly those."""
    labels = _labels(n_per_class=97)  # N = 970: eta * N is not always whole
    noisy, flipped = symmetric_noise(labels, eta, C, seed=3)
    assert int(flipped.sum()) == math.floor(eta * len(labels) + 0.5)
    assert torch.equal(flipped, noisy != labels)


def test_symmetric_moves_only_to_other_classes_roughly_uniformly():
    """A symmetric flip never keeps the class, and the new class is uniform over the other C-1 classes."""
    labels = _labels()
    noisy, flipped = symmetric_noise(labels, 0.6, C, seed=1)
    assert (noisy[flipped] != labels[flipped]).all()
    offset = (noisy[flipped] - labels[flipped]) % C  # 1..C-1 when uniform over other classes
    counts = torch.bincount(offset, minlength=C).double()
    assert counts[0] == 0
    expected = flipped.sum().double() / (C - 1)
    chi2 = (((counts[1:] - expected) ** 2) / expected).sum().item()
    assert chi2 < 27.9  # 99.9% quantile of chi-square with 8 degrees of freedom
    per_class = torch.bincount(labels[flipped], minlength=C).double() / torch.bincount(labels, minlength=C)
    assert (per_class - 0.6).abs().max() < 0.06  # flips spread over all true classes


def test_asymmetric_flips_only_listed_pairs_at_rate_eta():
    """Asymmetric noise moves only source classes, each to its partner, with frequency close to eta."""
    labels = _labels(n_per_class=2000)
    eta = 0.3
    noisy, flipped = asymmetric_noise(labels, eta, seed=5)
    partner = dict(MNIST_PAIRS)
    assert torch.equal(flipped, noisy != labels)
    for cls in range(C):
        is_cls = labels == cls
        if cls in partner:
            assert (noisy[is_cls & flipped] == partner[cls]).all()
            rate = flipped[is_cls].double().mean().item()
            assert abs(rate - eta) < 0.035  # 3.4 standard deviations at n = 2000
        else:
            assert not flipped[is_cls].any()


def test_asymmetric_swaps_five_and_six_without_chaining():
    """5 -> 6 and 6 -> 5 act on the original label: a flipped 5 becomes 6, never back to 5."""
    labels = torch.tensor([5] * 500 + [6] * 500)
    noisy, flipped = asymmetric_noise(labels, 0.5, seed=0)
    assert (noisy[:500][flipped[:500]] == 6).all() and (noisy[500:][flipped[500:]] == 5).all()
    assert 0 < flipped[:500].sum() < 500


def test_same_seed_same_labels_different_seed_different_labels():
    """Noise is a function of (labels, spec): same seed gives identical labels, another seed others."""
    labels = _labels()
    for kind in ("symmetric", "asymmetric"):
        a = NoiseSpec(kind, 0.4, seed=7).apply(labels, C)
        b = NoiseSpec(kind, 0.4, seed=7).apply(labels, C)
        c = NoiseSpec(kind, 0.4, seed=8).apply(labels, C)
        assert torch.equal(a.labels, b.labels) and torch.equal(a.flipped, b.flipped)
        assert not torch.equal(a.labels, c.labels)


def test_numpy_and_torch_inputs_give_the_same_noise():
    """An ndarray gets the same flips as the equal tensor, and each comes back as its own kind and dtype."""
    labels = _labels()
    as_numpy = labels.numpy().astype(np.int32)
    t_noisy, t_flipped = symmetric_noise(labels, 0.4, C, seed=2)
    n_noisy, n_flipped = symmetric_noise(as_numpy, 0.4, C, seed=2)
    assert isinstance(n_noisy, np.ndarray) and n_noisy.dtype == np.int32 and n_flipped.dtype == np.bool_
    assert t_noisy.dtype == labels.dtype and t_flipped.dtype == torch.bool
    np.testing.assert_array_equal(n_noisy, t_noisy.numpy())


def test_input_labels_are_not_mutated():
    """Applying noise leaves the caller's labels untouched, and the returned clean copy equals them."""
    labels = _labels()
    before_t, before_n = labels.clone(), labels.numpy().copy()
    for spec in (NoiseSpec("symmetric", 0.8, 1), NoiseSpec("asymmetric", 0.4, 1), NoiseSpec()):
        out = spec.apply(labels, C)
        assert torch.equal(labels, before_t) and torch.equal(out.clean, before_t)
        as_numpy = before_n.copy()
        spec.apply(as_numpy, C)
        np.testing.assert_array_equal(as_numpy, before_n)


def test_noise_spec_realized_rate_and_no_noise():
    """apply() reports the realized flip rate; kind 'none' returns the labels unchanged with no flips."""
    labels = _labels()
    out = NoiseSpec("symmetric", 0.2, seed=0).apply(labels, C)
    assert out.realized_rate == 0.2
    assert out.realized_rate == out.flipped.double().mean().item()
    clean = NoiseSpec().apply(labels, C)
    assert torch.equal(clean.labels, labels) and not clean.flipped.any() and clean.realized_rate == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "pairflip", "rate": 0.2}, "choose one of none, symmetric, asymmetric"),
        ({"kind": "symmetric", "rate": 1.0}, r"\[0, 1\)"),
        ({"kind": "symmetric", "rate": -0.1}, r"\[0, 1\)"),
        ({"kind": "none", "rate": 0.2}, "needs rate 0"),
        ({"kind": "symmetric", "rate": 0.2, "seed": -1}, "seed"),
    ],
)
def test_bad_noise_spec_raises_value_error(kwargs, message):
    """A bad kind, a rate outside [0, 1), a rate with kind 'none' or a negative seed raise ValueError."""
    with pytest.raises(ValueError, match=message):
        NoiseSpec(**kwargs)


def test_bad_labels_raise_value_error():
    """Float labels, 2-D labels or labels outside [0, C) raise ValueError naming the problem."""
    with pytest.raises(ValueError, match="integer"):
        symmetric_noise(torch.zeros(5), 0.2, C, seed=0)
    with pytest.raises(ValueError, match="1-D"):
        symmetric_noise(torch.zeros(5, 2, dtype=torch.long), 0.2, C, seed=0)
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        symmetric_noise(torch.tensor([0, 10]), 0.2, C, seed=0)


def test_labels_stay_on_their_device():
    """Noisy labels and the flip mask come back on the input's device (GPU when present)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    labels = _labels().to(device)
    out = NoiseSpec("asymmetric", 0.2, seed=0).apply(labels, C)
    assert out.labels.device == labels.device == out.flipped.device == out.clean.device


def test_memorization_metrics_on_a_constructed_example():
    """Metrics count agreement with noisy and true labels, and memorized vs corrected on flipped examples."""
    clean = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    noisy = torch.tensor([0, 1, 2, 3, 4, 5, 9, 9, 9, 0])  # the last four are flipped
    pred = torch.tensor([0, 1, 2, 3, 0, 5, 9, 9, 8, 3])  # 4 wrong on clean; 2 memorized, 1 corrected, 1 other
    m = memorization_metrics(pred, noisy, clean)
    assert m["n_flipped"] == 4 and m["flipped_fraction"] == 0.4
    assert m["acc_noisy"] == 0.7  # 5 clean right + 2 memorized
    assert m["acc_true"] == 0.6  # 5 clean right + 1 corrected
    assert m["memorized"] == 0.5 and m["corrected"] == 0.25
    assert m["acc_unflipped"] == 5 / 6


def test_memorization_metrics_without_flips_gives_nan():
    """With no flipped labels, memorized and corrected are nan (undefined), the accuracies are not."""
    labels = torch.tensor([1, 2, 3])
    m = memorization_metrics(torch.tensor([1, 2, 0]), labels, labels)
    assert math.isnan(m["memorized"]) and math.isnan(m["corrected"])
    assert m["acc_true"] == m["acc_noisy"] == 2 / 3


def test_memorization_metrics_rejects_mismatched_shapes():
    """pred, noisy and clean of different lengths raise ValueError."""
    with pytest.raises(ValueError, match="equal length"):
        memorization_metrics(torch.zeros(3, dtype=torch.long), torch.zeros(4, dtype=torch.long), torch.zeros(3))
