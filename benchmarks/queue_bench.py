"""What one poll of the job queue costs with a full dashboard: `JobManager.active()` (and `board()`)
with 20 sessions x 24 waiting jobs (app.state's cap), one running job reporting progress meanwhile.

Prints the median and worst time of `active()` over --polls calls, and how long the running job's
`ctx.report(...)` waited for the manager's lock while pages polled (it shares that lock). Target:
active() <= 10 ms. On a 2-core machine shared with other work the figures move from run to run.

Run: `python benchmarks/queue_bench.py [--sessions 20] [--waiting 24] [--polls 50]`
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from core.engine.queue import JobManager  # noqa: E402


def full_manager(sessions: int, waiting: int, reports: list[float], stop: threading.Event) -> JobManager:
    """A manager whose one device runs a job that reports every 5 ms, with `waiting` jobs queued per session."""
    manager = JobManager(max_queued_per_owner=waiting)

    def trainer(ctx):
        curves = {rid: [{"epoch": e, "val_error": 0.1} for e in range(1, 11)] for rid in range(16)}
        while not stop.is_set():
            t0 = time.perf_counter()
            ctx.report(0.5, "epoch 5/10", curves=dict(curves), statuses={rid: "running" for rid in curves})
            reports.append(time.perf_counter() - t0)
            stop.wait(0.005)

    manager.submit("running", trainer, device="cpu", owner="s0")
    meta = {"launch": "x", "run_ids": list(range(16)), "labels": {i: f"run {i}" for i in range(16)}}
    for n in range(waiting):
        for s in range(sessions):
            manager.submit(f"s{s} part {n}", lambda ctx: None, device="cpu", kind="mnist", meta=meta, owner=f"s{s}")
    return manager


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--waiting", type=int, default=24, help="waiting jobs per session")
    parser.add_argument("--polls", type=int, default=50)
    args = parser.parse_args()

    reports: list[float] = []
    stop = threading.Event()
    manager = full_manager(args.sessions, args.waiting, reports, stop)
    time.sleep(0.05)
    times = []
    for _ in range(args.polls):
        t0 = time.perf_counter()
        jobs = manager.active()
        times.append(time.perf_counter() - t0)
    board_times = []
    if hasattr(manager, "board"):
        for _ in range(args.polls):
            t0 = time.perf_counter()
            manager.board(owner="s3")
            board_times.append(time.perf_counter() - t0)
    stop.set()
    manager.shutdown(cancel=True, timeout=10)
    assert len(jobs) == 1 + args.sessions * args.waiting
    print(f"{args.sessions} sessions x {args.waiting} waiting jobs (+1 running), {args.polls} polls:")
    print(f"  active(): median {1e3 * statistics.median(times):.2f} ms, worst {1e3 * max(times):.2f} ms")
    if board_times:
        print(f"  board(owner): median {1e3 * statistics.median(board_times):.2f} ms, "
              f"worst {1e3 * max(board_times):.2f} ms")
    if reports:
        print(f"  ctx.report() meanwhile ({len(reports)} calls): median {1e3 * statistics.median(reports):.3f} ms, "
              f"worst {1e3 * max(reports):.2f} ms")


if __name__ == "__main__":
    main()
