"""Benchmark of core.playground.LiveSession: milliseconds per advance(10), the unit a live page frame costs.

    .venv/bin/python benchmarks/live_bench.py              # 3 k x 300 points, 1 / 3 / 5 seeds
    .venv/bin/python benchmarks/live_bench.py --repeats 60 --threads 2

Target (issue 17): advance(10) at 3 k x 300 points (one seed) <= 60 ms on the 2-core machine. Prints the
median and the 10th/90th percentiles of --repeats calls per setting, measured interleaved (A, B, C, A, B, C,
...) so that load from other processes on a shared machine hits every setting alike, plus advance(0) (the
snapshot alone: boundaries, pushes, accuracies).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning OpenMP threads distort timings

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import numpy as np
    import torch

    from core.playground import DataConfig, PlaygroundConfig
    from core.playground.live import LiveSession

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40, help="timed calls per setting")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = {f"{seeds} seed{'s' * (seeds > 1)}": LiveSession(PlaygroundConfig(
        data=DataConfig("moons", points=300), ks=(0.25, 1.0, 4.0), seeds=seeds)) for seeds in (1, 3, 5)}
    times: dict[str, list[float]] = {f"{name}, advance({n})": [] for name in cases for n in (10, 0)}
    for session in cases.values():
        session.advance(10)  # warm-up
    for _ in range(args.repeats):
        for name, session in cases.items():
            for n in (10, 0):
                t0 = time.perf_counter()
                session.advance(n)
                times[f"{name}, advance({n})"].append(time.perf_counter() - t0)
    print(f"LiveSession, 3 k x 300 points (moons), {args.threads} torch thread(s), {args.repeats} calls each; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (a shared machine)")
    for name, values in times.items():
        ms = np.array(values) * 1e3
        print(f"  {name:<22} median {statistics.median(ms):6.1f} ms  (p10 {np.percentile(ms, 10):5.1f}, "
              f"p90 {np.percentile(ms, 90):5.1f})" + ("   target <= 60 ms" if name == "1 seed, advance(10)" else ""))


if __name__ == "__main__":
    main()
