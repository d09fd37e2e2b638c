"""A data-map launch: one network per k on the same images, recorded, through the Lab.

What: `DatamapConfig` (data set, noise, the k values, network and schedule); `submit_datamap(lab,
cfg, owner=...)` queues it for a dashboard session, `run_datamap(lab, cfg)` trains it now on the
calling thread (a CLI; Ctrl-C stops). Both save every run in the store as kind "datamap": one run
per k (all trained together as one batched model with per-example recording, core.datamap.
recording), plus, with `folds` > 0, a "reference" run that computes the cross-validated
probabilities cleanlab needs (core.datamap.detection). `load_launch(store, launch_id)` reads a
launch back as a `Dynamics`; `launches(store)` lists them.

Why: every k starts from the same initialization (same seed) and sees the same data order and the
same flipped labels, so differences between the maps are k's doing alone.

    from core.engine.lab import Lab
    from core.datamap.experiment import DatamapConfig, run_datamap
    launch_id, dyn = run_datamap(Lab(), DatamapConfig(ks=(0.25, 1.0), noise=NoiseSpec("symmetric", 0.4)))
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core.data import dataset_names
from core.datamap.detection import cross_val_probs
from core.datamap.io import DYNAMICS_DIR, Dynamics, DynamicsFileError, combine, read_run, save_arrays
from core.datamap.recording import DynamicsRecording, file_name
from core.device import pick_device
from core.engine.executors import Event, Executor, Finished, Group, Progress
from core.engine.lab import Lab, Launched
from core.engine.status import DONE, FINAL, STOPPED
from core.engine.store import RunStore
from core.estimate import estimate_mnist
from core.labelnoise import NoiseSpec
from core.mnist.config import ConfigError, DataConfig, TrainConfig
from core.mnist.group_task import groups_of, load_data

KIND = "datamap"  # the runs' kind in the store


@dataclass(frozen=True)
class DatamapConfig:
    """One data-map launch: a network per k, same init, data order and labels."""

    dataset: str = "mnist"  # a core.data data set
    noise: NoiseSpec = field(default_factory=NoiseSpec)  # label noise on the training labels
    ks: tuple[float, ...] = (0.25, 1.0)  # one run per k
    lrs: tuple[float, ...] = (0.03,)  # one learning rate for every k, or one per k (in ks' order)
    n_train: int = 5000  # training images: the first n of the data set's standard training images
    epochs: int = 10  # passes over the training set (each records one value per example)
    seed: int = 0  # initialization and data order, the same for every k
    hidden: tuple[int, ...] = (256,)  # hidden-layer widths
    momentum: float = 0.9  # SGD momentum
    n_val: int = 1000  # validation images evaluated each epoch
    n_test: int = 2000  # test images evaluated each epoch
    folds: int = 3  # cross-validation folds of the cleanlab reference run (with label noise only); 0 = none
    device: str = "auto"  # "auto" (cuda, mps, cpu) or a torch device name
    data_dir: str | None = None  # core.data directory; None = its default

    def __post_init__(self) -> None:
        if self.dataset not in dataset_names():
            raise ConfigError(f"unknown data set {self.dataset!r}; choose one of {', '.join(dataset_names())}")
        ks = tuple(float(k) for k in self.ks)
        if not ks or len(set(ks)) != len(ks):
            raise ConfigError(f"give one or more distinct k values; got {self.ks!r}")
        object.__setattr__(self, "ks", ks)
        lrs = tuple(float(lr) for lr in self.lrs)
        if len(lrs) not in (1, len(ks)):
            raise ConfigError(f"give one learning rate, or one per k ({len(ks)}); got {len(lrs)}")
        object.__setattr__(self, "lrs", lrs)
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.folds != 0 and not 2 <= self.folds <= 10:
            raise ConfigError(f"folds must be 0 (no reference) or 2-10; got {self.folds}")
        self.train_configs()  # every k, lr, width, epoch and seed checked by TrainConfig
        self.data_config()

    def lr_of(self, k: float) -> float:
        return self.lrs[0] if len(self.lrs) == 1 else self.lrs[self.ks.index(k)]

    def train_configs(self) -> list[TrainConfig]:
        """One TrainConfig per k, in ks' order."""
        return [TrainConfig(hidden=self.hidden, lr=self.lr_of(k), momentum=self.momentum, k=k, epochs=self.epochs,
                            seed=self.seed, noise=self.noise) for k in self.ks]

    def data_config(self) -> DataConfig:
        return DataConfig(dataset=self.dataset, n_train=self.n_train, n_val=self.n_val, n_test=self.n_test,
                          train_eval=min(self.n_train, 2000), device=self.device, data_dir=self.data_dir)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["noise"] = {"kind": self.noise.kind, "rate": self.noise.rate, "seed": self.noise.seed}
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "DatamapConfig":
        d = dict(d)
        d["noise"] = NoiseSpec(**d.get("noise", {}))
        return cls(**d)


def dynamics_dir(store: RunStore) -> Path:
    """Where a store's run files live: a folder next to its database."""
    return Path(store.path).parent / DYNAMICS_DIR


@dataclass(frozen=True)
class ReferenceSpec:
    """What the reference (cross-validation) task needs."""

    config: DatamapConfig
    data: DataConfig  # with the device resolved
    directory: str  # where the probabilities file goes


def reference_task(spec: ReferenceSpec, cancel: threading.Event) -> Iterator[Event]:
    """The engine task of the reference run: out-of-fold probabilities on the noisy labels the k
    runs trained on, saved as a file named in the run's summary ("cv_probs")."""
    cfg = spec.config
    yield Progress(0.0, f"reference: loading {cfg.dataset}…")
    split = load_data(spec.data, pick_device(spec.data.device))
    both = torch.cat([split.train_y, split.val_y]).cpu()
    labels = cfg.noise.apply(both, split.num_classes).labels[: len(split.train_y)].to(split.train_x.device)
    accuracies: list[float] = []
    probs = cross_val_probs(split.train_x, labels, split.num_classes, folds=cfg.folds, hidden=cfg.hidden,
                            epochs=cfg.epochs, lr=cfg.lr_of(1.0) if 1.0 in cfg.ks else cfg.lrs[0],
                            momentum=cfg.momentum, seed=cfg.seed, cancel=cancel,
                            on_fold=lambda fold, acc: accuracies.append(acc))
    if probs is None:
        yield Finished(0, STOPPED)
        return
    name = f"cv-{secrets.token_hex(6)}.npz"
    save_arrays(Path(spec.directory) / name, {"cv_probs": probs.astype(np.float32)})
    yield Finished(0, DONE, {"cv_probs": f"{DYNAMICS_DIR}/{name}", "cv_accuracy_vs_given": float(np.mean(accuracies))})


def _plan(cfg: DatamapConfig, store: RunStore) -> tuple[list[Group], list[dict], list[str], str]:
    """The launch's groups, store configs and labels (in group order), and its device."""
    configs, data = cfg.train_configs(), cfg.data_config()
    token = secrets.token_hex(6)  # names the run files before training, so the store knows them from the start
    groups, order = groups_of(configs, data, record=DynamicsRecording(str(dynamics_dir(store)), DYNAMICS_DIR, token))
    data = groups[0].spec.data  # the device resolved
    records = [{"train": configs[i].to_dict(), "data": dataclasses.asdict(data), "datamap": cfg.to_dict(),
                "dynamics": f"{DYNAMICS_DIR}/{file_name(token, configs[i].k)}"} for i in order]
    labels = [f"data map · k = {configs[i].k:g} · {cfg.dataset} · {cfg.noise.label}" for i in order]
    if cfg.folds and cfg.noise.kind != "none":  # the reference detector needs known flips to be scored against
        spec = ReferenceSpec(cfg, data, str(dynamics_dir(store)))
        groups.append(Group(reference_task, spec, 1, f"reference: {cfg.folds}-fold cross-validation",
                            cost=cfg.epochs * (cfg.folds - 1), gpu=data.device.startswith("cuda")))
        records.append({"role": "reference", "data": dataclasses.asdict(data), "datamap": cfg.to_dict()})
        labels.append(f"data map · reference ({cfg.folds}-fold CV, cross-entropy) · {cfg.dataset} · "
                      f"{cfg.noise.label}")
    return groups, records, labels, data.device


def submit_datamap(lab: Lab, cfg: DatamapConfig, *, owner: str, executor: Executor | None = None) -> Launched:
    """Queue the launch for `owner` (a dashboard session)."""
    groups, records, labels, device = _plan(cfg, lab.store)
    name = f"data map · {cfg.dataset} · {cfg.noise.label} · k = {', '.join(f'{k:g}' for k in cfg.ks)}"
    return lab.launch(KIND, groups, records, labels, device=device, owner=owner, name=name, executor=executor)


def run_datamap(lab: Lab, cfg: DatamapConfig, *, executor: Executor | None = None,
                on_event: Callable[[int, Event], None] | None = None) -> tuple[Launched, Dynamics]:
    """Train the launch now on this thread (Ctrl-C stops); returns it and its Dynamics
    (DynamicsFileError when no k run recorded anything)."""
    groups, records, labels, device = _plan(cfg, lab.store)
    launched = lab.run_here(KIND, groups, records, labels, device=device, executor=executor, on_event=on_event)
    return launched, load_launch(lab.store, launched.launch_id)


def load_launch(store: RunStore, launch_id: str) -> Dynamics:
    """A launch's recorded runs side by side (with the reference probabilities when saved)."""
    runs = store.list_runs(kind=KIND, group_id=launch_id)
    recorded, ids, cv_probs, noise = [], [], None, "clean"
    base = Path(store.path).parent
    for run_id in sorted(int(i) for i in runs["id"]):
        run = store.get_run(run_id)
        summary = run.get("summary") or {}
        noise = NoiseSpec(**run["config"]["datamap"]["noise"]).label
        if summary.get("cv_probs"):
            try:
                with np.load(base / summary["cv_probs"], allow_pickle=False) as f:
                    cv_probs = f["cv_probs"]
            except (OSError, KeyError, ValueError):
                cv_probs = None
        elif summary.get("dynamics") or run["config"].get("dynamics"):
            path = base / (summary.get("dynamics") or run["config"]["dynamics"])
            if not path.exists():  # no epoch of it ended yet
                continue
            recorded_run = read_run(path)
            if len(recorded_run.k):  # a run stopped before its first epoch ended recorded nothing
                recorded.append(recorded_run)
                ids.append(run_id)
    if not recorded:
        raise DynamicsFileError(f"launch {launch_id} has no recorded epoch (yet)")
    return combine(recorded, noise=noise, run_ids=ids, cv_probs=cv_probs)


def launches(store: RunStore) -> pd.DataFrame:
    """One row per data-map launch, newest first: launch, when, data set, noise, k values, images,
    epochs, and how many of its runs ended (done, or otherwise)."""
    runs = store.list_runs(kind=KIND)
    if runs.empty:
        return pd.DataFrame(columns=["launch", "created_at", "dataset", "noise", "ks", "n_train", "epochs", "runs",
                                     "done", "ended"])
    rows = []
    for launch, part in runs.groupby("group_id", sort=False):
        cfg = DatamapConfig.from_dict(store.get_run(int(part["id"].iloc[0]))["config"]["datamap"])
        rows.append({"launch": launch, "created_at": part["created_at"].min(), "dataset": cfg.dataset,
                     "noise": cfg.noise.label, "ks": cfg.ks, "n_train": cfg.n_train, "epochs": cfg.epochs,
                     "runs": len(part), "done": int((part["status"] == DONE).sum()),
                     "ended": int(part["status"].isin(FINAL).sum())})
    return pd.DataFrame(rows).sort_values("created_at", ascending=False, kind="stable").reset_index(drop=True)


def estimate_seconds(cfg: DatamapConfig) -> float:
    """Seconds the launch takes (core.estimate.estimate_mnist, calibrated on this machine), plus the
    reference folds: each trains one network on (folds - 1) / folds of the images, so all of them
    cost (folds - 1) such runs."""
    total = estimate_mnist(cfg.train_configs(), cfg.data_config())
    if cfg.folds and cfg.noise.kind != "none":
        one = estimate_mnist(cfg.train_configs()[:1], dataclasses.replace(cfg.data_config(), n_val=0, n_test=0))
        total += one * (cfg.folds - 1)
    return total
