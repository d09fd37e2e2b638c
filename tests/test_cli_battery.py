"""Every command of the lab answers bad input with one clear line and the right exit status,
never a traceback (core.cli's promise).

The battery is generated from each command's own parser: every flag that takes a number gets
0, a negative, nan, inf, text, a subnormal (1e-320) and an overflow (1e309); every free-text
flag gets an unknown name; plus unreadable run databases and unwritable outputs. Training
commands get `--db <a directory>`, so a value that is in fact allowed ends at the database
check (exit 1) instead of training: the battery never trains.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from core.cli import CliError, check_outputs, exit_status

ROOT = Path(__file__).resolve().parents[1]
BAD_NUMBERS = ["0", "-1", "nan", "inf", "abc", "1e-320", "1e309", "-1e309"]
BAD_NAMES = ["no-such-thing"]

# module -> (main function name, argv prefix, does it train)
COMMANDS = {
    "core.mnist.__main__": ("main", ["train"], True),
    "core.noise.__main__": ("main", [], True),
    "core.toy.__main__": ("main", [], True),
    "core.study.cli": ("main", [], True),
    "core.curves": ("_main", [], False),
    "core.pseudograd": ("_main", [], False),
    "core.losses": ("_main", ["ce"], False),
    "core.data.cli": ("main", [], False),
    "core.datamap.cli": ("main", ["--npz", str(Path(tempfile.gettempdir()) / "battery.npz")], True),
    "core.engine.runstore_cli": ("main", ["list"], False),
    "core.playground.cli": ("main", ["--steps", "2", "--points", "20", "--test-points", "20", "--grid", "4", "--quiet"],
                            False),
}
SKIP_FLAGS = {"--help", "--executor", "--ray-address", "--db", "--json", "--csv", "--npz", "--data-dir", "--preset"}
TEXT_FLAGS = {"--dataset", "--activation", "--noise", "--objective", "--objectives", "--device", "--k-schedule",
              "--status"}


def _parser_of(module) -> argparse.ArgumentParser:
    for name in ("build_parser", "_parser"):
        if hasattr(module, name):
            return getattr(module, name)()
    return None


def _flags(parser: argparse.ArgumentParser, prefix: list[str]) -> list[argparse.Action]:
    """The parser's own actions, or its subcommand's."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices[prefix[0]]._actions)
    return list(parser._actions)


def _cases() -> list[tuple[str, list[str]]]:
    cases = []
    for module_name, (_, prefix, _trains) in COMMANDS.items():
        module = importlib.import_module(module_name)
        parser = _parser_of(module)
        if parser is None:
            continue
        for action in _flags(parser, prefix):
            flag = next((o for o in action.option_strings if o.startswith("--")), None)
            if flag is None or flag in SKIP_FLAGS or action.nargs == 0:
                continue
            if action.type is not None and action.type is not str:
                cases += [(module_name, prefix + [flag, value]) for value in BAD_NUMBERS]
            elif flag in TEXT_FLAGS:
                cases += [(module_name, prefix + [flag, value]) for value in BAD_NAMES]
    return cases


CASES = _cases()


@pytest.fixture
def directory_db(tmp_path):
    """A directory where the run database should be: any command that gets past its argument
    checks stops there (exit 1) instead of training."""
    path = tmp_path / "runs.sqlite"
    path.mkdir()
    return path


def _call(module_name: str, argv: list[str], capsys) -> tuple[int, str]:
    module = importlib.import_module(module_name)
    main = getattr(module, COMMANDS[module_name][0])
    threads = torch.get_num_threads()
    try:
        code = main(argv)
    finally:
        torch.set_num_threads(threads)
    err = capsys.readouterr().err
    return code, err


def test_the_battery_covers_every_command_and_many_cases():
    """The generated battery has cases for every command and well over a hundred in all."""
    covered = {module for module, _ in CASES}
    assert covered == set(COMMANDS), set(COMMANDS) - covered
    assert len(CASES) >= 150


@pytest.mark.parametrize("module_name,argv", CASES, ids=[f"{m}:{' '.join(a)}" for m, a in CASES])
def test_bad_value_is_one_line_never_a_traceback(module_name, argv, capsys, directory_db, monkeypatch, tmp_path):
    """A bad (or borderline) value ends the command with exit 2 (bad argument) or 1 (stopped at
    the database check), one error line naming the command, and no traceback or 'unexpected'."""
    monkeypatch.setenv("TUNABLE_RUNS_DB", str(directory_db))
    extra = ["--db", str(directory_db)] if COMMANDS[module_name][2] else []
    code, err = _call(module_name, argv + extra, capsys)
    lines = [line for line in err.splitlines() if "error" in line]
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err and "unexpected" not in err, err
    if code:
        assert len(lines) == 1, err


@pytest.mark.parametrize("module_name", [m for m, (_, _, trains) in COMMANDS.items() if trains])
@pytest.mark.parametrize("content", ["directory", "truncated", "not-a-database"])
def test_unusable_run_database_names_the_file(module_name, content, tmp_path, capsys):
    """A run database that is a directory, truncated or not SQLite: exit 1 and one line naming
    the file and saying to move it aside."""
    db = tmp_path / "runs.sqlite"
    if content == "directory":
        db.mkdir()
    elif content == "truncated":
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE t (x)")
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 200)
        conn.commit()
        conn.close()
        db.write_bytes(db.read_bytes()[:3000])
    else:
        db.write_bytes(b"this is not a database\n" * 100)
    prefix = COMMANDS[module_name][1]
    code, err = _call(module_name, prefix + ["--db", str(db), "--epochs", "1"] if module_name != "core.toy.__main__"
                      else ["--db", str(db), "--runs", "1"], capsys)
    assert code == 1, err
    assert str(db) in err and "move it aside" in err.lower(), err
    assert "Traceback" not in err


@pytest.mark.parametrize("module_name", ["core.mnist.__main__", "core.noise.__main__", "core.toy.__main__",
                                         "core.study.cli"])
def test_unwritable_output_is_refused_before_any_work(module_name, tmp_path, capsys):
    """--json naming a directory, or a file in a missing folder, is refused at once (exit 2)."""
    prefix = COMMANDS[module_name][1]
    for target in (tmp_path, tmp_path / "missing" / "out.json"):
        code, err = _call(module_name, prefix + ["--json", str(target), "--db", str(tmp_path / "db.sqlite")], capsys)
        assert code == 2, err
        assert "--json" in err and "Traceback" not in err


def test_check_outputs_accepts_a_new_file_in_an_existing_folder(tmp_path):
    """A new file in a writable folder passes; a directory does not."""
    check_outputs(argparse.Namespace(json=str(tmp_path / "a.json"), csv=None))
    with pytest.raises(CliError):
        check_outputs(argparse.Namespace(json=str(tmp_path), csv=None))


@pytest.mark.parametrize("statuses,errors,code", [
    (["done", "diverged"], [], 0),
    (["done", "failed"], ["boom"], 1),
    (["interrupted"], [], 1),
    (["done", "stopped"], [], 130),
    (["failed", "stopped"], [], 1),
])
def test_exit_status_rule(statuses, errors, code, capsys):
    """0: done or diverged; 1: any failed or interrupted (errors printed once each); 130: stopped."""
    assert exit_status(statuses, errors + errors) == code
    assert capsys.readouterr().err.count("boom") == (1 if "boom" in errors else 0)


@pytest.mark.parametrize("argv,code,needle", [
    (["core.mnist", "train", "--k", "1", "--n-train", "1000000000", "--n-val", "100", "--n-test", "100",
      "--hidden", "16", "--epochs", "1"], 2, "n_train"),
    (["core.mnist", "train", "--k", "1e-320"], 2, "1e-320"),
    (["core.toy", "--ks", "1e-320"], 2, "1e-320"),
    (["core.curves", "--k", "1e-320"], 2, "1e-320"),
    (["core.mnist", "train", "--threads", "-1"], 2, "--threads"),
])
def test_real_process_exit_status_and_one_line(argv, code, needle, tmp_path):
    """As a user runs them: the process exits with the rule's status and prints one error line,
    no traceback."""
    env = {**os.environ, "TUNABLE_RUNS_DB": str(tmp_path / "runs.sqlite")}
    proc = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == code, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if "error" in line]) == 1


def test_a_diverged_run_is_a_note_not_an_error(capsys):
    """Diverged runs end with exit 0 and their reason as a note; a failure beside them is still an error."""
    assert exit_status(["done", "diverged", "diverged"], [None, "non-finite loss", "non-finite loss"]) == 0
    err = capsys.readouterr().err
    assert err.strip() == "note: 2 of 3 run(s) diverged: non-finite loss"
    assert exit_status(["diverged", "failed"], ["non-finite loss", "boom"]) == 1
    assert capsys.readouterr().err.splitlines() == ["note: 1 of 2 run(s) diverged: non-finite loss", "error: boom"]
