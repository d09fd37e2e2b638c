"""What running a grid on Ray costs and gains against the in-process executor (core.engine).

Prints:
  (a) Ray start overhead on this machine: `RayExecutor.start()` (ray.init of a local instance),
      then the first event of a one-group grid (a fresh worker: Python, Ray and torch imports),
      then the same grid again (a warm worker);
  (b) a 16-configuration MNIST grid (k x lr, 784-256-10, the real trainer: core.mnist.group_task's
      groups_of / train_group) cut into --groups groups of batched runs, on LocalExecutor (one group
      after another, torch using every core) and on RayExecutor (the groups side by side, one CPU
      and one torch thread each, on a Ray instance started beforehand), alternating --rounds times;
      wall time of each and the ratio Ray / local per round.

Both grids use the same configurations, data and seeds. On a 2-core machine shared with other
work the figures move by tens of percent from run to run: read the per-round ratios together.

Run: `python benchmarks/engine_bench.py [--n-train 20000] [--epochs 2] [--groups 4] [--rounds 3]
[--address HOST:PORT]` (an address joins a cluster instead of starting a local instance for (b)).
Needs Ray: `pip install -r requirements-cluster.txt`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning OpenMP threads distort timings on 2 cores
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from core.engine.executors import Epoch, Group, GroupEnded, LocalExecutor  # noqa: E402
from core.engine.ray_executor import RayExecutor  # noqa: E402
from core.mnist.config import DataConfig, TrainConfig  # noqa: E402
from core.mnist.group_task import groups_of  # noqa: E402


def one_epoch(spec, cancel):
    """A trivial group task: one epoch, no work (sent to the workers by value: this is __main__)."""
    yield Epoch(0, 1, {"pid": os.getpid()})


def timed_run(executor, groups) -> tuple[float, float, dict]:
    """(seconds to the first event, seconds to the end, events counted by type) of one grid."""
    start, first, counts = time.perf_counter(), [], {}

    def emit(gi, event):
        if not first:
            first.append(time.perf_counter() - start)
        counts[type(event).__name__] = counts.get(type(event).__name__, 0) + 1
        if isinstance(event, GroupEnded):
            raise RuntimeError(f"group {gi} ended {event.status}: {event.error}")

    executor.run(groups, emit, threading.Event())
    return first[0], time.perf_counter() - start, counts


def start_overhead() -> None:
    ray_executor = RayExecutor()
    t0 = time.perf_counter()
    ray_executor.start()
    started = time.perf_counter() - t0
    trivial = [Group(one_epoch, None, size=1)]
    first, _, _ = timed_run(ray_executor, trivial)
    warm, _, _ = timed_run(ray_executor, trivial)
    ray_executor.close()
    print(f"(a) Ray start: ray.init {started:.2f} s, then first event {first:.2f} s "
          f"(total {started + first:.2f} s); a second grid's first event {warm:.3f} s")


def grid(args) -> list[Group]:
    configs = [TrainConfig(hidden=(256,), k=k, lr=lr, epochs=args.epochs, seed=0)
               for k in (0.25, 0.5, 1.0, 2.0) for lr in (0.03, 0.1, 0.3, 1.0)]
    data = DataConfig(n_train=args.n_train, n_val=2000, n_test=2000, train_eval=2000, device="cpu")
    groups, _ = groups_of(configs, data, max_models=len(configs) // args.groups)
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=20_000, help="training images")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--groups", type=int, default=4, help="groups the 16 configurations are cut into")
    parser.add_argument("--rounds", type=int, default=3, help="local/Ray alternations")
    parser.add_argument("--address", default=None, help="a Ray cluster for (b); default: a local instance")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads")
    start_overhead()

    groups = grid(args)
    print(f"(b) 16 MNIST configurations as {len(groups)} groups of {groups[0].size}, "
          f"{args.n_train} training images, {args.epochs} epochs")
    local, ray_executor = LocalExecutor(), RayExecutor(address=args.address)
    ray_executor.start()
    ratios = []
    for rnd in range(1, args.rounds + 1):
        _, local_s, counts = timed_run(local, groups)
        _, ray_s, ray_counts = timed_run(ray_executor, groups)
        assert counts.get("Epoch") == ray_counts.get("Epoch") == 16 * args.epochs, (counts, ray_counts)
        ratios.append(ray_s / local_s)
        print(f"    round {rnd}: local {local_s:6.1f} s   ray {ray_s:6.1f} s   ray/local {ray_s / local_s:.2f}"
              + ("   (ray: fresh workers)" if rnd == 1 else ""))
    ray_executor.close()
    print(f"    ray/local median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
