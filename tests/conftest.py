"""Shared test fixtures: an isolated run database, and AppTest with fresh Streamlit caches."""

from __future__ import annotations

import base64
import functools
import json
import os
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _isolated_run_store(tmp_path_factory):
    """Runs saved by tests go to a temporary database, never the user's own history."""
    path = tmp_path_factory.mktemp("runs") / "runs.sqlite"
    old = os.environ.get("TUNABLE_RUNS_DB")
    os.environ["TUNABLE_RUNS_DB"] = str(path)
    yield path
    if old is None:
        os.environ.pop("TUNABLE_RUNS_DB", None)
    else:
        os.environ["TUNABLE_RUNS_DB"] = old


@pytest.fixture
def app(tmp_path, monkeypatch):
    """A function that opens the dashboard in AppTest on a given page, with caches cleared and
    a run database of its own (what a fresh install sees; a test that restarts the app reuses it)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TUNABLE_RUNS_DB", str(tmp_path / "runs.sqlite"))
    st.cache_data.clear()
    st.cache_resource.clear()

    def open_page(page: str | None = None, query: dict | None = None, timeout: float = 60) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=timeout)
        at.run()
        if page:
            for key, value in (query or {}).items():
                at.query_params[key] = value
            at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    yield open_page
    st.cache_resource.clear()


def _decode(obj):
    """Plotly encodes numeric arrays as {"dtype", "bdata", "shape"}; turn them back into lists."""
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=obj["dtype"])
            if "shape" in obj:
                arr = arr.reshape([int(n) for n in str(obj["shape"]).split(",")])
            return arr.tolist()
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def plotly_figures(at) -> list[dict]:
    """The Plotly figures on an AppTest page, as dicts (AppTest shows them as unknown elements)."""
    return [_decode(json.loads(el.proto.spec)) for el in at.get("plotly_chart")]


def poll_until(at, done, timeout: float = 120):
    """Rerun an AppTest page until done(at) holds (run_every does not fire in AppTest, so poll)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.3)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if done(at):
            return at
    raise AssertionError("timed out waiting for the page")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server over tmp_path/"www"; yields (base URL, served directory)."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", www
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def one_torch_thread():
    """Tiny models: one torch thread is as fast and keeps timings steady on a shared 2-core machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def data_unavailable(message: str):
    """A test that needs real MNIST or Fashion-MNIST and cannot have it: skipped on a developer's
    machine, a failure under CI=true (CI must check the real data; `make test` fetches both)."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"real data is required under CI: {message}")
    pytest.skip(message)
