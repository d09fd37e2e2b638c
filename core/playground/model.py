"""K small MLPs of one architecture stacked into one module, so every k trains in one pass.

What: `StackedMLP(num_models, hidden, activation)` holds weights (K, in, out) and biases
(K, 1, out) as nn.Parameters and runs all K models with torch.baddbmm. Every model starts
from the SAME weights: `core.mlp.init_params` (the paper's init: Glorot uniform hidden
layers, zero biases, and a zero softmax layer), drawn once from `seed` and copied K times.

Why: training K models as one does one batched matmul per layer instead of K small ones,
and the models share no parameters, so each follows exactly the trajectory it would follow
alone (tests/test_playground.py checks this against separate nn.Sequential models).
The zero softmax layer matters for the demo: every panel starts as the same blank 50/50
field, so no point (in particular no far-away outlier) starts out already "fitted" by a
random extrapolation of the initial weights; whatever the boundary does later, training did.

How:
    model = StackedMLP(3, (16, 16), "tanh", seed=0)
    model = StackedMLP(6, (16, 16), "tanh", seeds=(0, 1))  # models 0-2 start from seed 0, 3-5 from seed 1
    logits = model(x)              # x (N, 2) shared by all models -> (3, N, 2)
    net = model.to_sequential(1)   # model 1 alone, as a plain nn.Sequential
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from core.mlp import ACTIVATIONS, init_params



class StackedMLP(nn.Module):
    """K MLPs n_in -> hidden... -> n_out with identical initial weights, run as one batched model."""

    def __init__(self, num_models: int, hidden: Sequence[int], activation: str = "tanh", *, seed: int = 0,
                 seeds: Sequence[int] | None = None, n_in: int = 2, n_out: int = 2,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> None:
        """`seeds` (optional): consecutive equal blocks of the models start from init_params(seed=seeds[i])."""
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        seeds = (seed,) if seeds is None else tuple(seeds)
        if num_models % len(seeds):
            raise ValueError(f"{num_models} models do not split into {len(seeds)} equal blocks of seeds")
        per_seed = num_models // len(seeds)
        self.activation = activation
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        inits = [init_params(tuple(hidden), seed=s, n_in=n_in, n_out=n_out) for s in seeds]
        for layer in zip(*inits):  # per layer: one (weight (in, out), bias (out,)) per seed
            stacked_w = torch.cat([w.expand(per_seed, *w.shape) for w, _ in layer])  # (K, in, out)
            stacked_b = torch.cat([b.expand(per_seed, 1, b.shape[0]) for _, b in layer])  # (K, 1, out)
            self.weights.append(nn.Parameter(stacked_w.to(device=device, dtype=dtype)))
            self.biases.append(nn.Parameter(stacked_b.to(device=device, dtype=dtype)))

    @property
    def num_models(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: Tensor, models: Tensor | None = None) -> Tensor:
        """Logits (K, N, out) from x (N, in), shared by all models, or per-model x (K, N, in).
        `models` (J,) int: run only those models (logits (J, N, out))."""
        act = ACTIVATIONS[self.activation][0]
        count = self.num_models if models is None else len(models)
        h = x.expand(count, *x.shape) if x.dim() == 2 else x  # (K, N, in)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if models is not None:
                w, b = w[models], b[models]
            h = torch.baddbmm(b, h, w)  # (K, N, out)
            if i < last:
                h = act(h)
        return h

    @torch.no_grad()
    def to_sequential(self, m: int) -> nn.Sequential:
        """Model m as a standalone nn.Sequential of Linear and activation layers (same dtype and device)."""
        layers: list[nn.Module] = []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            linear = nn.Linear(w.shape[1], w.shape[2], dtype=w.dtype, device=w.device)
            linear.weight.copy_(w[m].T)  # nn.Linear stores (out, in)
            linear.bias.copy_(b[m, 0])
            layers.append(linear)
            if i < len(self.weights) - 1:
                layers.append(ACTIVATIONS[self.activation][1]())
        return nn.Sequential(*layers)
