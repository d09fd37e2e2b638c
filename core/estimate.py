"""How long a launch will take, calibrated on the machine that runs it: one estimate per experiment.

What: `estimate_mnist(configs, data)` (also the label-noise comparisons, which are MNIST grids),
`estimate_toy(cfg)`, `estimate_study(study, runs)` (expected and at most) and `estimate_job(kind,
configs)` (a running job, from its saved configs) return seconds. Each is a cost model times a rate:
  - MLP grids: 6 flops per weight per training image and 2 per evaluated image, at the device's
    measured matmul rate times an efficiency, plus a start-up per batched group (loading the data);
  - the toy: model-epochs (each k's expected epochs to the stopping rule, as a multiple of the stopping
    window) times what one model-epoch costs, at the same measured rate;
  - a study: its MLP grid, every run to its epoch cap (the bound) or to the share of the cap its
    finished runs actually reached (the expectation: early stopping).
The rate comes from `calibration(device)`: a 0.2-s matmul probe, measured once per device and kept
in `<data dir>/calibration.json`, whose efficiencies are then refined from the store's finished runs
(`refine(store)`: the median of measured over predicted seconds of the newest finished launches).

Why: a page's button, its caption, the CLI and the README must quote one number, and that number
must hold on this machine (benchmarks/estimate_bench.py measures max(estimate/actual, actual/estimate)).

    from core.estimate import estimate_mnist
    estimate_mnist([TrainConfig(k=0.5, epochs=3)], DataConfig(n_train=10_000))   # seconds
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from core.device import pick_device
from core.mnist import DataConfig, TrainConfig
from core.mnist.group_task import MAX_MODELS, group_positions
from core.paths import data_dir
from core.toy import ToyConfig

PROBE_S = 0.2  # how long the matmul probe runs
DEFAULT_EFFICIENCY = {  # fitted on the 2-core CPU at load < 2.5 (benchmarks/estimate_bench.py); refine() adapts them
    "mnist": 0.8,  # achieved / probe flop rate of batched MLP training with evaluation (presets: 0.75-0.9)
    "toy": 1.0,  # multiplies the toy's model-epoch cost
    "study_stop": 0.85,  # share of the epoch cap a study's launches take: a batched group trains until its last run
    # stops (mnist-1layer: runs stop at 0.25-1.0 of the cap, median 0.9); at least (patience + 1) / cap
}
STARTUP_S = {"cpu": 0.5, "cuda": 4.0, "mps": 4.0}  # per batched group: loading the data, first evaluation
TOY_START_S = 0.3  # per toy experiment: drawing the data, setting up
TOY_MODEL_EPOCH_FLOPS = 1.2e6  # one (model, epoch) of the toy's Taylor-form trainer in probe flops (8 us at 148 GFLOP/s)
# epochs to the stopping rule as a multiple of the stopping window, per log2 k (paper protocol, 10 runs)
TOY_EPOCH_RATIO = {-4: 10.3, -3: 7.4, -2: 4.9, -1: 4.5, 0: 3.6, 1: 6.6, 2: 9.4}
MIN_REFINE_S = 2.0  # launches predicted shorter than this (start-up bound) do not refine the rates
NOISE_BAND = (0.8, 1.25)  # measured/predicted medians inside this are run-to-run noise: the rate is kept
SHAPES = {"mnist": (784, 10), "fashion-mnist": (784, 10), "cifar10": (3072, 10), "svhn": (3072, 10),
          "cifar100": (3072, 100)}  # data set -> (input_dim, num_classes)


@dataclasses.dataclass(frozen=True)
class Calibration:
    """What the estimates of one device rest on."""

    device: str  # "cpu", "cuda:0", ...
    flops_per_s: float  # measured matmul rate of the probe
    efficiency: dict  # kind -> factor (DEFAULT_EFFICIENCY's keys), refined from finished runs
    measured_at: float  # Unix time of the probe


def _path() -> Path:
    return data_dir() / "calibration.json"  # the data directory holds every local file of the lab


def probe_flops(device: torch.device, seconds: float = PROBE_S, bursts: int = 10) -> float:
    """The device's matmul rate (flop/s) on an MLP-sized product, (128 x 784) @ (784 x 800): the best of
    `bursts` short timings (other processes sharing the cores slow some bursts; the best is the machine's)."""
    a = torch.randn(128, 784, device=device)
    b = torch.randn(784, 800, device=device)
    torch.mm(a, b)  # warm-up
    best = 0.0
    for _ in range(bursts):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / bursts:
            torch.mm(a, b)
            n += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * 128 * 784 * 800 * n / (time.perf_counter() - start))
    return best


def calibration(device: str | torch.device | None = None, store=None) -> Calibration:
    """The device's calibration: probed once and kept in calibration.json, refined from `store`'s
    finished runs when a store is given."""
    dev = pick_device(device)
    key = str(dev)
    path = _path()
    saved = json.loads(path.read_text()) if path.exists() else {}
    entry = saved.get(key)
    if entry is None:
        entry = {"flops_per_s": probe_flops(dev), "measured_at": time.time()}
        saved[key] = entry
        try:
            path.write_text(json.dumps(saved, indent=1))
        except OSError:
            pass  # a read-only data directory: probe again next time
    cal = Calibration(key, float(entry["flops_per_s"]), dict(DEFAULT_EFFICIENCY), float(entry["measured_at"]))
    return refine(cal, store) if store is not None else cal


# ----------------------------------------------------------------------------- cost models
def mlp_flops(config, data, input_dim: int = 784, num_classes: int = 10) -> float:
    """Flops of one MLP run to its epoch cap: 6 per weight per training image, 2 per evaluated image."""
    n_train = data.n_train or 50_000
    n_eval = (min(data.train_eval or n_train, n_train) + (data.n_val if data.n_val is not None else 10_000)
              + (data.n_test if data.n_test is not None else 10_000))
    widths = (input_dim, *config.hidden, num_classes)
    weights = sum(a * b for a, b in zip(widths, widths[1:]))
    return config.epochs * weights * (6 * n_train + 2 * n_eval)


def _groups(configs) -> int:
    return len(group_positions(list(configs), MAX_MODELS)) if configs else 0


def estimate_mnist(configs: Sequence, data, cal: Calibration | None = None, input_dim: int = 784,
                   num_classes: int = 10) -> float:
    """Seconds to train the grid `configs` (core.mnist TrainConfigs) on `data` to their epoch caps."""
    cal = cal or calibration(data.device)
    flops = sum(mlp_flops(c, data, input_dim, num_classes) for c in configs)
    startup = STARTUP_S.get(cal.device.split(":")[0], 4.0) * _groups(configs)
    return startup + flops / (cal.flops_per_s * cal.efficiency["mnist"])


def toy_model_epochs(cfg) -> float:
    """Expected epochs summed over the toy's models: each k's TOY_EPOCH_RATIO times the stopping window
    (interpolated in log2 k), at most the epoch cap, times the runs."""
    keys = sorted(TOY_EPOCH_RATIO)
    total = 0.0
    for k in cfg.ks:
        e = min(max(math.log2(k), keys[0]), keys[-1])
        lo = max(x for x in keys if x <= e)
        hi = min(x for x in keys if x >= e)
        ratio = TOY_EPOCH_RATIO[lo] + (TOY_EPOCH_RATIO[hi] - TOY_EPOCH_RATIO[lo]) * ((e - lo) if hi > lo else 0)
        total += min(ratio * cfg.patience, cfg.max_epochs)
    return total * cfg.runs


def estimate_toy(cfg, cal: Calibration | None = None) -> float:
    """Seconds to train the toy experiment `cfg` (a core.toy ToyConfig) to its stopping rule."""
    cal = cal or calibration("cpu")
    return TOY_START_S + toy_model_epochs(cfg) * TOY_MODEL_EPOCH_FLOPS / cal.flops_per_s * cal.efficiency["toy"]


def estimate_study(study, runs=None, cal: Calibration | None = None) -> tuple[float, float]:
    """(expected, at most) seconds for `runs` ((cell, TrainConfig) pairs; default: all of the study's):
    at most, every run goes to its epoch cap; expected, to the share of it that early stopping leaves."""
    runs = study.runs() if runs is None else runs
    bound = 0.0
    for cell in study.cells:
        configs = [config for c, config in runs if c == cell]
        if configs:
            data = study.data(cell.dataset)
            cal = cal or calibration(data.device)
            bound += estimate_mnist(configs, data, cal, *SHAPES.get(cell.dataset, (784, 10)))
    cal = cal or calibration("cpu")
    # no run stops before patience + 1 epochs, so a short epoch cap leaves early stopping little to cut
    share = min(1.0, max(cal.efficiency["study_stop"], (study.patience + 1) / max(study.epochs, 1)))
    return bound * share, bound


def estimate_job(kind: str, configs: dict, cal: Calibration | None = None) -> float | None:
    """Seconds a job of `kind` takes, from its saved run configs (job.meta["configs"]); None if unknown."""
    try:
        records = list(configs.values())
        if kind == "toy":
            return sum(estimate_toy(ToyConfig(**{**r, "ks": tuple(r["ks"])}), cal) for r in records)
        data = DataConfig(**records[0]["data"])
        shape = SHAPES.get(data.dataset, (784, 10))
        seconds = estimate_mnist([TrainConfig.from_dict(r["train"]) for r in records], data, cal, *shape)
        return seconds * (cal or calibration(data.device)).efficiency["study_stop"] if kind == "study" else seconds
    except (KeyError, TypeError, ValueError, IndexError):
        return None


# ----------------------------------------------------------------------------- refining from finished runs
def _measured_ratios(store, kind: str, device: str, cal: Calibration, newest: int = 20) -> list[float]:
    """measured / predicted seconds of the newest finished launches of `kind` on `device` (one query)."""
    launches: dict[str, list[dict]] = {}
    for run in store.runs(kind=kind, status="done", limit=400):
        if str(run.get("device") or "").startswith(device.split(":")[0]) and run.get("group_id"):
            launches.setdefault(run["group_id"], []).append(run)
    ratios = []
    for runs in list(launches.values())[:newest]:
        seconds = max(r.get("seconds") or 0.0 for r in runs)
        predicted = estimate_job(kind, {r["id"]: r["config"] for r in runs}, cal)
        if predicted and predicted >= MIN_REFINE_S and seconds > 0:
            ratios.append(float(seconds) / predicted)
    return ratios


def refine(cal: Calibration, *stores) -> Calibration:
    """The calibration with each efficiency scaled by the median measured/predicted ratio of the stores'
    finished runs on this device (MLP grids: mnist, noise and study; toy), when that median is outside
    NOISE_BAND: a machine slowed by other jobs (or a faster one) is corrected, run-to-run noise is not."""
    eff = dict(cal.efficiency)
    for name, kinds in (("mnist", ("mnist", "noise")), ("toy", ("toy",))):
        ratios = [r for store in stores for kind in kinds for r in _measured_ratios(store, kind, cal.device, cal)]
        ratio = statistics.median(ratios) if ratios else 1.0
        if not NOISE_BAND[0] <= ratio <= NOISE_BAND[1]:  # mnist's efficiency divides the rate; the toy's multiplies
            eff[name] = eff[name] / ratio if name == "mnist" else eff[name] * ratio
    shares = []  # how far into their epoch cap early stopping let the studies' runs go
    for store in stores:
        runs = store.list_runs(kind="study", status=["done", "diverged"])
        if not runs.empty and "cfg.train.epochs" in runs:
            shares += list(runs["epochs_done"] / runs["cfg.train.epochs"])
    if len(shares) >= 8:
        eff["study_stop"] = float(statistics.median(shares))
    return dataclasses.replace(cal, efficiency=eff)
