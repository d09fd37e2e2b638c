"""Is the run database file usable, and what to tell a person when it is not.

What: `check_file(path)` looks at the file before SQLite opens it (a directory, a file that is not
an SQLite database, a database shorter than its header says); `translated(path)` turns the errors
SQLite raises on a damaged file into `StoreUnreadableError`, and those of an unopenable path into
`RunStoreError`. Both messages name the file and say what to do (move it aside).

Why: a raw `sqlite3.DatabaseError: file is not a database` tells a user neither which file nor what
to do, and every CLI and page would need its own handler. With one exception type they all print
the same single line (CLI: exit 1; page: st.error).

    from core.engine.dbfile import StoreUnreadableError, check_file, translated
    check_file(path)                      # StoreUnreadableError if it cannot be a run database
    with translated(path):
        conn.execute("SELECT ...")        # a damaged file -> StoreUnreadableError
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

ENV_VAR = "TUNABLE_RUNS_DB"
HEADER_BYTES = 100  # an SQLite file starts with a 100-byte header
MAGIC = b"SQLite format 3\x00"


class RunStoreError(RuntimeError):
    """The run database cannot be used (newer schema, unwritable path); the message says what to do."""


class StoreUnreadableError(RunStoreError):
    """The run database file is damaged or is no database (a directory, a truncated or foreign file);
    the message names it and says to move it aside."""


def unreadable(path: Path, reason: str) -> StoreUnreadableError:
    """The one message for a run database that cannot be read."""
    return StoreUnreadableError(
        f"the run database {path} cannot be read: {reason}. Move it aside (e.g. `mv {path} {path}.broken`, "
        f"with any {path.name}-wal and {path.name}-shm beside it): a new, empty one is then created, or set "
        f"{ENV_VAR} to another file."
    )


def _header_size(head: bytes) -> int | None:
    """Bytes the header says the database holds, or None where the header does not say (SQLite's rule:
    the page count is valid when the change counter equals the version-valid-for number)."""
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    if pages == 0 or head[24:28] != head[92:96]:
        return None
    return pages * page_size


def check_file(path: Path) -> None:
    """StoreUnreadableError if the file at `path` cannot be a run database: a directory, a file that
    is not SQLite, or one cut short. A missing or empty file is fine (SQLite creates the database)."""
    if path.is_dir():
        raise unreadable(path, "it is a directory, not a file")
    try:
        with path.open("rb") as f:
            head = f.read(HEADER_BYTES)
        size = path.stat().st_size
    except FileNotFoundError:
        return
    except OSError as exc:
        raise unreadable(path, f"it cannot be opened ({exc.strerror or exc})") from exc
    if not head:
        return
    if not head.startswith(MAGIC[: len(head)]):
        raise unreadable(path, "it is not an SQLite database")
    if len(head) < HEADER_BYTES:
        raise unreadable(path, f"it is truncated ({size} bytes, shorter than an SQLite header)")
    expected = _header_size(head)
    wal = path.with_name(path.name + "-wal")
    if expected and size < expected and not (wal.exists() and wal.stat().st_size):  # a WAL may hold the rest
        raise unreadable(path, f"it is truncated ({size} bytes of the {expected} its header announces)")


def _is_damage(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return type(exc) is sqlite3.DatabaseError or "malformed" in text or "not a database" in text


@contextlib.contextmanager
def translated(path: Path) -> Iterator[None]:
    """Inside: SQLite errors of a damaged file raise StoreUnreadableError, those of a path SQLite
    cannot open or write RunStoreError; others (a busy database, a constraint) pass unchanged."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if _is_damage(exc):
            raise unreadable(path, str(exc)) from exc
        text = str(exc).lower()
        if isinstance(exc, sqlite3.OperationalError) and ("unable to open" in text or "readonly" in text
                                                          or "disk i/o" in text):
            raise RunStoreError(f"cannot use the run database {path}: {exc}. Set {ENV_VAR} to a writable "
                                "file path.") from exc
        raise
