"""Tests for core.engine.runstore_cli (`python -m core.runstore`): what it prints, its exit codes,
and that it reads the store in one query."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.engine.runstore_cli import main, runs_json
from core.engine.store import RunStore
from tests.conftest import ROOT


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite")


def test_python_m_core_runstore_lists_the_runs_as_json(store):
    """`python -m core.runstore --db FILE list --json` prints every run, newest first, with its config,
    summary and epoch count (the short module name keeps working)."""
    first = store.create_run("mnist", {"k": 0.5}, label="k=0.5")
    store.log_epoch(first, 1, {"loss": 0.3})
    store.finish(first, "done", summary={"test_acc": 0.9})
    second = store.create_run("toy", {"alpha": 1.0})
    out = subprocess.run([sys.executable, "-m", "core.runstore", "--db", str(store.path), "list", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert [r["id"] for r in listed] == [second, first]
    assert listed[1]["config"] == {"k": 0.5} and listed[1]["summary"] == {"test_acc": 0.9}
    assert listed[1]["epochs"] == 1 and listed[1]["status"] == "done"


def test_runs_json_reads_the_store_in_one_query(store):
    """runs_json of 30 runs runs one SELECT (not one per run), and --limit keeps the newest."""
    ids = [store.create_run("toy", {"i": i}) for i in range(30)]
    seen: list[str] = []
    store._connect().set_trace_callback(seen.append)
    assert [r["id"] for r in runs_json(store)] == ids[::-1]
    assert sum(q.lstrip().upper().startswith("SELECT") for q in seen) == 1
    assert [r["id"] for r in runs_json(store, limit=3)] == ids[:-4:-1]


def test_an_unreadable_database_is_one_line_and_exit_1(tmp_path, capsys):
    """A directory where the database should be: exit 1 and one line on stderr naming it (no traceback)."""
    path = tmp_path / "runs.sqlite"
    path.mkdir()
    assert main(["--db", str(path), "list", "--json"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "Move it aside" in err


def test_delete_of_a_running_run_is_refused_with_exit_1(store, capsys):
    """`delete` of a running run exits 1 with a message saying to stop it first, and deletes nothing."""
    run_id = store.create_run("toy", {})
    store.mark_running(run_id, "cpu")
    assert main(["--db", str(store.path), "delete", str(run_id)]) == 1
    assert "Stop them first" in capsys.readouterr().err
    assert store.get_run(run_id)["status"] == "running"


def test_bad_arguments_exit_2(store, capsys):
    """--limit 0 or an unknown status is a bad argument: exit 2 and one line naming it."""
    assert main(["--db", str(store.path), "list", "--limit", "0"]) == 2
    assert main(["--db", str(store.path), "list", "--status", "finished"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "--limit" in err[0] and "finished" in err[1]
