"""Tests for core.engine.store: the SQLite run history, its durability and crash recovery."""

from __future__ import annotations

import json
import math
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from core.engine import store as runstore
from core.engine.store import SCHEMA_VERSION, RunNotFoundError, RunStore, RunStoreError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite")


def _child(db: Path, body: str) -> subprocess.Popen:
    """A separate Python process that opens the store at `db` as `store` and runs `body`."""
    script = f"from core.engine.store import RunStore\nstore = RunStore({str(db)!r})\n" + textwrap.dedent(body)
    return subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_create_log_finish_roundtrip(store):
    """What a run is created, logged and finished with is what get_run and history give back."""
    config = {"k": 0.5, "optimizer": {"lr": 0.1, "momentum": 0.9}, "hidden": (256, 128)}
    run_id = store.create_run("mnist", config, label="k=0.5", group_id="g1")
    assert store.get_run(run_id)["status"] == "queued"
    store.mark_running(run_id, device="cpu")
    for epoch in (1, 2, 3):
        store.log_epoch(run_id, epoch, {"train_loss": 1.0 / epoch, "val_acc": 0.9 + epoch / 100})
    store.finish(run_id, "done", summary={"test_acc": 0.98}, result={"curve": [1, 2, 3]})

    run = store.get_run(run_id)
    assert run["kind"] == "mnist" and run["label"] == "k=0.5" and run["group_id"] == "g1"
    assert run["config"] == {"k": 0.5, "optimizer": {"lr": 0.1, "momentum": 0.9}, "hidden": [256, 128]}
    assert (run["status"], run["device"], run["epochs_done"]) == ("done", "cpu", 3)
    assert run["summary"] == {"test_acc": 0.98} and run["result"] == {"curve": [1, 2, 3]}
    assert run["created_at"] <= run["started_at"] <= run["finished_at"]
    assert run["seconds"] == pytest.approx(run["finished_at"] - run["started_at"])
    hist = store.history(run_id)
    assert list(hist.columns) == ["run_id", "epoch", "at", "train_loss", "val_acc"]
    assert hist["epoch"].tolist() == [1, 2, 3]
    assert hist["train_loss"].tolist() == pytest.approx([1.0, 0.5, 1 / 3])


def test_database_is_wal_with_versioned_schema(store):
    """The file is in WAL journal mode and carries the schema version in user_version."""
    assert store.journal_mode == "wal"
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()
    RunStore(store.path)  # reopening an existing database neither fails nor recreates it


def test_newer_schema_is_refused(tmp_path):
    """A database written by a newer schema version raises RunStoreError instead of being used."""
    path = tmp_path / "runs.sqlite"
    RunStore(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RunStoreError, match="newer"):
        RunStore(path)


def test_env_var_sets_default_path(tmp_path, monkeypatch):
    """With no path given, $TUNABLE_RUNS_DB names the database file."""
    monkeypatch.setenv(runstore.ENV_VAR, str(tmp_path / "sub" / "mine.sqlite"))
    assert RunStore().path == tmp_path / "sub" / "mine.sqlite"
    assert (tmp_path / "sub" / "mine.sqlite").is_file()


def test_concurrent_writers_from_two_threads(store, tmp_path):
    """Two threads logging at the same time (one through its own RunStore) lose no epoch and raise nothing."""
    other = RunStore(store.path)
    run_ids = [store.create_run("toy", {"i": i}) for i in range(2)]
    start = threading.Barrier(2)
    errors = []

    def writer(s: RunStore, run_id: int) -> None:
        try:
            start.wait(timeout=5)
            s.mark_running(run_id, "cpu")
            for epoch in range(1, 41):
                s.log_epoch(run_id, epoch, {"loss": float(epoch)})
            s.finish(run_id, "done")
        except Exception as exc:  # collected: an assert in a thread would not fail the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s, r)) for s, r in zip((store, other), run_ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    assert errors == []
    hist = store.history(run_ids)
    assert hist.groupby("run_id")["epoch"].apply(list).to_dict() == {r: list(range(1, 41)) for r in run_ids}
    assert [store.get_run(r)["epochs_done"] for r in run_ids] == [40, 40]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_process_run_becomes_interrupted_with_its_epochs(store):
    """A run whose process was SIGKILLed mid-run is marked interrupted by recover_interrupted,
    keeping every committed epoch; a running run of the current process is left alone."""
    child = _child(
        store.path,
        """
        import os, signal
        run_id = store.create_run("mnist", {"k": 2.0}, label="doomed")
        store.mark_running(run_id, "cpu")
        for epoch in (1, 2, 3):
            store.log_epoch(run_id, epoch, {"loss": 1.0 / epoch})
        print(run_id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """,
    )
    out, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, err
    crashed = int(out.strip())
    assert store.get_run(crashed)["status"] == "running"  # as the dead process left it

    mine = store.create_run("mnist", {"k": 1.0}, label="live")
    store.mark_running(mine, "cpu")
    queued_mine = store.create_run("mnist", {"k": 0.5})

    assert RunStore(store.path).recover_interrupted() == 1
    run = store.get_run(crashed)
    assert run["status"] == "interrupted"
    assert str(child.pid) in run["error"]
    assert run["epochs_done"] == 3 and run["finished_at"] is not None
    assert store.history(crashed)["loss"].tolist() == pytest.approx([1.0, 0.5, 1 / 3])
    assert store.get_run(mine)["status"] == "running"
    assert store.get_run(queued_mine)["status"] == "queued"
    assert store.recover_interrupted() == 0  # idempotent


def test_runs_of_another_live_process_are_not_interrupted(store):
    """recover_interrupted leaves a live process's running run alone, and marks it once that process exits."""
    child = _child(
        store.path,
        """
        import sys
        run_id = store.create_run("toy", {})
        store.mark_running(run_id, "cpu")
        print(run_id, flush=True)
        sys.stdin.read()  # stay alive until the test closes stdin
        import os
        os._exit(0)  # leave the run 'running', as a crash would
        """,
    )
    try:
        run_id = int(child.stdout.readline())
        assert store.recover_interrupted() == 0
        assert store.get_run(run_id)["status"] == "running"
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert store.recover_interrupted() == 1
    assert store.get_run(run_id)["status"] == "interrupted"


def test_list_runs_filters_and_flattens(store):
    """list_runs filters by kind, status and group (one value or several), newest first, with
    config as cfg.* and summary as final.* columns."""
    a = store.create_run("toy", {"k": 1.0}, group_id="g1")
    b = store.create_run("mnist", {"k": 2.0, "opt": {"lr": 0.1}}, group_id="g1")
    c = store.create_run("mnist", {"k": 3.0}, group_id="g2")
    store.mark_running(b, "cpu")
    store.finish(b, "done", summary={"test_acc": 0.97})
    store.finish(c, "diverged", error="loss is NaN")

    assert store.list_runs()["id"].tolist() == [c, b, a]
    assert store.list_runs(kind="mnist")["id"].tolist() == [c, b]
    assert store.list_runs(status="done")["id"].tolist() == [b]
    assert store.list_runs(status=["done", "diverged"])["id"].tolist() == [c, b]
    assert store.list_runs(group_id="g1", kind="mnist")["id"].tolist() == [b]
    assert store.list_runs(kind="noise").empty
    frame = store.list_runs(kind="mnist")
    assert list(frame.columns) == [*runstore.RUN_COLUMNS, "cfg.k", "cfg.opt.lr", "final.test_acc"]
    row = frame.set_index("id").loc[b]
    assert (row["cfg.k"], row["cfg.opt.lr"], row["final.test_acc"]) == (2.0, 0.1, 0.97)
    assert frame.set_index("id").loc[c, "error"] == "loss is NaN"
    assert "result" in store.list_runs(with_result=True).columns


def test_delete_removes_runs_and_their_epochs(store):
    """delete_runs removes the runs and their epochs, and nothing else."""
    gone, kept = store.create_run("toy", {}), store.create_run("toy", {})
    for run_id in (gone, kept):
        store.log_epoch(run_id, 1, {"loss": 1.0})
        store.finish(run_id, "done")
    assert store.delete_runs([gone]) == 1
    with pytest.raises(RunNotFoundError):
        store.get_run(gone)
    assert store.history([gone, kept])["run_id"].tolist() == [kept]
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(*) FROM epochs WHERE run_id = ?", (gone,)).fetchone()[0] == 0
    conn.close()
    assert store.create_run("toy", {}) > kept  # ids are never reused


def test_nonfinite_and_numpy_metrics_roundtrip_as_valid_json(store):
    """NaN, +-inf and NumPy scalars/arrays in metrics are stored as standard JSON and read back as floats."""
    run_id = store.create_run("noise", {"eta": np.float32(0.25), "sizes": np.arange(3)})
    store.log_epoch(run_id, 1, {"loss": math.nan, "grad": math.inf, "low": -math.inf, "acc": np.float64(0.5)})
    store.finish(run_id, "diverged", summary={"loss": float("nan")})

    conn = sqlite3.connect(store.path)
    raw = conn.execute("SELECT metrics, json_valid(metrics) FROM epochs WHERE run_id = ?", (run_id,)).fetchone()
    conn.close()
    assert raw[1] == 1

    def strict(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    json.loads(raw[0], parse_constant=strict)
    row = store.history(run_id).iloc[0]
    assert math.isnan(row["loss"]) and row["grad"] == math.inf and row["low"] == -math.inf
    assert row["acc"] == 0.5
    run = store.get_run(run_id)
    assert run["config"] == {"eta": 0.25, "sizes": [0, 1, 2]}
    assert math.isnan(run["summary"]["loss"])


def test_bad_status_and_unknown_run_are_refused(store):
    """finish needs a final status; logging to or finishing a missing run raises RunNotFoundError."""
    run_id = store.create_run("toy", {})
    with pytest.raises(ValueError, match="final status"):
        store.finish(run_id, "running")
    with pytest.raises(RunNotFoundError):
        store.log_epoch(run_id + 100, 1, {})
    with pytest.raises(RunNotFoundError):
        store.finish(run_id + 100, "done")


def test_export_csv_has_one_row_per_epoch_with_run_columns(store, tmp_path):
    """export_csv writes one row per (run, epoch) carrying the run's label and config."""
    import pandas as pd

    run_id = store.create_run("mnist", {"k": 0.5}, label="k=0.5")
    store.log_epoch(run_id, 1, {"loss": 0.3})
    store.log_epoch(run_id, 2, {"loss": 0.2})
    path = tmp_path / "out.csv"
    text = store.export_csv([run_id], path)
    frame = pd.read_csv(path)
    assert path.read_text() == text
    assert frame[["run_id", "epoch", "label", "loss", "cfg.k"]].values.tolist() == [
        [run_id, 1, "k=0.5", 0.3, 0.5],
        [run_id, 2, "k=0.5", 0.2, 0.5],
    ]


def test_owner_logging_again_revives_its_interrupted_run(store):
    """A run wrongly marked interrupted goes back to running when its own process logs an epoch."""
    run_id = store.create_run("toy", {})
    store.mark_running(run_id, "cpu")
    conn = sqlite3.connect(store.path)
    with conn:
        conn.execute("UPDATE runs SET status = 'interrupted', finished_at = 1.0 WHERE id = ?", (run_id,))
    conn.close()
    store.log_epoch(run_id, 1, {"loss": 1.0})
    run = store.get_run(run_id)
    assert (run["status"], run["finished_at"]) == ("running", None)


def _filled(path: Path, runs: int = 40) -> None:
    """A database at `path` with `runs` finished runs, each with a few epochs (several pages of data)."""
    store = RunStore(path)
    for i in range(runs):
        run_id = store.create_run("toy", {"i": i, "pad": "x" * 200})
        store.log_epoch(run_id, 1, {"loss": 1.0})
        store.finish(run_id, "done")
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, as after a clean exit
    conn.close()


def _truncate(path: Path) -> None:
    _filled(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", ["directory", "truncated", "truncated header", "not sqlite"])
def test_an_unreadable_database_raises_one_clear_error(tmp_path, damage):
    """A directory, a truncated file or a file that is not SQLite at the database path raises
    StoreUnreadableError (a RunStoreError, never a raw sqlite3 error) naming the file and saying to
    move it aside."""
    from core.engine.store import StoreUnreadableError

    path = tmp_path / "runs.sqlite"
    if damage == "directory":
        path.mkdir()
    elif damage == "truncated":
        _truncate(path)
    elif damage == "truncated header":
        _filled(path)
        path.write_bytes(path.read_bytes()[:60])
    else:
        path.write_text("id,loss\n1,0.5\n" * 50)
    with pytest.raises(StoreUnreadableError) as caught:
        RunStore(path).list_runs()
    message = str(caught.value)
    assert str(path) in message and "Move it aside" in message and "\n" not in message
    assert isinstance(caught.value, RunStoreError) and not isinstance(caught.value, sqlite3.Error)


def test_damage_found_while_reading_raises_the_same_error(tmp_path):
    """A page of the file overwritten with junk after opening: the read that meets it raises
    StoreUnreadableError, not sqlite3.DatabaseError."""
    from core.engine.store import StoreUnreadableError

    path = tmp_path / "runs.sqlite"
    _filled(path, runs=200)
    store = RunStore(path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[2 * page:] = b"\xff" * (len(data) - 2 * page)  # every page after the first two
    path.write_bytes(bytes(data))
    store.close()
    with pytest.raises(StoreUnreadableError, match="Move it aside"):
        RunStore(path).list_runs()


def test_delete_refuses_queued_and_running_runs(store):
    """delete_runs of a queued or running run raises ActiveRunError naming it and deletes nothing;
    once the run has ended it is deleted."""
    from core.engine.store import ActiveRunError

    queued, running, done = (store.create_run("toy", {}) for _ in range(3))
    store.mark_running(running, "cpu")
    store.finish(done, "done")
    with pytest.raises(ActiveRunError, match=rf"#{queued} \(queued\), #{running} \(running\).*Stop them first"):
        store.delete_runs([done, queued, running])
    assert sorted(store.list_runs()["id"]) == [queued, running, done]
    store.finish(running, "stopped")
    store.finish(queued, "stopped")
    assert store.delete_runs([done, queued, running]) == 3


def _queries(store) -> list[str]:
    """Every SQL statement the calling thread's connection runs from now on."""
    seen: list[str] = []
    store._connect().set_trace_callback(seen.append)
    return seen


def test_readers_filter_and_limit_in_one_query(store):
    """list_runs and runs filter by ids, by a key inside the config and to the newest N in SQL, with
    one SELECT each; count_runs and status_counts count without reading the runs."""
    ids = [store.create_run("study", {"study": {"id": "s1" if i % 2 else "s2"}, "i": i}) for i in range(6)]
    store.create_run("toy", {"i": 99})
    for run_id in ids[:4]:
        store.finish(run_id, "done", summary={"acc": 0.5})
    seen = _queries(store)
    assert store.list_runs(kind="study", limit=2)["id"].tolist() == ids[:-3:-1]
    assert store.list_runs(ids=[ids[0], ids[3], 10_000])["id"].tolist() == [ids[3], ids[0]]
    assert [r["id"] for r in store.runs(kind="study", config={"study.id": "s1"})] == [ids[5], ids[3], ids[1]]
    assert [r["config"]["i"] for r in store.runs(ids=ids[:2])] == [1, 0]
    assert store.runs(ids=ids[:1])[0]["summary"] == {"acc": 0.5}
    assert len([q for q in seen if q.lstrip().upper().startswith("SELECT")]) == 5  # one per call
    assert store.count_runs(kind="study") == 6 and store.count_runs(config={"study.id": "s2"}) == 3
    assert store.status_counts(kind="study") == {"done": 4, "queued": 2}


def test_export_reads_only_the_runs_it_exports(store):
    """export_csv of some runs works even when another run's row cannot be decoded: it reads only
    the runs asked for (not every run of every kind)."""
    run_id = store.create_run("mnist", {"k": 0.5}, label="k=0.5")
    store.log_epoch(run_id, 1, {"loss": 0.3})
    other = store.create_run("toy", {})
    conn = sqlite3.connect(store.path)
    with conn:
        conn.execute("UPDATE runs SET config = '{broken' WHERE id = ?", (other,))
    conn.close()
    assert "k=0.5" in store.export_csv([run_id])


def test_end_process_runs_ends_this_process_runs_for_good(store):
    """end_process_runs marks this process's running runs interrupted and queued ones stopped, keeps
    ended ones, and afterwards an epoch or finish from a late training thread changes nothing."""
    queued, running, done = (store.create_run("toy", {}) for _ in range(3))
    store.mark_running(running, "cpu")
    store.log_epoch(running, 1, {"loss": 1.0})
    store.finish(done, "done")
    assert store.end_process_runs("the server received SIGTERM") == 2
    store.log_epoch(running, 2, {"loss": 0.5})
    store.finish(running, "stopped")
    runs = {r["id"]: r for r in store.runs()}
    assert [runs[i]["status"] for i in (queued, running, done)] == ["stopped", "interrupted", "done"]
    assert runs[running]["error"] == "the server received SIGTERM" and runs[running]["epochs_done"] == 1
    with pytest.raises(RunStoreError, match="ending"):
        store.create_run("toy", {})
