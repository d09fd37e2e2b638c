"""`python -m core.datamap`: train one network per k with per-example recording, write the data map.

    python -m core.datamap --dataset mnist --noise symmetric:0.4 --k 0.25 1 --n-train 5000 \\
        --epochs 10 --seed 0 --npz out.npz [--json out.json] [--quiet]

Every k starts from the same initialization and sees the same data order and flipped labels. All
runs (and the cleanlab reference run, unless --folds 0) go through the Lab and are saved in the
run store as kind "datamap", so the dashboard's Example lens shows them too. OUT.npz holds index,
given_label, true_label, flipped, k, p_given (K, epochs, N), confidence, variability, aum, push
(K, N) and more (core.datamap.io). Exit codes (core.cli): 0 ok, 1 a run failed, 2 bad arguments,
130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from core.cli import (CliError, Parser, add_executor_flags, add_output_flags, add_runtime_flags, apply_threads,
                      check_outputs, count, exit_status, fraction, k_value, main_of, positive)
from core.engine.commands import ENVIRONMENT_ERRORS, make_executor_of, open_lab
from core.datamap import detection, metrics
from core.datamap.experiment import KIND, DatamapConfig, run_datamap
from core.datamap.io import DynamicsFileError
from core.engine.executors import Epoch, Event, Finished
from core.engine.status import to_jsonable
from core.labelnoise import NoiseSpec
from core.mnist.config import ConfigError


def noise_spec(text: str) -> NoiseSpec:
    """--noise none | symmetric:RATE | asymmetric:RATE (argparse type: one-line message when bad)."""
    kind, _, rate = str(text).partition(":")
    try:
        return NoiseSpec(kind.strip(), float(rate) if rate else 0.0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc} (write none, symmetric:0.4 or asymmetric:0.2)") from None


def build_parser() -> Parser:
    parser = Parser(prog="python -m core.datamap", description=__doc__.split("\n\n")[0])
    g = parser.add_argument_group("the experiment")
    g.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, cifar10, cifar100, svhn (default: mnist)")
    g.add_argument("--noise", type=noise_spec, default=NoiseSpec(), help="none, symmetric:RATE or asymmetric:RATE "
                   "(flips on the training labels; default: none)")
    g.add_argument("--noise-seed", type=count(0, 2**31 - 1), default=0, help="seeds the label flips (default: 0)")
    g.add_argument("--k", type=k_value, nargs="+", default=[0.25, 1.0], help="one run per k (default: 0.25 1)")
    g.add_argument("--lr", type=positive, nargs="+", default=[0.03],
                   help="one learning rate, or one per k (default: 0.03)")
    g.add_argument("--hidden", type=count(1, 100_000), nargs="+", default=[256], help="hidden widths (default: 256)")
    g.add_argument("--momentum", type=fraction, default=0.9, help="SGD momentum (default: 0.9)")
    g.add_argument("--n-train", type=count(10), default=5000, help="training images: the first n (default: 5000)")
    g.add_argument("--n-val", type=count(1), default=1000, help="validation images (default: 1000)")
    g.add_argument("--n-test", type=count(1), default=2000, help="test images (default: 2000)")
    g.add_argument("--epochs", type=count(1, 10_000), default=10, help="epochs (default: 10)")
    g.add_argument("--seed", type=count(0, 2**31 - 1), default=0, help="initialization and data order (default: 0)")
    g.add_argument("--folds", type=count(0, 10), default=3,
                   help="folds of the cleanlab reference's cross-validation; 0 = no reference (default: 3)")
    add_runtime_flags(parser)
    add_executor_flags(parser)
    out = parser.add_argument_group("the data map")
    out.add_argument("--npz", required=True, metavar="OUT.npz", help="write the data map here (see the docstring)")
    add_output_flags(parser, csv=None, json="write the per-k summary and the detection table as JSON here")
    return parser


def config_of(args: argparse.Namespace) -> DatamapConfig:
    """The DatamapConfig of the flags (CliError, exit 2, when they do not fit together)."""
    if args.folds == 1:
        raise CliError("--folds must be 0 (no reference) or 2-10")
    noise = NoiseSpec(args.noise.kind, args.noise.rate, args.noise_seed)
    try:
        return DatamapConfig(dataset=args.dataset, noise=noise, ks=tuple(args.k), lrs=tuple(args.lr),
                             n_train=args.n_train, epochs=args.epochs, seed=args.seed, hidden=tuple(args.hidden),
                             momentum=args.momentum, n_val=args.n_val, n_test=args.n_test, folds=args.folds,
                             device=args.device, data_dir=args.data_dir)
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def _printer(quiet: bool):
    def show(gi: int, event: Event) -> None:
        if quiet:
            return
        if isinstance(event, Epoch):
            m = event.metrics
            print(f"run {event.index + 1} epoch {event.epoch}: train error {100 * m['train_error']:.1f}% "
                  f"test error {100 * m['test_error']:.2f}% ({m['seconds']:.1f} s)", file=sys.stderr, flush=True)
        elif isinstance(event, Finished):
            who = "reference" if gi else f"run {event.index + 1}"
            print(f"{who}: {event.status}", file=sys.stderr, flush=True)
    return show


def body(args: argparse.Namespace) -> int:
    cfg = config_of(args)
    check_outputs(args, ("npz", "json"))
    apply_threads(args)
    lab = open_lab(args)
    executor = make_executor_of(args)
    try:
        launched, dyn = run_datamap(lab, cfg, executor=executor, on_event=_printer(args.quiet))
    except DynamicsFileError as exc:
        launched, dyn = None, None
        print(f"error: {exc}", file=sys.stderr)
    runs = lab.store.list_runs(kind=KIND, group_id=launched.launch_id) if launched else pd.DataFrame()
    code = exit_status(runs.get("status", []), [e for e in runs.get("error", []) if isinstance(e, str)])
    if dyn is None:
        return code or 1
    dyn.save(args.npz)
    scores = metrics.per_example(dyn)
    table = pd.DataFrame(metrics.per_k_table(dyn, scores))
    found = detection.detection_table(dyn, scores)
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
        if len(found):
            print("\nfinding the flipped labels (AUROC; precision among the top n = number of flips):")
            print(found.to_string(index=False))
    print(f"saved runs {min(launched.run_ids)}-{max(launched.run_ids)} (launch {launched.launch_id}); "
          f"data map in {args.npz}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(to_jsonable({"config": cfg.to_dict(), "launch": launched.launch_id, "run_ids": launched.run_ids,
                                   "per_k": table.to_dict("records"), "detection": found.to_dict("records")}), fh,
                      indent=1)
    return code


main = main_of(build_parser(), body)
