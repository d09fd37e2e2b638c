"""Command line for core.data: fetch, verify and cache one data set, then say where it came from.

What: `python -m core.data [--dataset NAME]` loads the data set through its source chain
(cache, data directory, public sources, fallbacks), printing download progress, then prints
its source, shapes, class counts, cache path and load time. Exit status 1 with the full
explanation when no source works.

Why: the first run on a new machine can fetch everything in one command, and shows what would
have to be put where when the network does not allow it.

How:
    python -m core.data                          # MNIST
    python -m core.data --dataset fashion-mnist  # also cifar10, cifar100, svhn
    python -m core.data --help
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from core.cli import Parser, main_of
from core.data.cache import ENV_VAR
from core.data.registry import DATASETS, get_dataset


def _print_progress(message: str, fraction: float | None) -> None:
    if fraction is None:
        print(message, file=sys.stderr, flush=True)
    else:  # one updating line per download
        end = "\n" if fraction >= 1.0 else ""
        print(f"\r{message}: {100 * fraction:5.1f}%", end=end, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    names = "\n".join(f"  {name:<14} {entry.summary}" for name, entry in DATASETS.items())
    parser = Parser(
        prog="python -m core.data",
        description="Fetch, verify and cache a data set, then report where it came from.",
        epilog=f"data sets:\n{names}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dataset", default="mnist", metavar="NAME", help=f"one of: {', '.join(DATASETS)} (default: mnist)"
    )
    parser.add_argument(
        "--data-dir", default=None, help=f"data directory (default: ${ENV_VAR}, else ~/.cache/tunable-sensitivity)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not print progress")
    return parser


def _body(args: argparse.Namespace) -> int:
    entry = get_dataset(args.dataset)
    start = time.perf_counter()
    data = entry.load(data_dir=args.data_dir, on_progress=None if args.quiet else _print_progress)
    seconds = time.perf_counter() - start
    print(f"data set:   {entry.info.title} ({data.num_classes} classes)")
    print(f"source:     {data.source}")
    print(f"train:      images {data.train_x.shape} {data.train_x.dtype}, labels {data.train_y.shape}")
    print(f"test:       images {data.test_x.shape} {data.test_x.dtype}, labels {data.test_y.shape}")
    print(f"train classes: {np.bincount(data.train_y, minlength=data.num_classes).tolist()}")
    print(f"test classes:  {np.bincount(data.test_y, minlength=data.num_classes).tolist()}")
    print(f"cache:      {data.cache_path}")
    print(f"load time:  {seconds:.3f} s")
    return 0


main = main_of(_parser(), _body)
