"""The experiment split: train / validation / test tensors ready for an MLP, for any data set.

What: `load_split(dataset=...)` gives train (the first N - val_size training images),
validation (the LAST val_size training images) and test, as float32 (N, input_dim) tensors
(images flattened in (H, W, C) order: 784 wide for 28x28 grey, 3072 for 32x32 colour, as in the
paper's MLPs) and int64 labels, on `device`. The split also carries `dataset`, `num_classes`,
`input_dim`, `image_shape` and the normalization constants, so trainers can size the network.

Normalization (pixel p in 0..255 becomes the input):
  - MNIST: p / 255, in [0, 1], exactly as every earlier result of this project used;
  - Fashion-MNIST, CIFAR-10, CIFAR-100, SVHN: (p / 255 - mean_c) / std_c, with mean_c and std_c
    the mean and standard deviation of channel c over the training part only (the validation
    and test images never influence them), computed exactly from integer sums. They depend only
    on the data and val_size, not on `subset`, so small runs use the scaling of full ones.
    For full CIFAR-10 with the default validation they come out near mean (0.49, 0.48, 0.45),
    std (0.25, 0.24, 0.26); `split.mean` / `split.std` hold the values used.

Default validation sizes: 10,000 (MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100) and 7,326 (SVHN,
10% of its 73,257 training images).

How:
    from core.data import load_split
    split = load_split(subset=(1000, 500, 500), device="cpu", dataset="cifar10")
    split.train_x.shape, split.num_classes  # torch.Size([1000, 3072]), 10
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from core.data.arrays import ProgressFn
from core.data.registry import get_dataset

# How pixels become inputs after scaling to [0, 1]: "unit" = nothing more; "channel" = per-channel
# standardization with the training part's mean and std (see the module docstring).
NORMALIZATION = {
    "mnist": "unit",
    "fashion-mnist": "channel",
    "cifar10": "channel",
    "cifar100": "channel",
    "svhn": "channel",
}


@dataclass(frozen=True)
class Subset:
    """How many examples to keep of each part (the first n); None keeps them all."""

    n_train: int | None = None  # of the training part (after the validation images are held out)
    n_val: int | None = None  # of the validation part
    n_test: int | None = None  # of the test set


@dataclass(frozen=True, eq=False)
class DataSplit:
    """The experiment split: inputs float32 (N, input_dim), labels int64 (N,), all on one device."""

    train_x: torch.Tensor  # (N_train, input_dim) float32
    train_y: torch.Tensor  # (N_train,) int64
    val_x: torch.Tensor  # the last `val_size` training images
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    source: str  # where the data came from, in words
    dataset: str = "mnist"  # registry name, e.g. "cifar10"
    num_classes: int = 10  # labels are 0..num_classes-1
    input_dim: int = 784  # width of one input row (H * W * C)
    image_shape: tuple[int, ...] = (28, 28)  # one image before flattening, channels last
    mean: tuple[float, ...] = (0.0,)  # per channel, subtracted from p / 255
    std: tuple[float, ...] = (1.0,)  # per channel, divides (p / 255 - mean)


MnistSplit = DataSplit  # the historical name; an MNIST split is a DataSplit with the defaults


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images (N, H, W) or (N, H, W, C), in p / 255 units,
    from exact integer sums (chunked: no float copy of the whole set). Empty or constant
    channels get mean 0 / std 1 where the statistic is undefined."""
    channels = images.shape[3] if images.ndim == 4 else 1
    flat = torch.from_numpy(np.ascontiguousarray(images)).reshape(-1, channels)  # (N*H*W, C) uint8
    total = torch.zeros(channels, dtype=torch.int64)
    squares = torch.zeros(channels, dtype=torch.int64)
    for start in range(0, len(flat), 1 << 22):
        chunk = flat[start : start + (1 << 22)].to(torch.int32)
        total += chunk.sum(0)
        squares += (chunk * chunk).sum(0)
    n = len(flat)
    if n == 0:
        return (0.0,) * channels, (1.0,) * channels
    mean = total.double() / n
    var = (squares.double() / n - mean**2).clamp_min(0.0)
    std = torch.where(var > 0, var.sqrt(), torch.ones_like(var))
    return tuple((mean / 255).tolist()), tuple((std / 255).tolist())


def _to_inputs(x: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...], device) -> torch.Tensor:
    """uint8 images (N, ...) -> float32 (N, D) on `device`: (p / 255 - mean_c) / std_c."""
    # move as uint8 (4x less to copy), convert on the device
    width = int(np.prod(x.shape[1:]))
    pixels = torch.from_numpy(np.ascontiguousarray(x).reshape(len(x), width)).to(device)  # (N, D)
    inputs = pixels.to(torch.float32).div_(255.0)
    if any(mean) or any(s != 1.0 for s in std):
        reps = inputs.shape[1] // len(mean)  # (H, W, C) order: channel = column % C
        inputs.sub_(torch.tensor(mean, dtype=torch.float32, device=inputs.device).repeat(reps))
        inputs.div_(torch.tensor(std, dtype=torch.float32, device=inputs.device).repeat(reps))
    return inputs


def check_subset(dataset: str, subset: Subset) -> None:
    """ValueError naming the size and the data set's limit when `subset` asks for more images than
    `dataset` has (checked from its known counts, before anything is loaded)."""
    info = get_dataset(dataset).info
    limits = {"n_train": sum(info.train_counts) - info.val_size, "n_val": info.val_size, "n_test": sum(info.test_counts)}
    for name, limit in limits.items():
        n = getattr(subset, name)
        if n is not None and not 0 <= n <= limit:
            raise ValueError(f"{name} = {n:,} is out of range: {info.title} has {limit:,} "
                             f"{dict(n_train='training', n_val='validation', n_test='test')[name]} images (choose 1..{limit:,})")


def load_split(
    data_dir: str | os.PathLike | None = None,
    *,
    subset: Subset | tuple[int | None, int | None, int | None] | None = None,
    device: str | torch.device | None = None,
    val_size: int | None = None,
    on_progress: ProgressFn | None = None,
    sources: object | None = None,
    dataset: str = "mnist",
) -> DataSplit:
    """The experiment split of `dataset`: train (first N - val_size training images) / validation
    (last val_size; None = the data set's default) / test, as normalized float32 (N, input_dim)
    and int64 labels on `device` (see the module docstring for the normalization)."""
    entry = get_dataset(dataset)
    info = entry.info
    data = entry.load(data_dir=data_dir, on_progress=on_progress, sources=sources)
    val_size = info.val_size if val_size is None else val_size
    subset = subset if isinstance(subset, Subset) else Subset(*(subset or ()))
    if not 0 <= val_size <= len(data.train_x):
        raise ValueError(f"val_size={val_size} must be in 0..{len(data.train_x)}")
    n_fit = len(data.train_x) - val_size
    channels = info.image_shape[2] if len(info.image_shape) == 3 else 1
    mean, std = (0.0,) * channels, (1.0,) * channels
    if NORMALIZATION[info.name] == "channel":
        mean, std = channel_stats(data.train_x[:n_fit])
    parts = {
        "train": (data.train_x[:n_fit], data.train_y[:n_fit], subset.n_train),
        "val": (data.train_x[n_fit:], data.train_y[n_fit:], subset.n_val),
        "test": (data.test_x, data.test_y, subset.n_test),
    }
    out = {}
    for part, (x, y, n) in parts.items():
        if n is not None:
            if not 0 <= n <= len(x):
                raise ValueError(f"subset: n_{part}={n} must be in 0..{len(x)}")
            x, y = x[:n], y[:n]
        out[f"{part}_x"] = _to_inputs(x, mean, std, device)  # (N, D)
        out[f"{part}_y"] = torch.from_numpy(y.astype(np.int64)).to(device)  # (N,)
    return DataSplit(
        **out, source=data.source, dataset=info.name, num_classes=info.num_classes,
        input_dim=info.input_dim, image_shape=info.image_shape, mean=mean, std=std,
    )  # fmt: skip
