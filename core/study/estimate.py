"""How long a study takes at most: core.mnist.task.estimate_seconds, calibrated on this CPU.

What: `estimate_study_seconds(study, runs=None)` sums estimate_seconds over the cells (each with
its data set's input size and classes), scaled on a CPU by `cpu_factor(layers)`, the measured
ratio of real to estimated seconds per config-epoch. It counts every run to its last allowed
epoch, so it is an upper bound: early stopping ends most runs sooner.

Why: the page and the CLI show this before a launch, and the CPU presets are sized by it.

How the factor was measured (benchmarks/study_bench.py and the probes before it; 2 CPU cores
shared with other jobs, 8-12 configs per batched group, 10,000 training images, 1,000 + 5,000 +
5,000-10,000 evaluated). With the machine busy (load average 7-9): 784-400-10 on MNIST 0.58 s per
config-epoch against 1.00 s estimated (0.58); 784-256-10 on Fashion-MNIST 0.37 against 0.62 (0.60);
784-256x5-10 1.40 against 1.43 (0.98). Idle (load 1-2): 0.32 / 0.87 (0.37), 0.10 / 0.56 (0.19),
256x3 0.24 / 0.91 (0.26), 256x5 0.52 / 1.27 (0.41). The factor is the busy one, so the estimate stays
an upper bound when others share the cores: deeper nets do more, smaller matrix products per image
and reach fewer flop/s, so it grows by 0.1 per hidden layer. The presets' real wall times (early
stopping included) were 30-50% of the bound: 5.0 min against 9.6 for mnist-1layer, 4.6 against 15.8
for fashion-depth, at load average 2-5.

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
