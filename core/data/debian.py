"""Files out of a Debian package without installing it and without root: apt-get + dpkg-deb.

What: `fetch_package_files(package, workdir, on_progress)` runs `apt-get update` and
`apt-get download PACKAGE` with a private state directory inside `workdir`, then unpacks the
.deb with `dpkg-deb -x` into `workdir`, and returns the directory that holds the package's
data files. Nothing is installed and no system file is written.

Why: some data sets are packaged by Debian (e.g. `dataset-fashion-mnist`), and Debian's archive
is reachable where the data sets' own hosts are not. Private `Dir::State::Lists` and
`Dir::Cache` plus `Debug::NoLocking` let any user run apt-get; `APT::Sandbox::User` set to the
current user lets apt's download method write into a directory that user owns; progress comes
from apt's machine-readable `APT::Status-Fd` lines (`dlstatus:<i>:<percent>:<text>`).

How:
    from core.data.debian import DebianPackage, fetch_package_files
    pkg = DebianPackage("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist")
    files_dir = fetch_package_files(pkg, Path(tmp), print)

The commands are fields of `DebianPackage`, so tests point `apt_get` at a local stand-in.
"""

from __future__ import annotations

import getpass
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from core.data.arrays import ProgressFn


@dataclass(frozen=True)
class DebianPackage:
    """A Debian package to take files from, and the commands used to get it."""

    package: str  # package name, e.g. "dataset-fashion-mnist"
    member_dir: str  # directory inside the package holding the wanted files
    apt_get: tuple[str, ...] = ("apt-get",)  # the apt-get command (tests use a stand-in)
    dpkg_deb: tuple[str, ...] = ("dpkg-deb",)  # the dpkg-deb command
    timeout_s: float = 600.0  # seconds each command may take


def _apt_options(state: Path) -> list[str]:
    """apt-get options for a private, lock-free state in `state` that any user can run."""
    lists, cache = state / "lists", state / "cache"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (cache / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    options = {
        "Dir::State::Lists": lists,
        "Dir::Cache": cache,
        "Debug::NoLocking": "1",
        "APT::Sandbox::User": getpass.getuser(),
        "APT::Status-Fd": "1",  # machine-readable progress on stdout
    }
    return ["-q", *(arg for key, value in options.items() for arg in ("-o", f"{key}={value}"))]


def _run(cmd: list[str], cwd: Path, timeout_s: float, on_progress: ProgressFn, what: str) -> None:
    """Run `cmd`, turning apt's dlstatus lines into progress; raise OSError on failure or timeout."""
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except FileNotFoundError as exc:
        raise OSError(f"{cmd[0]} not found: this source needs Debian's apt-get and dpkg-deb") from exc
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        proc.kill()

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    tail: deque[str] = deque(maxlen=3)
    fraction = None
    try:
        for line in proc.stdout:
            line = line.strip()
            if line.startswith("dlstatus:"):
                try:
                    fraction = min(max(float(line.split(":", 3)[2]) / 100.0, 0.0), 1.0)
                except (IndexError, ValueError):
                    continue
                on_progress(what, fraction)
            elif line:
                tail.append(line)
        code = proc.wait()
    finally:
        timer.cancel()
        proc.stdout.close()
    if fraction is not None and fraction < 1.0:
        on_progress(what, 1.0)  # close the progress line, whatever apt reported last
    if code != 0:
        why = f"timed out after {timeout_s:.0f} s" if killed.is_set() else f"exit {code}"
        raise OSError(f"{what} failed ({why}): {' | '.join(tail)}")


def fetch_package_files(pkg: DebianPackage, workdir: Path, on_progress: ProgressFn) -> Path:
    """Download `pkg.package` with apt-get into `workdir`, unpack it there with dpkg-deb, and
    return the unpacked `pkg.member_dir`. Raises OSError (with apt's last lines) on failure."""
    options = _apt_options(workdir / "apt-state")
    _run([*pkg.apt_get, *options, "update"], workdir, pkg.timeout_s, on_progress, "apt-get update")
    debs = workdir / "debs"
    debs.mkdir(exist_ok=True)
    _run(
        [*pkg.apt_get, *options, "download", pkg.package], debs, pkg.timeout_s, on_progress,
        f"apt-get download {pkg.package}",
    )  # fmt: skip
    found = sorted(debs.glob("*.deb"))
    if len(found) != 1:
        raise OSError(f"apt-get download {pkg.package} left {len(found)} .deb files, expected 1")
    on_progress(f"unpacking {found[0].name}", None)
    unpacked = workdir / "unpacked"
    _run([*pkg.dpkg_deb, "-x", str(found[0]), str(unpacked)], workdir, pkg.timeout_s, on_progress, "dpkg-deb -x")
    files = unpacked / pkg.member_dir
    if not files.is_dir():
        raise OSError(f"{found[0].name} has no directory {pkg.member_dir}")
    return files
