"""Who owns a run: a token naming one process (host, pid, start time, nonce), and whether it still lives.

What: `owner_token()` is this process's token; the run store writes it on every run this process
creates or starts. `owner_alive(token)` says whether the process it names still runs.

Why: after a crash nothing marks a run as ended; the next process to start asks, for each run
still "queued" or "running", whether its owner is alive (RunStore.recover_interrupted). A pid
alone is not enough: pids are reused, so the token also holds the process's start time (Linux,
from /proc) and a nonce (a forked child, or an earlier process with the same pid, differs).

    from core.engine.owner import owner_alive, owner_token
    owner_alive(owner_token())   # True: this process
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from pathlib import Path



def _process_start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or "" where unknown.
    Together with the pid it names one process, even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat[stat.rfind(")") + 2 :].split()  # the command name may hold spaces and ')'
    return fields[19] if len(fields) > 19 else ""  # field 22 of stat; fields[0] is field 3


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return bool(ok) and code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


_OWNER_LOCK = threading.Lock()
_OWNER: tuple[int, str] | None = None  # (pid, token), recomputed after fork


def owner_token() -> str:
    """This process's owner token: "host|pid|start ticks|nonce"."""
    global _OWNER
    pid = os.getpid()
    with _OWNER_LOCK:
        if _OWNER is None or _OWNER[0] != pid:
            token = f"{socket.gethostname()}|{pid}|{_process_start_ticks(pid)}|{secrets.token_hex(4)}"
            _OWNER = (pid, token)
        return _OWNER[1]


def owner_alive(token: str | None) -> bool:
    """Whether the process named by an owner token still runs (the current process: True)."""
    if not token:
        return False
    if token == owner_token():
        return True
    try:
        host, pid_text, ticks, _nonce = token.split("|")
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname() or pid == os.getpid() or not _pid_alive(pid):
        return False  # same pid but another nonce: an earlier process with our pid
    return not ticks or _process_start_ticks(pid) in ("", ticks)
