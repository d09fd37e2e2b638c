"""Epoch time of the MNIST training loop (core.mnist) against simpler loops, for a 784-800-10 MLP at batch 128.

Prints, per device (CPU always, CUDA when present), the median seconds per training epoch
(no evaluation pass) of:
  (a) core.mnist's loop (whole dataset on the device, seeded index batches, batched SGD)
      with tunable_cross_entropy (k = 0.5)
  (b) the same loop with F.cross_entropy                        target: a / b <= 1.10
  (c) a pytorch/examples-style loop: DataLoader(shuffle=True) + nn.Sequential + torch.optim.SGD
      + F.cross_entropy + clip_grad_norm_                       (ratio a / c reported)
  (d) 8 configurations (different k, lr, seed) in one batched model vs the same 8 trained one
      after another: throughput ratio (CPU: whatever batching gives; GPU target >= 4x)
and the cost of one evaluation pass (train subset 10k + val 10k + test 10k) for one model.
On CUDA the target for (a) is <= 0.2 s per epoch.

Variants are timed interleaved (a, b, c, a, b, c, ...), so they see the same machine load;
ratios are meaningful on a shared machine even when absolute times are noisy.

Run: `python benchmarks/mnist_bench.py [--epochs 2] [--fraction 1.0] [--models 8] [--threads N]`
(--fraction 0.2 trains on the first 20% of the 50,000 training images, for a quick look;
per-epoch times are then scaled to the full 50,000 and marked as such).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.data import MnistSplit, load_split  # noqa: E402
from core.device import available_devices  # noqa: E402
from core.mlp import make_mlp  # noqa: E402
from core.mnist import BatchTrainer, TrainConfig  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _subset(split: MnistSplit, n_train: int) -> MnistSplit:
    return MnistSplit(split.train_x[:n_train], split.train_y[:n_train], split.val_x, split.val_y,
                      split.test_x, split.test_y, split.source)


class ConventionalLoop:
    """(c): the loop of pytorch/examples/mnist, with the paper's clipping, on the same tensors."""

    def __init__(self, split: MnistSplit, config: TrainConfig) -> None:
        self.device = split.train_x.device
        self.loader = DataLoader(TensorDataset(split.train_x, split.train_y), batch_size=config.batch_size,
                                 shuffle=True, generator=torch.Generator(device="cpu").manual_seed(config.seed))
        torch.manual_seed(config.seed)
        self.model = make_mlp(config.hidden, config.activation, seed=config.seed).to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=config.momentum)
        self.clip = config.clip_norm

    def train_one_epoch(self, epoch: int) -> None:
        self.model.train()
        for data, target in self.loader:
            data, target = data.to(self.device), target.to(self.device)
            self.optimizer.zero_grad()
            loss = F.cross_entropy(self.model(data), target)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
            self.optimizer.step()


def _timed(fn, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def bench_device(device: torch.device, args: argparse.Namespace) -> None:
    full = load_split(device=device)
    n = int(round(args.fraction * len(full.train_x)))
    split = _subset(full, n)
    scale = len(full.train_x) / n  # seconds per epoch of the full 50,000
    note = "" if n == len(full.train_x) else f" (measured on {n} images, scaled x{scale:.2f} to 50,000)"
    print(f"\n== {device}: 784-800-10 relu, batch 128, {n} training images{note}")

    tunable = TrainConfig(k=0.5, lr=0.05, epochs=args.epochs)
    ce = TrainConfig(objective="ce", lr=0.05, epochs=args.epochs)
    grid = [TrainConfig(k=k, lr=lr, seed=s, epochs=args.epochs)
            for k, lr, s in zip((0.25, 0.5, 1.0, 2.0) * 4, (0.02, 0.05) * 8, range(16))][: args.models]

    # warm-up on a small slice: the fused kernel's first compile, allocator, thread pools
    warm = _subset(full, 2048)
    for cfgs in ([tunable], [ce], grid, [grid[0]]):
        BatchTrainer(cfgs, warm).train_one_epoch(1)
    ConventionalLoop(warm, ce).train_one_epoch(1)

    a, b, c = BatchTrainer([tunable], split), BatchTrainer([ce], split), ConventionalLoop(split, ce)
    times: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    for epoch in range(1, args.epochs + 1):
        times["a"].append(_timed(lambda: a.train_one_epoch(epoch), device) * scale)
        times["b"].append(_timed(lambda: b.train_one_epoch(epoch), device) * scale)
        times["c"].append(_timed(lambda: c.train_one_epoch(epoch), device) * scale)
    eval_s = _timed(lambda: a.evaluate_epoch({"train_loss": torch.zeros(1, device=device),
                                               "grad_norm": torch.zeros(1, device=device)}), device)
    med = {key: statistics.median(v) for key, v in times.items()}
    print(f"(a) core.mnist loop, tunable_cross_entropy k=0.5 : {med['a']:7.3f} s/epoch   "
          f"(runs: {', '.join(f'{t:.2f}' for t in times['a'])})")
    print(f"(b) core.mnist loop, F.cross_entropy             : {med['b']:7.3f} s/epoch   "
          f"ratio a/b = {med['a'] / med['b']:.3f}  (target <= 1.10: {'met' if med['a'] / med['b'] <= 1.10 else 'NOT met'})")
    print(f"(c) DataLoader + nn.Sequential + optim.SGD + CE  : {med['c']:7.3f} s/epoch   "
          f"ratio a/c = {med['a'] / med['c']:.3f}")
    print(f"    evaluation pass (10k train + 10k val + 10k test), 1 model: {eval_s:.3f} s")
    if device.type == "cuda":
        print(f"    CUDA epoch target <= 0.2 s: {'met' if med['a'] <= 0.2 else 'NOT met'}")

    # (d) M configurations batched vs one after another, interleaved epoch by epoch
    batched = BatchTrainer(grid, split)
    alone = [BatchTrainer([cfg], split) for cfg in grid]
    t_batched, t_alone = [], []
    for epoch in range(1, args.epochs + 1):
        t_batched.append(_timed(lambda: batched.train_one_epoch(epoch), device) * scale)
        t_alone.append(sum(_timed(lambda: t.train_one_epoch(epoch), device) for t in alone) * scale)
    tb, ta = statistics.median(t_batched), statistics.median(t_alone)
    target = ">= 4x on GPU" if device.type == "cuda" else "no target on CPU"
    print(f"(d) {len(grid)} configs batched: {tb:7.3f} s/epoch; one after another: {ta:7.3f} s/epoch; "
          f"throughput ratio {ta / tb:.2f}x ({target})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per variant (median reported)")
    parser.add_argument("--fraction", type=float, default=1.0, help="fraction of the 50,000 training images")
    parser.add_argument("--models", type=int, default=8, help="configurations batched in (d)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", nargs="+", default=None, help="devices to time (default: cpu and cuda if present)")
    args = parser.parse_args()
    if not 0 < args.fraction <= 1:
        parser.error("--fraction must be in (0, 1]")
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or [d for d in available_devices() if d in ("cpu", "cuda")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, load average {load:.2f}, "
          f"devices {devices}")
    for name in devices:
        bench_device(torch.device(name), args)


if __name__ == "__main__":
    main()
