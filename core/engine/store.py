"""Run history: every experiment run saved as it trains, in one local SQLite file.

What: `RunStore` keeps one row per run (kind, config, status, timings, final metrics, an
optional larger result) and one row per logged epoch, in `<data dir>/runs.sqlite`
(`$TUNABLE_RUNS_DB` overrides the path, and so does `RunStore(path)`). Runs of every kind
share it: "toy", "mnist", "noise", or any other text.

Why: a run that took an hour must survive the browser tab, the Streamlit server and the
machine. Each epoch is committed the moment it is logged (WAL journal, synchronous=FULL),
so a crash loses at most the epoch in flight; on the next start `recover_interrupted()`
marks runs whose process died as "interrupted", keeping every epoch they logged (and runs that
never started as "stopped"). Every run records its provenance (code version, torch, device:
core.engine.status.provenance). Statuses are core.engine.status's words; core.engine.lab is
the one component that changes them.

How:

    from core.engine.store import RunStore
    store = RunStore()                                   # or RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run("mnist", {"k": 0.5, "lr": 0.1}, label="k=0.5", group_id="job-3f2a")
    store.mark_running(run_id, device="cuda")
    for epoch in range(1, 11):
        store.log_epoch(run_id, epoch, {"train_loss": 0.3, "val_acc": 0.97})
    store.finish(run_id, "done", summary={"test_acc": 0.981})

    store.list_runs(kind="mnist", limit=500)   # newest first: id, kind, ..., cfg.k, cfg.lr, final.test_acc
    store.history([run_id])           # one row per (run_id, epoch): run_id, epoch, at, train_loss, val_acc
    store.recover_interrupted()       # at process start: dead owners' running runs -> interrupted, queued -> stopped
    store.delete_runs([run_id])       # ended runs only: ActiveRunError for a queued or running one

    python -m core.runstore list [--kind mnist] [--status done] [--json]   (core/engine/runstore_cli.py)

The readers (filtered and limited in SQL) are in core.engine.queries. A file that cannot be a run
database (a directory, a truncated or foreign file) raises StoreUnreadableError, a RunStoreError
whose one-line message names the file and says to move it aside (core.engine.dbfile).

Threads and processes: each thread uses its own connection (sqlite3 objects must not
cross threads), with a busy timeout, so any number of threads and processes may share one
database, and one RunStore object may be shared by all threads of a process. Each run
records an owner token (host, pid, process start time, and a per-process nonce);
`recover_interrupted()` never touches runs owned by the current process or by another
process that is still alive. The database is meant to live on a local disk of one
machine: runs owned by another host are treated as dead (and revive to "running" if
their owner logs another epoch). A durable commit costs a few milliseconds (one fsync):
log once per epoch, not once per step. A process that is ending calls `end_process_runs()`
(core.engine.lab does, at SIGTERM or exit): its runs end at once, and its store writes no more.

JSON columns (config, summary, result, epoch metrics) accept NumPy/torch scalars and arrays
(via `.tolist()`), dataclasses, paths, sets and tuples. Non-finite floats are stored as the
strings "NaN", "Infinity" and "-Infinity", so the JSON stays standard (SQLite's json_*
functions read it), and they are turned back into floats when read.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from core.engine.dbfile import ENV_VAR, RunStoreError, StoreUnreadableError, check_file, translated
from core.engine.owner import owner_alive, owner_token
from core.engine.queries import JSON_FIELDS, RUN_COLUMNS, RunNotFoundError, RunQueries, as_ids, where_clause
from core.engine.status import FINAL, check_status, to_jsonable
from core.paths import data_dir

__all__ = ["ENV_VAR", "DB_NAME", "JSON_FIELDS", "RUN_COLUMNS", "ActiveRunError", "RunNotFoundError", "RunStore",
           "RunStoreError", "StoreUnreadableError", "default_path", "owner_alive", "owner_token"]

DB_NAME = "runs.sqlite"
SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 30.0  # how long a write waits for another writer before raising


_SCHEMA = """
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, even after delete
    kind        TEXT NOT NULL,                      -- "toy", "mnist", "noise", ...
    group_id    TEXT,                               -- runs launched together (a job id)
    label       TEXT NOT NULL DEFAULT '',
    config      TEXT NOT NULL,                      -- JSON object
    status      TEXT NOT NULL,                      -- one of core.engine.status.STATUSES
    device      TEXT,
    created_at  REAL NOT NULL,                      -- Unix time, seconds
    started_at  REAL,
    finished_at REAL,
    seconds     REAL,                               -- finished_at - started_at
    epochs_done INTEGER NOT NULL DEFAULT 0,         -- highest epoch logged
    error       TEXT,
    summary     TEXT,                               -- JSON object: final metrics
    result      TEXT,                               -- JSON: optional larger payload
    owner       TEXT,                               -- owner token of the process running it
    provenance  TEXT                                -- JSON object: code version, torch, device, host
);
CREATE INDEX runs_kind ON runs(kind);
CREATE INDEX runs_group ON runs(group_id);
CREATE INDEX runs_status ON runs(status);
CREATE TABLE epochs (
    run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch   INTEGER NOT NULL,
    metrics TEXT NOT NULL,                          -- JSON object
    at      REAL NOT NULL,                          -- Unix time, seconds
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
"""


class ActiveRunError(RuntimeError):
    """The runs are still queued or running (delete needs ended runs); the message names them."""


# ---------------------------------------------------------------- JSON


def _dumps(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), allow_nan=False, separators=(",", ":"))


# ---------------------------------------------------------------- the store


def default_path() -> Path:
    """`$TUNABLE_RUNS_DB`, else `<data dir>/runs.sqlite` (see core.data.data_dir)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return data_dir() / DB_NAME


class RunStore(RunQueries):
    """Experiment runs and their per-epoch metrics in one SQLite file (see module docstring).

    Safe to share between threads and processes: each thread uses its own connection."""

    def __init__(self, path: str | os.PathLike | None = None):
        """Open (or create) the database. RunStoreError if it cannot be used: StoreUnreadableError
        for a damaged file or a directory, naming the file and saying to move it aside."""
        self.path = Path(path).expanduser() if path is not None else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunStoreError(
                f"cannot create {self.path.parent} for the run database: {exc}. "
                f"Set {ENV_VAR} to a writable file path."
            ) from exc
        check_file(self.path)
        self._local = threading.local()
        self._ended_reason: str | None = None  # set by end_process_runs: this store writes no more
        self.journal_mode = self._init_schema()

    # -------------------------------------------------------- connections and schema

    def _connect(self) -> sqlite3.Connection:
        """This thread's connection to the database, opened on first use.

        sqlite3 connections must stay in the thread that made them, so each thread gets its
        own; it is reused (closing the last connection to a WAL database checkpoints it,
        which would cost an fsync per call) and closed when the thread ends or by close()."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():  # a forked child opens its own
            return conn
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")  # a committed epoch survives power loss too
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        """Close the calling thread's connection (the next call opens a new one)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with translated(self.path):
            yield self._connect()  # autocommit mode: each statement reads a consistent snapshot

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction, holding the write lock from its start (no deadlock on upgrade)."""
        with translated(self.path):
            conn = self._connect()
            if conn.in_transaction:  # one an exception (a signal) cut short between BEGIN and its end
                conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _writable(self) -> bool:
        """False once end_process_runs ran: this process is ending and its runs' statuses are final."""
        return self._ended_reason is None

    def _init_schema(self) -> str:
        with self._read() as conn:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]  # persists in the file
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RunStoreError(
                    f"{self.path} has schema version {version}, newer than this code's {SCHEMA_VERSION}: "
                    f"update the project, or point {ENV_VAR} at another file."
                )
            if version == 0:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            elif version < 2:
                conn.execute("ALTER TABLE runs ADD COLUMN provenance TEXT")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return str(mode).lower()

    # -------------------------------------------------------- writing

    def create_run(
        self,
        kind: str,
        config: Mapping[str, Any] | Any,
        label: str = "",
        group_id: str | None = None,
        status: str = "queued",
        device: str | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> int:
        """Add a run (config: a dict or dataclass; provenance: core.engine.status.provenance()) and
        return its id."""
        check_status(status)
        if not self._writable():
            raise RunStoreError(f"this process is ending ({self._ended_reason}): it creates no more runs")
        now = time.time()
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO runs (kind, group_id, label, config, status, device, created_at, started_at, owner,"
                " provenance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    str(kind), group_id, str(label), _dumps(config), status,
                    None if device is None else str(device), now,
                    now if status == "running" else None, owner_token(),
                    None if provenance is None else _dumps(provenance),
                ),
            )  # fmt: skip
            return int(cursor.lastrowid)

    def mark_running(self, run_id: int, device: str | None = None) -> None:
        """The run has started, in this process, on `device`."""
        if not self._writable():
            return
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE runs SET status = 'running', started_at = ?, device = COALESCE(?, device), owner = ?"
                " WHERE id = ?",
                (time.time(), None if device is None else str(device), owner_token(), int(run_id)),
            )
            if cursor.rowcount == 0:
                raise RunNotFoundError(run_id)

    def log_epoch(self, run_id: int, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Save one epoch's metrics, committed before returning. Epochs count completed epochs
        (1 after the first; 0 may hold an evaluation before training); logging the same epoch
        twice keeps the later metrics."""
        run_id, epoch = int(run_id), int(epoch)
        if not self._writable():
            return
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT OR REPLACE INTO epochs (run_id, epoch, metrics, at) VALUES (?, ?, ?, ?)",
                    (run_id, epoch, _dumps(metrics), time.time()),
                )
            except sqlite3.IntegrityError as exc:  # the foreign key: no such run
                raise RunNotFoundError(run_id) from exc
            # an owner that was wrongly presumed dead (another host) revives its run
            conn.execute(
                "UPDATE runs SET epochs_done = MAX(epochs_done, ?),"
                " status = CASE WHEN status = 'interrupted' AND owner = ? THEN 'running' ELSE status END,"
                " finished_at = CASE WHEN status = 'interrupted' AND owner = ? THEN NULL ELSE finished_at END"
                " WHERE id = ?",
                (epoch, owner_token(), owner_token(), run_id),
            )

    def finish(
        self,
        run_id: int,
        status: str,
        summary: Mapping[str, Any] | None = None,
        result: Any = None,
        error: str | None = None,
    ) -> None:
        """End a run with a final status, its final metrics, an optional payload and error text."""
        check_status(status, FINAL, what="final status")
        if not self._writable():
            return
        now = time.time()
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?,"
                " seconds = CASE WHEN started_at IS NULL THEN NULL ELSE ? - started_at END,"
                " summary = COALESCE(?, summary), result = COALESCE(?, result), error = ? WHERE id = ?",
                (
                    status, now, now,
                    None if summary is None else _dumps(summary),
                    None if result is None else _dumps(result),
                    error, int(run_id),
                ),
            )  # fmt: skip
            if cursor.rowcount == 0:
                raise RunNotFoundError(run_id)

    def delete_runs(self, run_ids: int | Iterable[int]) -> int:
        """Delete ended runs and their epochs; returns how many runs were deleted. ActiveRunError
        (nothing deleted) if any of them is still queued or running: stop it first."""
        ids = as_ids(run_ids)
        if not ids:
            return 0
        where, params = where_clause(ids=ids)
        with self._write() as conn:
            active = conn.execute(f"SELECT id, status FROM runs{where} AND status IN ('queued', 'running')"
                                  " ORDER BY id", params).fetchall()
            if active:
                listed = ", ".join(f"#{row['id']} ({row['status']})" for row in active[:10])
                more = f" and {len(active) - 10} more" if len(active) > 10 else ""
                raise ActiveRunError(
                    f"cannot delete runs that are still queued or running: {listed}{more}. Stop them first; "
                    "if the process that ran them is gone, `python -m core.runstore recover` ends them."
                )
            conn.execute("DELETE FROM epochs WHERE run_id IN (SELECT value FROM json_each(?))", params)
            return conn.execute(f"DELETE FROM runs{where}", params).rowcount

    def discard_queued(self, run_ids: int | Iterable[int]) -> int:
        """Delete runs this process saved that never started (still "queued"): what a launch that
        could not be queued leaves. Other runs among `run_ids` are kept. Returns how many were deleted."""
        where, params = where_clause(ids=as_ids(run_ids))
        with self._write() as conn:
            return conn.execute(f"DELETE FROM runs{where} AND status = 'queued' AND owner = ?",
                                [*params, owner_token()]).rowcount

    def end_process_runs(self, reason: str = "the process ended") -> int:
        """Mark this process's runs ended now: running -> "interrupted", queued -> "stopped" (error:
        `reason`; finished epochs stay). From then on this RunStore writes nothing (its runs' statuses
        are final: a training thread that logs one more epoch does not revive them). For a process
        that is ending (a SIGTERM or atexit handler). Returns how many runs were marked."""
        now, owner = time.time(), owner_token()
        self._ended_reason = reason  # first: a training thread's next write is dropped, not applied after
        with self._write() as conn:
            marked = conn.execute(
                "UPDATE runs SET status = CASE status WHEN 'running' THEN 'interrupted' ELSE 'stopped' END,"
                " finished_at = ?, seconds = CASE WHEN started_at IS NULL THEN NULL ELSE ? - started_at END,"
                " error = ? WHERE owner = ? AND status IN ('queued', 'running')",
                (now, now, reason, owner),
            ).rowcount
        return marked

    def recover_interrupted(self) -> int:
        """Mark as "interrupted" every running run whose owner process is gone (their epochs
        stay), and as "stopped" every queued run of such a process (it never started). Runs of this process and of other live processes are untouched.
        Returns how many runs were marked. Call it once when the app or a CLI starts."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, owner, status FROM runs WHERE status IN ('queued', 'running')"
            ).fetchall()
        alive: dict[str | None, bool] = {}
        dead = []
        for row in rows:
            if row["owner"] not in alive:
                alive[row["owner"]] = owner_alive(row["owner"])
            if not alive[row["owner"]]:
                dead.append((row["id"], row["owner"], row["status"]))
        if not dead:
            return 0
        marked = 0
        with self._write() as conn:
            for run_id, owner, status in dead:
                pid = owner.split("|")[1] if owner and owner.count("|") == 3 else "?"
                # the last sign of life: the latest epoch, else the start, else creation
                new = "interrupted" if status == "running" else "stopped"  # a queued run never started
                marked += conn.execute(
                    "UPDATE runs SET status = ?,"
                    " finished_at = COALESCE((SELECT MAX(at) FROM epochs WHERE run_id = runs.id),"
                    "                        started_at, created_at),"
                    " seconds = CASE WHEN started_at IS NULL THEN NULL ELSE"
                    "   COALESCE((SELECT MAX(at) FROM epochs WHERE run_id = runs.id), started_at) - started_at END,"
                    " error = ? WHERE id = ? AND status = ? AND owner IS ?",
                    (new, f"process {pid} ended while the run was {status}", run_id, status, owner),
                ).rowcount
        return marked

