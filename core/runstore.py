"""`python -m core.runstore`: the run history from the shell (the store is core.engine.store).

    python -m core.runstore list [--kind mnist] [--status done] [--group ID] [--json]
    python -m core.runstore history 3 4 [--csv out.csv]
    python -m core.runstore recover | delete 3 4 | --help

`list --json` prints one object per run: id, kind, status, epochs (logged), label, config,
summary, provenance, created_at (Unix seconds), the same runs the dashboard shows.
"""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from core.engine.status import to_jsonable
from core.engine.store import DB_NAME, ENV_VAR, RunStore, RunStoreError

JSON_FIELDS = ("id", "kind", "status", "label", "group_id", "device", "created_at", "started_at", "finished_at",
               "seconds", "error", "config", "summary", "provenance")


def runs_json(store: RunStore, kind=None, status=None, group_id=None) -> list[dict]:
    """The runs as JSON-able dicts (newest first), with `epochs`: how many epochs each logged."""
    ids = store.list_runs(kind=kind, status=status, group_id=group_id)["id"].tolist()
    out = []
    for run_id in ids:
        run = store.get_run(run_id)
        out.append({**{key: run.get(key) for key in JSON_FIELDS}, "epochs": run["epochs_done"]})
    return to_jsonable(out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.runstore", description="Inspect the run history.")
    parser.add_argument("--db", default=None, help=f"database file (default: ${ENV_VAR}, else <data dir>/{DB_NAME})")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="one line per run")
    p_list.add_argument("--kind", default=None)
    p_list.add_argument("--status", default=None)
    p_list.add_argument("--group", default=None)
    p_list.add_argument("--json", action="store_true", help="print the runs as a JSON list")
    p_hist = sub.add_parser("history", help="per-epoch metrics of some runs")
    p_hist.add_argument("ids", type=int, nargs="+")
    p_hist.add_argument("--csv", default=None, help="write a CSV export here instead of printing")
    sub.add_parser("recover", help="mark runs of dead processes as interrupted (never-started ones: stopped)")
    p_del = sub.add_parser("delete", help="delete runs and their epochs")
    p_del.add_argument("ids", type=int, nargs="+")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        store = RunStore(args.db)
    except RunStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with pd.option_context("display.max_columns", 30, "display.width", 200):
        if args.command == "list" and args.json:
            print(json.dumps(runs_json(store, args.kind, args.status, args.group), indent=1))
        elif args.command == "list":
            runs = store.list_runs(kind=args.kind, status=args.status, group_id=args.group)
            print(runs.drop(columns=["owner"]).to_string(index=False) if len(runs) else "no runs")
        elif args.command == "history":
            if args.csv:
                store.export_csv(args.ids, args.csv)
                print(f"wrote {args.csv}")
            else:
                print(store.history(args.ids).to_string(index=False))
        elif args.command == "recover":
            print(f"ended {store.recover_interrupted()} run(s) of dead processes")
        elif args.command == "delete":
            print(f"deleted {store.delete_runs(args.ids)} run(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
