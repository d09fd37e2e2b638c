"""SVHN (Netzer et al. 2011), cropped digits: 32x32 colour images of house-number digits.

What: `load_svhn()` returns the standard train (73,257) and test (26,032) arrays, not "extra":
uint8 (N, 32, 32, 3) images, channels last, and uint8 labels 0..9. The .mat files label the
digit 0 as 10; here it is 0, as in torchvision. Sources, first that works:

  0. the cache `<data dir>/svhn.npz`;
  1. `train_32x32.mat` and `test_32x32.mat` in the data directory;
  2. the same files from the authors' site, each checked against its published MD5.

Why: the paper repeats its depth study on SVHN. The files are MATLAB v5 .mat files holding
`X` (32, 32, 3, N) uint8 and `y` (N, 1); SciPy's `loadmat` reads them (no pickles involved).

How:
    python -m core.data --dataset svhn
    from core.data import load_dataset
    svhn = load_dataset("svhn")             # svhn.train_x: (73257, 32, 32, 3) uint8

Full-size copies must have SVHN's known class counts (digit 1 is the most common).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.arrays import DatasetArrays, DatasetInfo, ProgressFn, check_arrays, quiet
from core.data.cache import resolve_dir
from core.data.chain import Found, Step, StepContext, load_through_chain
from core.data.download import fetch_files
from core.data.errors import DataFormatError

FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}

SVHN_INFO = DatasetInfo(
    name="svhn",
    title="SVHN",
    num_classes=10,
    image_shape=(32, 32, 3),
    train_counts=(4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659),  # digits 0..9
    test_counts=(1744, 5099, 4149, 2882, 2523, 2384, 1977, 2019, 1660, 1595),
    val_size=7_326,  # 10% of the 73,257 training images, rounded
)


@dataclass(frozen=True)
class SvhnSources:
    """Where to fetch SVHN's two .mat files from."""

    # Base URLs tried in order, each holding both files.
    mirrors: tuple[str, ...] = ("http://ufldl.stanford.edu/housenumbers/",)
    # MD5 of each file, as (file name, hex digest) pairs (the checksums torchvision uses).
    md5: tuple[tuple[str, str], ...] = (
        ("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
        ("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3"),
    )
    # Seconds to wait for a connection, and for each read, before giving up on a mirror.
    timeout_s: float = 5.0


def _loadmat(path: Path) -> dict:
    try:
        from scipy.io import loadmat
        from scipy.io.matlab import MatReadError
    except ImportError as exc:  # pragma: no cover - scipy is in requirements.txt
        raise DataFormatError(f"{path}: reading .mat files needs scipy (pip install -r requirements.txt)") from exc
    try:
        return loadmat(path, variable_names=("X", "y"))
    except (MatReadError, ValueError, TypeError, KeyError, OSError, EOFError, zlib.error, NotImplementedError) as exc:
        raise DataFormatError(f"{path}: not a readable MATLAB v5 .mat file ({exc})") from exc


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One SVHN .mat file -> (images uint8 (N, 32, 32, 3), labels uint8 (N,) with 10 mapped to 0)."""
    mat = _loadmat(path)
    x, y = mat.get("X"), mat.get("y")
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        what = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else "missing"
        raise DataFormatError(f"{path}: X is {what}, expected uint8 (32, 32, 3, N)")
    n = x.shape[3]
    if not isinstance(y, np.ndarray) or y.size != n or y.dtype.kind not in "iuf":
        what = f"{y.dtype} {y.shape}" if isinstance(y, np.ndarray) else "missing"
        raise DataFormatError(f"{path}: y is {what}, expected {n} numeric labels (N, 1)")
    labels = y.reshape(n)
    if n and (not np.array_equal(labels, np.round(labels)) or labels.min() < 1 or labels.max() > 10):
        raise DataFormatError(f"{path}: y must hold the integers 1..10 (10 is the digit 0)")
    labels = labels.astype(np.int64) % 10  # SVHN's label 10 is the digit 0
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)), labels.astype(np.uint8)  # (N, H, W, C)


def read_files(paths: dict[str, Path], where: str, on_progress: ProgressFn) -> dict[str, np.ndarray]:
    """Read the train and test .mat files ({"train": path, "test": path}) and verify them as SVHN."""
    arrays = {}
    for part, path in paths.items():
        on_progress(f"reading {path}", None)
        arrays[f"{part}_x"], arrays[f"{part}_y"] = read_mat(path)
    check_arrays(arrays, SVHN_INFO, where)
    return arrays


def _local_step() -> Step:
    label = "local SVHN files"

    def step(ctx: StepContext) -> Found | None:
        paths = {part: ctx.root / name for part, name in FILES.items()}
        missing = [path.name for path in paths.values() if not path.is_file()]
        if missing:
            ctx.failures.append(f"{label} in {ctx.root}: missing {', '.join(missing)}")
            return None
        return read_files(paths, f".mat files in {ctx.root}", ctx.on_progress), f".mat files in {ctx.root}"

    return label, step


def _mirror_step(sources: SvhnSources) -> Step:
    def step(ctx: StepContext) -> Found | None:
        md5, timeout_s = sources.md5, sources.timeout_s
        fetched = fetch_files(sources.mirrors, md5, ctx.workdir, timeout_s, ctx.on_progress, ctx.failures)
        if fetched is None:
            return None
        got, mirror = fetched
        paths = {part: got[name] for part, name in FILES.items()}
        return read_files(paths, f"files from {mirror}", ctx.on_progress), f"download from {mirror} (MD5 verified)"

    return "SVHN mirrors", step


def load_svhn(
    data_dir: str | os.PathLike | None = None,
    on_progress: ProgressFn | None = None,
    sources: SvhnSources | None = None,
) -> DatasetArrays:
    """SVHN train + test as uint8 arrays, from the first source that works (see module docstring).

    Raises DatasetUnavailableError, listing every source tried and why it failed."""
    root = resolve_dir(data_dir)
    return load_through_chain(
        SVHN_INFO,
        root,
        local_steps=[_local_step()],
        remote_steps=[_mirror_step(sources or SvhnSources())],
        on_progress=on_progress or quiet,
        how_to_fix=f"put {' and '.join(FILES.values())} in {root}",
    )
