"""How far core.estimate is from the truth: max(estimate/actual, actual/estimate) over the presets.

Runs each page preset (the long ones cut down, as named) through the engine on this machine, in a
temporary run store, and prints for each: the estimate from the probe alone, the estimate refined by
the other presets' finished runs (leave-one-out: what a store with some history gives), the measured
wall time, and both ratios. Target: at most 1.5. The machine is shared with other jobs; say so with
the figures.

    python benchmarks/estimate_bench.py            # every preset, about 5-15 min on 2 shared cores
    python benchmarks/estimate_bench.py --quick    # the short presets only
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine.lab import Lab  # noqa: E402
from core.engine.store import RunStore  # noqa: E402
from core.estimate import calibration, estimate_mnist, estimate_study, estimate_toy, refine  # noqa: E402
from core.mnist import DataConfig, TrainConfig  # noqa: E402
from core.mnist import task as mnist_task  # noqa: E402
from core.noise import comparison_configs, toy_configs  # noqa: E402
from core.study import StudyConfig  # noqa: E402
from core.study import run_here as run_study  # noqa: E402
from core.toy import ToyConfig  # noqa: E402
from core.toy import task as toy_task  # noqa: E402

PAPER_KS = (4.0, 2.0, 1.0, 0.5, 0.25, 0.125, 0.0625)


def presets(quick: bool) -> list[tuple[str, str, object]]:
    """(name, kind, what to run): the pages' presets, the long ones cut down (named so)."""
    mnist = lambda hidden, ks, lrs, epochs, n, m: ([TrainConfig(hidden=hidden, k=k, lr=lr, epochs=epochs, momentum=m)
                                                     for k in ks for lr in lrs], DataConfig(n_train=n))
    noise_quick = comparison_configs(["tunable:k=0.25", "tunable:k=0.5", "ce", "gce", "sce", "mae", "unhinged"], [0.4],
                                     seeds=(0, 1), base=TrainConfig(hidden=(256,), epochs=8))
    out = [
        ("toy: Quick look", "toy", ToyConfig(ks=(4.0, 1.0, 0.25, 0.0625), runs=3, n_train=5000, n_val=5000,
                                             n_test=5000, patience=1000)),
        ("noise: Toy 0/20/40%", "toys", toy_configs(["tunable:k=4", "tunable:k=0.25", "tunable:k=0.0625", "ce"],
                                                    [0.0, 0.2, 0.4], (0, 1, 2), ToyConfig(patience=1000,
                                                    n_train=10_000, n_val=10_000, n_test=10_000))),
        ("mnist: Quick", "mnist", mnist((800,), (0.5, 1.0), (0.1,), 3, 10_000, 0.5)),
        ("mnist: Paper 1x800 (10k images, 2 epochs)", "mnist",
         mnist((800,), (0.25, 0.5, 1.0, 2.0), (0.01, 0.03, 0.1, 0.3), 2, 10_000, 0.5)),
        ("noise: Quick (2 of 8 epochs)", "noise",
         ([dataclasses.replace(c, epochs=2) for c in noise_quick],
          DataConfig(n_train=5000, n_val=2000, n_test=10_000, train_eval=5000))),
    ]
    if not quick:
        out += [
            ("toy: Paper protocol", "toy", ToyConfig(ks=PAPER_KS, runs=10, n_train=30_000, n_val=30_000,
                                                     n_test=30_000, patience=3000)),
            ("mnist: Paper 3x800 (5k images, 2 epochs)", "mnist",
             mnist((800, 800, 800), (0.5, 1.0, 2.0), (0.03, 0.1), 2, 5_000, 0.9)),
            ("study: mnist-1layer (1 seed, 6 epochs)", "study",
             StudyConfig.grid(["mnist"], [1], [400], [0.5], ks=[0.25, 0.5, 1.0, 2.0], lrs=[0.1, 0.3, 1.0, 3.0],
                              seeds=[0], epochs=6, patience=4, n_train=10_000, n_val=5_000, n_test=10_000)),
        ]
    return out


def estimate(kind: str, what, cal) -> float:
    if kind == "toy":
        return estimate_toy(what, cal)
    if kind == "toys":
        return sum(estimate_toy(c, cal) for c in what)
    if kind == "study":
        return estimate_study(what, cal=cal)[0]
    return estimate_mnist(*what, cal)


def run(lab: Lab, kind: str, what) -> float:
    start = time.perf_counter()
    if kind == "toy":
        toy_task.run_here(lab, what)
    elif kind == "toys":
        for cfg in what:
            toy_task.run_here(lab, cfg)
    elif kind == "study":
        run_study(lab, what)
    else:
        mnist_task.run_here(lab, *what, kind="noise" if kind == "noise" else "mnist")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the short presets")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="estimate_bench_")
    stores = {}
    base = calibration("cpu")
    print(f"probe: {base.flops_per_s / 1e9:.1f} GFLOP/s; load average {os.getloadavg()[0]:.1f} (shared machine)",
          flush=True)
    rows = []
    for i, (name, kind, what) in enumerate(presets(args.quick)):
        probe_only = estimate(kind, what, base)
        stores[i] = RunStore(Path(work) / f"{i}.sqlite")
        actual = run(Lab(stores[i]), kind, what)
        rows.append((name, kind, what, probe_only, actual))
        print(f"{name:45s} probe-only {probe_only:7.1f} s  actual {actual:7.1f} s  "
              f"ratio {max(probe_only / actual, actual / probe_only):4.2f}", flush=True)
    print("\nrefined by the other presets' finished runs (leave one out):")
    worst = 0.0
    for i, (name, kind, what, _, actual) in enumerate(rows):
        refined = estimate(kind, what, refine(base, *[s for j, s in stores.items() if j != i]))
        ratio = max(refined / actual, actual / refined)
        worst = max(worst, ratio)
        print(f"{name:45s} refined {refined:7.1f} s  actual {actual:7.1f} s  ratio {ratio:4.2f}", flush=True)
    print(f"\nworst ratio, refined: {worst:.2f} (target 1.5); load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
