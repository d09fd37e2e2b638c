"""Benchmark of the core/toy package: the paper's 1-D toy protocol end to end, the same protocol
through the engine (saved in a run store as it trains), and a check against the straightforward
float64 reference on a reduced size.

    .venv/bin/python benchmarks/toy_bench.py              # full protocol + reference check
    .venv/bin/python benchmarks/toy_bench.py --threads 2  # torch threads while training

Prints wall time, epochs, per-epoch cost and where the time goes; the engine's overhead (epochs
logged, payload size) and PASS/FAIL for an identical per-k table; then PASS/FAIL for the match
with the reference (same test errors, stopping epochs within 2, thresholds close) on a reduced
size, and for the parameters after the first 200 epochs at full size.
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

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from core.engine.lab import Lab  # noqa: E402
from core.engine.status import to_jsonable  # noqa: E402
from core.engine.store import RunStore  # noqa: E402
from core.toy import ToyConfig, run_here, run_reference, run_toy  # noqa: E402


def full_protocol(device: str, threads: int) -> pd.DataFrame:
    cfg = ToyConfig(device=device, threads=threads)
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    res = run_toy(cfg)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    tm = res.timings
    other = wall - tm["refresh_s"] - tm["step_s"] - tm["eval_s"]
    print(f"== full paper protocol: {len(cfg.ks)} k x {cfg.runs} runs x {cfg.n_train} points, "
          f"device {res.device}, torch threads {threads or torch.get_num_threads()}")
    print(f"wall time                 {wall:8.2f} s   (status {res.status}, "
          f"{int(res.per_run.hit_max_epochs.sum())} runs hit max_epochs)")
    print(f"process CPU time          {cpu:8.2f} s   (load average {load:.1f} on {os.cpu_count()} cores "
          "before the run: wall > CPU means others were using the cores)")
    print(f"epochs (slowest run)      {tm['epochs']:8d}")
    print(f"model-epochs (sum)        {tm['model_epochs']:8d}")
    print(f"per epoch, all models     {1e3 * wall / tm['epochs']:8.3f} ms")
    print(f"per model-epoch           {1e6 * wall / tm['model_epochs']:8.2f} us")
    print("where the time goes:")
    print(f"  O(n) Taylor refreshes   {tm['refresh_s']:8.2f} s   ({tm['refreshes']} model refreshes, "
          f"{1e3 * tm['refresh_s'] / max(1, tm['refreshes']):.2f} ms each, "
          f"{tm['model_epochs'] / max(1, tm['refreshes']):.0f} epochs per refresh)")
    print(f"  O(J^2) epoch steps      {tm['step_s']:8.2f} s")
    print(f"  val errors + stop rule  {tm['eval_s']:8.2f} s   (searchsorted on sorted data)")
    print(f"  setup, test metrics     {other:8.2f} s")
    print("  torch.compile           not used (per-epoch work is O(J^2) per model, no O(n) kernel to fuse)")
    # what one epoch of the straightforward method costs at full size, for comparison
    ref = run_reference(ToyConfig(device=device, max_epochs=5, patience=10**6))
    per_model_epoch = ref.elapsed_s / (5 * len(cfg.ks) * cfg.runs)
    print(f"straightforward float64:  {1e3 * per_model_epoch * len(cfg.ks) * cfg.runs:8.1f} ms per epoch of 70 "
          f"models -> ~{per_model_epoch * tm['model_epochs'] / 60:.0f} min for this protocol")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(res.per_k.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return res.per_k


def engine_check(device: str, threads: int, per_k: pd.DataFrame) -> bool:
    """The same protocol through the engine (toy_task on the main thread, a temporary run store):
    its overhead, and the saved per-k table must equal run_toy's exactly (training is deterministic)."""
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(store=RunStore(Path(tmp) / "runs.sqlite"))
        t0 = time.perf_counter()
        saved = run_here(lab, ToyConfig(device=device, threads=threads))
        wall = time.perf_counter() - t0
        run = lab.store.get_run(saved.run_id)
        size = len(json.dumps(to_jsonable(run["result"])))
    same = saved.status == "done" and saved.per_k.equals(per_k)
    print(f"\n== through the engine (core.toy.run_here, saved as it trains)")
    print(f"wall time                 {wall:8.2f} s   (training {saved.elapsed_s:.2f} s of it)")
    print(f"epochs logged             {saved.trace['epoch'].nunique():8d}   (about one per second; the last is epoch "
          f"{run['epochs_done']})")
    print(f"animation frames          {saved.frames['epoch'].nunique():8d}")
    print(f"saved result (JSON)       {size / 1e3:8.0f} kB   (tables, thinned history, frames)")
    print(f"per-k table equal to run_toy's: {same}")
    print("PASS" if same else "FAIL")
    return same


def reference_check(device: str, n: int, runs: int, patience: int, threads: int) -> bool:
    cfg = ToyConfig(n_train=n, n_val=n, n_test=n, runs=runs, patience=patience, device=device,
                    threads=threads)
    fast = run_toy(cfg)
    ref = run_reference(cfg)
    a, b = fast.per_run, ref.per_run
    same_err = np.array_equal(a.test_error.to_numpy(), b.test_error.to_numpy())
    ep_diff = int(np.max(np.abs(a.epochs.to_numpy() - b.epochs.to_numpy())))
    t_diff = float(np.max(np.abs(a.threshold - b.threshold)))
    ok = same_err and ep_diff <= 2 and t_diff < 1e-6
    print(f"\n== reference check: n = {n}, {runs} runs, patience {patience}, {len(cfg.ks)} k")
    print(f"fast {fast.elapsed_s:.2f} s, reference {ref.elapsed_s:.2f} s")
    print(f"test errors equal         {same_err}  ({len(a)} models)")
    print(f"max |stop epoch diff|     {ep_diff}")
    print(f"max |threshold diff|      {t_diff:.2e}")
    print(f"max |test CE diff|        {float(np.max(np.abs(a.test_ce - b.test_ce))):.2e}")
    print("PASS" if ok else "FAIL")
    return ok


def full_size_prefix_check(device: str, threads: int, epochs: int = 200) -> bool:
    """Full-size data, one run, the first `epochs` epochs: parameters must agree closely."""
    cfg = ToyConfig(runs=1, max_epochs=epochs, patience=10**6, device=device, threads=threads)
    a, b = run_toy(cfg).per_run, run_reference(cfg).per_run
    cols = ["w_neg", "w_pos", "b_neg", "b_pos"]
    diff = float(np.max(np.abs(a[cols].to_numpy() - b[cols].to_numpy())))
    ok = diff < 1e-9 and np.array_equal(a.test_error.to_numpy(), b.test_error.to_numpy())
    print(f"\n== full size (n = {cfg.n_train}), 1 run, first {epochs} epochs: "
          f"max |param diff| {diff:.2e}, test errors equal {np.array_equal(a.test_error, b.test_error)}")
    print("PASS" if ok else "FAIL")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1, help="ToyConfig.threads (0: torch's setting)")
    ap.add_argument("--ref-n", type=int, default=2000, help="points per split for the reference check")
    ap.add_argument("--ref-runs", type=int, default=2)
    ap.add_argument("--ref-patience", type=int, default=300)
    ap.add_argument("--skip-full", action="store_true", help="only the reference check")
    args = ap.parse_args()
    if not args.skip_full:
        per_k = full_protocol(args.device, args.threads)
        engine_check(args.device, args.threads, per_k)
    reference_check(args.device, args.ref_n, args.ref_runs, args.ref_patience, args.threads)
    full_size_prefix_check(args.device, args.threads)


if __name__ == "__main__":
    main()
