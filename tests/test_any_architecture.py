"""tunable_cross_entropy as a drop-in beyond MLPs: a small CNN on MNIST images and a small sequence
model with (N, C, T) logits and padded (ignore_index) positions. At k = 1 training equals
F.cross_entropy's step for step; at other k it still learns."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from core.pseudograd import TunableCrossEntropyLoss, tunable_cross_entropy

PAD = -100  # F.cross_entropy's default ignore_index
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models
ONE = torch.tensor(1.0)  # k = 1 as a tensor takes the pseudo-gradient path (a Python 1 calls F.cross_entropy itself)


def _cnn() -> nn.Module:  # float32: CPU convolutions in float64 are about 80x slower
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 7 * 7, 10))


class _Tagger(nn.Module):
    """Embedding + 1-D convolution over time: (N, T) tokens -> (N, C, T) logits, as a tagger/LM head gives."""

    def __init__(self, vocab: int = 12, classes: int = 5) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.conv = nn.Conv1d(8, 16, 3, padding=1)
        self.head = nn.Conv1d(16, classes, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(self.embed(tokens).transpose(1, 2))))  # (N, C, T)


def _mnist_images(n: int):
    from core.data import MnistUnavailableError, Subset, load_split

    try:
        split = load_split(subset=Subset(n, 1, 1), device="cpu")
    except MnistUnavailableError as exc:
        pytest.skip(f"MNIST is not available here: {exc}")
    return split.train_x.view(-1, 1, 28, 28), split.train_y


def _sequences(n: int = 32, length: int = 10, seed: int = 0):
    """Token sequences of varying length, padded; the tag of a token is its value mod 5."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, 12, (n, length), generator=g)
    lengths = torch.randint(3, length + 1, (n,), generator=g)
    pad = torch.arange(length)[None] >= lengths[:, None]
    tags = (tokens % 5).masked_fill(pad, PAD)
    return tokens.masked_fill(pad, 0), tags


def _train(model: nn.Module, x, y, loss_fn, steps: int) -> list[dict[str, torch.Tensor]]:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    states = []
    for step in range(steps):
        batch = slice(16 * (step % 4), 16 * (step % 4) + 16)
        optimizer.zero_grad()
        loss_fn(model(x[batch]), y[batch]).backward()
        optimizer.step()
        states.append({n: p.detach().clone() for n, p in model.named_parameters()})
    return states


def _same_steps(make, x, y, ours, reference, steps: int = 6, atol: float = 1e-10) -> None:
    torch.manual_seed(0)
    a = make()
    torch.manual_seed(0)
    b = make()
    for sa, sb in zip(_train(a, x, y, ours, steps), _train(b, x, y, reference, steps)):
        for name in sa:
            assert_close(sa[name], sb[name], atol=atol, rtol=0)


def test_cnn_on_mnist_k1_matches_cross_entropy_step_for_step():
    """A small CNN on MNIST: SGD with tunable_cross_entropy(k = 1) visits the same weights as with F.cross_entropy
    (float32, to rounding)."""
    x, y = _mnist_images(64)
    _same_steps(_cnn, x, y, lambda z, t: tunable_cross_entropy(z, t, k=ONE), F.cross_entropy, atol=1e-6)


def test_sequence_model_with_padding_k1_matches_cross_entropy_step_for_step():
    """(N, C, T) logits with ignore_index padding: the module at k = 1 trains exactly as nn.CrossEntropyLoss."""
    tokens, tags = _sequences(64)
    _same_steps(lambda: _Tagger().double(), tokens, tags, TunableCrossEntropyLoss(k=ONE), nn.CrossEntropyLoss())


@pytest.mark.parametrize("k", [0.5, 2.0])
def test_sequence_model_learns_at_other_k(k):
    """At k != 1 the padded sequence model still learns its tags (loss halves, accuracy on real tokens > 90%)."""
    tokens, tags = _sequences(64)
    torch.manual_seed(0)
    model = _Tagger()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    loss_fn = TunableCrossEntropyLoss(k=k)
    with torch.no_grad():
        before = F.cross_entropy(model(tokens), tags).item()
    for _ in range(60):
        optimizer.zero_grad()
        loss_fn(model(tokens), tags).backward()
        optimizer.step()
    with torch.no_grad():
        logits = model(tokens)
        real = tags != PAD
        accuracy = (logits.argmax(1)[real] == tags[real]).float().mean().item()
        after = F.cross_entropy(logits, tags).item()
    assert after < before / 2 and accuracy > 0.9
