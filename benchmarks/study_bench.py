"""What a study costs here: seconds per config-epoch by depth, and the CPU presets' wall time.

Prints, for each architecture of the presets (784-400-10 on MNIST, 784-256-10 / 256x3 / 256x5 on
Fashion-MNIST), the measured seconds per config-epoch of a batched group of --configs runs (k and
lr varied, as in a study: training on --n-train images plus evaluation of 1,000 + 5,000 + 5,000
images), the same figure from core.estimate.estimate_mnist (calibrated on this machine), and their
ratio. The first epoch (data loading, kernel compilation) is left out.
Then the MNIST 1-layer preset's wall time: the one recorded in assets/study_mnist_1layer.json by
the run that wrote it, or, with --run-preset, a fresh run of it in a temporary run store, timed
here (about 10-20 minutes on 2 shared cores).

Run: `python benchmarks/study_bench.py [--epochs 3] [--configs 8] [--n-train 10000] [--run-preset]`.
On a shared machine the figures move with the other jobs' load: `uptime` is printed beside them.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning OpenMP threads distort timings on 2 cores

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.mnist import DataConfig, TrainConfig, fit  # noqa: E402
from core.estimate import STARTUP_S, estimate_mnist  # noqa: E402

ARCHS = [("mnist", (400,)), ("fashion-mnist", (256,)), ("fashion-mnist", (256,) * 3), ("fashion-mnist", (256,) * 5)]


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def per_config_epoch(dataset: str, hidden: tuple[int, ...], n_configs: int, epochs: int, n_train: int) -> dict:
    """Measured and estimated seconds per config-epoch for one batched group (first epoch left out)."""
    ks, lrs = (0.25, 0.5, 1.0, 2.0), (0.03, 0.1)
    configs = [TrainConfig(hidden=hidden, k=ks[i % 4], lr=lrs[(i // 4) % 2], seed=i // 8, momentum=0.5,
                           epochs=epochs) for i in range(n_configs)]
    data = DataConfig(dataset=dataset, n_train=n_train, n_val=5_000, n_test=5_000, train_eval=1_000, device="cpu")
    results = fit(configs, data)
    seconds = [h["seconds"] for h in results[0].history[1:]]  # one group: every run shares the epoch time
    measured = sum(seconds) / len(seconds) / n_configs
    estimated = (estimate_mnist(configs, data) - STARTUP_S["cpu"]) / (n_configs * epochs)  # per config-epoch
    return {"measured": measured, "estimated": estimated}


def preset_wall_time(run: bool) -> tuple[float | None, str]:
    """The MNIST 1-layer preset's wall time: recorded in its result file, or timed now (--run-preset)."""
    if not run:
        path = ROOT / "assets" / "study_mnist_1layer.json"
        if not path.exists():
            return None, "no assets/study_mnist_1layer.json yet (run the preset, or pass --run-preset)"
        return json.loads(path.read_text()).get("seconds"), f"recorded in {path.relative_to(ROOT)}"
    from core.engine.lab import Lab
    from core.engine.store import RunStore
    from core.study import PRESETS, run_here as run_study

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run_study(Lab(RunStore(Path(tmp) / "runs.sqlite")), PRESETS["mnist-1layer"].study)
        return time.perf_counter() - start, "timed now, in a temporary run store"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per group (the first is left out)")
    parser.add_argument("--configs", type=int, default=8, help="runs in the batched group")
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--run-preset", action="store_true", help="time a fresh run of the MNIST 1-layer preset")
    args = parser.parse_args()
    print(f"seconds per config-epoch, {args.configs} configs batched, {args.n_train} training images + 11,000 "
          f"evaluated, CPU (load average {load()})")
    print(f"{'architecture':34s} {'measured':>9s} {'estimate':>9s} {'ratio':>6s}")
    for dataset, hidden in ARCHS:
        r = per_config_epoch(dataset, hidden, args.configs, args.epochs, args.n_train)
        arch = f"{dataset} 784-{'-'.join(map(str, hidden))}-10"
        print(f"{arch:34s} {r['measured']:9.3f} {r['estimated']:9.3f} {r['measured'] / r['estimated']:6.2f}", flush=True)
    seconds, how = preset_wall_time(args.run_preset)
    shown = "–" if seconds is None else f"{seconds:.0f} s ({seconds / 60:.1f} min)"
    print(f"\nMNIST 1-layer preset wall time: {shown}, {how} (load average now {load()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
