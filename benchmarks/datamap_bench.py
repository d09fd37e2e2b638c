"""Cost of the example lens: recording overhead per epoch, and how fast a recorded launch loads.

    .venv/bin/python benchmarks/datamap_bench.py [--n-train 10000] [--hidden 800] [--ks 0.25 0.5 1 2]
        [--repeats 5] [--threads 2]

1. Recording overhead: one BatchTrainer (all k of a group at once, MNIST) trains with the recorder
   switched on and off every 5 minibatches (A B B A ...), and each mode's time per epoch is
   compared; the time spent inside the recorder is measured too. Target: at most 10% of an epoch.
2. Loading: 4 run files of 50,000 examples x 20 epochs (synthetic values, the real format) are
   written, then read and combined into one Dynamics (what the page does), and the combined
   OUT.npz is loaded. Target: under one second.
The CPU may be shared with other work: only the interleaved ratio is meaningful, not absolute times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from core.data import Subset, load_split  # noqa: E402
from core.datamap.io import Dynamics, RunDynamics, combine, read_run, write_run  # noqa: E402
from core.datamap.recording import DynamicsRecording  # noqa: E402
from core.mnist import BatchTrainer, TrainConfig  # noqa: E402


def recording_overhead(n_train: int, hidden: int, ks: list[float], repeats: int) -> tuple[float, float, float]:
    """Seconds per epoch (without, with) recording and the seconds per epoch spent inside the recorder.

    On a shared CPU whole epochs drift too much to compare, so the recorder is switched on and off
    every 5 minibatches (A B B A ...) within each of `repeats` epochs, and each mode's seconds per step
    are scaled to a whole epoch; end_epoch's time counts for "with". The time inside the recorder
    (on_batch + end_epoch, timed around the calls) is the added work itself, free of that noise."""
    split = load_split(subset=Subset(n_train, 100, 100), device="cpu")
    configs = [TrainConfig(hidden=(hidden,), k=k, lr=0.03, momentum=0.9, seed=0) for k in ks]
    trainer = BatchTrainer(configs, split, train_eval=100)
    steps = trainer.steps_per_epoch
    with tempfile.TemporaryDirectory() as tmp:
        recorder = DynamicsRecording(tmp, token="bench")(trainer, split)  # as a launch: files saved every epoch
        trainer.train_one_epoch(1)  # warm-up
        inside = [0.0]

        def timed_on_batch(*args) -> None:
            start = time.perf_counter()
            recorder.on_batch(*args)
            inside[0] += time.perf_counter() - start

        seconds = {False: 0.0, True: 0.0}
        counts = {False: 0, True: 0}
        for epoch in range(2, 2 + repeats):
            for n, first in enumerate(range(0, steps, 5)):
                record = (n % 4) in (1, 2)  # A B B A A B B A ...
                trainer.observe = timed_on_batch if record else None
                part = range(first, min(first + 5, steps))
                start = time.perf_counter()
                trainer.train_one_epoch(epoch, steps=part)
                seconds[record] += time.perf_counter() - start
                counts[record] += len(part)
            start = time.perf_counter()
            recorder.end_epoch(epoch, range(len(configs)))
            end = time.perf_counter() - start
            seconds[True] += end
            inside[0] += end
    plain = seconds[False] / counts[False] * steps
    recorded = (seconds[True] - inside[0]) / counts[True] * steps + inside[0] / repeats
    return plain, recorded, inside[0] / repeats


def load_times(n: int = 50_000, epochs: int = 20, runs: int = 4) -> tuple[float, float, float]:
    """(seconds to read + combine `runs` run files, seconds to load the combined OUT.npz, its MB)."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, k in enumerate([0.25, 0.5, 1.0, 2.0][:runs]):
            p = rng.random((epochs, n)).astype(np.float16)
            run = RunDynamics(p_given=p, margin=(rng.standard_normal((epochs, n)) * 3).astype(np.float16),
                              log_eps=np.log1p(-p.astype(np.float32) * 0.999).astype(np.float16),
                              k=np.full(epochs, k, np.float32), index=np.arange(n, dtype=np.int32),
                              given_label=rng.integers(0, 10, n).astype(np.int16),
                              true_label=rng.integers(0, 10, n).astype(np.int16), config={"k": k})
            paths.append(Path(tmp) / f"run{i}.npz")
            write_run(paths[-1], run)
        start = time.perf_counter()
        dyn = combine([read_run(p) for p in paths], noise="symmetric 40%")
        combined = time.perf_counter() - start
        out = Path(tmp) / "out.npz"
        dyn.save(out)
        start = time.perf_counter()
        Dynamics.load(out)
        loaded = time.perf_counter() - start
        return combined, loaded, out.stat().st_size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--hidden", type=int, default=800)
    parser.add_argument("--ks", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    plain, recorded, hook = recording_overhead(args.n_train, args.hidden, args.ks, args.repeats)
    print(f"epoch of {len(args.ks)} runs, 784-{args.hidden}-10, {args.n_train:,} images, {args.threads} thread(s): "
          f"{plain:.3f} s without recording, {recorded:.3f} s with ({args.repeats} epochs, interleaved every 5 steps): "
          f"{100 * (recorded / plain - 1):+.1f}%; time inside the recorder {hook:.4f} s per epoch = "
          f"{100 * hook / plain:.1f}% of an epoch")
    combined, loaded, size = load_times()
    print(f"4 runs x 20 epochs x 50,000 examples: read + combine {combined:.3f} s; OUT.npz ({size:.0f} MB) "
          f"loads in {loaded:.3f} s")


if __name__ == "__main__":
    main()
