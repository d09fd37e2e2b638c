"""Where the lab keeps its local files: one data directory for the data sets, the run database and
the estimate calibration. Plain standard library (no torch), so the run store and the CLIs that only
read runs start fast.

    from core.paths import data_dir
    data_dir()                    # $TUNABLE_DATA_DIR, else ~/.cache/tunable-sensitivity (created)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "TUNABLE_DATA_DIR"


def default_data_dir() -> Path:
    """`$TUNABLE_DATA_DIR`, else the per-user cache directory of this platform (not created)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "tunable-sensitivity"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "tunable-sensitivity"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tunable-sensitivity"


def data_dir() -> Path:
    """The data directory (default_data_dir), created if missing; OSError if it cannot be."""
    path = default_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path
