"""Fetch files over HTTP(S), each checked against its MD5, with progress, mirror after mirror.

What: `download` streams one URL into a file, reporting the fraction done, and raises if the
MD5 differs from the published one; `fetch_files` gets a set of files from the first mirrors
that have them (file by file: a file fetched from one mirror is not fetched again from the
next), recording why each mirror failed.

Why: every data set's public source is a handful of files with published MD5s (the checksums
torchvision uses). Unreachable hosts must fail fast (short timeouts) so the next source is
tried, and no unverified byte may reach a parser.

How:
    from core.data.download import fetch_files
    failures = []
    got = fetch_files(("https://host/path/",), (("file.tar.gz", "<md5>"),), workdir, 5.0, print, failures)
    # -> ({"file.tar.gz": workdir / "file.tar.gz"}, "https://host/path/") or None
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from pathlib import Path

from core.data.arrays import ProgressFn


def reason(exc: BaseException) -> str:
    """A short reason for a failed attempt: "unreachable (...)" for network errors, else the message."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return f"unreachable ({exc.reason})"
    return str(exc) or type(exc).__name__


def download(url: str, dest: Path, md5: str, timeout_s: float, on_progress: ProgressFn) -> None:
    """Stream `url` into `dest` and check its MD5; raise OSError (incl. URLError) on failure."""
    digest = hashlib.md5()
    with urllib.request.urlopen(url, timeout=timeout_s) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        done = 0
        while chunk := response.read(1 << 16):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            on_progress(f"downloading {url}", done / total if total else None)
    if digest.hexdigest() != md5:
        raise OSError(f"checksum mismatch for {url}: MD5 {digest.hexdigest()}, expected {md5}")


def fetch_files(
    mirrors: tuple[str, ...],
    files: tuple[tuple[str, str], ...],
    workdir: Path,
    timeout_s: float,
    on_progress: ProgressFn,
    failures: list[str],
) -> tuple[dict[str, Path], str] | None:
    """Download every (file name, MD5) of `files` into `workdir`, trying `mirrors` (base URLs) in
    order. Return ({file name: path}, the mirror that completed the set), or None when no mirror
    could; each mirror's failure is appended to `failures`."""
    got: dict[str, Path] = {}
    for mirror in mirrors:
        try:
            for name, md5 in files:
                if name not in got:
                    dest = workdir / name
                    download(f"{mirror}{name}", dest, md5, timeout_s, on_progress)
                    got[name] = dest
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError, timeouts: OSError
            failures.append(f"mirror {mirror}: {reason(exc)}")
            on_progress(f"mirror {mirror} failed: {reason(exc)}", None)
            continue
        return got, mirror
    return None
