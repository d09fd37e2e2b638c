"""The data sets by name: `load_dataset("cifar10")` and friends.

What: one table of the data sets this project can load (MNIST, Fashion-MNIST, CIFAR-10,
CIFAR-100, SVHN), each with its known facts (`DatasetInfo`) and its loader, and
`load_dataset(name)` returning any of them as the same `DatasetArrays` structure.

Why: experiments, the CLI and the dashboard pick a data set by name; everything downstream
(the split, the trainers) sees uint8 arrays of one shape convention, whatever the source format.

How:
    from core.data import load_dataset, dataset_names
    dataset_names()                          # ('mnist', 'fashion-mnist', 'cifar10', 'cifar100', 'svhn')
    cifar = load_dataset("cifar10", on_progress=print)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass

from core.data.arrays import DatasetArrays, DatasetInfo, ProgressFn
from core.data.cifar import LAYOUTS, load_cifar
from core.data.fashion import FASHION_INFO, load_fashion_mnist
from core.data.mnist import MNIST_INFO, load_mnist
from core.data.svhn import SVHN_INFO, load_svhn


@dataclass(frozen=True)
class Dataset:
    """One loadable data set."""

    info: DatasetInfo  # known facts: classes, image shape, class counts, validation size
    load: Callable[..., DatasetArrays]  # (data_dir, on_progress, sources) -> DatasetArrays
    summary: str  # one line for --help


DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(MNIST_INFO, load_mnist, "MNIST digits: 28x28 grey, 60,000 train / 10,000 test"),
    "fashion-mnist": Dataset(
        FASHION_INFO, load_fashion_mnist, "Fashion-MNIST clothing: 28x28 grey, 60,000 / 10,000"
    ),
    "cifar10": Dataset(
        LAYOUTS["cifar10"].info, functools.partial(load_cifar, "cifar10"), "CIFAR-10: 32x32 colour, 50,000 / 10,000"
    ),
    "cifar100": Dataset(
        LAYOUTS["cifar100"].info,
        functools.partial(load_cifar, "cifar100"),
        "CIFAR-100, fine labels (100 classes): 32x32 colour, 50,000 / 10,000",
    ),
    "svhn": Dataset(SVHN_INFO, load_svhn, "SVHN cropped digits: 32x32 colour, 73,257 / 26,032 (no 'extra')"),
}

_ALIASES = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10", "cifar-100": "cifar100"}


def dataset_names() -> tuple[str, ...]:
    """The names `load_dataset` accepts, in the paper's order."""
    return tuple(DATASETS)


def get_dataset(name: str) -> Dataset:
    """The registry entry for `name` (case and '_'/'-' are ignored); ValueError if unknown."""
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[key]


def load_dataset(
    name: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    on_progress: ProgressFn | None = None,
    sources: object | None = None,
) -> DatasetArrays:
    """The data set `name` as uint8 arrays (images (N, H, W) or (N, H, W, 3), labels (N,)), from
    its cache, the data directory, or its public sources, verified and cached.

    `sources` overrides where it is fetched from (DataSources, FashionSources, CifarSources or
    SvhnSources, matching the data set). Raises DatasetUnavailableError when nothing works."""
    return get_dataset(name).load(data_dir=data_dir, on_progress=on_progress, sources=sources)
