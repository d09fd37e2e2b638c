"""What a data set is here: its facts (`DatasetInfo`), its arrays (`DatasetArrays`), and the check
that the arrays really are that data set (`check_arrays`).

What: every data set (MNIST, Fashion-MNIST, CIFAR-10/100, SVHN) is held the same way: uint8
images (N, H, W) for grey or (N, H, W, 3) for colour (channels last), uint8 labels (N,) in
0..num_classes-1, a training part and a test part. `DatasetInfo` records what is known about
the real data (image shape, class counts, checksums of the decoded arrays where pinned).

Why: loaders of very different file formats meet in one structure, so caching, verification,
the experiment split and the trainers need to know nothing about the formats.

How: a loader builds `{"train_x", "train_y", "test_x", "test_y"}`, calls
`check_arrays(arrays, info, where)`, and returns `DatasetArrays(**arrays, source=...)`.
Any size passes the structural checks (tests use tiny data); data of the real full size must
also have the real class counts and, where pinned, the real SHA-256 of each array.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.errors import DataFormatError

ProgressFn = Callable[[str, float | None], None]  # (message, fraction done in [0, 1] or None)

ARRAY_KEYS = ("train_x", "train_y", "test_x", "test_y")


def quiet(message: str, fraction: float | None) -> None:
    """A ProgressFn that reports nothing."""


@dataclass(frozen=True)
class DatasetInfo:
    """Known facts about one real data set, used to verify any copy of it."""

    name: str  # registry key and cache file stem, e.g. "cifar10"
    title: str  # name in messages, e.g. "CIFAR-10"
    num_classes: int  # labels are 0..num_classes-1
    image_shape: tuple[int, ...]  # one image: (H, W) grey or (H, W, 3) colour, channels last
    train_counts: tuple[int, ...]  # images per class in the full training set
    test_counts: tuple[int, ...]  # images per class in the full test set
    val_size: int  # training images (the LAST ones) that load_split holds out for validation
    sha256: tuple[tuple[str, str], ...] = ()  # (array key, SHA-256 of its C-order bytes) at full size

    @property
    def cache_name(self) -> str:
        """File name of this data set's .npz cache in the data directory."""
        return f"{self.name}.npz"

    @property
    def input_dim(self) -> int:
        """Length of one flattened image (784 for 28x28 grey, 3072 for 32x32x3)."""
        return int(np.prod(self.image_shape))


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value
class DatasetArrays:
    """A data set as uint8 arrays: images (N, H, W) or (N, H, W, 3), labels (N,) in 0..num_classes-1."""

    train_x: np.ndarray  # (N_train, *image_shape) uint8
    train_y: np.ndarray  # (N_train,) uint8
    test_x: np.ndarray  # (N_test, *image_shape) uint8
    test_y: np.ndarray  # (N_test,) uint8
    source: str  # where the data came from, in words
    cache_path: Path | None = None  # the .npz cache that now holds it
    name: str = "mnist"  # registry name of the data set
    num_classes: int = 10  # labels are 0..num_classes-1


MnistArrays = DatasetArrays  # the historical name; MNIST is a DatasetArrays with the defaults


def array_sha256(array: np.ndarray) -> str:
    """SHA-256 (hex) of an array's bytes in C order: a checksum of decoded data, whatever the container."""
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


def _check_part(x: np.ndarray, y: np.ndarray, part: str, info: DatasetInfo, where: str, error: type) -> None:
    shape = ", ".join(["N", *map(str, info.image_shape)])
    if x.dtype != np.uint8 or x.shape[1:] != info.image_shape:
        raise error(f"{where}: {part} images are {x.dtype} {x.shape}, expected uint8 ({shape})")
    if y.dtype != np.uint8 or y.ndim != 1 or len(y) != len(x):
        raise error(f"{where}: {part} labels are {y.dtype} {y.shape}, expected uint8 ({len(x)},)")
    if len(y) and int(y.max()) >= info.num_classes:
        raise error(f"{where}: {part} labels go up to {int(y.max())}, expected 0..{info.num_classes - 1}")


def check_arrays(
    arrays: dict[str, np.ndarray], info: DatasetInfo, where: str, error: type[DataFormatError] = DataFormatError
) -> None:
    """Raise `error` unless `arrays` look like `info`'s data set: dtypes, shapes and label range at
    any size; at the full size also its class counts and (where pinned) its array SHA-256s."""
    for part in ("train", "test"):
        _check_part(arrays[f"{part}_x"], arrays[f"{part}_y"], part, info, where, error)
    pinned = dict(info.sha256)
    for part, counts in (("train", info.train_counts), ("test", info.test_counts)):
        y = arrays[f"{part}_y"]
        if len(y) != sum(counts):
            continue
        found = tuple(np.bincount(y, minlength=info.num_classes).tolist())
        if found != counts:
            raise error(f"{where}: {part} class counts {list(found)} are not {info.title}'s {list(counts)}")
        for key in (f"{part}_x", f"{part}_y"):
            if key in pinned and (digest := array_sha256(arrays[key])) != pinned[key]:
                raise error(f"{where}: {key} has SHA-256 {digest}, expected {info.title}'s {pinned[key]}")
