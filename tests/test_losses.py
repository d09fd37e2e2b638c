"""Tests for core.losses: each objective against a naive float64 formula, numerics, registry."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from core.losses import OBJECTIVES, ObjectiveSpec, make_objective, parse_objective

B, C = 7, 5


def _inputs(seed: int = 0, dtype=torch.float64):
    """Well-conditioned random logits (B, C) and targets (B,)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, C, generator=g, dtype=dtype) * 1.5
    target = torch.randint(0, C, (B,), generator=g)
    return logits, target


def _value_and_grad(fn, logits, target):
    z = logits.clone().requires_grad_(True)
    value = fn(z, target)
    (grad,) = torch.autograd.grad(value, z)
    return value.detach(), grad


# Naive references: probabilities by explicit exp / sum, formulas as written in the papers.
def _p(z):
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)


def _p_y(z, y):
    return _p(z)[torch.arange(len(y)), y]


def _naive_rce(z, y):
    onehot = F.one_hot(y, z.shape[1]).to(z.dtype)
    return -(_p(z) * torch.log(onehot.clamp(min=1e-4))).sum(dim=1)  # as in Wang et al.'s code


NAIVE = {
    "ce": lambda z, y: -torch.log(_p_y(z, y)),
    "mae": lambda z, y: 1 - _p_y(z, y),
    "gce:q=0.7": lambda z, y: (1 - _p_y(z, y) ** 0.7) / 0.7,
    "gce:q=0.3": lambda z, y: (1 - _p_y(z, y) ** 0.3) / 0.3,
    "sce:alpha=0.1,beta=1.0": lambda z, y: 0.1 * -torch.log(_p_y(z, y)) + 1.0 * _naive_rce(z, y),
    "sce:alpha=0.01,beta=1.0": lambda z, y: 0.01 * -torch.log(_p_y(z, y)) + _naive_rce(z, y),
    "nce_rce:alpha=1.0,beta=10.0": lambda z, y: (
        -torch.log(_p_y(z, y)) / -torch.log(_p(z)).sum(dim=1) + 10.0 * _naive_rce(z, y)
    ),
    "nce_rce:alpha=2.0,beta=0.5": lambda z, y: (
        2.0 * torch.log(_p_y(z, y)) / torch.log(_p(z)).sum(dim=1) + 0.5 * _naive_rce(z, y)
    ),
    "focal:gamma=2.0": lambda z, y: -((1 - _p_y(z, y)) ** 2.0) * torch.log(_p_y(z, y)),
    "focal:gamma=0.5": lambda z, y: -((1 - _p_y(z, y)) ** 0.5) * torch.log(_p_y(z, y)),
    "unhinged": lambda z, y: -z[torch.arange(len(y)), y] + z.sum(dim=1) / z.shape[1],
}


@pytest.mark.parametrize("spec", list(NAIVE))
def test_value_and_gradient_match_naive_formula(spec):
    """Each objective's mean value and its gradient w.r.t. the logits equal the paper's formula in float64."""
    logits, target = _inputs(seed=1)
    naive = NAIVE[spec]
    got_v, got_g = _value_and_grad(make_objective(spec), logits, target)
    ref_v, ref_g = _value_and_grad(lambda z, y: naive(z, y).mean(), logits, target)
    assert_close(got_v, ref_v)
    assert_close(got_g, ref_g)


@pytest.mark.parametrize("spec", ["mae", "focal:gamma=2.0", "focal:gamma=0.5", "nce_rce:alpha=1.0,beta=10.0"])
def test_log_one_minus_p_y_is_exact_across_p_y(spec):
    """Objectives built on log(1 - p_y) match the naive formula for p_y from 1e-6 to 1 - 1e-6, both sides of 1/2."""
    shift = torch.linspace(-14.0, 14.0, 41, dtype=torch.float64)  # target logit minus the others
    logits = torch.zeros(41, 3, dtype=torch.float64)
    logits[:, 1] = shift
    target = torch.ones(41, dtype=torch.long)
    p_y = _p_y(logits, target)
    assert p_y.min() < 1e-5 and p_y.max() > 1 - 1e-5 and ((p_y - 0.5).abs() < 0.1).any()
    naive = NAIVE[spec]
    got = _value_and_grad(make_objective(spec), logits, target)
    ref = _value_and_grad(lambda z, y: naive(z, y).mean(), logits, target)
    assert_close(got, ref)


def test_every_registered_objective_has_a_naive_reference():
    """The naive-formula table covers every registry entry except 'tunable' (tested on its own)."""
    covered = {parse_objective(s).name for s in NAIVE}
    assert covered | {"tunable"} == set(OBJECTIVES)


def test_tunable_gradient_matches_naive_pseudo_gradient():
    """'tunable' back-propagates the paper's f(eps) / B, computed directly from eps = p - onehot(y)."""
    logits, target = _inputs(seed=2)
    k = 0.5
    _, got = _value_and_grad(make_objective(f"tunable:k={k}"), logits, target)
    eps = _p(logits) - F.one_hot(target, C).to(logits.dtype)
    rows = torch.arange(B)
    abs_eps_y = eps[rows, target].abs()
    other = eps.clamp(min=0) ** k
    other[rows, target] = 0
    f = abs_eps_y.unsqueeze(1) ** k * other / other.sum(dim=1, keepdim=True)
    f[rows, target] = -(abs_eps_y**k)
    assert_close(got, f / B)


def test_tunable_value_is_cross_entropy():
    """'tunable' reports plain cross-entropy as its value, whatever k."""
    logits, target = _inputs(seed=3)
    assert_close(make_objective("tunable:k=0.25")(logits, target), F.cross_entropy(logits, target))


def test_ce_equals_torch_cross_entropy():
    """'ce' has F.cross_entropy's value and autograd gradient."""
    logits, target = _inputs(seed=4)
    got = _value_and_grad(make_objective("ce"), logits, target)
    ref = _value_and_grad(F.cross_entropy, logits, target)
    assert_close(got, ref)


def test_tunable_at_k_1_has_cross_entropy_gradient():
    """'tunable' with k = 1 back-propagates exactly cross-entropy's gradient."""
    logits, target = _inputs(seed=5)
    _, got = _value_and_grad(make_objective("tunable:k=1"), logits, target)
    _, ref = _value_and_grad(F.cross_entropy, logits, target)
    assert_close(got, ref)


def test_gce_at_q_1_equals_mae():
    """GCE with q = 1 is MAE, in value and gradient."""
    logits, target = _inputs(seed=6)
    assert_close(
        _value_and_grad(make_objective("gce:q=1"), logits, target),
        _value_and_grad(make_objective("mae"), logits, target),
    )


def test_gce_approaches_ce_as_q_goes_to_0():
    """GCE tends to CE as q -> 0: at q = 1e-6 value and gradient agree with CE to ~1e-5."""
    logits, target = _inputs(seed=7)
    got = _value_and_grad(make_objective("gce:q=1e-6"), logits, target)
    ref = _value_and_grad(make_objective("ce"), logits, target)
    assert_close(got, ref, rtol=1e-4, atol=1e-5)
    far = _value_and_grad(make_objective("gce:q=0.5"), logits, target)
    assert not torch.allclose(far[0], ref[0], rtol=1e-2)  # the comparison can fail


def test_focal_at_gamma_0_equals_ce():
    """Focal loss with gamma = 0 is cross-entropy, in value and gradient."""
    logits, target = _inputs(seed=8)
    assert_close(
        _value_and_grad(make_objective("focal:gamma=0"), logits, target),
        _value_and_grad(make_objective("ce"), logits, target),
    )


def test_unhinged_gradient_is_minus_onehot_plus_one_over_k():
    """The unhinged loss's gradient w.r.t. the logits is (-onehot(y) + 1/K) / B, whatever the logits."""
    logits, target = _inputs(seed=9)
    _, got = _value_and_grad(make_objective("unhinged"), logits * 100, target)
    assert_close(got, (-F.one_hot(target, C).to(logits.dtype) + 1 / C) / B)


def test_tunable_at_small_k_is_scaled_unhinged_gradient():
    """As k -> 0 the pseudo-gradient tends to K/(K-1) times the unhinged gradient (Keren et al. 2017, Section 3)."""
    logits, target = _inputs(seed=10)
    _, tunable = _value_and_grad(make_objective("tunable:k=1e-4"), logits, target)
    _, unhinged = _value_and_grad(make_objective("unhinged"), logits, target)
    assert_close(tunable, C / (C - 1) * unhinged, rtol=2e-3, atol=2e-3)


def _extreme_logits(margin: float):
    """float32 logits with margin `margin` between classes, target both the top and the bottom class."""
    row = torch.linspace(margin, -margin, C)
    logits = torch.stack([row, row, row.flip(0), torch.zeros(C), torch.full((C,), margin)])
    target = torch.tensor([0, C - 1, 0, 2, 1])
    return logits.float(), target


@pytest.mark.parametrize("name", list(OBJECTIVES))
@pytest.mark.parametrize("margin", [30.0, 1e3, 1e4])
def test_float32_extreme_logits_give_finite_value_and_gradient(name, margin):
    """At logit margins up to 1e4 in float32, every objective's value and gradient are finite."""
    logits, target = _extreme_logits(margin)
    value, grad = _value_and_grad(make_objective(name), logits, target)
    assert value.dtype == torch.float32
    assert torch.isfinite(value) and torch.isfinite(grad).all()


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_float32_extreme_logits_match_float64(name):
    """At a logit margin of 1e4, the float32 value and gradient equal the float64 ones (no precision loss)."""
    logits, target = _extreme_logits(1e4)
    got_v, got_g = _value_and_grad(make_objective(name), logits, target)
    ref_v, ref_g = _value_and_grad(make_objective(name), logits.double(), target)
    assert_close(got_v, ref_v.float())
    assert_close(got_g, ref_g.float())


@pytest.mark.parametrize(
    ("spec", "limit"),
    [
        ("mae", 1.0),
        ("gce:q=0.7", 1 / 0.7),
        ("nce_rce:alpha=1,beta=10", 1 + 10 * -math.log(1e-4)),
    ],
)
def test_bounded_losses_reach_their_limit_on_confident_wrong_examples(spec, limit):
    """When p_y underflows to 0 in float32, bounded losses give their analytic limit, with zero gradient."""
    logits = torch.tensor([[0.0, 1e4]])
    value, grad = _value_and_grad(make_objective(spec), logits, torch.tensor([0]))
    assert_close(value, torch.tensor(limit))
    assert_close(grad, torch.zeros_like(grad))


def test_half_precision_logits_are_computed_in_float32():
    """bfloat16 logits give a float32 loss and a bfloat16 gradient close to the float32 result."""
    logits, target = _inputs(seed=11, dtype=torch.float32)
    half = logits.bfloat16()
    value, grad = _value_and_grad(make_objective("gce"), half, target)
    ref_v, ref_g = _value_and_grad(make_objective("gce"), half.float(), target)
    assert value.dtype == torch.float32 and grad.dtype == torch.bfloat16
    assert_close(value, ref_v)
    assert_close(grad.float(), ref_g, rtol=2e-2, atol=1e-3)


# ----------------------------------------------------------------------------- registry


def test_spec_fills_in_defaults_so_equal_specs_compare_equal():
    """A spec with its parameters left out equals the spec with the defaults written out."""
    assert ObjectiveSpec("gce") == ObjectiveSpec("gce", {"q": 0.7}) == parse_objective("gce:q=0.7")
    assert hash(ObjectiveSpec("sce")) == hash(ObjectiveSpec("sce", (("beta", 1), ("alpha", 0.01))))
    assert ObjectiveSpec("gce", {"q": 0.5}) != ObjectiveSpec("gce")


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_str_round_trips_through_parse(name):
    """parse_objective(str(spec)) gives back the same spec, for every objective."""
    spec = ObjectiveSpec(name, {k: v * 0.37 for k, v in OBJECTIVES[name].defaults.items()})
    assert parse_objective(str(spec)) == spec


def test_labels_are_human_readable():
    """Labels show the title and the parameters in registry order."""
    assert parse_objective("gce:q=0.7").label == "GCE (q=0.7)"
    assert parse_objective("ce").label == "CE"
    assert parse_objective("tunable:k=0.5").label == "Tunable (k=0.5)"
    assert parse_objective("sce:beta=2,alpha=0.1").label == "SCE (α=0.1, β=2)"


def test_parse_tolerates_case_and_spaces():
    """Names are case-insensitive and whitespace around names, '=' and ',' is ignored."""
    assert parse_objective(" NCE_RCE : alpha = 1 , beta = 100 ") == ObjectiveSpec("nce_rce", {"alpha": 1, "beta": 100})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hinge", "choose one of: ce, tunable"),
        ("gce:k=1", "its parameters: q"),
        ("ce:q=1", "its parameters: none"),
        ("gce:q=1.5", "0 < q <= 1"),
        ("gce:q=0", "0 < q <= 1"),
        ("tunable:k=-1", "k > 0"),
        ("focal:gamma=nan", "finite number"),
        ("gce:q", "name=value"),
        ("gce:q=abc", "must be a number"),
        ("sce:alpha=1,alpha=2", "given twice"),
    ],
)
def test_bad_specs_raise_value_error_with_the_options(text, message):
    """An unknown name, unknown parameter or out-of-range value raises ValueError saying what is allowed."""
    with pytest.raises(ValueError, match=message):
        parse_objective(text)


@pytest.mark.parametrize(
    ("logits", "target"),
    [
        (torch.zeros(3), torch.zeros(3, dtype=torch.long)),
        (torch.zeros(3, 1), torch.zeros(3, dtype=torch.long)),
        (torch.zeros(3, 4, dtype=torch.long), torch.zeros(3, dtype=torch.long)),
        (torch.zeros(3, 4), torch.zeros(3)),
        (torch.zeros(3, 4), torch.zeros(2, dtype=torch.long)),
    ],
)
def test_bad_inputs_raise_value_error(logits, target):
    """Wrong shapes or dtypes of logits / target raise ValueError before any computation."""
    with pytest.raises(ValueError):
        make_objective("gce")(logits, target)


def test_objective_is_picklable_and_keeps_its_spec():
    """A made objective survives pickling (for worker processes) and computes the same loss."""
    objective = make_objective("nce_rce:alpha=1,beta=100")
    clone = pickle.loads(pickle.dumps(objective))
    logits, target = _inputs(seed=12)
    assert clone.spec == objective.spec
    assert_close(clone(logits, target), objective(logits, target))


def test_registry_entries_are_complete():
    """Every entry has a title, a description, a LaTeX formula and constraints only for its own parameters."""
    for name, info in OBJECTIVES.items():
        assert info.title and info.description and info.latex, name
        assert set(info.constraints) <= set(info.defaults), name
        for value in info.defaults.values():
            assert math.isfinite(value)


def test_cli_lists_objectives_and_prints_gradients(capsys):
    """`python -m core.losses` lists every objective; with specs it prints each label with value and gradient."""
    from core.losses import _main

    _main([])
    listing = capsys.readouterr().out
    assert all(name in listing for name in OBJECTIVES)
    _main(["unhinged", "--logits", "1", "2", "3", "4", "--target", "0"])
    row = capsys.readouterr().out.splitlines()[-1].split()
    assert row[0] == "Unhinged" and [float(v) for v in row[2:]] == [-0.75, 0.25, 0.25, 0.25]
    assert _main(["gce:q=3"]) == 2  # one line naming the bad parameter, exit 2 (core.cli)
