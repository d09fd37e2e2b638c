"""The real dashboard under `streamlit run`, for the browser tests: one way to start it and stop it.

`streamlit_app(runs_db)` starts `app/main.py` on a free loopback port with its own run database,
waits until /_stcore/health answers, yields the URL, and stops the server's whole process group at
the end. `chromium()` launches Debian's (or $CHROMIUM_PATH's) headless Chromium with the flags this
machine needs. `LAUNCH_ARGS` are those flags.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    """Debian's chromium (or $CHROMIUM_PATH); None means Playwright's own download."""
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_app(runs_db: Path, log: Path | None = None) -> Iterator[str]:
    """The dashboard on a free port with `runs_db` as its run database; its output goes to `log`
    (default: nowhere). RuntimeError if it is not healthy within 60 s."""
    port = free_port()
    out = open(log, "w") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=dict(os.environ, TUNABLE_RUNS_DB=str(runs_db)), stdin=subprocess.DEVNULL, stdout=out,
        stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early (status {proc.returncode})")
        else:
            raise RuntimeError("streamlit did not become healthy within 60 s")
        yield url
    finally:  # the server and anything it started: its own process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if log is not None:
            out.close()


@contextlib.contextmanager
def chromium():
    """Headless Chromium (Playwright), closed at the end."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()
