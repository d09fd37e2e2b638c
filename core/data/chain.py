"""The source chain every data set is loaded through: cache, local files, downloads, fallbacks.

What: `load_through_chain(info, root, local_steps, remote_steps, ...)` returns the data set
from the first source that works, verified and cached, or raises `DatasetUnavailableError`
listing every attempt, why it failed, and what the user can do.

Why: MNIST, Fashion-MNIST, CIFAR and SVHN differ only in their file formats and where they
can be fetched from; the order of sources, the cache, the temp directory for downloads and the
error message are the same for all of them, so they live here once.

How: a step is `step(ctx) -> (arrays, origin) | None`. It returns the four uint8 arrays (not
yet cached) and a note of where they came from; or None after appending its reasons to
`ctx.failures`; or it raises OSError / DataFormatError / UnsafePickleError /
SubprocessError, which is recorded as "<label>: <reason>". Remote steps get `ctx.workdir`,
a temp directory inside the data directory that is removed whatever happens.

    0. the cache `<data dir>/<name>.npz`;
    1. the local steps (files in the data directory);
    2. the remote steps (public mirrors with checksums, then fallbacks).
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.data.arrays import DatasetArrays, DatasetInfo, ProgressFn, check_arrays
from core.data.cache import ENV_VAR, read_cache, write_cache
from core.data.download import reason
from core.data.errors import DataFormatError, DatasetUnavailableError, UnsafePickleError

Found = tuple[dict[str, np.ndarray], str]  # (the four arrays, where they came from in words)


@dataclass
class StepContext:
    """What a step may use: the data directory, a download directory, progress, the failure log."""

    root: Path  # the data directory
    on_progress: ProgressFn
    failures: list[str] = field(default_factory=list)  # one line per failed attempt
    workdir: Path | None = None  # temp directory for downloads (remote steps only)


Step = tuple[str, Callable[[StepContext], Found | None]]  # (label for failures, step)

_STEP_ERRORS = (OSError, DataFormatError, UnsafePickleError, subprocess.SubprocessError)


def _run_steps(steps: Sequence[Step], ctx: StepContext) -> Found | None:
    for label, step in steps:
        try:
            found = step(ctx)
        except _STEP_ERRORS as exc:
            ctx.failures.append(f"{label}: {reason(exc)}")
            ctx.on_progress(f"{label} failed: {reason(exc)}", None)
            continue
        if found is not None:
            return found
    return None


def _from_cache(info: DatasetInfo, cache: Path, ctx: StepContext) -> DatasetArrays | None:
    if not cache.is_file():
        return None
    try:
        arrays, origin = read_cache(cache)
        check_arrays(arrays, info, str(cache))
    except Exception as exc:  # any unreadable cache is rebuilt from the sources
        ctx.failures.append(f"cache {cache}: unreadable ({exc}); rebuilding it")
        ctx.on_progress(f"cache {cache} unreadable, rebuilding it", None)
        return None
    return DatasetArrays(
        **arrays, source=f"cache (from {origin})", cache_path=cache, name=info.name, num_classes=info.num_classes
    )


def load_through_chain(
    info: DatasetInfo,
    root: Path,
    local_steps: Sequence[Step],
    remote_steps: Sequence[Step],
    on_progress: ProgressFn,
    how_to_fix: str,
) -> DatasetArrays:
    """The data set from the cache or the first step that works, verified and cached.

    `how_to_fix` completes "To fix: ..." in the error, e.g. "put the files X, Y in <root>"; the
    message adds the environment variable, the network and the command to retry."""
    cache = root / info.cache_name
    ctx = StepContext(root=root, on_progress=on_progress)
    if (cached := _from_cache(info, cache, ctx)) is not None:
        return cached

    found = _run_steps(local_steps, ctx)
    if found is None and remote_steps:
        try:  # downloads go to a temp directory inside root, removed whatever happens
            with tempfile.TemporaryDirectory(prefix=f".{info.name}-download-", dir=root) as tmp:
                ctx.workdir = Path(tmp)
                found = _run_steps(remote_steps, ctx)
        except OSError as exc:  # the temp directory itself: e.g. a read-only data directory
            ctx.failures.append(f"downloading into {root}: {exc}")

    if found is None:
        tried = "\n".join(f"  - {f}" for f in ctx.failures)
        command = "python -m core.data" + ("" if info.name == "mnist" else f" --dataset {info.name}")
        raise DatasetUnavailableError(
            f"could not load {info.title}. Tried:\n{tried}\n"
            f"To fix: {how_to_fix}, or set {ENV_VAR} to a directory that has them, "
            f"or allow access to one of the sources above, then run `{command}`."
        )
    arrays, origin = found
    try:
        write_cache(arrays, origin, cache)
    except OSError as exc:
        on_progress(f"could not write the cache {cache}: {exc}", None)
        cache = None
    on_progress(f"{info.title} ready ({origin})", None)
    return DatasetArrays(**arrays, source=origin, cache_path=cache, name=info.name, num_classes=info.num_classes)
