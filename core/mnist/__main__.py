"""Command line of the MLP experiments: `python -m core.mnist train|select ...` (see --help).

    python -m core.mnist train --k 0.5 1 --lr 0.1 --epochs 3 --n-train 5000
    python -m core.mnist train --k 0.5 1 --executor ray [--ray-address HOST:6379]
    python -m core.mnist train --objective gce:q=0.7 --noise symmetric:0.4 --json out.json
    python -m core.mnist select --k 0.5 1 2 --lr 0.03 0.1 0.3 --seeds 0 1 --epochs 5

Training runs on the main thread (where the fused pseudo-gradient kernel compiles) through
core.engine.lab, so every run is saved in the run store as it trains and shows in the dashboard;
Ctrl-C stops cleanly, keeping finished epochs (the runs end "stopped").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

import pandas as pd
import torch

from core.data import MnistUnavailableError
from core.device import pick_device
from core.engine import ExecutorUnavailableError, add_executor_args, make_executor
from core.engine.executors import Epoch, Event, Finished
from core.engine.lab import Lab
from core.engine.status import to_jsonable
from core.labelnoise import NoiseSpec
from core.losses import parse_objective
from core.mlp import ACTIVATIONS
from core.mnist.config import DataConfig, TrainConfig
from core.mnist.training import RunResult
from core.mnist.task import run_here as run_mnist
from core.selection import select


def _parse_noise(text: str, seed: int) -> NoiseSpec:
    kind, _, rate = text.partition(":")
    try:
        return NoiseSpec(kind.strip(), float(rate) if rate else 0.0, seed)
    except ValueError as exc:
        raise ValueError(f"--noise {text!r}: {exc} (write e.g. symmetric:0.4, asymmetric:0.2 or none)") from None


def _configs_from_args(args: argparse.Namespace) -> list[TrainConfig]:
    methods: list[dict] = [{"k": k} for k in (args.k or ([] if args.objective else [1.0]))]
    methods += [{"objective": parse_objective(o)} for o in args.objective or []]
    noise = _parse_noise(args.noise, args.noise_seed)
    clip = None if args.clip_norm <= 0 else args.clip_norm
    return [
        TrainConfig(hidden=tuple(args.hidden), activation=args.activation, lr=lr, momentum=args.momentum,
                    weight_decay=args.weight_decay, clip_norm=clip, batch_size=args.batch_size, epochs=args.epochs,
                    seed=seed, noise=noise, **method)
        for method in methods for lr in args.lr for seed in args.seeds
    ]


def _run_json(r: RunResult, run_id: int) -> dict:
    return {"run_id": run_id, "label": r.config.label, "config": r.config.to_dict(), "status": r.status, "device": r.device,
            "seconds": r.seconds, "final": r.final, "history": r.history}


def _run_table(results: Sequence[RunResult]) -> pd.DataFrame:
    rows = []
    for r in results:
        last = r.final
        rows.append({"run": r.config.label, "status": r.status, "epochs": len(r.history),
                     "train_error%": 100 * last.get("train_error", math.nan),
                     "val_error%": 100 * last.get("val_error", math.nan),
                     "test_error%": 100 * last.get("test_error", math.nan),
                     "test_ce": last.get("test_ce", math.nan), "seconds": r.seconds})
        if r.config.noise.kind != "none":
            rows[-1].update(memorized=last.get("memorized", math.nan), corrected=last.get("corrected", math.nan))
    return pd.DataFrame(rows)


def _printer(quiet: bool):
    """on_event for run_mnist: one line per run and epoch on stderr."""
    def show(gi: int, event: Event) -> None:
        if quiet or not isinstance(event, (Epoch, Finished)):
            return
        if isinstance(event, Epoch):
            m = event.metrics
            print(f"group {gi + 1} run {event.index + 1} epoch {event.epoch}: train_ce {m['train_ce']:.4f} "
                  f"val_error {100 * m['val_error']:.2f}% test_error {100 * m['test_error']:.2f}% "
                  f"({m['seconds']:.1f} s)", file=sys.stderr, flush=True)
        else:
            print(f"group {gi + 1} run {event.index + 1}: {event.status}", file=sys.stderr, flush=True)
    return show


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.mnist", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--k", type=float, nargs="+", default=None, help="pseudo-gradient exponents (default: 1)")
    common.add_argument("--objective", nargs="+", default=None,
                        help="other objectives, e.g. ce gce:q=0.7 sce nce_rce mae focal:gamma=2 (see python -m core.losses)")
    common.add_argument("--lr", type=float, nargs="+", default=[0.1], help="learning rates (default: 0.1)")
    common.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds: init and data order (default: 0)")
    common.add_argument("--hidden", type=int, nargs="*", default=[800], help="hidden widths (default: 800)")
    common.add_argument("--activation", default="relu", choices=list(ACTIVATIONS))
    common.add_argument("--momentum", type=float, default=0.5)
    common.add_argument("--weight-decay", type=float, default=0.0)
    common.add_argument("--clip-norm", type=float, default=100.0, help="global gradient-norm clip; 0 disables")
    common.add_argument("--batch-size", type=int, default=128)
    common.add_argument("--epochs", type=int, default=3)
    common.add_argument("--noise", default="none", help="label noise on train+val: none, symmetric:RATE, asymmetric:RATE")
    common.add_argument("--noise-seed", type=int, default=0)
    common.add_argument("--n-train", type=int, default=None, help="training images (default: all 50,000)")
    common.add_argument("--n-val", type=int, default=None, help="validation images (default: all 10,000)")
    common.add_argument("--n-test", type=int, default=None, help="test images (default: all 10,000)")
    common.add_argument("--train-eval", type=int, default=10_000,
                        help="training images re-evaluated each epoch for train metrics (0: all)")
    common.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    common.add_argument("--data-dir", default=None)
    common.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    common.add_argument("--csv", default=None, help="write a CSV here (train: per-epoch history; select: the table)")
    common.add_argument("--json", default=None, help="write JSON here (runs, histories; select adds the selection)")
    common.add_argument("--quiet", action="store_true", help="no per-epoch progress on stderr")
    add_executor_args(common)
    sub.add_parser("train", parents=[common], help="train one or more configurations, print a per-run table")
    sub.add_parser("select", parents=[common],
                   help="train a k x lr (x seeds) grid and run the paper's selection protocol")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        configs = _configs_from_args(args)
        data = DataConfig(n_train=args.n_train, n_val=args.n_val, n_test=args.n_test,
                          train_eval=args.train_eval or None, device=args.device, data_dir=args.data_dir)
        pick_device(args.device)
        executor = make_executor(args.executor, args.ray_address)
    except (ValueError, ExecutorUnavailableError) as exc:
        parser.error(str(exc))
    try:
        run_ids, results = run_mnist(Lab(), configs, data, executor=executor,
                                      on_event=_printer(args.quiet))
    except MnistUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"saved as runs {min(run_ids)}-{max(run_ids)} (python -m core.runstore list)", file=sys.stderr)
    payload: dict = {"runs": [_run_json(r, i) for r, i in zip(results, run_ids)]}
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print(_run_table(results).to_string(index=False))
        if args.command == "select":
            try:
                selection = select(results)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print("\nper (method, lr), final epoch, mean over seeds:")
            print(selection.table.to_string(index=False))
            print("\nlr chosen per method on validation:")
            print(selection.per_method.to_string(index=False))
            print("\nselection summary:")
            print(selection.summary().to_string())
            payload.update(table=selection.table.to_dict("records"), per_method=selection.per_method.to_dict("records"),
                           best=selection.best, baseline=selection.baseline)
    if args.csv:
        if args.command == "select":
            selection.table.to_csv(args.csv, index=False)
        else:
            rows = [{"run": r.config.label, "status": r.status, **r.config.to_dict(), **h}
                    for r in results for h in r.history]
            pd.DataFrame(rows).to_csv(args.csv, index=False)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(to_jsonable(payload), fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
