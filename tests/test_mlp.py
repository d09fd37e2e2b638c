"""Tests for core.mlp: the paper's initialization, the batched MLP and the batched SGD."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from core.mlp import BatchedMLP, BatchedSGD, init_params, make_mlp


def test_init_glorot_hidden_zero_biases_zero_output_layer():
    """Hidden weights are Glorot uniform (within and filling +-sqrt(6/(fan_in+fan_out))), all biases and the output weights are 0."""
    params = init_params((300, 200), seed=3)
    sizes = [(784, 300), (300, 200), (200, 10)]
    assert [tuple(w.shape) for w, _ in params] == sizes
    for (w, b), (fan_in, fan_out) in zip(params[:-1], sizes):
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert w.abs().max() <= bound
        assert w.abs().max() > 0.99 * bound  # uniform over the whole range, not a narrower one
        assert abs(w.var().item() - bound**2 / 3) < 0.03 * bound**2 / 3  # variance of U(-a, a)
        assert abs(w.mean().item()) < 0.01 * bound
        assert torch.count_nonzero(b) == 0
    w_out, b_out = params[-1]
    assert torch.count_nonzero(w_out) == 0 and torch.count_nonzero(b_out) == 0


def test_init_depends_on_seed_only():
    """The same seed gives identical weights; another seed gives different ones."""
    a, b, c = (init_params((50,), seed=s) for s in (1, 1, 2))
    assert torch.equal(a[0][0], b[0][0])
    assert not torch.equal(a[0][0], c[0][0])


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu"])
def test_batched_forward_matches_sequential(activation):
    """Model m of a BatchedMLP computes what make_mlp(seed_m) / to_sequential(m) computes, per-model and shared input."""
    torch.manual_seed(0)
    model = BatchedMLP.from_seeds((20, 15), activation, seeds=[4, 5, 6], n_in=12, n_out=7)
    with torch.no_grad():  # non-zero output layer so the outputs are informative
        model.weights[-1].normal_()
        model.biases[-1].normal_()
        model.biases[0].normal_()
    x = torch.randn(3, 9, 12)
    shared = torch.randn(9, 12)
    with torch.no_grad():
        out, out_shared = model(x), model(shared)
        for m in range(3):
            net = model.to_sequential(m)
            torch.testing.assert_close(out[m], net(x[m]))
            torch.testing.assert_close(out_shared[m], net(shared))
    fresh = make_mlp((20, 15), activation, seed=5, n_in=12, n_out=7)
    torch.testing.assert_close(fresh[0].weight, model.weights[0][1].detach().T)


def test_no_hidden_layer_is_linear_softmax_model():
    """hidden=() is a single linear layer (multinomial logistic regression), initialized to zero."""
    model = BatchedMLP.from_seeds((), seeds=[0, 1])
    assert len(model.weights) == 1 and torch.count_nonzero(model.weights[0]) == 0
    assert model(torch.rand(5, 784)).shape == (2, 5, 10)


def test_batched_sgd_matches_torch_sgd_with_clipping_per_model():
    """BatchedSGD equals clip_grad_norm_ + torch.optim.SGD run on each model alone, with per-model lr, momentum, wd and clip."""
    torch.manual_seed(0)
    lr, momentum, wd, clip = [0.1, 0.05, 0.2], [0.5, 0.9, 0.0], [0.0, 1e-2, 0.0], [100.0, 0.3, None]
    model = BatchedMLP.from_seeds((16,), "tanh", seeds=[0, 1, 2], n_in=8, n_out=4)
    nets = [model.to_sequential(m) for m in range(3)]
    optimizer = BatchedSGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=wd, clip_norm=clip)
    refs = [torch.optim.SGD(net.parameters(), lr=lr[m], momentum=momentum[m], weight_decay=wd[m])
            for m, net in enumerate(nets)]
    clipped = 0
    for _ in range(6):
        x, y = torch.randn(3, 10, 8) * 3, torch.randint(0, 4, (3, 10))
        losses = torch.stack([nn.functional.cross_entropy(model(x)[m], y[m]) for m in range(3)])
        optimizer.zero_grad()
        losses.sum().backward()
        optimizer.step()
        for m, (net, ref) in enumerate(zip(nets, refs)):
            ref.zero_grad()
            nn.functional.cross_entropy(net(x[m]), y[m]).backward()
            if clip[m] is not None:
                norm = nn.utils.clip_grad_norm_(net.parameters(), clip[m])
                clipped += int(norm > clip[m])
            ref.step()
    assert clipped >= 3  # the clipping branch was exercised
    for m, net in enumerate(nets):
        got = model.to_sequential(m)
        for p, q in zip(got.parameters(), net.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_keep_drops_models_and_their_optimizer_state():
    """keep(index) leaves exactly the chosen models, with their weights, momentum buffers and hyper-parameters."""
    model = BatchedMLP.from_seeds((6,), seeds=[0, 1, 2], n_in=5, n_out=3)
    optimizer = BatchedSGD(model.parameters(), lr=[1.0, 2.0, 3.0], momentum=0.5)
    model(torch.randn(3, 4, 5)).sum().backward()
    optimizer.step()
    before = model.weights[0][2].detach().clone()
    buffer = optimizer.buffers[0][2].clone()
    index = torch.tensor([2, 0])
    model.keep(index)
    optimizer.keep(index, model.parameters())
    assert model.num_models == 2
    assert torch.equal(model.weights[0][0], before) and torch.equal(optimizer.buffers[0][0], buffer)
    assert optimizer.lr.tolist() == [3.0, 1.0]
    assert all(p.is_leaf and p.requires_grad for p in model.parameters())


def test_bad_architecture_raises():
    """Non-positive widths and unknown activations raise ValueError naming the choices."""
    with pytest.raises(ValueError, match="positive"):
        init_params((0,))
    with pytest.raises(ValueError, match="relu"):
        make_mlp((10,), "swish")


@pytest.mark.parametrize("text,widths", [("800", (800,)), ("400,400", (400, 400)), (" 400 400 , 10 ", (400, 400, 10))])
def test_parse_widths_reads_commas_or_spaces(text, widths):
    """Hidden widths typed with commas or spaces give the same architecture."""
    from core.mlp import parse_widths

    assert parse_widths(text) == widths


@pytest.mark.parametrize("text", ["", "abc", "0", "800,-1", "9000", "1 2 3 4 5 6 7 8 9"])
def test_parse_widths_rejects_bad_text(text):
    """Empty, non-numeric, non-positive, too wide or too deep is a ValueError naming the rule."""
    from core.mlp import parse_widths

    with pytest.raises(ValueError, match="hidden widths"):
        parse_widths(text)
