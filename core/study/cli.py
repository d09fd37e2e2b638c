"""Command line of a study: `python -m core.study [--preset NAME | grid flags] [--json F] [--csv F]`.

    python -m core.study --preset mnist-1layer --json assets/study_mnist_1layer.json --csv study.csv
    python -m core.study --dataset fashion-mnist --layers 1 3 5 --widths 256 --k 0.5 1 2 --lr 0.1 0.3 \
        --seeds 0 1 --epochs 15 --patience 3 --n-train 10000
    python -m core.study --preset paper-table1 --executor ray --ray-address HOST:6379
    python -m core.study --dataset fashion-mnist --layers 3 --widths 256 --k 0.25 1 2 \
        --k-schedule linear:1/4:2 linear:2:1/4 --lr 0.03 0.1 0.3 --seeds 0 1 2

Every run trains on the main thread through core.engine.lab (Lab.run_here) and is saved in the
run store as kind "study"; started again, the same study trains only the runs not yet "done".
The upper-bound time estimate is printed before training; Ctrl-C stops cleanly.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pandas as pd

from core.cli import (CliError, Parser, add_executor_flags, add_output_flags, add_runtime_flags, apply_threads,
                      check_outputs, count, exit_status, fraction, k_value, main_of, positive)
from core.data import DatasetUnavailableError
from core.engine.commands import ENVIRONMENT_ERRORS, make_executor_of, open_lab
from core.device import pick_device
from core.engine.executors import Event, Finished, GroupEnded
from core.estimate import calibration, estimate_study
from core.study.config import StudyConfig
from core.study.presets import PRESETS
from core.study.report import make_report
from core.study.table import choice_label, counts_label
from core.study.task import missing_runs, run_here, training_seconds, uncached_datasets

DEFAULTS = dict(dataset=["mnist"], layers=[1], widths=[400], momentum=[0.5], k=[0.25, 0.5, 1.0, 2.0],
                k_schedule=[], lr=[0.03, 0.1, 0.3], seeds=[0, 1], epochs=20, patience=4, n_train=None, n_val=None, n_test=None)
SHOWN = ["dataset", "layers", "width", "momentum", "selected_k", "k_counts", "test_error_k1", "test_error_selected",
         "diff_test_error", "diff_test_error_lo", "diff_test_error_hi", "test_ce_k1", "test_ce_selected",
         "paper_selected_k", "paper_test_error_k1", "paper_test_error_selected"]


def build_parser() -> Parser:
    parser = Parser(prog="python -m core.study", description=__doc__.split("\n\n")[0],
                    formatter_class=argparse.RawDescriptionHelpFormatter,
                    epilog="presets:\n" + "\n".join(f"  {n:16s}{p.title}" for n, p in PRESETS.items())
                    + "\n\nExit status: 0 every run done or diverged, 1 a run failed, 2 bad arguments, 130 Ctrl-C.")
    parser.add_argument("--preset", choices=list(PRESETS), help="a named study; grid flags given too override it")
    grid = parser.add_argument_group("the grid (cells: data set x layers x widths x momentum)")
    grid.add_argument("--dataset", nargs="+", help="mnist, fashion-mnist, cifar10, cifar100, svhn (default: mnist)")
    grid.add_argument("--layers", type=count(1, 100), nargs="+", help="hidden layers (default: 1)")
    grid.add_argument("--widths", type=count(1, 100_000), nargs="+", help="units per hidden layer (default: 400)")
    grid.add_argument("--momentum", type=fraction, nargs="+", help="SGD momentum (default: 0.5)")
    grid.add_argument("--k", type=k_value, nargs="+", help="k values; must include 1 (default: 0.25 0.5 1 2)")
    grid.add_argument("--k-schedule", nargs="+", default=None, metavar="SPEC",
                      help="k schedules competing with the k values (each at every lr and seed), "
                           "e.g. linear:1/4:2 cosine:2:1/4 (see core.schedule)")
    grid.add_argument("--lr", type=positive, nargs="+", help="learning rates for every k (default: 0.03 0.1 0.3)")
    grid.add_argument("--seeds", type=count(0, 2**31 - 1), nargs="+", help="seeds (default: 0 1)")
    grid.add_argument("--epochs", type=count(1, 100_000), help="most epochs per run (default: 20)")
    grid.add_argument("--patience", type=count(1, 100_000),
                      help="early stopping: epochs without a better val error (default: 4)")
    grid.add_argument("--n-train", type=count(1), help="training images (default: all)")
    grid.add_argument("--n-val", type=count(1), help="validation images (default: the data set's)")
    grid.add_argument("--n-test", type=count(1), help="test images (default: all)")
    add_runtime_flags(parser)
    add_executor_flags(parser)
    add_output_flags(parser, csv="write the table (one row per cell, with the paper's numbers) here",
                     json="write the report (study, table, per-seed choices, surfaces) here")
    return parser


def study_from_args(args: argparse.Namespace) -> StudyConfig:
    """The preset (or the defaults), with every grid flag given on the command line in its place."""
    keys = list(DEFAULTS)
    given = {key: getattr(args, key) for key in keys if getattr(args, key) is not None}
    if args.preset:
        s = PRESETS[args.preset].study
        base = dict(dataset=s.datasets, layers=sorted({c.layers for c in s.cells}),
                    widths=sorted({c.width for c in s.cells}), momentum=sorted({c.momentum for c in s.cells}),
                    k=list(s.ks), k_schedule=list(s.k_schedules), lr=list(s.lrs), seeds=list(s.seeds), epochs=s.epochs, patience=s.patience,
                    n_train=s.n_train, n_val=s.n_val, n_test=s.n_test)
        if not given and args.device == "auto":
            return s
        if not {"dataset", "layers", "widths", "momentum"} & set(given):  # keep the preset's own cells
            return StudyConfig(cells=s.cells, **_fields({**base, **given}), train_eval=s.train_eval,
                               device=args.device)
    else:
        base = dict(DEFAULTS)
    v = {**base, **given}
    return StudyConfig.grid(v["dataset"], v["layers"], v["widths"], v["momentum"], **_fields(v), device=args.device)


def _fields(v: dict) -> dict:
    return dict(ks=v["k"], k_schedules=v["k_schedule"], lrs=v["lr"], seeds=v["seeds"], epochs=v["epochs"], patience=v["patience"],
                n_train=v["n_train"], n_val=v["n_val"], n_test=v["n_test"])


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    """The printed table: SHOWN, with the selected k (or k schedule) and the seeds' choices in words."""
    out = table.reindex(columns=SHOWN)
    out["selected_k"] = [choice_label(k, s) for k, s in zip(table["selected_k"], table["selected_schedule"])]
    out["k_counts"] = table["k_counts"].map(counts_label)
    return out


def _printer(quiet: bool, total: int, ends: list[tuple[str, str | None]]):
    """on_event: collects every end (status, error) in `ends`; one line per finished run on stderr."""
    ended = [0]

    def show(gi: int, event: Event) -> None:
        if isinstance(event, (Finished, GroupEnded)):
            ends.append((event.status, event.error))
        if quiet or not isinstance(event, Finished):
            return
        ended[0] += 1
        s = event.summary or {}
        best = s.get("best_val_error", s.get("val_error"))
        text = f"best val error {100 * best:.2f}% at epoch {s.get('best_epoch', s.get('epoch'))}" if best else ""
        print(f"[{ended[0]}/{total}] run {event.status} {text}", file=sys.stderr, flush=True)
    return show


def _body(args: argparse.Namespace) -> int:
    check_outputs(args)
    apply_threads(args)
    study = study_from_args(args)
    pick_device(study.device)
    executor = make_executor_of(args)
    missing = uncached_datasets(study)
    if missing:  # only a download could provide them: say so now, not after hours of the other data sets
        raise CliError(f"{', '.join(missing)} is not in the data directory yet: run `python -m core.data --dataset "
                       f"{missing[0]}` where its source is reachable (or copy its files there), then start again", 1)
    lab = open_lab(args)
    todo = missing_runs(lab.store, study)
    done = len(study.runs()) - len(todo)
    if not args.quiet:
        expected, bound = estimate_study(study, todo, calibration(study.device, lab.store))
        print(f"study {study.id}{' (' + study.name + ')' if study.name else ''}: {len(study.cells)} cell(s), "
              f"{len(study.runs())} runs, {done} already finished; to train: {len(todo)} runs, about "
              f"{expected / 60:.1f} min here (at most {bound / 60:.1f}: every run to its epoch cap)",
              file=sys.stderr, flush=True)
    start = time.perf_counter()
    ends: list[tuple[str, str | None]] = []
    cells = run_here(lab, study, executor=executor, on_event=_printer(args.quiet, len(todo), ends))
    now = time.perf_counter() - start
    report = make_report(study, cells, seconds=training_seconds(lab.store, study))
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.4g}".format):
        print(_shown(report.table).to_string(index=False) if len(report.table) else "(no cell finished)")
    print(f"study {study.id}: {report.runs_done}/{report.runs_total} runs finished, {now:.0f} s now, "
          f"{report.seconds or 0:.0f} s of training in all (python -m core.runstore list --kind study)", file=sys.stderr)
    if args.csv:
        report.table.to_csv(args.csv, index=False)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report.to_json(), fh, indent=1)
    return exit_status([status for status, _ in ends], [error for _, error in ends])


main = main_of(build_parser(), _body, expected=(DatasetUnavailableError, *ENVIRONMENT_ERRORS))
