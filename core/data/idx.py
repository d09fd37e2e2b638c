"""IDX files, the format of MNIST and Fashion-MNIST: decode them, and find the four of a set.

What: `parse_idx` decodes one IDX file's bytes (magic 0x0000, a type code, a dimension count,
big-endian dimensions, then the payload) into a NumPy array; `read_idx` reads one from disk,
gunzipping it if needed; `read_idx_set` reads the four files of a data set
(train/t10k images/labels) and verifies them as that data set; `local_idx_step` and
`mirror_idx_step` are the two source-chain steps both IDX data sets share.

Why: both MNIST-style data sets ship as these four files, from mirrors, in local directories
and inside Debian's package; one strict decoder rejects truncated, padded or mislabelled files
with a message naming the file.

How:
    from core.data.idx import read_idx
    images = read_idx("train-images-idx3-ubyte.gz")   # (60000, 28, 28) uint8
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from core.data.arrays import DatasetInfo, check_arrays
from core.data.chain import Found, Step, StepContext
from core.data.download import fetch_files
from core.data.errors import IdxFormatError

# The four standard files, by the array they hold.
IDX_NAMES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}

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


def find_local_idx(root: Path) -> tuple[dict[str, Path], list[str]]:
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


def read_idx_set(paths: dict[str, Path], info: DatasetInfo, where: str) -> dict[str, np.ndarray]:
    """Read the four files of a set and check them as `info`'s data set (IdxFormatError if not)."""
    arrays = {key: read_idx(path) for key, path in paths.items()}
    check_arrays(arrays, info, where, error=IdxFormatError)
    return arrays


# ---------------------------------------------------------------- IDX sets as source-chain steps


def local_idx_step(info: DatasetInfo, subdir: str = "") -> Step:
    """A chain step reading the four IDX files (plain or .gz) from the data directory, or from
    its `subdir` (data sets sharing MNIST's file names need a directory of their own)."""
    label = "local IDX files"

    def step(ctx: StepContext) -> Found | None:
        where = ctx.root / subdir if subdir else ctx.root
        local, missing = find_local_idx(where)
        if missing:
            ctx.failures.append(f"{label} in {where}: missing {', '.join(missing)} (or .gz)")
            return None
        ctx.on_progress(f"reading IDX files in {where}", None)
        try:
            return read_idx_set(local, info, f"IDX files in {where}"), f"IDX files in {where}"
        except (IdxFormatError, OSError) as exc:
            ctx.failures.append(f"{label} in {where}: {exc}")
            return None

    return label, step


def mirror_idx_step(
    info: DatasetInfo, mirrors: tuple[str, ...], md5: tuple[tuple[str, str], ...], timeout_s: float
) -> Step:
    """A chain step downloading the four `<name>.gz` files from the first mirrors that have them,
    each checked against its MD5 in `md5` ((file name, hex digest) pairs), then decoding them."""

    digests = dict(md5)
    files = tuple((f"{name}.gz", digests[f"{name}.gz"]) for name in IDX_NAMES.values())

    def step(ctx: StepContext) -> Found | None:
        fetched = fetch_files(mirrors, files, ctx.workdir, timeout_s, ctx.on_progress, ctx.failures)
        if fetched is None:
            return None
        got, mirror = fetched
        paths = {key: got[f"{name}.gz"] for key, name in IDX_NAMES.items()}
        try:
            arrays = read_idx_set(paths, info, f"files from {mirror}")
        except IdxFormatError as exc:
            ctx.failures.append(f"mirror {mirror}: {exc}")
            return None
        return arrays, f"download from the {info.title} mirrors (MD5 verified)"

    return f"{info.title} mirrors", step
