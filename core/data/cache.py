"""Where data lives on disk: the data directory, and one verified .npz cache per data set.

What: `data_dir()` is `$TUNABLE_DATA_DIR`, else a per-user cache directory
(~/.cache/tunable-sensitivity on Linux), created if missing. `write_cache` / `read_cache`
store a data set's four uint8 arrays plus a note of where they came from in
`<data dir>/<name>.npz`.

Why: parsing IDX files, pickled batches or .mat files takes seconds; an uncompressed .npz
loads in tens of milliseconds. The cache is written to a temp file and `os.replace`d, so a
failure or a crash never leaves a half-written cache behind.

How:
    from core.data.cache import data_dir, read_cache
    arrays, origin = read_cache(data_dir() / "cifar10.npz")
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from core.data.arrays import ARRAY_KEYS
from core.paths import ENV_VAR, default_data_dir
from core.data.errors import DatasetUnavailableError

def resolve_dir(path: str | os.PathLike | None) -> Path:
    """`path`, else `$TUNABLE_DATA_DIR`, else the per-user cache directory; created if missing."""
    path = Path(path) if path is not None else default_data_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetUnavailableError(
            f"cannot create the data directory {path}: {exc}. Set {ENV_VAR} to a writable directory."
        ) from exc
    return path


def data_dir() -> Path:
    """The directory holding the data sets and other local data (`$TUNABLE_DATA_DIR`, else a
    per-user cache directory), created if missing."""
    return resolve_dir(None)


def write_cache(arrays: dict[str, np.ndarray], origin: str, path: Path) -> None:
    """Write the .npz atomically: a temp file in the same directory, then os.replace."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the cache is ordinary readable data
            np.savez(f, origin=np.array(origin), **arrays)  # uncompressed: loads in ~50 ms
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_cache(path: Path) -> tuple[dict[str, np.ndarray], str]:
    """The four arrays and the origin note stored in a cache file (unverified: the caller checks)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in ARRAY_KEYS}
        origin = str(npz["origin"])
    return arrays, origin
