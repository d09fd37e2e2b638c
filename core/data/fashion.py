"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 28x28 grey images of 10 kinds of clothing.

What: `load_fashion_mnist()` returns the standard 60,000/10,000 arrays (uint8 (N, 28, 28)
images, uint8 labels 0..9, 6,000 per class in training and 1,000 in test) from the first
source that works:

  0. the cache `<data dir>/fashion-mnist.npz`;
  1. the four IDX files (plain or .gz; the same names as MNIST's, hence their own directory)
     in `<data dir>/fashion-mnist/`;
  2. the upstream mirrors torchvision uses, each .gz checked against its published MD5;
  3. Debian's package `dataset-fashion-mnist`, fetched with `apt-get download` and unpacked with
     `dpkg-deb -x` into a temp directory (no install, no root; see core.data.debian). Debian
     re-compressed the files, so their .gz bytes differ from upstream's; what is checked is the
     SHA-256 of each DECODED array, pinned below.

Why: the paper's depth study runs on several data sets; this one is reachable here through
Debian's archive when its own hosts are not.

How:
    python -m core.data --dataset fashion-mnist
    from core.data import load_dataset
    fashion = load_dataset("fashion-mnist")     # fashion.train_x: (60000, 28, 28) uint8

The pinned SHA-256s were computed from the Debian package's decoded arrays; its decompressed
IDX files have the MD5s published for upstream's decompressed files (train images
f4a8712d7a061bf5bd6d2ca38dc4d50a, train labels 9018921c3c673c538a1fc5bad174d6f9, test images
8181f5470baa50b63fa0f6fddb340f0a, test labels 15d484375f8d13e6eb1aabb0c3f46965): same data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.data.arrays import DatasetArrays, DatasetInfo, ProgressFn, array_sha256, quiet
from core.data.cache import resolve_dir
from core.data.chain import Found, Step, StepContext, load_through_chain
from core.data.debian import DebianPackage, fetch_package_files
from core.data.errors import IdxFormatError
from core.data.idx import IDX_NAMES, find_local_idx, local_idx_step, mirror_idx_step, read_idx_set

SUBDIR = "fashion-mnist"  # local files go in <data dir>/fashion-mnist/ (MNIST's file names)

# SHA-256 of each decoded full-size array (uint8, C order), whatever file or package it came from.
ARRAY_SHA256 = (
    ("train_x", "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012"),
    ("train_y", "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7"),
    ("test_x", "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a"),
    ("test_y", "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"),
)

FASHION_INFO = DatasetInfo(
    name="fashion-mnist",
    title="Fashion-MNIST",
    num_classes=10,
    image_shape=(28, 28),
    train_counts=(6000,) * 10,
    test_counts=(1000,) * 10,
    val_size=10_000,
    sha256=ARRAY_SHA256,
)


@dataclass(frozen=True)
class FashionSources:
    """Where to fetch Fashion-MNIST from when it is not cached or in the data directory."""

    # Base URLs tried in order, each holding the four `<name>.gz` files.
    mirrors: tuple[str, ...] = (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    )
    # MD5 of each upstream `<name>.gz` file, as (file name, hex digest) pairs.
    md5: tuple[tuple[str, str], ...] = (
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    )
    # Seconds to wait for a connection, and for each read, before giving up on a mirror.
    timeout_s: float = 5.0
    # The Debian package to fall back on; None skips it.
    debian: DebianPackage | None = DebianPackage("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist")
    # SHA-256 the decoded arrays from the Debian package must have (its .gz bytes are not upstream's).
    debian_sha256: tuple[tuple[str, str], ...] = ARRAY_SHA256


def _debian_step(pkg: DebianPackage, expected: tuple[tuple[str, str], ...]) -> Step:
    label = f"Debian package {pkg.package}"

    def step(ctx: StepContext) -> Found:
        files = fetch_package_files(pkg, ctx.workdir, ctx.on_progress)
        paths, missing = find_local_idx(files)
        if missing:
            raise IdxFormatError(f"{files} lacks {', '.join(missing)}")
        ctx.on_progress(f"decoding and verifying the IDX files of {pkg.package}", None)
        arrays = read_idx_set(paths, FASHION_INFO, label)
        for key, want in expected:  # at any size: these bytes were not checked by any MD5
            if (got := array_sha256(arrays[key])) != want:
                raise IdxFormatError(f"{label}: decoded {key} has SHA-256 {got}, expected {want}")
        return arrays, f"{label} (decoded arrays SHA-256 verified)"

    return label, step


def load_fashion_mnist(
    data_dir: str | os.PathLike | None = None,
    on_progress: ProgressFn | None = None,
    sources: FashionSources | None = None,
) -> DatasetArrays:
    """Fashion-MNIST as uint8 arrays, from the first source that works (see module docstring).

    Raises DatasetUnavailableError, listing every source tried and why it failed."""
    root = resolve_dir(data_dir)
    sources = sources or FashionSources()
    remote = [mirror_idx_step(FASHION_INFO, sources.mirrors, sources.md5, sources.timeout_s)]
    if sources.debian is not None:
        remote.append(_debian_step(sources.debian, sources.debian_sha256))
    return load_through_chain(
        FASHION_INFO,
        root,
        local_steps=[local_idx_step(FASHION_INFO, SUBDIR)],
        remote_steps=remote,
        on_progress=on_progress or quiet,
        how_to_fix=f"put the four files {', '.join(IDX_NAMES.values())} (optionally .gz) in {root / SUBDIR}",
    )
