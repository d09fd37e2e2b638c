"""What reading the run history costs with 10,000 runs in the store (targets: <= 1 s each).

Fills a temporary run database with --runs MNIST-like runs (config, summary, provenance and
--epochs epochs each, written in one transaction: the bench measures reads, not fsyncs), then
times, --rounds times each, interleaved:
  (a) `python -m core.runstore list --json`, the whole command in a fresh process;
  (b) the store calls the MNIST page makes on each rerun (app/views/mnist.py, app/live.py): the
      history table (`list_runs(kind="mnist", limit=...)` and `count_runs`), the runs running in
      another process (`list_runs(kind=..., status="running")`), the comparison of the newest launch
      (`history(ids)` and `runs(ids=ids)`, as core.mnist.task.load_results reads them) and a CSV
      export of it (`export_csv(ids)`);
  (c) for comparison, the unlimited `list_runs(kind="mnist")` the page called before.
Prints the median and worst time of each. The machine is shared with other work: figures move.

Run: `python benchmarks/store_bench.py [--runs 10000] [--epochs 10] [--rounds 3] [--shown 500]`
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
from core.engine.store import RunStore  # noqa: E402

PROVENANCE = {"code_version": "0" * 40, "torch": "2.13.0", "numpy": "2.4", "python": "3.11", "host": "h",
              "device": "cpu"}


def fill(store: RunStore, runs: int, epochs: int, group_size: int = 16) -> None:
    """`runs` finished MNIST runs in launches of `group_size`, each with `epochs` epochs, in one transaction."""
    data = {"dataset": "mnist", "n_train": 10000, "n_val": 2000, "n_test": 2000, "train_eval": 2000,
            "device": "cpu", "data_dir": None}
    now = time.time() - runs
    rows, epoch_rows = [], []
    for i in range(runs):
        train = {"hidden": [800], "activation": "relu", "lr": 0.1, "momentum": 0.5, "k": [0.25, 0.5, 1.0, 2.0][i % 4],
                 "objective": None, "weight_decay": 0.0, "clip_norm": None, "batch_size": 128, "epochs": epochs,
                 "patience": None, "seed": i % 3, "noise": {"kind": "none", "rate": 0.0, "seed": 0}}
        metrics = [{"train_loss": 1 / e, "train_error": 0.1 / e, "val_error": 0.05 + 0.1 / e, "test_error": 0.06,
                    "test_ce": 0.2, "grad_norm": 1.0, "elapsed": 3.0 * e} for e in range(1, epochs + 1)]
        summary = {**metrics[-1], "best_epoch": epochs, "best_val_error": 0.06, "best_test_error": 0.06,
                   "best_test_ce": 0.2}
        t = now + i
        rows.append(("mnist", f"g{i // group_size}", f"k={train['k']}", json.dumps({"train": train, "data": data}),
                     "done", "cpu", t, t, t + 30, 30.0, epochs, json.dumps(summary), json.dumps(PROVENANCE)))
        epoch_rows += [(i + 1, e + 1, json.dumps(m), t + e) for e, m in enumerate(metrics)]
    with store._write() as conn:
        conn.executemany(
            "INSERT INTO runs (kind, group_id, label, config, status, device, created_at, started_at, finished_at,"
            " seconds, epochs_done, summary, provenance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany("INSERT INTO epochs (run_id, epoch, metrics, at) VALUES (?, ?, ?, ?)", epoch_rows)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def page_calls(store: RunStore, shown: int) -> None:
    """The MNIST page's store calls for one rerun (history table, outside runs, comparison, export)."""
    runs = store.list_runs(kind="mnist", limit=shown)
    store.count_runs(kind="mnist")
    store.list_runs(kind="mnist", status="running")
    newest = runs.loc[runs["group_id"] == runs.iloc[0]["group_id"], "id"].tolist()
    store.history(newest)
    store.runs(ids=newest)
    store.export_csv(newest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shown", type=int, default=500, help="rows of the page's history table")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "runs.sqlite"
        store = RunStore(db)
        t0 = time.perf_counter()
        fill(store, args.runs, args.epochs)
        print(f"{args.runs} runs x {args.epochs} epochs written in {time.perf_counter() - t0:.1f} s "
              f"({db.stat().st_size / 2**20:.0f} MiB)")
        env = {**os.environ, "TUNABLE_RUNS_DB": str(db)}
        cmd = [sys.executable, "-m", "core.runstore", "list", "--json"]
        cli, page, full = [], [], []
        for _ in range(args.rounds):
            out = []
            cli.append(timed(lambda: out.append(subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                                                               text=True, check=True).stdout)))
            assert len(json.loads(out[0])) == args.runs
            page.append(timed(lambda: page_calls(store, args.shown)))
            full.append(timed(lambda: store.list_runs(kind="mnist")))
        for name, times in (("(a) python -m core.runstore list --json", cli),
                            (f"(b) MNIST page's store calls (table of the newest {args.shown})", page),
                            ("(c) list_runs(kind='mnist'), every run decoded", full)):
            print(f"{name}: median {statistics.median(times):.3f} s, worst {max(times):.3f} s")


if __name__ == "__main__":
    main()
