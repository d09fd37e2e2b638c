"""`python -m core.toy`: the toy experiment from the shell, saved in the run store like a
dashboard run (so it appears on the Toy page and in `python -m core.runstore list`).

What: builds a ToyConfig from the flags (one per field), trains it on the main thread through
the engine (core.toy.task.run_here: Ctrl-C stops it, the finished work is kept and the run
is saved "stopped"), prints progress on stderr and the per-k table on stdout.
`--population` prints the n -> infinity limit instead (nothing is trained or saved).

    python -m core.toy                                  # the paper protocol
    python -m core.toy --runs 2 --n 3000 --ks 4,1,1/4   # smaller
    python -m core.toy --executor ray --ray-address 10.0.0.5:6379   # on a Ray cluster
    python -m core.toy --population --csv limit.csv

Exit status: 0 done, 1 failed, 2 bad arguments, 130 stopped by Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np
import pandas as pd

from core.cli import (CliError, Parser, add_executor_flags, add_output_flags, check_outputs, count, exit_status,
                      finite, main_of, run, whole)
from core.data import DatasetUnavailableError
from core.engine.commands import ENVIRONMENT_ERRORS, make_executor_of, open_lab
from core.curves import parse_k
from core.engine.executors import Event, Progress
from core.engine.status import eta_seconds, to_jsonable
from core.engine.store import RunStore
from core.toy.config import ToyConfig, ToyConfigError
from core.toy.population import population_limit
from core.toy.task import SavedToy, run_here

SAVED_KEYS = ("config", "status", "elapsed_s", "device", "timings", "per_k", "per_run")  # what --json writes


def _parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m core.toy", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = ToyConfig()
    for f in dataclasses.fields(ToyConfig):
        default = getattr(d, f.name)
        flag = "--" + f.name.replace("_", "-")
        if f.name == "ks":
            ap.add_argument(flag, default=",".join(f"{k:g}" for k in default),
                            help="comma-separated pseudo-gradient exponents (0.25, 1/4 and 2^-2 all work)")
        else:
            kind = {float: finite, int: whole}.get(type(default), type(default))
            ap.add_argument(flag, type=kind, default=default, help=f"ToyConfig.{f.name}")
    ap.add_argument("--n", type=count(1), default=None, help="set n_train = n_val = n_test at once")
    add_output_flags(ap, csv="write the per-k table as CSV", json="write config, per-k and per-run tables as JSON")
    add_executor_flags(ap)
    ap.add_argument("--db", default=None, metavar="PATH",
                    help="run database (default: $TUNABLE_RUNS_DB, else <data dir>/runs.sqlite)")
    ap.add_argument("--population", action="store_true",
                    help="print the population-limit curve t*(k) instead of training")
    ap.add_argument("--population-n", type=count(2, 10_000), default=40, help="number of k values (1/64 .. 16)")
    return ap


def _config(args: argparse.Namespace) -> ToyConfig:
    """The ToyConfig of the flags; ToyConfigError (or ValueError for an unreadable k) if invalid."""
    kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(ToyConfig)}
    kw["ks"] = tuple(parse_k(k) for k in str(args.ks).split(",") if k.strip())
    if args.n is not None:
        kw.update(n_train=args.n, n_val=args.n, n_test=args.n)
    return ToyConfig(**kw)


def _population(args: argparse.Namespace) -> int:
    table = population_limit(np.geomspace(1 / 64, 16, args.population_n), alpha=args.alpha,
                             label_noise=min(args.label_noise, 0.499))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    if args.csv:
        table.to_csv(args.csv, index=False)
    return 0


def _printer(quiet: bool):
    """on_event for run_here: one progress line on stderr per Progress event."""
    def on_event(group: int, event: Event) -> None:
        if quiet or not isinstance(event, Progress) or event.live is None:
            return
        live = event.live
        eta = eta_seconds(live.elapsed_s, event.fraction)
        left = "" if eta is None else f", ~{eta:.0f} s left"
        print(f"{event.message}  ~{100 * event.fraction:3.0f}%  {live.elapsed_s:6.1f} s{left}", file=sys.stderr)

    return on_event


def _report(saved: SavedToy, store: RunStore, args: argparse.Namespace) -> int:
    """Print the per-k table and a status line, write --json/--csv; the exit status."""
    if not saved.per_k.empty:
        print(saved.per_k.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    hit = int(saved.per_run["hit_max_epochs"].sum()) if "hit_max_epochs" in saved.per_run else 0
    elapsed = f"{saved.elapsed_s:.1f} s" if saved.elapsed_s is not None else "?"
    print(f"{saved.status}; {elapsed} on {saved.device}; {hit} runs hit max_epochs; "
          f"saved as run {saved.run_id} in {store.path}")
    result = store.get_run(saved.run_id).get("result") or {}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(to_jsonable({"run_id": saved.run_id, **{k: result.get(k) for k in SAVED_KEYS}}), fh, indent=1)
    if args.csv:
        saved.per_k.to_csv(args.csv, index=False)
    return exit_status([saved.status], [saved.error])


def _body(args: argparse.Namespace) -> int:
    check_outputs(args)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    if args.population:
        return _population(args)
    try:
        cfg = _config(args)
    except ToyConfigError as exc:
        raise CliError(str(exc)) from None
    executor = make_executor_of(args)
    lab = open_lab(args)
    saved = run_here(lab, cfg, executor=executor, on_event=_printer(args.quiet))
    return _report(saved, lab.store, args)


main = main_of(_parser(), _body, expected=(DatasetUnavailableError, *ENVIRONMENT_ERRORS))


if __name__ == "__main__":
    run(main)
