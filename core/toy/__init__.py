"""The 1-D toy experiment of Keren, Sabato & Schuller (AAAI 2017, Section 5.1), fast and exact.

What: a model that can only learn a threshold rule (z_i = w_i x + b_i, i in {-1, +1}) trained by
full-batch gradient descent with the pseudo-gradient of each k, on x ~ U[-1, 1] labelled +1 iff
0 <= x <= alpha. The best threshold is 0, but the points in (alpha, 1] pull cross-entropy's
optimum away from it; small k cares less about them, so its test error is lower. Each run is one
draw of the data and of the initial weights, shared by every k.

Why: the paper's cleanest illustration that k tunes sensitivity to large errors, a reproducible
number table, and the dashboard's Toy page.

The package, one idea per module:
    config.py      ToyConfig (every parameter), ToyData and draw_data (one run's draw from D)
    metrics.py     errors of a threshold rule on sorted data, cross-entropy, the stopping rule
    taylor.py      the mean pseudo-gradient as a Taylor polynomial, re-expanded on demand
    result.py      ToySnapshot (progress), ToyResult (tables, history, animation frames)
    train.py       iter_toy: the fast trainer of every (k, run) model at once
    reference.py   run_reference: the straightforward float64 trainer it is checked against
    population.py  population_limit: where each k converges when n -> infinity
    task.py        the toy on the engine: toy_task; submit (pages), run_here (CLIs), load, and run_toy (library:
                   run_here with an in-memory store, returning the ToyResult)
    __main__.py    the command line

How to run:
    python -m core.toy                     # paper protocol, saved in the run store, per-k table
    python -m core.toy --runs 2 --n 3000   # smaller; --help lists every parameter
    python -m core.toy --population        # limiting threshold t*(k) for n -> infinity
    from core.toy import ToyConfig, run_toy
    result = run_toy(ToyConfig(), on_progress=print)   # result.per_k, result.per_run
"""

from core.toy.config import PAPER_KS, ToyConfig, ToyConfigError, ToyData, draw_data, label_rule
from core.toy.metrics import _SortedErrors, stop_scan, stopping_epoch
from core.toy.population import population_ce, population_gradient, population_limit, threshold_error
from core.toy.reference import run_reference
from core.toy.result import MAX_FRAMES, FrameRecorder, ToyResult, ToySnapshot
from core.toy.task import (KIND, SavedToy, ToyLive, epoch_metrics, load, run_here, run_toy, submit, toy_group,
                           toy_label, toy_payload, toy_task)
from core.toy.taylor import _derivative_polys
from core.toy.train import iter_toy

__all__ = [
    "PAPER_KS", "ToyConfig", "ToyConfigError", "ToyData", "draw_data", "label_rule",
    "stop_scan", "stopping_epoch",
    "population_ce", "population_gradient", "population_limit", "threshold_error",
    "run_reference", "MAX_FRAMES", "FrameRecorder", "ToyResult", "ToySnapshot", "iter_toy", "run_toy",
    "KIND", "SavedToy", "ToyLive", "epoch_metrics", "load", "run_here", "submit", "toy_group",
    "toy_label", "toy_payload", "toy_task",
    "_SortedErrors", "_derivative_polys",
]  # fmt: skip
