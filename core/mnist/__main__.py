"""Command line of the MLP experiments: `python -m core.mnist train|select ...` (see --help).

    python -m core.mnist train --k 0.5 1 --lr 0.1 --epochs 3 --n-train 5000
    python -m core.mnist train --k 0.5 1 --executor ray [--ray-address HOST:6379]
    python -m core.mnist train --objective gce:q=0.7 --noise symmetric:0.4 --json out.json
    python -m core.mnist select --k 0.5 1 2 --lr 0.03 0.1 0.3 --seeds 0 1 --epochs 5

Trains MLPs on any image set of core.data (MNIST, Fashion-MNIST, CIFAR, SVHN; the package keeps the
paper's name for its MNIST experiments). Training runs on the main thread through the Lab
(core.mnist.task.run_here), so every run is saved in the run store as it trains and shows in the
dashboard; flags, checks and exit status follow core.cli (0 done or diverged, 1 failed, 2 bad
arguments, 130 Ctrl-C: the finished epochs are kept and the runs end "stopped").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

import pandas as pd

from core.cli import (CliError, Parser, add_executor_flags, add_mlp_flags, add_output_flags, add_runtime_flags,
                      apply_threads, check_outputs, exit_status, k_value, main_of, run)
from core.data import DatasetUnavailableError
from core.engine.commands import ENVIRONMENT_ERRORS, make_executor_of, open_lab
from core.device import pick_device
from core.engine.executors import Epoch, Event, Finished
from core.engine.status import to_jsonable
from core.labelnoise import NoiseSpec
from core.losses import parse_objective
from core.mnist.config import DataConfig, TrainConfig
from core.mnist.selection import Selection, select
from core.mnist.task import run_here
from core.mnist.group_task import RunResult


def _parse_noise(text: str, seed: int) -> NoiseSpec:
    kind, _, rate = text.partition(":")
    try:
        return NoiseSpec(kind.strip(), float(rate) if rate else 0.0, seed)
    except ValueError as exc:
        raise CliError(f"--noise {text!r}: {exc} (write e.g. symmetric:0.4, asymmetric:0.2 or none)") from None


def _methods(args: argparse.Namespace) -> list[dict]:
    """One dict of TrainConfig fields per method: each k (or the schedule), then each objective."""
    if args.k_schedule:
        if args.k:
            raise CliError("give --k or --k-schedule, not both")
        methods: list[dict] = [{"k_schedule": args.k_schedule}]
    else:
        methods = [{"k": k} for k in (args.k or ([] if args.objective else [1.0]))]
    for text in args.objective or []:
        try:
            methods.append({"objective": parse_objective(text)})
        except ValueError as exc:
            raise CliError(f"--objective {text!r}: {exc}") from None
    return methods


def _configs_from_args(args: argparse.Namespace) -> list[TrainConfig]:
    noise = _parse_noise(args.noise, args.noise_seed)
    clip = None if args.clip_norm <= 0 else args.clip_norm
    return [
        TrainConfig(hidden=tuple(args.hidden), activation=args.activation, lr=lr, momentum=args.momentum,
                    weight_decay=args.weight_decay or 0.0, clip_norm=clip, batch_size=args.batch_size,
                    epochs=args.epochs, seed=seed, noise=noise, **method)
        for method in _methods(args) for lr in args.lr for seed in args.seeds
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
    """on_event for run_here: one line per run and epoch on stderr."""
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


def build_parser() -> Parser:
    parser = Parser(prog="python -m core.mnist", description=__doc__.split("\n\n")[0],
                    epilog="Exit status: 0 every run done or diverged, 1 a run failed, 2 bad arguments, 130 Ctrl-C.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    common = Parser(add_help=False)
    common.add_argument("--k", type=k_value, nargs="+", default=None,
                        help="pseudo-gradient exponents, e.g. 0.25 1/2 1 (default: 1)")
    common.add_argument("--objective", nargs="+", default=None,
                        help="other objectives, e.g. ce gce:q=0.7 sce nce_rce mae focal:gamma=2 (see python -m core.losses)")
    common.add_argument("--noise", default="none", help="label noise on train+val: none, symmetric:RATE, asymmetric:RATE")
    add_mlp_flags(common)
    add_runtime_flags(common)
    add_executor_flags(common)
    add_output_flags(common, csv="write a CSV here (train: per-epoch history; select: the table)",
                     json="write JSON here (runs, histories; select adds the selection)")
    sub.add_parser("train", parents=[common], help="train one or more configurations, print a per-run table")
    sub.add_parser("select", parents=[common],
                   help="train a k x lr (x seeds) grid and run the paper's selection protocol")
    return parser


def _print_selection(results: Sequence[RunResult], payload: dict) -> Selection | None:
    """The selection protocol's tables on stdout (None when no run finished)."""
    try:
        selection = select(results)
    except ValueError:
        print("no run finished, so there is nothing to select from", file=sys.stderr)
        return None
    print("\nper (method, lr), final epoch, mean over seeds:")
    print(selection.table.to_string(index=False))
    print("\nlr chosen per method on validation:")
    print(selection.per_method.to_string(index=False))
    print("\nselection summary:")
    print(selection.summary().to_string())
    payload.update(table=selection.table.to_dict("records"), per_method=selection.per_method.to_dict("records"),
                   best=selection.best, baseline=selection.baseline)
    return selection


def _body(args: argparse.Namespace) -> int:
    check_outputs(args)
    apply_threads(args)
    configs = _configs_from_args(args)
    data = DataConfig(dataset=args.dataset, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test,
                      train_eval=args.train_eval or None, device=args.device, data_dir=args.data_dir)
    pick_device(args.device)
    executor = make_executor_of(args)
    lab = open_lab(args)
    run_ids, results = run_here(lab, configs, data, executor=executor, on_event=_printer(args.quiet))
    print(f"saved as runs {min(run_ids)}-{max(run_ids)} in {lab.store.path} (python -m core.runstore list)",
          file=sys.stderr)
    payload: dict = {"runs": [_run_json(r, i) for r, i in zip(results, run_ids)]}
    selection = None
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print(_run_table(results).to_string(index=False))
        if args.command == "select":
            selection = _print_selection(results, payload)
    if args.csv:
        if selection is not None:
            selection.table.to_csv(args.csv, index=False)
        else:
            rows = [{"run": r.config.label, "status": r.status, **r.config.to_dict(), **h}
                    for r in results for h in r.history]
            pd.DataFrame(rows).to_csv(args.csv, index=False)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(to_jsonable(payload), fh, indent=1)
    runs = [lab.store.get_run(i) for i in run_ids]
    return exit_status([r["status"] for r in runs], [r.get("error") for r in runs])


main = main_of(build_parser(), _body, expected=(DatasetUnavailableError, *ENVIRONMENT_ERRORS))


if __name__ == "__main__":
    run(main)
