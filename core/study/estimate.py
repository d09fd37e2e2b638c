"""How long a study takes at most: core.mnist.task.estimate_seconds, calibrated on this CPU.

What: `estimate_study_seconds(study, skip=0)` sums estimate_seconds over the cells (each with
its data set's input size and classes), scaled on a CPU by `cpu_factor(layers)`, the measured
ratio of real to estimated seconds per config-epoch. It counts every run to its last allowed
epoch, so it is an upper bound: early stopping ends most runs sooner.

Why: the page and the CLI show this before a launch, and the CPU presets are sized by it.

How the factor was measured (benchmarks/study_bench.py; 2 CPU cores shared with other jobs,
12 configs per batched group, 10,000 training images, 1,000 + 5,000 + 10,000 evaluated):
784-400-10 on MNIST 0.58 s per config-epoch against 1.00 s estimated (0.58); 784-256-10 on
Fashion-MNIST 0.37 against 0.62 (0.60); 784-256x5-10 1.40 against 1.43 (0.98). Deeper nets
do more, smaller matrix products per image, so they reach fewer flop/s: the factor grows by
about 0.1 per hidden layer.

    from core.study.estimate import estimate_study_seconds
    estimate_study_seconds(PRESETS["mnist-1layer"].study)    # seconds, an upper bound
"""

from __future__ import annotations

from core.device import pick_device
from core.mnist.task import estimate_seconds
from core.study.config import StudyConfig

SHAPES = {"mnist": (784, 10), "fashion-mnist": (784, 10), "cifar10": (3072, 10), "svhn": (3072, 10),
          "cifar100": (3072, 100)}  # data set -> (input_dim, num_classes)


def cpu_factor(layers: int) -> float:
    """Measured / estimated seconds per config-epoch on the 2-core CPU (see module docstring)."""
    return 0.5 + 0.1 * layers


def estimate_study_seconds(study: StudyConfig, runs=None) -> float:
    """Upper bound in seconds for training `runs` ((cell, TrainConfig) pairs; default: all of the
    study's), every run to its last epoch."""
    runs = study.runs() if runs is None else runs
    total = 0.0
    for cell in study.cells:
        configs = [config for c, config in runs if c == cell]
        if not configs:
            continue
        data = study.data(cell.dataset)
        input_dim, classes = SHAPES.get(cell.dataset, (784, 10))
        seconds = estimate_seconds(configs, data, input_dim=input_dim, num_classes=classes)
        cpu = pick_device(data.device).type == "cpu"
        total += seconds * (cpu_factor(cell.layers) if cpu else 1.0)
    return total
