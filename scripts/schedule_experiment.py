"""Does a k that changes during training beat a constant k? Fashion-MNIST, 3 hidden layers.

What: constant k = 1/4, 1, 2 against a schedule from 1/4 to 2 (linear:1/4:2: insensitive to
large errors first, focused on them last, the paper's future-work idea) and its reverse
(linear:2:1/4). Every choice trains at each lr of a small grid for every seed (one batched group,
core.mnist.fit); its lr is the one with the lowest mean final validation error over the seeds.
Prints a Markdown table: test error mean ± std over seeds, and the paired difference to k = 1
(same seeds) with a 95% t interval. Writes the per-run numbers as JSON with --json.

Why: issue 16, item 4; the README's "k that changes during training" section holds the table.

Run (about 24 CPU-minutes; 81 min of wall time on 2 cores shared with five other jobs):

    python scripts/schedule_experiment.py --json assets/schedule_experiment.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.mnist import DataConfig, TrainConfig, fit  # noqa: E402
from core.schedule import parse_schedule  # noqa: E402

CHOICES = ("1/4", "1", "2", "linear:1/4:2", "linear:2:1/4")  # each a constant k or a schedule
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def _config(choice: str, lr: float, seed: int, args) -> TrainConfig:
    schedule = parse_schedule(choice)
    method = {"k": schedule(0.0)} if schedule.is_constant else {"k_schedule": str(schedule)}
    return TrainConfig(hidden=(args.width,) * 3, lr=lr, momentum=0.5, batch_size=128, epochs=args.epochs,
                       seed=seed, **method)


def _interval(diffs: list[float]) -> tuple[float, float]:
    """Mean of paired differences and the half-width of its 95% t interval."""
    mean = statistics.fmean(diffs)
    half = T_975[len(diffs) - 1] * statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    return mean, half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--json", default=None, help="write every run's final metrics here")
    args = parser.parse_args()
    data = DataConfig(dataset="fashion-mnist", n_train=args.n_train, n_val=5_000, n_test=10_000, train_eval=1_000)
    grid = [(c, lr, s) for c in CHOICES for lr in args.lrs for s in args.seeds]
    start = time.perf_counter()
    results = fit([_config(c, lr, s, args) for c, lr, s in grid], data)
    seconds = time.perf_counter() - start
    runs = [{"choice": c, "lr": lr, "seed": s, "status": r.status, **{k: r.final.get(k) for k in
             ("val_error", "test_error", "test_ce")}} for (c, lr, s), r in zip(grid, results)]
    best = {}
    for c in CHOICES:  # lr with the lowest mean final validation error over seeds
        mean_val = {lr: statistics.fmean(r["val_error"] for r in runs if r["choice"] == c and r["lr"] == lr)
                    for lr in args.lrs}
        lr = min(mean_val, key=mean_val.get)
        best[c] = {r["seed"]: r for r in runs if r["choice"] == c and r["lr"] == lr}
    print(f"Fashion-MNIST, 3 x {args.width} ReLU, {args.n_train:,} training images, {args.epochs} epochs, "
          f"lr from {args.lrs} on validation, seeds {args.seeds}; {len(grid)} runs in {seconds / 60:.1f} min\n")
    print("| k | lr | test error (%) | minus k = 1 (points, 95% interval) |")
    print("|---|---|---|---|")
    for c in CHOICES:
        errors = [100 * best[c][s]["test_error"] for s in args.seeds]
        diff, half = _interval([100 * (best[c][s]["test_error"] - best["1"][s]["test_error"]) for s in args.seeds])
        label = parse_schedule(c).label.removeprefix("k ")
        paired = "—" if c == "1" else f"{diff:+.2f} ± {half:.2f}"
        lr = next(iter(best[c].values()))["lr"]
        print(f"| {label} | {lr:g} | {statistics.fmean(errors):.2f} ± {statistics.stdev(errors):.2f} | {paired} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "seconds": seconds, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
