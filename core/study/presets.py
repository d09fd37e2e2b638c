"""Named studies: two sized for the 2-core CPU, two that are the paper's whole tables.

What: `PRESETS[name]` is a `Preset` (title, StudyConfig, what it is for). The CPU presets are cut
down so that they finish in the time their title gives on 2 shared CPU cores (measured per
config-epoch cost in benchmarks/study_bench.py; core.estimate.estimate_study gives the bound before a
launch); the paper presets are the full Tables 1 / 3 and 4 on full data, for a GPU or a Ray
cluster (they need the SVHN and CIFAR files in the data directory: python -m core.data).

Why: the page's buttons and `python -m core.study --preset NAME` start the same studies, and the
README's results come from the CPU presets.

    from core.study.presets import PRESETS
    PRESETS["mnist-1layer"].study.runs()
"""

from __future__ import annotations

from dataclasses import dataclass

from core.study.config import Cell, StudyConfig

PAPER_KS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)  # the ks the paper's tables select from
PAPER_LRS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # the paper gives no lr grid: a log grid over the useful range
PAPER_DATASETS = ("mnist", "svhn", "cifar10", "cifar100")


@dataclass(frozen=True)
class Preset:
    title: str  # the button's text, with where and how long
    study: StudyConfig
    about: str  # one sentence: what is cut down, what it can show


def _paper(cells: list[Cell], name: str) -> StudyConfig:
    return StudyConfig(cells=tuple(cells), ks=PAPER_KS, lrs=PAPER_LRS, seeds=(0, 1, 2), epochs=100, patience=10,
                       n_train=None, n_val=None, n_test=None, train_eval=10_000, name=name)


_TABLE1 = [Cell(d, 1, w, 0.5) for d in PAPER_DATASETS for w in (400, 800, 1100)]
_TABLES34 = ([Cell(d, 3, w, 0.5) for d in PAPER_DATASETS for w in (400, 800)]
             + [Cell(d, 5, w, m) for m in (0.5, 0.9) for d in PAPER_DATASETS for w in (400, 800)])

PRESETS: dict[str, Preset] = {
    "mnist-1layer": Preset(
        "MNIST 1 layer (CPU, ~20 min)",
        StudyConfig(cells=(Cell("mnist", 1, 400, 0.5),), ks=(0.25, 0.5, 1.0, 2.0), lrs=(0.1, 0.3, 1.0, 3.0),
                    seeds=(0, 1, 2), epochs=20, patience=4, n_train=10_000, n_val=5_000, n_test=10_000,
                    train_eval=1_000, name="mnist-1layer"),
        "Table 1's MNIST 1 × 400 cell on 10,000 training images, 4 k × 4 lr × 3 seeds, at most 20 epochs."),
    "fashion-depth": Preset(
        "Fashion-MNIST depth 1/3/5 (CPU, ~30 min)",
        StudyConfig(cells=tuple(Cell("fashion-mnist", n, 256, 0.5) for n in (1, 3, 5)),
                    ks=(0.25, 0.5, 1.0, 2.0, 4.0), lrs=(0.01, 0.03, 0.1, 0.3), seeds=(0, 1), epochs=15, patience=3,
                    n_train=5_000, n_val=5_000, n_test=5_000, train_eval=1_000, name="fashion-depth"),
        "The depth question on Fashion-MNIST: 1, 3 and 5 hidden layers of 256, 5 k × 4 lr × 2 seeds, "
        "5,000 training images, at most 15 epochs."),
    "paper-table1": Preset("Paper: all of Table 1 (GPU or Ray)", _paper(_TABLE1, "paper-table1"),
                           "Table 1: 1 hidden layer of 400/800/1100 on MNIST, SVHN, CIFAR-10/100, full data."),
    "paper-tables34": Preset("Paper: Tables 3 and 4 (GPU or Ray)", _paper(_TABLES34, "paper-tables34"),
                             "Tables 3 and 4: 3 and 5 hidden layers of 400/800, momentum 0.5 (and 0.9 for 5 "
                             "layers), on MNIST, SVHN, CIFAR-10/100, full data."),
}
