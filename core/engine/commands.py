"""What every training command needs from the engine, on top of the core.cli skeleton.

`open_lab(args)`: the Lab on --db (default: $TUNABLE_RUNS_DB, else <data dir>/runs.sqlite), after
ending the runs that dead processes left (running -> interrupted, queued -> stopped); an unusable
database is one line naming the file (exit 1). `make_executor_of(args)`: the executor of
--executor/--ray-address, or one line saying why it cannot run here. `ENVIRONMENT_ERRORS`: the
errors a command reports in one line with exit 1 (pass them to core.cli.main_of).

    from core.engine.commands import ENVIRONMENT_ERRORS, make_executor_of, open_lab
    lab = open_lab(args)
    lab.run_here(...)
"""

from __future__ import annotations

import argparse

from core.cli import FAILED_EXIT, CliError
from core.engine import ExecutorUnavailableError, make_executor
from core.engine.lab import Lab
from core.engine.store import RunStore, RunStoreError

ENVIRONMENT_ERRORS: tuple[type[BaseException], ...] = (RunStoreError, ExecutorUnavailableError)


def open_lab(args: argparse.Namespace) -> Lab:
    """The Lab on --db after recovery; CliError (exit 1) naming the file when it cannot be used."""
    try:
        store = RunStore(getattr(args, "db", None))
        store.recover_interrupted()
    except RunStoreError as exc:
        raise CliError(str(exc), FAILED_EXIT) from None
    return Lab(store=store)


def make_executor_of(args: argparse.Namespace):
    """The executor of --executor/--ray-address; CliError when it cannot run here (exit 1) or the
    flags contradict each other (exit 2)."""
    try:
        return make_executor(args.executor, args.ray_address)
    except ExecutorUnavailableError as exc:
        raise CliError(str(exc), FAILED_EXIT) from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
