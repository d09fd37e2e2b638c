"""Forward+backward time and peak memory of tunable_cross_entropy against F.cross_entropy.

Prints one row per case (device, logits shape, k, extra arguments) with both median times,
their ratio and, on the CPU, the peak memory each adds during one forward+backward in units of
one logits-sized buffer. Targets (issue 16): ratio <= 1.1 at (128, 10) and <= 1.3 at (8192, 10),
(128, 1000) and (8192, 1000); peak memory within one buffer of F.cross_entropy's; the language-
model shape (4096, 32000) completes (--lm). The two losses are timed interleaved (A, B, A, B, ...)
so that both see the same load on a shared machine.

Run: `python benchmarks/pseudograd_bench.py [--repeats N] [--k 0.5 1] [--lm] [--threads T]`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning OpenMP threads distort timings on 2 cores

import argparse
import ctypes
import gc
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.device import available_devices  # noqa: E402
from core.pseudograd import tunable_cross_entropy  # noqa: E402

# (shape of the logits, extra keyword arguments): the four sizes, a sequence model's (N, C, T)
# logits with padding, and class weights with ignored positions
CASES = [
    ((128, 10), {}),
    ((8192, 10), {}),
    ((128, 1000), {}),
    ((8192, 1000), {}),
    ((64, 1000, 32), {"ignore_index": -100}),
    ((8192, 1000), {"weight": True, "ignore_index": 0}),
]
LM_CASE = ((4096, 32000), {})


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _inputs(shape, extra, device):
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(*shape, generator=g) * 3).to(device)
    target_shape = (shape[0], *shape[2:])
    target = torch.randint(0, shape[1], target_shape, generator=g)
    if "ignore_index" in extra:  # a tenth of the positions are padding
        target[torch.rand(target_shape, generator=g) < 0.1] = extra["ignore_index"]
    kwargs = dict(extra)
    if kwargs.get("weight"):
        kwargs["weight"] = torch.rand(shape[1], generator=g).to(device) + 0.5
    return logits, target.to(device), kwargs


def time_pair(fn_a, fn_b, logits, target, repeats: int) -> tuple[float, float]:
    """Median seconds of one forward + backward of each loss, measured interleaved."""
    za = logits.clone().requires_grad_()
    zb = logits.clone().requires_grad_()
    for _ in range(3):  # warm-up
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


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _fixed_mmap_threshold() -> None:
    """glibc: serve every large block by mmap, so a freed buffer leaves the resident set at once
    (its default raises the threshold after a free, and RSS then keeps freed buffers)."""
    ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD = 128 KiB, fixed


def peak_buffers(fn, logits, target) -> float:
    """Peak resident memory one forward + backward adds (the gradient included), in logits-sized
    buffers (Linux: VmHWM after resetting it through /proc/self/clear_refs)."""
    z = logits.clone().requires_grad_()
    fn(z, target).backward()  # warm-up: allocator pools, lazy inits
    z.grad = None
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current RSS
    base = _rss_kib("VmRSS")
    fn(z, target).backward()
    peak = _rss_kib("VmHWM")
    return (peak - base) * 1024 / (logits.numel() * logits.element_size())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--k", type=float, nargs="+", default=[0.5])
    parser.add_argument("--lm", action="store_true", help="add the language-model shape (4096, 32000)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    _fixed_mmap_threshold()
    devices = [d for d in available_devices() if d in ("cpu", "cuda")]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, devices {devices}")
    print(f"{'device':<7}{'logits':>16}{'k':>6}  {'arguments':<22}{'CE (us)':>10}{'tunable (us)':>14}{'ratio':>7}"
          f"{'CE mem':>8}{'tun mem':>9}")
    cases = CASES + ([LM_CASE] if args.lm else [])
    for name in devices:
        device = torch.device(name)
        for shape, extra in cases:
            logits, target, kwargs = _inputs(shape, extra, device)
            repeats = max(5, args.repeats // 20) if logits.numel() > 10**7 else args.repeats
            for k in args.k:
                def ce(z, t):
                    return F.cross_entropy(z, t, **kwargs)

                def tunable(z, t):
                    return tunable_cross_entropy(z, t, **kwargs, k=k)

                t_ce, t_tun = time_pair(ce, tunable, logits, target, repeats)
                mem = (f"{peak_buffers(ce, logits, target):>8.1f}{peak_buffers(tunable, logits, target):>9.1f}"
                       if name == "cpu" else "")
                described = ", ".join(f"{a}={'w' if a == 'weight' else v}" for a, v in extra.items()) or "-"
                print(f"{name:<7}{str(tuple(shape)):>16}{k:>6g}  {described:<22}{t_ce * 1e6:>10.0f}"
                      f"{t_tun * 1e6:>14.0f}{t_tun / t_ce:>7.2f}{mem}", flush=True)


if __name__ == "__main__":
    main()
