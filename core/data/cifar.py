"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009): 32x32 colour images, 10 or 100 classes.

What: `load_cifar("cifar10" | "cifar100")` returns the standard 50,000/10,000 arrays (uint8
(N, 32, 32, 3) images, channels last; uint8 labels; CIFAR-100's FINE labels 0..99) from the
first source that works:

  0. the cache `<data dir>/cifar10.npz` or `cifar100.npz`;
  1. in the data directory, the unpacked folder (`cifar-10-batches-py/` with `data_batch_1`..`5`
     and `test_batch`; `cifar-100-python/` with `train` and `test`), else the archive as
     published (`cifar-10-python.tar.gz`, `cifar-100-python.tar.gz`), read without unpacking;
  2. the archive from the authors' site, checked against its published MD5 (torchvision's).

Why: the paper repeats its depth study on CIFAR-10 and CIFAR-100. The batches are Python
pickles (dicts holding a uint8 "data" array (N, 3072) of R, G, B planes and a list of labels),
so they are read with core.data.safe_pickle, which admits NumPy arrays and nothing else.

How:
    python -m core.data --dataset cifar10
    from core.data import load_dataset
    cifar = load_dataset("cifar100")        # cifar.train_x: (50000, 32, 32, 3), labels 0..99

Every full-size copy must have 5,000/1,000 images per class (CIFAR-10) or 500/100 (CIFAR-100).
"""

from __future__ import annotations

import os
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.arrays import DatasetArrays, DatasetInfo, ProgressFn, check_arrays, quiet
from core.data.cache import resolve_dir
from core.data.chain import Found, Step, StepContext, load_through_chain
from core.data.download import fetch_files
from core.data.errors import DataFormatError, UnsafePickleError
from core.data.safe_pickle import load_numpy_pickle


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR version keeps its batches, and which labels to use."""

    info: DatasetInfo
    archive: str  # the published .tar.gz
    folder: str  # the folder inside it (and the unpacked folder in the data directory)
    train: tuple[str, ...]  # training batch files, in order
    test: tuple[str, ...]  # test batch files
    label_key: str  # the labels to use from each batch dict


@dataclass(frozen=True)
class CifarSources:
    """Where to fetch one CIFAR version's archive from."""

    md5: str  # MD5 of the published .tar.gz
    mirrors: tuple[str, ...] = ("https://www.cs.toronto.edu/~kriz/",)  # base URLs tried in order
    timeout_s: float = 5.0  # seconds to wait for a connection, and for each read


def _info(name: str, title: str, classes: int, per_class_train: int, per_class_test: int) -> DatasetInfo:
    return DatasetInfo(
        name=name, title=title, num_classes=classes, image_shape=(32, 32, 3),
        train_counts=(per_class_train,) * classes, test_counts=(per_class_test,) * classes, val_size=10_000,
    )  # fmt: skip


LAYOUTS = {
    "cifar10": CifarLayout(
        _info("cifar10", "CIFAR-10", 10, 5000, 1000), "cifar-10-python.tar.gz", "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",), "labels",
    ),
    "cifar100": CifarLayout(
        _info("cifar100", "CIFAR-100", 100, 500, 100), "cifar-100-python.tar.gz", "cifar-100-python",
        ("train",), ("test",), "fine_labels",
    ),
}  # fmt: skip

DEFAULT_SOURCES = {
    "cifar10": CifarSources(md5="c58f30108f718f92721af3b95e74349a"),
    "cifar100": CifarSources(md5="eb9058c3a382ffc7106e4002c42a8d85"),
}


def parse_batch(obj: object, layout: CifarLayout, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One unpickled batch dict -> (images uint8 (N, 32, 32, 3), labels uint8 (N,))."""
    if not isinstance(obj, dict):
        raise DataFormatError(f"{where}: expected a dict, found {type(obj).__name__}")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    data, labels = batch.get("data"), batch.get(layout.label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        what = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataFormatError(f"{where}: 'data' is {what}, expected uint8 (N, 3072)")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{where}: '{layout.label_key}' is not a list of integers ({exc})") from exc
    classes = layout.info.num_classes
    if y.shape != (len(data),) or (len(y) and (y.min() < 0 or y.max() >= classes)):
        raise DataFormatError(f"{where}: '{layout.label_key}' must be {len(data)} integers in 0..{classes - 1}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # R, G, B planes -> (N, H, W, C)
    return np.ascontiguousarray(images), y.astype(np.uint8)


def _parse_member(f, layout: CifarLayout, name: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Unpickle (safely) and parse one batch file `name` from the open binary file `f`."""
    try:
        return parse_batch(load_numpy_pickle(f), layout, f"{where}: {layout.folder}/{name}")
    except (UnsafePickleError, DataFormatError):
        raise
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        raise DataFormatError(f"{where}: cannot read {layout.folder}/{name} ({exc})") from exc
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise DataFormatError(f"{where}: {layout.folder}/{name} is not a valid batch pickle ({exc})") from exc


def _stack(parsed: dict[str, tuple[np.ndarray, np.ndarray]], layout: CifarLayout, where: str) -> dict[str, np.ndarray]:
    """Concatenate the parsed batches in their standard order and verify the result."""
    missing = [name for name in layout.train + layout.test if name not in parsed]
    if missing:
        raise DataFormatError(f"{where}: no {', '.join(f'{layout.folder}/{n}' for n in missing)}")
    arrays = {}
    for part, names in (("train", layout.train), ("test", layout.test)):
        arrays[f"{part}_x"] = np.concatenate([parsed[n][0] for n in names])
        arrays[f"{part}_y"] = np.concatenate([parsed[n][1] for n in names])
    check_arrays(arrays, layout.info, where)
    return arrays


def read_archive(path: Path, layout: CifarLayout, on_progress: ProgressFn) -> dict[str, np.ndarray]:
    """Read the batches straight out of the published .tar.gz, in one pass (nothing is extracted)."""
    wanted = {f"{layout.folder}/{name}": name for name in layout.train + layout.test}
    parsed = {}
    try:
        with tarfile.open(path, "r|gz") as tar:  # a stream: one pass over the archive
            for member in tar:
                name = wanted.get(member.name.removeprefix("./"))
                if name is not None and member.isfile():
                    on_progress(f"reading {member.name} from {path.name}", None)
                    parsed[name] = _parse_member(tar.extractfile(member), layout, name, path.name)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(f"{path}: not a readable .tar.gz ({exc})") from exc
    return _stack(parsed, layout, path.name)


def read_folder(folder: Path, layout: CifarLayout, on_progress: ProgressFn) -> dict[str, np.ndarray]:
    """Read the batches from an unpacked folder (e.g. <data dir>/cifar-10-batches-py/)."""
    parsed = {}
    for name in layout.train + layout.test:
        on_progress(f"reading {folder / name}", None)
        with open(folder / name, "rb") as f:
            parsed[name] = _parse_member(f, layout, name, str(folder))
    return _stack(parsed, layout, str(folder))


def _local_step(layout: CifarLayout) -> Step:
    label = f"local {layout.info.title} files"

    def step(ctx: StepContext) -> Found | None:
        folder, archive = ctx.root / layout.folder, ctx.root / layout.archive
        if all((folder / name).is_file() for name in layout.train + layout.test):
            return read_folder(folder, layout, ctx.on_progress), f"{layout.folder}/ in {ctx.root}"
        if archive.is_file():
            return read_archive(archive, layout, ctx.on_progress), f"{archive}"
        ctx.failures.append(f"{label} in {ctx.root}: neither {layout.folder}/ nor {layout.archive}")
        return None

    return label, step


def _mirror_step(layout: CifarLayout, sources: CifarSources) -> Step:
    def step(ctx: StepContext) -> Found | None:
        files = ((layout.archive, sources.md5),)
        fetched = fetch_files(sources.mirrors, files, ctx.workdir, sources.timeout_s, ctx.on_progress, ctx.failures)
        if fetched is None:
            return None
        got, mirror = fetched
        arrays = read_archive(got[layout.archive], layout, ctx.on_progress)
        return arrays, f"download of {layout.archive} from {mirror} (MD5 verified)"

    return f"{layout.info.title} mirrors", step


def load_cifar(
    name: str = "cifar10",
    data_dir: str | os.PathLike | None = None,
    on_progress: ProgressFn | None = None,
    sources: CifarSources | None = None,
) -> DatasetArrays:
    """CIFAR-10 (`name="cifar10"`) or CIFAR-100 with fine labels (`"cifar100"`) as uint8 arrays,
    from the first source that works (see module docstring). Raises DatasetUnavailableError."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown CIFAR version {name!r}; choose from {sorted(LAYOUTS)}")
    layout = LAYOUTS[name]
    root = resolve_dir(data_dir)
    batches = ", ".join(layout.train + layout.test)
    return load_through_chain(
        layout.info,
        root,
        local_steps=[_local_step(layout)],
        remote_steps=[_mirror_step(layout, sources or DEFAULT_SOURCES[name])],
        on_progress=on_progress or quiet,
        how_to_fix=f"put {layout.archive}, or its unpacked folder {layout.folder}/ (with {batches}), in {root}",
    )
