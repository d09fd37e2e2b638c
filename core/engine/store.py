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

    store.list_runs(kind="mnist")     # one row per run: id, kind, ..., cfg.k, cfg.lr, final.test_acc
    store.history([run_id])           # one row per (run_id, epoch): run_id, epoch, at, train_loss, val_acc
    store.recover_interrupted()       # at process start: dead owners' running runs -> interrupted, queued -> stopped

    python -m core.runstore list [--kind mnist] [--status done] [--json]   (core/runstore.py)

Threads and processes: each thread uses its own connection (sqlite3 objects must not
cross threads), with a busy timeout, so any number of threads and processes may share one
database, and one RunStore object may be shared by all threads of a process. Each run
records an owner token (host, pid, process start time, and a per-process nonce);
`recover_interrupted()` never touches runs owned by the current process or by another
process that is still alive. The database is meant to live on a local disk of one
machine: runs owned by another host are treated as dead (and revive to "running" if
their owner logs another epoch). A durable commit costs a few milliseconds (one fsync):
log once per epoch, not once per step.

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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ENV_VAR", "DB_NAME", "RUN_COLUMNS", "ActiveRunError", "RunNotFoundError", "RunStore", "RunStoreError",
           "StoreUnreadableError", "default_path", "owner_alive", "owner_token"]

from core.engine.dbfile import ENV_VAR, RunStoreError, StoreUnreadableError, check_file, translated
from core.engine.owner import owner_alive, owner_token
from core.engine.status import FINAL, check_status, from_jsonable, to_jsonable

DB_NAME = "runs.sqlite"
SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 30.0  # how long a write waits for another writer before raising


# Columns of list_runs() before the flattened cfg.* and final.* columns.
RUN_COLUMNS = (
    "id", "kind", "group_id", "label", "status", "device", "created_at", "started_at",
    "finished_at", "seconds", "epochs_done", "error", "owner",
)  # fmt: skip

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


class RunNotFoundError(KeyError):
    """No run has this id (it may have been deleted)."""


class ActiveRunError(RuntimeError):
    """The runs are still queued or running (delete needs ended runs); the message names them."""


# ---------------------------------------------------------------- JSON


def _dumps(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), allow_nan=False, separators=(",", ":"))


def _loads(text: str | None) -> Any:
    return None if text is None else from_jsonable(json.loads(text))


def _flatten(obj: Any, prefix: str) -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"<prefix>a.b": 1}; lists and scalars are leaves."""
    if not isinstance(obj, dict):
        return {} if obj is None else {prefix.rstrip("."): obj}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# ---------------------------------------------------------------- the store


def default_path() -> Path:
    """`$TUNABLE_RUNS_DB`, else `<data dir>/runs.sqlite` (see core.data.data_dir)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    from core.data import data_dir  # imported here: it pulls in torch, which the store does not need

    return data_dir() / DB_NAME


def _as_ids(run_ids: int | Iterable[int]) -> list[int]:
    if isinstance(run_ids, (int, str)) or not isinstance(run_ids, Iterable):
        run_ids = [run_ids]  # type: ignore[list-item]
    return [int(i) for i in run_ids]


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _json_path(key: str) -> str:
    """"study.id" -> '$."study"."id"' (SQLite's JSON path of a dotted key)."""
    return "$" + "".join('."' + part.replace('"', '""') + '"' for part in key.split("."))


def _where(kind=None, status=None, group_id=None, ids=None, config=None) -> tuple[str, list]:
    """The SQL WHERE clause (with its parameters) of the readers' filters: each of kind, status and
    group_id one value or several; ids any number of run ids; config {dotted key: value} matched
    inside the stored config (e.g. {"study.id": "ab12"})."""
    where, params = [], []
    for column, value in (("kind", kind), ("status", status), ("group_id", group_id)):
        values = _as_list(value)
        if values is not None:
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            params += values
    if ids is not None:
        where.append("id IN (SELECT value FROM json_each(?))")  # one parameter, however many ids
        params.append(json.dumps(_as_ids(ids)))
    for key, value in (config or {}).items():
        where.append("json_extract(config, ?) IS ?")
        params += [_json_path(key), to_jsonable(value)]
    return (" WHERE " + " AND ".join(where)) if where else "", params


def _local_time(column: pd.Series) -> pd.Series:
    """Unix seconds -> naive local datetimes (NaT where missing)."""
    import pandas as pd
    from dateutil.tz import tzlocal

    seconds = pd.to_numeric(column, errors="coerce").astype("float64")
    return pd.to_datetime(seconds, unit="s", utc=True).dt.tz_convert(tzlocal()).dt.tz_localize(None)


class RunStore:
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
        ids = _as_ids(run_ids)
        if not ids:
            return 0
        where, params = _where(ids=ids)
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

    def end_process_runs(self, reason: str = "the process ended") -> int:
        """Mark this process's runs ended now: running -> "interrupted", queued -> "stopped" (error:
        `reason`; finished epochs stay). From then on this RunStore writes nothing (its runs' statuses
        are final: a training thread that logs one more epoch does not revive them). For a process
        that is ending (a SIGTERM or atexit handler). Returns how many runs were marked."""
        now, owner = time.time(), owner_token()
        with self._write() as conn:
            marked = conn.execute(
                "UPDATE runs SET status = CASE status WHEN 'running' THEN 'interrupted' ELSE 'stopped' END,"
                " finished_at = ?, seconds = CASE WHEN started_at IS NULL THEN NULL ELSE ? - started_at END,"
                " error = ? WHERE owner = ? AND status IN ('queued', 'running')",
                (now, now, reason, owner),
            ).rowcount
        self._ended_reason = reason
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

    # -------------------------------------------------------- reading
    # Every reader filters and limits in SQL (one query; only the rows returned are decoded).

    def get_run(self, run_id: int) -> dict[str, Any]:
        """One run as a dict: the `runs` columns, with config/summary/result/provenance decoded and
        times as Unix seconds. RunNotFoundError if it does not exist."""
        found = self.runs(ids=[run_id], with_result=True)
        if not found:
            raise RunNotFoundError(run_id)
        return found[0]

    def runs(self, kind=None, status=None, group_id=None, *, ids: Iterable[int] | None = None,
             config: Mapping[str, Any] | None = None, limit: int | None = None,
             with_result: bool = False) -> list[dict[str, Any]]:
        """Runs as dicts (as get_run; "result" only `with_result`), newest first, in one query. Filters
        as list_runs; `limit`: the newest that many."""
        where, params = _where(kind, status, group_id, ids, config)
        columns = "*" if with_result else ", ".join((*RUN_COLUMNS, "config", "summary", "provenance"))
        sql = f"SELECT {columns} FROM runs{where} ORDER BY id DESC"
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, int(limit)]
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        out = []
        for row in rows:
            run = dict(row)
            for key in ("config", "summary", "result", "provenance"):
                if key in run:
                    run[key] = _loads(run[key])
            out.append(run)
        return out

    def count_runs(self, kind=None, status=None, group_id=None, *, config: Mapping[str, Any] | None = None) -> int:
        """How many runs match the filters (as list_runs), without reading them."""
        where, params = _where(kind, status, group_id, None, config)
        with self._read() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM runs{where}", params).fetchone()[0])

    def status_counts(self, kind=None, group_id=None) -> dict[str, int]:
        """{status: number of runs} of the matching runs, in one query (e.g. a page's status filter)."""
        where, params = _where(kind, None, group_id)
        with self._read() as conn:
            rows = conn.execute(f"SELECT status, COUNT(*) FROM runs{where} GROUP BY status", params).fetchall()
        return {row[0]: int(row[1]) for row in rows}

    def list_runs(
        self,
        kind: str | Iterable[str] | None = None,
        status: str | Iterable[str] | None = None,
        group_id: str | Iterable[str] | None = None,
        *,
        ids: Iterable[int] | None = None,
        config: Mapping[str, Any] | None = None,
        limit: int | None = None,
        with_result: bool = False,
    ) -> pd.DataFrame:
        """One row per run, newest first: RUN_COLUMNS (times as local datetimes), then the
        config flattened as "cfg.<key>" ("cfg.a.b" for nested keys), then the summary as
        "final.<key>", then "result" (decoded) if `with_result`. Filters: kind, status and group_id
        take one value or several; `ids` any number of run ids; `config` {dotted key: value} inside
        the config (e.g. {"study.id": "ab12"}); `limit` keeps the newest that many."""
        import pandas as pd

        where, params = _where(kind, status, group_id, ids, config)
        sql = f"SELECT {', '.join(RUN_COLUMNS)}, config, summary{', result' if with_result else ''} FROM runs"
        sql += where + " ORDER BY id DESC"
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, int(limit)]
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        records = []
        for row in rows:
            record = {column: row[column] for column in RUN_COLUMNS}
            record.update(_flatten(_loads(row["config"]), "cfg."))
            record.update(_flatten(_loads(row["summary"]), "final."))
            if with_result:
                record["result"] = _loads(row["result"])
            records.append(record)
        columns = list(RUN_COLUMNS) + (["result"] if with_result else [])
        frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=columns)
        extra = sorted(c for c in frame.columns if c.startswith("cfg.")) + sorted(
            c for c in frame.columns if c.startswith("final.")
        )
        frame = frame[list(RUN_COLUMNS) + extra + (["result"] if with_result else [])]
        for column in ("created_at", "started_at", "finished_at"):
            frame[column] = _local_time(frame[column])
        return frame

    def history(self, run_ids: int | Iterable[int]) -> pd.DataFrame:
        """Per-epoch metrics, long format: columns run_id, epoch, at (local datetime), then one
        column per metric (nested metrics as "a.b"), sorted by run_id and epoch."""
        import pandas as pd

        ids = _as_ids(run_ids)
        rows = []
        if ids:
            with self._read() as conn:
                rows = conn.execute(
                    "SELECT run_id, epoch, at, metrics FROM epochs WHERE run_id IN (SELECT value FROM json_each(?))"
                    " ORDER BY run_id, epoch",
                    (json.dumps(ids),),
                ).fetchall()
        records = [
            {"run_id": r["run_id"], "epoch": r["epoch"], "at": r["at"], **_flatten(_loads(r["metrics"]), "")}
            for r in rows
        ]
        frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=["run_id", "epoch", "at"])
        frame["at"] = _local_time(frame["at"])
        return frame

    def export_csv(self, run_ids: int | Iterable[int], path: str | os.PathLike | None = None) -> str:
        """The runs' epochs as CSV text, one row per (run, epoch), each row carrying its run's
        kind, label, group, status, cfg.* and final.* columns; also written to `path` if given.
        Reads only these runs."""
        ids = _as_ids(run_ids)
        epochs = self.history(ids)
        runs = self.list_runs(ids=ids).drop(columns=["error", "owner"])
        runs = runs.rename(columns={"id": "run_id", "epochs_done": "run_epochs_done"})
        meta = ["kind", "label", "group_id", "status"]
        metrics = [c for c in epochs.columns if c not in ("run_id", "epoch", "at")]
        rest = [c for c in runs.columns if c not in ["run_id", *meta] and c not in epochs.columns]
        frame = epochs.merge(runs[["run_id", *meta, *rest]], on="run_id", how="left")
        frame = frame[["run_id", "epoch", "at", *meta, *metrics, *rest]]
        text = frame.to_csv(index=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text
