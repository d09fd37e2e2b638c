"""Forward+backward time of tunable_cross_entropy against F.cross_entropy on the same inputs.

Prints one row per (device, B, C, k) with both times and their ratio (target: <= 1.5 at
B = 8192, C = 10 on CPU). Run: `python benchmarks/pseudograd_bench.py [--repeats N]`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning OpenMP threads distort timings on 2 cores

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.device import available_devices  # noqa: E402
from core.pseudograd import tunable_cross_entropy  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_pair(fn_a, fn_b, logits: torch.Tensor, target: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Median seconds of one forward + backward of each loss, measured interleaved.

    Alternating a and b step by step means both see the same machine load, so their ratio is
    meaningful even on a shared machine.
    """
    za = logits.clone().requires_grad_()
    zb = logits.clone().requires_grad_()
    for _ in range(5):  # warm-up (and the first compile of the fused kernel)
        fn_a(za, target).backward()
        fn_b(zb, target).backward()
    times_a, times_b = [], []
    for _ in range(repeats):
        for z, fn, times in ((za, fn_a, times_a), (zb, fn_b, times_b)):
            z.grad = None
            _sync(z.device)
            start = time.perf_counter()
            fn(z, target).backward()
            _sync(z.device)
            times.append(time.perf_counter() - start)
    return statistics.median(times_a), statistics.median(times_b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--k", type=float, nargs="+", default=[0.5])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [d for d in available_devices() if d in ("cpu", "cuda")]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, devices {devices}")
    print(f"{'device':<7}{'B':>6}{'C':>6}{'k':>6}{'CE (us)':>11}{'tunable (us)':>14}{'ratio':>8}")
    for name in devices:
        device = torch.device(name)
        for B in (128, 8192):
            for C in (10, 1000):
                g = torch.Generator().manual_seed(0)
                logits = (torch.randn(B, C, generator=g) * 3).to(device)
                target = torch.randint(0, C, (B,), generator=g).to(device)
                for k in args.k:
                    ce, tun = time_pair(
                        F.cross_entropy, lambda z, t: tunable_cross_entropy(z, t, k=k), logits, target, args.repeats
                    )
                    print(f"{name:<7}{B:>6}{C:>6}{k:>6g}{ce * 1e6:>11.1f}{tun * 1e6:>14.1f}{tun / ce:>8.2f}")


if __name__ == "__main__":
    main()
