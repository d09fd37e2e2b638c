"""Benchmark of the dashboard as a user feels it: the real app under `streamlit run`, driven in headless Chromium.

    .venv/bin/python benchmarks/browser_bench.py                 # every measurement
    .venv/bin/python benchmarks/browser_bench.py --changes 10 --clicks 10 --sessions 10 --only playground

(a) Sensitivity curves: toggle "Scale each curve to peak 1" and time until the chart's curves are redrawn
    (the first curve's SVG path changes); median of --changes toggles. Target: 0.5 s or less.
(b) Live Playground at 3 k x 300 points (one seed, 5 steps per frame), in one tab:
    - frames drawn per second while playing (target >= 15) and the request -> answer round trip;
    - a k typed in "Add a k value" -> the first drawn frame that has the new panel AND has moved on
      (median of 4: k = 2, 8, 1/2, 1/8 added one after another; target <= 0.5 s);
    - a click on an empty spot of a panel -> the first drawn frame showing the new point (median of --clicks;
      target <= 0.5 s).
(c) --sessions tabs playing at once (one Chromium, one context each): frames per second per tab and the
    request -> answer latency, medians over tabs.
Starts its own server on a free port with a temporary run database; stops it at the end. Chromium:
/usr/bin/chromium or $CHROMIUM_PATH (scripts/ensure_browser.sh provides it). Every figure is a median; the
load average is printed, since these machines are shared.
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
PLAYGROUND = "/playground?dataset=moons&points=300&noise=0&outliers=0&ks=1%2F4&ks=1&ks=4&steps=5000&seeds=1"
FIRST_PATH = "() => { const p = document.querySelector('.js-plotly-plot .scatterlayer .trace path.js-line');" \
             " return p ? p.getAttribute('d') : null; }"
CANVAS = "document.querySelector('.pgc-root')"


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


def _open_playground(page, url: str) -> None:
    page.goto(url + PLAYGROUND, wait_until="domcontentloaded")
    page.wait_for_function(f"() => {{ const r = {CANVAS}; return r && Number(r.dataset.frames) > 5; }}",
                           timeout=120_000)


SERVER_PID: list[int] = []  # the streamlit process, for its CPU time


def _server_cpu() -> float:
    """CPU seconds (user + system) the server process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{SERVER_PID[0]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _frames_per_second(pages, seconds: float) -> list[float]:
    """Frames drawn per second by each page over `seconds`; the server's CPU share is kept in LAST_CPU."""
    counts = [int(p.evaluate(f"{CANVAS}.dataset.frames")) for p in pages]
    t0, cpu0 = time.perf_counter(), _server_cpu()
    time.sleep(seconds)
    elapsed = time.perf_counter() - t0
    LAST_CPU[:] = [(_server_cpu() - cpu0) / elapsed]
    return [(int(p.evaluate(f"{CANVAS}.dataset.frames")) - c) / elapsed for p, c in zip(pages, counts)]


LAST_CPU: list[float] = [0.0]


def _round_trips(page) -> list[float]:
    return [v / 1000 for v in page.evaluate(f"{CANVAS}.__pg.rtts")]


def playground_live(page, url: str, clicks: int) -> dict[str, list[float]]:
    """One tab: fps while playing, k typed -> first moved frame with it, click -> first frame showing the point."""
    _open_playground(page, url)
    page.wait_for_timeout(2000)
    fps = _frames_per_second([page], 5.0)
    cpu = LAST_CPU[0]
    rtt = _round_trips(page)
    k_change = []
    box = page.get_by_role("textbox", name="Add a k value")
    for k in ("2", "8", "1/2", "1/8"):
        step = int(page.evaluate(f"{CANVAS}.dataset.step"))
        box.fill(k)
        t0 = time.perf_counter()
        box.press("Enter")
        page.wait_for_function(f"([k, s]) => {CANVAS}.dataset.titles.split('|').includes('k = ' + k) && "
                               f"Number({CANVAS}.dataset.step) > s", arg=[k, step], timeout=30_000, polling="raf")
        k_change.append(time.perf_counter() - t0)
        page.wait_for_timeout(1000)
    page.evaluate(f"{CANVAS}.scrollIntoView()")  # typing in the k box scrolled the page down
    page.wait_for_timeout(500)
    canvas = page.locator(".pgc-canvas").bounding_box()
    add = []
    for i in range(clicks):  # empty spots along the top of the first panel, 24 px apart
        n = int(page.evaluate(f"{CANVAS}.dataset.n"))
        t0 = time.perf_counter()
        page.mouse.click(canvas["x"] + 12 + 24 * (i % 10), canvas["y"] + 46 + 10 + 24 * (i // 10))
        page.wait_for_function(f"(n) => Number({CANVAS}.dataset.n) > n", arg=n, timeout=30_000, polling="raf")
        add.append(time.perf_counter() - t0)
        page.wait_for_timeout(600)
    return {"fps": fps, "rtt": rtt, "k_change": k_change, "click_add": add, "cpu": [cpu]}


def playground_sessions(browser, url: str, sessions: int) -> dict[str, list[float]]:
    """`sessions` tabs playing at once: per-tab fps over 10 s and each tab's median request -> answer time."""
    contexts = [browser.new_context(viewport={"width": 1400, "height": 900}) for _ in range(sessions)]
    pages = [c.new_page() for c in contexts]
    for page in pages:
        page.goto(url + PLAYGROUND, wait_until="domcontentloaded")
    for page in pages:
        page.wait_for_function(f"() => {{ const r = {CANVAS}; return r && Number(r.dataset.frames) > 5; }}",
                               timeout=180_000)
    time.sleep(3)
    for page in pages:
        page.evaluate(f"{CANVAS}.__pg.rtts.length = 0")
    fps = _frames_per_second(pages, 10.0)
    cpu = LAST_CPU[0]
    latency = [statistics.median(_round_trips(p)) for p in pages if _round_trips(p)]
    for c in contexts:
        c.close()
    return {"fps": fps, "latency": latency, "cpu": [cpu]}


def _line(name: str, values: list[float], unit: str, target: str = "") -> str:
    return (f"    {name:<44} median {statistics.median(values):7.3f} {unit} (min {min(values):.3f}, max "
            f"{max(values):.3f}, n = {len(values)})" + (f"; target {target}" if target else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=10, help="Sensitivity widget changes to time")
    parser.add_argument("--clicks", type=int, default=10, help="Playground clicks that add a point to time")
    parser.add_argument("--sessions", type=int, default=10, help="Playground tabs playing at once")
    parser.add_argument("--only", choices=("sensitivity", "playground"), default=None, help="run one part")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CHROMIUM_PATH") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    redraws, live, crowd = None, None, None
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "runs.sqlite")
        SERVER_PID[:] = [proc.pid]
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=LAUNCH_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                if args.only in (None, "sensitivity"):
                    redraws = sensitivity_redraws(page, url, args.changes)
                if args.only in (None, "playground"):
                    live = playground_live(page, url, args.clicks)
                    page.close()
                    crowd = playground_sessions(browser, url, args.sessions)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (a shared machine)")
    if redraws:
        print(f"(a) Sensitivity: widget change -> redrawn chart, median of {len(redraws)}: "
              f"{statistics.median(redraws):.3f} s (min {min(redraws):.3f}, max {max(redraws):.3f}; target <= 0.5 s)")
    if live:
        print("(b) Live Playground, 3 k x 300 points, 1 seed, 5 steps per frame, one tab:")
        print(_line("frames drawn per second while playing", live["fps"], "fps", ">= 15"))
        print(_line("request -> answer (round trip)", live["rtt"], "s"))
        print(_line("k typed -> first moved frame with it", live["k_change"], "s", "<= 0.5 s"))
        print(_line("click on empty field -> frame showing the point", live["click_add"], "s", "<= 0.5 s"))
        print(f"    server process CPU while playing: {live['cpu'][0]:.2f} s per s")
    if crowd:
        print(f"(c) {args.sessions} tabs playing at once (same settings):")
        print(_line("frames per second per tab", crowd["fps"], "fps"))
        print(_line("request -> answer latency per tab", crowd["latency"], "s"))
        print(f"    server process CPU meanwhile: {crowd['cpu'][0]:.2f} s per s (the 10 tabs' Chromium shares the "
              "same 2 cores)")


if __name__ == "__main__":
    main()
