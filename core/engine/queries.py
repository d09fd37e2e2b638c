"""Reading the run history: every reader filters and limits in SQL, in one query, and decodes
only the rows it returns.

What: `RunQueries`, the reading half of `core.engine.store.RunStore` (which inherits it): runs as
dicts (`runs`, `get_run`), as a DataFrame with the config and summary flattened (`list_runs`), as
JSON texts written by SQLite (`json_rows`, for `python -m core.runstore list --json`), counts
(`count_runs`, `status_counts`), per-epoch history (`history`) and a CSV export (`export_csv`).
Filters: kind, status, group (one value or several), run ids (any number), keys inside the config
(`config={"study.id": "ab12"}`), and `limit` (the newest N).

Why: a page that rereads the whole history on every rerun, or one query per run, grows slower
with every run saved; with 10,000 runs these reads stay well under a second.

    store.list_runs(kind="mnist", limit=500)                       # the newest 500, one query
    store.runs(kind="study", status="done", config={"study.id": sid})   # dicts, one query
    store.count_runs(kind="mnist"), store.status_counts(kind="mnist")
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.engine.status import from_jsonable, to_jsonable

if TYPE_CHECKING:
    import contextlib
    import sqlite3

    import pandas as pd


# Columns of list_runs() before the flattened cfg.* and final.* columns.
RUN_COLUMNS = (
    "id", "kind", "group_id", "label", "status", "device", "created_at", "started_at",
    "finished_at", "seconds", "epochs_done", "error", "owner",
)  # fmt: skip

# Fields of json_rows() (`python -m core.runstore list --json`), besides "epochs".
JSON_FIELDS = ("id", "kind", "status", "label", "group_id", "device", "created_at", "started_at", "finished_at",
               "seconds", "error", "config", "summary", "provenance")
_JSON_COLUMNS = ("config", "summary", "result", "provenance")  # columns that hold JSON text


class RunNotFoundError(KeyError):
    """No run has this id (it may have been deleted)."""


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    value = json.loads(text)
    return from_jsonable(value) if '"NaN"' in text or 'Infinity"' in text else value  # the walk costs more


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


def as_ids(run_ids: int | Iterable[int]) -> list[int]:
    """One run id or several, as a list of ints."""
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


def where_clause(kind=None, status=None, group_id=None, ids=None, config=None) -> tuple[str, list]:
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
        params.append(json.dumps(as_ids(ids)))
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


class RunQueries:
    """The store's readers (see module docstring). Needs `_read()` from RunStore: a context manager
    giving this thread's connection, translating a damaged file's errors."""

    path: Path

    def _read(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:  # provided by RunStore
        raise NotImplementedError

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
        where, params = where_clause(kind, status, group_id, ids, config)
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

    def json_rows(self, kind=None, status=None, group_id=None, *, ids: Iterable[int] | None = None,
                  config: Mapping[str, Any] | None = None, limit: int | None = None) -> list[str]:
        """The runs as JSON texts, one object per run, newest first: JSON_FIELDS plus "epochs" (how
        many it logged). SQLite writes them (times with 15 significant digits): nothing is decoded,
        so a CLI prints 10,000 runs in well under a second. Filters as list_runs."""
        where, params = where_clause(kind, status, group_id, ids, config)
        pairs = ", ".join(f"'{f}', json({f})" if f in _JSON_COLUMNS else f"'{f}', {f}" for f in JSON_FIELDS)
        sql = f"SELECT json_object({pairs}, 'epochs', epochs_done) FROM runs{where} ORDER BY id DESC"
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, int(limit)]
        with self._read() as conn:
            return [row[0] for row in conn.execute(sql, params)]

    def count_runs(self, kind=None, status=None, group_id=None, *, config: Mapping[str, Any] | None = None) -> int:
        """How many runs match the filters (as list_runs), without reading them."""
        where, params = where_clause(kind, status, group_id, None, config)
        with self._read() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM runs{where}", params).fetchone()[0])

    def status_counts(self, kind=None, group_id=None) -> dict[str, int]:
        """{status: number of runs} of the matching runs, in one query (e.g. a page's status filter)."""
        where, params = where_clause(kind, None, group_id)
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

        where, params = where_clause(kind, status, group_id, ids, config)
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

        ids = as_ids(run_ids)
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
        ids = as_ids(run_ids)
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
