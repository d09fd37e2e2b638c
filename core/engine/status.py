"""The one vocabulary of a run's life, and the small helpers every part of the engine shares.

What: the seven run statuses (queued -> running -> done | stopped | failed | diverged |
interrupted), the JSON sanitiser used for every stored or printed payload, the one ETA
formula, and `provenance()`: what a run needs to be reproduced (code version, torch, device).

Why: the run store, the job queue, the pages and the CLIs must say the same thing about a run.
Before this module there were five status vocabularies translated by hand, three JSON
sanitisers with three NaN policies and three ETA formulas; now there is one of each.

    from core.engine.status import DONE, FINAL, to_jsonable, eta_seconds, provenance
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import platform
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

QUEUED = "queued"  # saved, waiting for its device
RUNNING = "running"  # training; epochs are committed as they finish
DONE = "done"  # trained to its last epoch (or to its stopping rule)
STOPPED = "stopped"  # a user stopped it (before or while it ran); finished epochs are kept
FAILED = "failed"  # an error ended it; the message is kept
DIVERGED = "diverged"  # its loss or weights became non-finite (or exploded); it left its batch
INTERRUPTED = "interrupted"  # its process or worker node died; finished epochs are kept

STATUSES = (QUEUED, RUNNING, DONE, STOPPED, FAILED, DIVERGED, INTERRUPTED)
ACTIVE = (QUEUED, RUNNING)
FINAL = (DONE, STOPPED, FAILED, DIVERGED, INTERRUPTED)

ROOT = Path(__file__).resolve().parents[2]


def check_status(status: str, allowed: tuple[str, ...] = STATUSES, what: str = "status") -> str:
    """`status` itself if it is one of `allowed`; ValueError naming the allowed words otherwise."""
    if status not in allowed:
        raise ValueError(f"{what} {status!r} is not one of {', '.join(allowed)}")
    return status


def to_jsonable(obj: Any) -> Any:
    """`obj` as plain JSON types: non-finite floats -> "NaN"/"Infinity"/"-Infinity" (standard JSON
    that SQLite's json_* functions read; `from_jsonable` turns them back), NumPy and torch values
    via `.tolist()`, dataclasses as dicts, paths/enums/other objects as text."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, Mapping):
        return {str(key): to_jsonable(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(value) for value in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if hasattr(obj, "tolist") and callable(obj.tolist):  # NumPy scalars/arrays, torch tensors
        try:
            return to_jsonable(obj.tolist())
        except (TypeError, ValueError, RuntimeError):
            pass
    return str(obj)  # paths, devices, dtypes: their text is what a reader wants


_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def from_jsonable(obj: Any) -> Any:
    """Inverse of `to_jsonable` for floats: "NaN"/"Infinity"/"-Infinity" strings become floats."""
    if isinstance(obj, str):
        return _NONFINITE.get(obj, obj)
    if isinstance(obj, dict):
        return {key: from_jsonable(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [from_jsonable(value) for value in obj]
    return obj


def eta_seconds(elapsed_s: float, fraction: float | None, min_fraction: float = 0.02) -> float | None:
    """Seconds left if the rest goes at the pace so far; None until `min_fraction` is done
    (an estimate from the first percent is mostly start-up cost)."""
    if fraction is None or not fraction >= min_fraction or elapsed_s < 0:
        return None
    return max(0.0, elapsed_s * (1.0 - min(fraction, 1.0)) / fraction)


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit of this checkout ("<sha>", with "+dirty" when files differ), or "unknown"."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "") if sha else "unknown"


def provenance(device: str | None = None) -> dict[str, Any]:
    """What a run needs to be reproduced besides its config and seed: code version, library
    versions, host and device."""
    import numpy
    import torch

    return {
        "code_version": code_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "device": None if device is None else str(device),
    }
