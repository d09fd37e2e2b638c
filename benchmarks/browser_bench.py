"""Benchmark of the dashboard as a user feels it: the real app under `streamlit run`, driven in headless Chromium.

    .venv/bin/python benchmarks/browser_bench.py                 # both measurements
    .venv/bin/python benchmarks/browser_bench.py --changes 10 --plays 5

(a) Sensitivity curves: toggle "Scale each curve to peak 1" and time until the chart's curves are redrawn
    (the first curve's SVG path changes); median of --changes toggles. Target: 0.5 s or less.
(b) Playground: press "Train and play" for 3 k x 300 points x 500 steps (a new seed each time, so nothing
    comes from the cache) and time until the new animation is on screen (frame 0) and until it has moved
    to its first frame (the step slider leaves 0); median of --plays presses. Target: 1.5 s or less.
Then the server-side share of (b) measured in this process for the same configs: training (fit), building
the figure and its JSON. Starts its own server on a free port with a temporary run database; stops it at
the end. Chromium: /usr/bin/chromium or $CHROMIUM_PATH (scripts/ensure_browser.sh provides it).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning OpenMP threads distort timings on 2 cores

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PLAYGROUND = "/playground?dataset=moons&points=300&noise=0&outliers=0&ks=1%2F4&ks=1&ks=4&steps=500"
FIRST_PATH = "() => { const p = document.querySelector('.js-plotly-plot .scatterlayer .trace path.js-line');" \
             " return p ? p.getAttribute('d') : null; }"
CHART = "document.querySelector('.st-key-pg_anim .js-plotly-plot')"
STEP = "() => { const v = document.querySelector('.st-key-pg_anim .slider-container text.slider-label');" \
       " return v && v.textContent; }"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, TUNABLE_RUNS_DB=str(db))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("streamlit did not become healthy within 60 s")


def sensitivity_redraws(page, url: str, changes: int) -> list[float]:
    """Seconds from a click on the normalize checkbox to the redrawn curves, `changes` times."""
    page.goto(f"{url}/sensitivity", wait_until="domcontentloaded")
    page.wait_for_function(f"({FIRST_PATH})() !== null", timeout=90_000)
    page.wait_for_timeout(1500)
    box = page.get_by_text("Scale each curve to peak 1")
    times = []
    for _ in range(changes + 1):  # the first toggle warms the cache of the other setting: not counted
        before = page.evaluate(FIRST_PATH)
        t0 = time.perf_counter()
        box.click()
        page.wait_for_function(f"(before) => ({FIRST_PATH})() !== before", arg=before, timeout=30_000, polling="raf")
        times.append(time.perf_counter() - t0)
        page.wait_for_timeout(400)
    return times[1:]


def playground_plays(page, url: str, plays: int) -> tuple[list[float], list[float]]:
    """Seconds from a Train and play click to the new chart on screen, and to its first animation step."""
    page.goto(url + PLAYGROUND, wait_until="domcontentloaded")
    page.wait_for_function(f"({STEP})() && ({STEP})() !== 'step 0'", timeout=120_000)  # the first visit plays
    page.get_by_text("Network, training and display").click()
    seed_box = page.get_by_role("spinbutton", name="Seed")
    shown, moving = [], []
    for seed in range(1, plays + 2):  # seed 1 warms up the figure path: not counted
        # let the previous animation finish: a playing animation keeps the browser's main thread busy
        page.wait_for_function(f"({STEP})() === 'step 500'", timeout=120_000)
        seed_box.fill(str(seed))
        seed_box.press("Enter")
        page.wait_for_function("document.body.innerText.includes('The animation shows the last run')", timeout=30_000)
        page.wait_for_timeout(300)
        meta = page.evaluate(f"() => {CHART}.layout.meta")
        t0 = time.perf_counter()
        page.get_by_role("button", name="Train and play").click()
        page.wait_for_function(f"(m) => {{ const gd = {CHART}; return gd && gd.layout && gd.layout.meta !== m; }}",
                               arg=meta, timeout=60_000, polling="raf")
        t1 = time.perf_counter()
        page.wait_for_function(f"({STEP})() && ({STEP})() !== 'step 0'", timeout=60_000, polling="raf")
        t2 = time.perf_counter()
        if seed > 1:
            shown.append(t1 - t0)
            moving.append(t2 - t0)
    return shown, moving


def server_share(plays: int) -> dict[str, float]:
    """Median seconds of the server-side steps of one Play, measured here for the same configs."""
    import plotly.io as pio
    import torch

    from app import plots
    from core.playground import DataConfig, PlaygroundConfig, fit

    torch.set_num_threads(1)
    parts = {"train (fit)": [], "figure": [], "JSON": []}
    for seed in range(1, plays + 2):
        cfg = PlaygroundConfig(data=DataConfig("moons", points=300, outliers=0, seed=seed), ks=(0.25, 1.0, 4.0),
                               steps=500, seed=seed)
        t0 = time.perf_counter()
        result = fit(cfg, "cpu")
        t1 = time.perf_counter()
        fig = plots.playground_animation(result)
        t2 = time.perf_counter()
        payload = pio.to_json(fig.to_dict(), validate=False)
        t3 = time.perf_counter()
        if seed > 1:
            for key, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
                parts[key].append(value)
    out = {key: statistics.median(v) for key, v in parts.items()}
    out["payload MB"] = len(payload) / 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=10, help="Sensitivity widget changes to time")
    parser.add_argument("--plays", type=int, default=5, help="Playground presses to time")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CHROMIUM_PATH") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "runs.sqlite")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=LAUNCH_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                redraws = sensitivity_redraws(page, url, args.changes)
                shown, moving = playground_plays(page, url, args.plays)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {load:.1f} on {os.cpu_count()} CPUs")
    print(f"(a) Sensitivity: widget change -> redrawn chart, median of {len(redraws)}: "
          f"{statistics.median(redraws):.3f} s (min {min(redraws):.3f}, max {max(redraws):.3f}; target <= 0.5 s)")
    print(f"(b) Playground, 3 k x 300 points x 500 steps, median of {len(shown)}:")
    print(f"    Train and play -> new animation on screen: {statistics.median(shown):.3f} s "
          f"(min {min(shown):.3f}, max {max(shown):.3f})")
    print(f"    Train and play -> first animation frame:   {statistics.median(moving):.3f} s "
          f"(min {min(moving):.3f}, max {max(moving):.3f}; target <= 1.5 s)")
    print("    server-side share, measured in this process (median):")
    for key, value in server_share(args.plays).items():
        print(f"      {key:<12} {value:.3f}" + ("" if key == "payload MB" else " s"))


if __name__ == "__main__":
    main()
