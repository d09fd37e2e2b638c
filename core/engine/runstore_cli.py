"""`python -m core.runstore`: the run history from the shell (the store is core.engine.store).

    python -m core.runstore list [--kind mnist] [--status done] [--group ID] [--limit N] [--json]
    python -m core.runstore history 3 4 [--csv out.csv]
    python -m core.runstore recover | delete 3 4 | --help

`list --json` prints one object per run: id, kind, status, epochs (logged), label, config,
summary, provenance, created_at (Unix seconds), the same runs the dashboard shows, read in one
query. Exit codes: 0 done; 1 the database cannot be used or a run is still active (one line on
stderr); 2 bad arguments. `core/runstore.py` is the entry point that keeps `python -m
core.runstore` working; this module holds the command.
"""

from __future__ import annotations

import argparse
import json

from core.cli import FAILED_EXIT, CliError, Parser, check_outputs, count, main_of, run
from core.engine.status import check_status
from core.engine.store import DB_NAME, ENV_VAR, ActiveRunError, RunStore, RunStoreError


def runs_json(store: RunStore, kind=None, status=None, group_id=None, limit: int | None = None) -> list[dict]:
    """The runs as JSON-able dicts (newest first), with `epochs`: how many epochs each logged. One
    query (RunStore.json_rows); non-finite floats stay "NaN"/"Infinity" strings, as stored."""
    return [json.loads(text) for text in store.json_rows(kind, status, group_id, limit=limit)]


def _parser() -> Parser:
    parser = Parser(prog="python -m core.runstore", description="Inspect the run history.",
                    epilog="Exit status: 0 done, 1 the database cannot be used or a run is still active, "
                           "2 bad arguments.")
    parser.add_argument("--db", default=None, help=f"database file (default: ${ENV_VAR}, else <data dir>/{DB_NAME})")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    p_list = sub.add_parser("list", help="one line per run, newest first")
    p_list.add_argument("--kind", default=None)
    p_list.add_argument("--status", default=None, help="queued, running, done, stopped, failed, diverged or interrupted")
    p_list.add_argument("--group", default=None)
    p_list.add_argument("--limit", type=count(1), default=None, help="only the newest N runs")
    p_list.add_argument("--json", action="store_true", help="print the runs as a JSON list")
    p_hist = sub.add_parser("history", help="per-epoch metrics of some runs")
    p_hist.add_argument("ids", type=count(1), nargs="+")
    p_hist.add_argument("--csv", default=None, help="write a CSV export here instead of printing")
    sub.add_parser("recover", help="mark runs of dead processes as interrupted (never-started ones: stopped)")
    p_del = sub.add_parser("delete", help="delete ended runs and their epochs (active runs are refused)")
    p_del.add_argument("ids", type=count(1), nargs="+")
    return parser


def _run(store: RunStore, args: argparse.Namespace) -> None:
    if args.command == "list" and args.json:  # one run per line, as SQLite wrote it: nothing decoded
        rows = store.json_rows(args.kind, args.status, args.group, limit=args.limit)
        print("[\n" + ",\n".join(rows) + "\n]" if rows else "[]")
        return
    if args.command == "recover":
        print(f"ended {store.recover_interrupted()} run(s) of dead processes")
        return
    if args.command == "delete":
        print(f"deleted {store.delete_runs(args.ids)} run(s)")
        return
    import pandas as pd  # the tables below; list --json does without

    with pd.option_context("display.max_columns", 30, "display.width", 200):
        if args.command == "list":
            runs = store.list_runs(kind=args.kind, status=args.status, group_id=args.group, limit=args.limit)
            print(runs.drop(columns=["owner"]).to_string(index=False) if len(runs) else "no runs")
        elif args.csv:
            store.export_csv(args.ids, args.csv)
            print(f"wrote {args.csv}")
        else:
            print(store.history(args.ids).to_string(index=False))


def _body(args: argparse.Namespace) -> int:
    if getattr(args, "status", None):
        check_status(args.status)
    if getattr(args, "csv", None):
        check_outputs(args, ("csv",))
    try:
        _run(RunStore(args.db), args)
    except ActiveRunError as exc:
        raise CliError(str(exc), FAILED_EXIT) from None
    return 0


main = main_of(_parser(), _body, expected=(RunStoreError,))


if __name__ == "__main__":
    run(main)
