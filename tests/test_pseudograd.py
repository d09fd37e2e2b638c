"""Tests of core/pseudograd.py, each against an independent reference (float64 where it matters)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

from core.pseudograd import TunableCrossEntropyLoss, pseudo_grad, tunable_cross_entropy

KS = [1 / 16, 1 / 4, 1 / 2, 2.0, 4.0, 8.0]


def naive_pseudo_grad(logits: torch.Tensor, target: torch.Tensor, k: float) -> torch.Tensor:
    """The paper's formula, literally: powers and a division (fine on well-conditioned logits)."""
    p = torch.softmax(logits.double(), dim=1)
    onehot = F.one_hot(target, logits.shape[1]).double()
    eps = p - onehot
    abs_eps_y = (1 - (p * onehot).sum(1, keepdim=True))
    powered = (eps * (1 - onehot)) ** k * (1 - onehot)
    others = abs_eps_y**k * powered / powered.sum(1, keepdim=True)
    return others - abs_eps_y**k * onehot


def random_batch(B: int, C: int, scale: float = 1.0, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(B, C, generator=g, dtype=torch.float64) * scale).to(dtype)
    target = torch.randint(0, C, (B,), generator=g)
    return logits, target


# k = 1 as a Python number calls F.cross_entropy itself; as a tensor it takes the pseudo-gradient path
K_ONE = [1.0, torch.tensor(1.0, dtype=torch.float64)]


@pytest.mark.parametrize("k", K_ONE, ids=["number", "tensor"])
@pytest.mark.parametrize("B,C", [(1, 2), (7, 3), (64, 10), (33, 100)])
def test_k1_equals_cross_entropy_autograd(B, C, k):
    """k = 1 back-propagates exactly F.cross_entropy's autograd gradient (float64, atol 1e-12)."""
    logits, target = random_batch(B, C, scale=3.0, seed=B + C)
    for reduction in ("mean", "sum", "none"):
        z_ref = logits.clone().requires_grad_()
        z = logits.clone().requires_grad_()
        ref = F.cross_entropy(z_ref, target, reduction=reduction)
        out = tunable_cross_entropy(z, target, k=k, reduction=reduction)
        weights = torch.rand(B, dtype=torch.float64) if reduction == "none" else torch.tensor(1.0, dtype=torch.float64)
        (ref * weights).sum().backward()
        (out * weights).sum().backward()
        assert_close(out, ref, atol=1e-12, rtol=0)
        assert_close(z.grad, z_ref.grad, atol=1e-12, rtol=0)


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("C", [2, 3, 10])
def test_other_k_equal_naive_formula(k, C):
    """For k != 1 the log-space result equals the naive power-and-divide formula on benign logits."""
    logits, target = random_batch(50, C, scale=1.5, seed=int(k * 64) + C)
    assert_close(pseudo_grad(logits, target, k), naive_pseudo_grad(logits, target, k), atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("k", KS + [1.0])
def test_sum_zero_signs(k):
    """Every example's f sums to 0, f_y < 0 and f_j >= 0 off the target (Eq. 3 of the paper)."""
    logits, target = random_batch(200, 7, scale=4.0, seed=3)
    f = pseudo_grad(logits, target, k)
    assert_close(f.sum(1), torch.zeros(200, dtype=torch.float64), atol=1e-14, rtol=0)
    f_y = f.gather(1, target[:, None]).squeeze(1)
    assert (f_y < 0).all()
    off = f.masked_fill(F.one_hot(target, 7).bool(), 0.0)
    assert (off >= 0).all()


@pytest.mark.parametrize("k", KS + [1.0])
def test_abs_f_y_is_abs_eps_y_to_the_k_and_monotone(k):
    """|f_y| = |eps_y|^k, so it is non-decreasing in |eps_y| along a sweep of the target logit."""
    z_y = torch.linspace(8, -8, 301, dtype=torch.float64)
    logits = torch.stack([z_y, torch.full_like(z_y, 0.5), torch.full_like(z_y, -0.3)], dim=1)
    target = torch.zeros(301, dtype=torch.long)
    f_y = pseudo_grad(logits, target, k)[:, 0]
    abs_eps_y = 1 - torch.softmax(logits, 1)[:, 0]
    assert_close(-f_y, abs_eps_y**k, atol=1e-14, rtol=1e-12)
    assert (torch.diff(abs_eps_y) > 0).all()
    assert (torch.diff(-f_y) >= 0).all()


@pytest.mark.parametrize("C", [2, 4, 10])
def test_k_to_zero_approaches_scaled_unhinged_gradient(C):
    """As k -> 0, f tends to n/(n-1) times the gradient of the multi-class unhinged loss."""
    logits, target = random_batch(40, C, scale=2.0, seed=C)
    z = logits.clone().requires_grad_()
    unhinged = (-z.gather(1, target[:, None]).squeeze(1) + z.mean(1)).sum()
    (grad_unhinged,) = torch.autograd.grad(unhinged, z)
    limit = C / (C - 1) * grad_unhinged
    errors = [(pseudo_grad(logits, target, k) - limit).abs().max().item() for k in (1e-1, 1e-3, 1e-6)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-4


@pytest.mark.parametrize("k", [1 / 64, 1 / 8, 1.0, 4.0, 16.0])
@pytest.mark.parametrize("margin", [10.0, 100.0, 1e3, 1e4])
def test_float32_extreme_margins_finite_and_match_float64(k, margin):
    """float32 logits with margins up to 1e4: no NaN/inf in value or gradient, and f matches float64."""
    g = torch.Generator().manual_seed(int(margin))
    B, C = 64, 5
    logits = torch.randn(B, C, generator=g) * margin  # margins of order `margin` in both directions
    logits[::4] += 1e4  # large absolute offsets too
    target = torch.randint(0, C, (B,), generator=g)
    f32 = pseudo_grad(logits, target, k)
    f64 = pseudo_grad(logits.double(), target, k)
    assert torch.isfinite(f32).all()
    assert_close(f32.double(), f64, atol=2e-6, rtol=1e-4)
    z = logits.clone().requires_grad_()
    loss = tunable_cross_entropy(z, target, k=k)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_computed_in_float32(dtype):
    """Half inputs give a half result equal to the float32 computation rounded once."""
    logits, target = random_batch(32, 6, scale=5.0, seed=9, dtype=torch.float32)
    half = logits.to(dtype)
    f = pseudo_grad(half, target, 0.5)
    assert f.dtype == dtype
    assert_close(f, pseudo_grad(half.float(), target, 0.5).to(dtype), atol=0, rtol=0)
    z = half.clone().requires_grad_()
    tunable_cross_entropy(z, target, k=4.0).backward()
    assert z.grad.dtype == dtype and torch.isfinite(z.grad).all()


def test_empty_batch():
    """B = 0 gives an empty (0, C) pseudo-gradient, and losses that reduce like F.cross_entropy."""
    logits = torch.zeros(0, 4, requires_grad=True)
    target = torch.zeros(0, dtype=torch.long)
    assert pseudo_grad(logits, target, 0.5).shape == (0, 4)
    assert tunable_cross_entropy(logits, target, k=0.5, reduction="sum").item() == 0.0
    assert tunable_cross_entropy(logits, target, k=0.5, reduction="none").shape == (0,)
    assert math.isnan(tunable_cross_entropy(logits, target, k=0.5).item()) == math.isnan(
        F.cross_entropy(logits, target).item()
    )


def test_per_example_k_tensor():
    """A tensor k (one value per example) gives each row the pseudo-gradient of its own k."""
    logits, target = random_batch(6, 4, seed=11)
    ks = torch.tensor([0.25, 0.5, 1.0, 2.0, 4.0, 8.0], dtype=torch.float64)
    f = pseudo_grad(logits, target, ks)
    for i, k in enumerate(ks.tolist()):
        assert_close(f[i], pseudo_grad(logits[i : i + 1], target[i : i + 1], k)[0])
    z = logits.clone().requires_grad_()
    tunable_cross_entropy(z, target, k=ks, reduction="sum").backward()
    assert_close(z.grad, f)


@pytest.mark.parametrize("reduction,scale", [("mean", 1 / 20), ("sum", 1.0)])
def test_backward_scaling(reduction, scale):
    """The backward is f / B for reduction='mean' and f for 'sum'; the value is plain cross-entropy."""
    logits, target = random_batch(20, 5, seed=5)
    z = logits.clone().requires_grad_()
    out = tunable_cross_entropy(z, target, k=0.25, reduction=reduction)
    out.backward()
    assert_close(z.grad, pseudo_grad(logits, target, 0.25) * scale)
    assert_close(out, F.cross_entropy(logits, target, reduction=reduction))


def test_jacobian_not_symmetric_for_k_not_one():
    """For k != 1 and C >= 3, df/dz is not symmetric (no loss has f as its gradient); for k = 1 it is."""
    logits, target = random_batch(1, 4, scale=1.0, seed=21)
    y = target[0]

    def f_of(k):
        return lambda z: pseudo_grad(z[None], y[None], k)[0]

    for k in (0.25, 0.5, 2.0, 4.0):
        J = torch.func.jacrev(f_of(k))(logits[0])
        assert (J - J.T).abs().max() > 1e-3, k
    J1 = torch.func.jacrev(f_of(1.0))(logits[0])
    assert_close(J1, J1.T, atol=1e-12, rtol=0)


def test_module_matches_function_and_repr():
    """TunableCrossEntropyLoss(k, reduction) equals tunable_cross_entropy with the same arguments."""
    logits, target = random_batch(10, 3, seed=2)
    loss_fn = TunableCrossEntropyLoss(k=2.0, reduction="sum")
    z1 = logits.clone().requires_grad_()
    z2 = logits.clone().requires_grad_()
    loss_fn(z1, target).backward()
    tunable_cross_entropy(z2, target, k=2.0, reduction="sum").backward()
    assert_close(z1.grad, z2.grad)
    assert "k=2.0" in repr(loss_fn)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(k=0.0), "k must be"),
        (dict(k=-1.0), "k must be"),
        (dict(k=float("nan")), "k must be"),
        (dict(k=float("inf")), "k must be"),
        (dict(k=torch.tensor([1.0, -1.0, 1.0])), "k must be"),
        (dict(target=torch.zeros(3)), "dtype"),
        (dict(target=torch.zeros(4, dtype=torch.long)), "shape"),
        (dict(target=torch.zeros(3, 1, dtype=torch.long)), "shape"),
        (dict(target=torch.tensor([0, 1, 5])), "outside"),
        (dict(target=torch.tensor([0, -1, 1])), "outside"),
        (dict(logits=torch.zeros(3)), "shape"),
        (dict(logits=torch.zeros(3, 4, 2)), "shape"),
        (dict(logits=torch.tensor(1.0)), "logits must be"),
        (dict(logits=torch.zeros(3, 4, dtype=torch.long)), "float"),
        (dict(logits=torch.zeros(3, 1)), "at least 2 classes"),
        (dict(reduction="avg"), "reduction"),
    ],
)
def test_bad_input_raises_value_error_naming_the_problem(kwargs, match):
    """Bad k, target or logits raise ValueError with a message naming the problem."""
    args = dict(logits=torch.zeros(3, 4), target=torch.tensor([0, 1, 2]), k=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        tunable_cross_entropy(**args)
    if "reduction" not in kwargs:
        with pytest.raises(ValueError, match=match):
            pseudo_grad(args["logits"], args["target"], args["k"])


def test_module_rejects_bad_k():
    """The module validates k at construction."""
    with pytest.raises(ValueError, match="k must be"):
        TunableCrossEntropyLoss(k=0)


def test_vmap_over_models():
    """Under torch.func.vmap over a stack of models, each gets the same gradient as computed alone."""
    M, B, D, C = 3, 16, 5, 4
    g = torch.Generator().manual_seed(0)
    W = torch.randn(M, D, C, generator=g, dtype=torch.float64)
    x = torch.randn(B, D, generator=g, dtype=torch.float64)
    target = torch.randint(0, C, (B,), generator=g)

    def loss(w):
        return tunable_cross_entropy(x @ w, target, k=0.5)

    batched = torch.func.vmap(torch.func.grad(loss))(W)
    for m in range(M):
        assert_close(batched[m], torch.func.grad(loss)(W[m]))


def test_torch_compile():
    """Under torch.compile the loss value and gradient equal eager mode."""
    logits, target = random_batch(32, 10, seed=4, dtype=torch.float32)

    def step(z):
        return tunable_cross_entropy(z, target, k=0.25)

    compiled = torch.compile(step, fullgraph=True)  # default inductor backend
    z1 = logits.clone().requires_grad_()
    z2 = logits.clone().requires_grad_()
    step(z1).backward()
    compiled(z2).backward()
    assert_close(z2.grad, z1.grad)


def _train_small_net(k: float, optimizer_name: str) -> tuple[float, float, float, float]:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    centers = torch.randn(4, 8, generator=g) * 2.0
    target = torch.randint(0, 4, (512,), generator=g)
    x = centers[target] + torch.randn(512, 8, generator=g)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    if optimizer_name == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        logits = model(x)
        loss0, acc0 = F.cross_entropy(logits, target).item(), (logits.argmax(1) == target).float().mean().item()
    for _ in range(60):
        optimizer.zero_grad()
        tunable_cross_entropy(model(x), target, k=k).backward()
        optimizer.step()
    with torch.no_grad():
        logits = model(x)
        loss1, acc1 = F.cross_entropy(logits, target).item(), (logits.argmax(1) == target).float().mean().item()
    return loss0, acc0, loss1, acc1


@pytest.mark.parametrize("k", [0.25, 1.0, 4.0])
@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
def test_small_network_learns(k, optimizer_name):
    """A small MLP trained with the pseudo-gradient (SGD+momentum or Adam) lowers loss and gains accuracy."""
    loss0, acc0, loss1, acc1 = _train_small_net(k, optimizer_name)
    assert loss1 < loss0 * 0.7
    assert acc1 > 0.8 and acc1 > acc0 + 0.3


@settings(max_examples=60, deadline=None)
@given(
    B=st.integers(0, 12),
    C=st.integers(2, 12),
    k=st.floats(1 / 64, 16),
    scale=st.floats(0.0, 50.0),
    seed=st.integers(0, 2**16),
)
def test_properties_random(B, C, k, scale, seed):
    """Over random shapes, logits and k: finite, sums to 0, signs right, |f_y| = |eps_y|^k, fp32 ~ fp64."""
    logits, target = random_batch(B, C, scale=scale, seed=seed)
    f = pseudo_grad(logits, target, k)
    assert f.shape == (B, C) and torch.isfinite(f).all()
    assert_close(f.sum(1), torch.zeros(B, dtype=torch.float64), atol=1e-12, rtol=0)
    if B:
        f_y = f.gather(1, target[:, None]).squeeze(1)
        # sum of the non-target probabilities: accurate even when p_y is within 1e-16 of 1
        abs_eps_y = torch.softmax(logits, 1).masked_fill(F.one_hot(target, C).bool(), 0).sum(1)
        assert_close(-f_y, abs_eps_y**k, atol=1e-12, rtol=1e-9)
        assert (f_y <= 0).all() and (f.masked_fill(F.one_hot(target, C).bool(), 0) >= 0).all()
    assert_close(pseudo_grad(logits.float(), target, k).double(), f, atol=1e-5, rtol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    """On CUDA the pseudo-gradient and loss equal the CPU computation."""
    logits, target = random_batch(256, 10, scale=5.0, seed=8, dtype=torch.float32)
    for k in (0.25, 1.0, 4.0):
        assert_close(pseudo_grad(logits.cuda(), target.cuda(), k).cpu(), pseudo_grad(logits, target, k))
        z = logits.cuda().requires_grad_()
        tunable_cross_entropy(z, target.cuda(), k=k).backward()
        assert_close(z.grad.cpu(), pseudo_grad(logits, target, k) / 256)


def test_double_backward_is_the_jacobian_of_f():
    """With create_graph=True, differentiating the pseudo-gradient again gives d f / d z (not zeros)."""
    logits, target = random_batch(3, 4, seed=17)
    z = logits.clone().requires_grad_()
    (g,) = torch.autograd.grad(tunable_cross_entropy(z, target, k=0.5, reduction="sum"), z, create_graph=True)
    (row,) = torch.autograd.grad(g[1, 2], z)
    J = torch.func.jacrev(lambda a: pseudo_grad(a, target, 0.5))(logits)  # (B, C, B, C)
    assert_close(row, J[1, 2])
    assert row.abs().max() > 1e-3


def test_eval_mode_value_without_grad():
    """Under torch.no_grad the loss is still the plain cross-entropy value."""
    logits, target = random_batch(8, 5, seed=12)
    with torch.no_grad():
        assert_close(tunable_cross_entropy(logits, target, k=3.0), F.cross_entropy(logits, target))


@pytest.mark.parametrize("k", [0.25, 1.0, 4.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_masked_non_target_logits_match_cross_entropy(k, dtype):
    """Every non-target logit at -inf (masked classes): loss, gradient and f are finite and equal
    F.cross_entropy's (loss 0, gradient 0) at any k, through the autograd Function and pseudo_grad."""
    logits = torch.tensor([[-math.inf, 2.0, -math.inf], [0.5, -math.inf, 1.0]], dtype=dtype, requires_grad=True)
    target = torch.tensor([1, 2])
    expected = F.cross_entropy(logits, target)
    (expected_grad,) = torch.autograd.grad(expected, logits)
    for k_arg in (k, torch.tensor(k)):  # a tensor k takes the pseudo-gradient path even at k = 1
        loss = tunable_cross_entropy(logits, target, k=k_arg)
        (grad,) = torch.autograd.grad(loss, logits)
        f = pseudo_grad(logits.detach(), target, k)
        assert torch.isfinite(loss) and torch.isfinite(grad).all() and torch.isfinite(f).all()
        torch.testing.assert_close(f[0], torch.zeros(3, dtype=dtype))
        torch.testing.assert_close(loss, expected)
        if k == 1.0:
            torch.testing.assert_close(grad, expected_grad)
        else:
            torch.testing.assert_close(grad[0], torch.zeros(3, dtype=dtype))


# ----------------------------------------------------------------------------- F.cross_entropy's interface

def _nd_batch(shape, seed=0, ignore=None, dtype=torch.float64):
    """Logits of `shape` ((C,), (N, C) or (N, C, d1, ...)) and targets, some set to `ignore`."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(*shape, generator=g, dtype=torch.float64).mul(3).to(dtype)
    c = shape[0] if len(shape) == 1 else shape[1]
    target = torch.randint(0, c, () if len(shape) == 1 else (shape[0], *shape[2:]), generator=g)
    if ignore is not None and target.dim():
        target[torch.rand(target.shape, generator=g) < 0.3] = ignore
        target.view(-1)[0] = ignore
    return logits, target


SHAPES = [(5,), (6, 5), (4, 5, 3), (3, 5, 2, 2), (6, 80), (3, 80, 4)]  # 5 classes: elementwise route; 80: fused


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted,ignore_index", [(False, -100), (True, -100), (True, 2), (False, 0)])
@pytest.mark.parametrize("k", K_ONE, ids=["number", "tensor"])
def test_k1_equals_cross_entropy_in_every_mode(shape, reduction, weighted, ignore_index, k):
    """k = 1: value and gradient equal F.cross_entropy's for (C,), (N, C), (N, C, d...) inputs, with
    weight, ignore_index and every reduction (float64, 1e-9)."""
    logits, target = _nd_batch(shape, seed=len(shape) + shape[-1], ignore=ignore_index)
    c = shape[0] if len(shape) == 1 else shape[1]
    weight = torch.rand(c, dtype=torch.float64) + 0.1 if weighted else None
    z_ref, z = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    ref = F.cross_entropy(z_ref, target, weight, ignore_index=ignore_index, reduction=reduction)
    out = tunable_cross_entropy(z, target, weight, ignore_index=ignore_index, reduction=reduction, k=k)
    assert out.shape == ref.shape
    upstream = torch.rand(ref.shape, dtype=torch.float64)
    (ref * upstream).sum().backward()
    (out * upstream).sum().backward()
    assert_close(out, ref, atol=1e-9, rtol=0, equal_nan=True)  # nan: the mean over no position, as F.cross_entropy
    assert_close(z.grad, z_ref.grad, atol=1e-9, rtol=0)
    with torch.no_grad():  # the evaluation path too
        assert_close(tunable_cross_entropy(logits, target, weight, ignore_index=ignore_index, reduction=reduction,
                                           k=3.0), ref.detach(), atol=1e-9, rtol=0, equal_nan=True)


def _positions(logits: torch.Tensor, target: torch.Tensor):
    """(P, C) logits and (P,) targets of every position (classes moved last)."""
    if logits.dim() == 1:
        return logits[None], target[None]
    return logits.movedim(1, -1).reshape(-1, logits.shape[1]), target.reshape(-1)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k", [0.25, 3.0])
def test_weighted_mean_of_per_position_pseudo_gradients(shape, k):
    """Any k, any shape: the gradient is w_y f / sum(w_y) over the non-ignored positions (reduction 'mean'),
    with f from the naive formula per position, and 0 at ignored positions."""
    logits, target = _nd_batch(shape, seed=7, ignore=-100)
    c = shape[0] if len(shape) == 1 else shape[1]
    weight = torch.rand(c, dtype=torch.float64) + 0.1
    z = logits.clone().requires_grad_()
    tunable_cross_entropy(z, target, weight=weight, k=k).backward()
    flat_z, flat_t = _positions(logits, target)
    keep = flat_t != -100
    expected = torch.zeros_like(flat_z)
    w = weight[flat_t[keep]]
    expected[keep] = naive_pseudo_grad(flat_z[keep], flat_t[keep], k) * (w / w.sum())[:, None]
    assert_close(_positions(z.grad, target)[0], expected, atol=1e-12, rtol=1e-9)
    f = pseudo_grad(logits, target, k)  # pseudo_grad: same shape, 0 where ignored
    assert f.shape == logits.shape
    assert_close(_positions(f, target)[0][keep], naive_pseudo_grad(flat_z[keep], flat_t[keep], k),
                 atol=1e-12, rtol=1e-9)
    assert (_positions(f, target)[0][~keep] == 0).all()


def test_per_position_and_per_example_k_on_sequences():
    """(N, C, T) logits: a k tensor of shape (N, T) gives each position its own k; one of shape (N,)
    gives each sequence its own k."""
    logits, target = _nd_batch((3, 4, 5), seed=3)
    ks = torch.rand(3, 5, dtype=torch.float64) * 3 + 0.1
    f = pseudo_grad(logits, target, ks)
    for i in range(3):
        for t in range(5):
            assert_close(f[i, :, t], pseudo_grad(logits[i, :, t], target[i, t], ks[i, t].item()))
    per_seq = torch.tensor([0.25, 1.0, 4.0], dtype=torch.float64)
    assert_close(pseudo_grad(logits, target, per_seq), pseudo_grad(logits, target, per_seq[:, None].expand(3, 5)))


@pytest.mark.parametrize("classes", [5, 80])
@pytest.mark.parametrize("k", [1e-46, 1e-320, 1e-30, 1e30, 1e300])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_k_never_nan(classes, k, dtype):
    """Tiny (even float32-zero or subnormal) and huge k give finite f and gradients; tiny k gives the
    k -> 0 limit, n/(n-1) times the unhinged gradient (Keren et al. 2017, Section 3)."""
    logits, target = _nd_batch((16, classes), seed=5, dtype=dtype)
    logits[::3] *= 100  # large margins too
    z = logits.clone().requires_grad_()
    tunable_cross_entropy(z, target, k=k, reduction="sum").backward()
    f = pseudo_grad(logits, target, k)
    assert torch.isfinite(z.grad).all() and torch.isfinite(f).all()
    assert_close(f.sum(1), torch.zeros(16, dtype=dtype), atol=1e-5, rtol=0)
    if k < 1e-20:
        onehot = F.one_hot(target, classes).to(dtype)
        limit = (1 - onehot) / (classes - 1) - onehot
        assert_close(f, limit, atol=1e-6, rtol=0)
    if k > 1e20:  # all weight on the largest non-target logit, and |eps_y|^k -> 0 unless p_y = 0
        assert (f.abs() <= 1).all()


@pytest.mark.parametrize("k", [0, -1, 0.0, float("nan"), float("inf"), True, "0.5", None])
def test_bad_k_raises_one_line_value_error_naming_it(k):
    """k = 0, negative, nan, inf, a bool or a string: ValueError whose one-line message shows the value."""
    logits, target = random_batch(4, 3)
    for call in (lambda: tunable_cross_entropy(logits, target, k=k), lambda: pseudo_grad(logits, target, k),
                 lambda: TunableCrossEntropyLoss(k=k)):
        with pytest.raises(ValueError, match="k must be") as info:
            call()
        assert repr(k) in str(info.value) and "\n" not in str(info.value)


def test_label_smoothing_and_probability_targets_refused():
    """label_smoothing != 0 and probability targets raise ValueError naming the argument and why."""
    logits, target = random_batch(4, 3)
    with pytest.raises(ValueError, match="label_smoothing=0.1 is not supported.*one true class"):
        tunable_cross_entropy(logits, target, label_smoothing=0.1, k=0.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        TunableCrossEntropyLoss(label_smoothing=0.1)
    with pytest.raises(ValueError, match="probability targets are not supported"):
        tunable_cross_entropy(logits, torch.softmax(logits, 1), k=0.5)
    assert_close(tunable_cross_entropy(logits, target, label_smoothing=0.0), F.cross_entropy(logits, target))


def test_module_takes_what_cross_entropy_loss_takes():
    """TunableCrossEntropyLoss(weight) positionally, ignore_index, reduction: it is an nn.CrossEntropyLoss,
    and at k = 1 it equals one; a per-example tensor k and a KSchedule (its current k) work on it."""
    from core.schedule import KSchedule

    logits, target = _nd_batch((6, 4, 3), seed=2, ignore=1)
    weight = torch.rand(4, dtype=torch.float64) + 0.1
    ours = TunableCrossEntropyLoss(weight, ignore_index=1, reduction="sum")
    assert isinstance(ours, torch.nn.CrossEntropyLoss)
    reference = torch.nn.CrossEntropyLoss(weight, ignore_index=1, reduction="sum")
    assert_close(ours(logits, target), reference(logits, target))
    ks = torch.rand(6, dtype=torch.float64) + 0.5
    z1, z2 = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    TunableCrossEntropyLoss(weight, k=ks)(z1, target).backward()
    tunable_cross_entropy(z2, target, weight, k=ks).backward()
    assert_close(z1.grad, z2.grad)
    schedule = KSchedule.linear(0.5, 2.0, total_steps=2)
    module = TunableCrossEntropyLoss(k=schedule)
    for expected_k in (0.5, 1.25, 2.0):
        z1, z2 = logits.clone().requires_grad_(), logits.clone().requires_grad_()
        module(z1, target).backward()
        tunable_cross_entropy(z2, target, k=expected_k).backward()
        assert_close(z1.grad, z2.grad)
        schedule.step()
    assert "linear:1/2:2" in repr(module)
    with pytest.raises(ValueError, match="weight must be a float tensor.*k="):
        TunableCrossEntropyLoss(0.5)


def test_retain_graph_backward_twice_same_gradient():
    """The backward writes f over its saved buffer; a second backward (retain_graph) still gives the same gradient."""
    for classes in (5, 80):
        logits, target = random_batch(8, classes, seed=classes)
        z = logits.clone().requires_grad_()
        loss = tunable_cross_entropy(z, target, k=0.5)
        (g1,) = torch.autograd.grad(loss, z, retain_graph=True)
        (g2,) = torch.autograd.grad(loss, z)
        assert_close(g1, g2, atol=0, rtol=0)
        assert_close(g1, pseudo_grad(logits, target, 0.5) / 8)


@pytest.mark.parametrize("classes", [5, 80])
def test_forward_mode_ad(classes):
    """jvp and torch.func.hessian work: at k = 1 they equal F.cross_entropy's; at other k the loss's
    tangent is <f, dz> and the 'hessian' is the Jacobian of f (the pseudo-gradient acts as the gradient)."""
    logits, target = random_batch(4, classes, seed=1)
    tangent = torch.randn_like(logits)
    one = torch.tensor(1.0, dtype=torch.float64)  # a tensor: the pseudo-gradient path, not F.cross_entropy itself
    _, ours = torch.func.jvp(lambda z: tunable_cross_entropy(z, target, k=one), (logits,), (tangent,))
    _, ref = torch.func.jvp(lambda z: F.cross_entropy(z, target), (logits,), (tangent,))
    assert_close(ours, ref, atol=1e-12, rtol=0)
    _, ours = torch.func.jvp(lambda z: tunable_cross_entropy(z, target, k=0.5, reduction="none"), (logits,), (tangent,))
    assert_close(ours, (pseudo_grad(logits, target, 0.5) * tangent).sum(1))
    hessian = torch.func.hessian(lambda z: tunable_cross_entropy(z, target, k=one))(logits)
    assert_close(hessian, torch.func.hessian(lambda z: F.cross_entropy(z, target))(logits), atol=1e-12, rtol=0)
    hessian = torch.func.hessian(lambda z: tunable_cross_entropy(z, target, k=0.5, reduction="sum"))(logits)
    assert_close(hessian, torch.func.jacrev(lambda z: pseudo_grad(z, target, 0.5))(logits))


@pytest.mark.parametrize("k", [1 / 64, 1.0, 16.0])
def test_wide_rows_float32_extreme_margins_match_float64(k):
    """The fused route (many classes) keeps the log-space stability: float32 with margins up to 1e4
    is finite and matches float64."""
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(32, 200, generator=g) * 1e3
    logits[::4] += 1e4
    target = torch.randint(0, 200, (32,), generator=g)
    f32 = pseudo_grad(logits, target, k)
    assert torch.isfinite(f32).all()
    assert_close(f32.double(), pseudo_grad(logits.double(), target, k), atol=2e-6, rtol=1e-4)
