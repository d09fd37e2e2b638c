"""A study on the engine: train what is missing, find what is done, read it all back by cell.

What: `run_here(lab, study)` trains the study's runs that the store does not hold yet on this
thread (a CLI's main thread, Lab.run_here; Ctrl-C stops, keeping finished epochs) and returns
the runs of every cell; `submit(lab, study, owner=...)` queues the missing runs for a
browser session (Lab.launch, one launch per data set) and returns the Launched; `done_runs`
looks up the finished runs of a study; `load(store, study)` reads every finished run back
as RunResults grouped by cell; `studies_in_store(store)` lists the studies the store holds; `training_seconds` the wall time
their launches took.

Why: a study is hours of training on a CPU. Every run is saved as kind "study" with the study's
id and its cell in its config, so an interrupted study started again redoes only what did not
finish ("done" and "diverged" runs are kept; stopped, failed and interrupted ones train again),
and the page and the CLI read the same runs.

    from core.engine.lab import Lab
    from core.study import PRESETS, run_here
    cells = run_here(Lab(), PRESETS["mnist-1layer"].study)   # {Cell: [RunResult, ...]}
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import pandas as pd

from core.data import data_dir, get_dataset
from core.engine.executors import Event, Executor
from core.engine.lab import Lab, Launched
from core.engine.status import DIVERGED, DONE
from core.engine.store import RunStore
from core.mnist import RunResult, TrainConfig, groups_of
from core.mnist.task import load as load_results
from core.study.config import Cell, StudyConfig

KIND = "study"  # the run store's kind for every run of a study
FINISHED = (DONE, DIVERGED)  # outcomes a restart keeps (a diverged run would diverge again; selection needs it)
DOWNLOAD_ONLY = ("cifar10", "cifar100", "svhn")  # data sets with no packaged fallback (core.data)


def _record(study: StudyConfig, cell: Cell, config: TrainConfig, data: dict) -> dict:
    """What the store keeps as a run's config: core.mnist's {"train", "data"} plus the study."""
    return {"train": config.to_dict(), "data": data,
            "study": {"id": study.id, "name": study.name, "cell": dataclasses.asdict(cell), "config": study.to_dict()}}


def uncached_datasets(study: StudyConfig) -> list[str]:
    """The study's data sets that only a download could provide (CIFAR-10/100, SVHN: no local
    fallback) and that are not in the data directory's cache yet: a page refuses to start those
    rather than have a worker wait on an unreachable server (`python -m core.data --dataset NAME`)."""
    root = data_dir()
    return [name for name in study.datasets
            if name in DOWNLOAD_ONLY and not (root / get_dataset(name).info.cache_name).exists()]


def done_runs(store: RunStore, study: StudyConfig) -> dict[tuple[str, TrainConfig], int]:
    """(data set, TrainConfig) -> run id of the newest finished run ("done" or "diverged") of this
    study (same id). Stopped, failed and interrupted runs are not finished: they train again."""
    found: dict[tuple[str, TrainConfig], int] = {}
    for run in store.runs(kind=KIND, status=FINISHED, config={"study.id": study.id}):  # one query, newest first
        try:
            key = (run["config"]["data"]["dataset"], TrainConfig.from_dict(run["config"]["train"]))
        except (KeyError, TypeError, ValueError):
            continue
        found.setdefault(key, int(run["id"]))
    return found


def missing_runs(store: RunStore, study: StudyConfig) -> list[tuple[Cell, TrainConfig]]:
    """The study's runs with no finished run in the store, in study.runs() order."""
    done = done_runs(store, study)
    return [(cell, config) for cell, config in study.runs() if (cell.dataset, config) not in done]


def _launch_parts(study: StudyConfig, todo: list[tuple[Cell, TrainConfig]]):
    """Per data set: the engine groups, the store records and labels (group order), the device."""
    for dataset in study.datasets:
        part = [(cell, config) for cell, config in todo if cell.dataset == dataset]
        if not part:
            continue
        configs = [config for _, config in part]
        groups, order = groups_of(configs, study.data(dataset))
        data = dataclasses.asdict(groups[0].spec.data)
        records = [_record(study, part[i][0], part[i][1], data) for i in order]
        labels = [f"{part[i][0].label} · {part[i][1].label}" for i in order]
        yield dataset, groups, records, labels, groups[0].spec.data.device


def run_here(lab: Lab, study: StudyConfig, *, executor: Executor | None = None,
              on_event: Callable[[int, Event], None] | None = None,
              cancel: threading.Event | None = None) -> dict[Cell, list[RunResult]]:
    """Train the missing runs now, data set by data set, on this thread (Ctrl-C sets `cancel`
    and stops the rest); return every finished run of the study by cell (load)."""
    cancel = cancel or threading.Event()
    for _, groups, records, labels, device in _launch_parts(study, missing_runs(lab.store, study)):
        if cancel.is_set():
            break
        lab.run_here(KIND, groups, records, labels, device=device, executor=executor, cancel=cancel,
                     on_event=on_event)
    return load(lab.store, study)


def submit(lab: Lab, study: StudyConfig, *, owner: str,
                 executor: Executor | None = None) -> list[Launched]:
    """Queue the missing runs for `owner` (one launch per data set; job meta carries the study id);
    [] when every run is done already."""
    launched = []
    for dataset, groups, records, labels, device in _launch_parts(study, missing_runs(lab.store, study)):
        name = f"study {study.name or study.id} · {dataset} · {len(records)} run(s)"
        launched.append(lab.launch(KIND, groups, records, labels, device=device, owner=owner, name=name,
                                   executor=executor, meta={"study": study.id}))
    return launched


def load(store: RunStore, study: StudyConfig) -> dict[Cell, list[RunResult]]:
    """Every finished run of the study ("done" or "diverged": the protocol never picks a (k, lr)
    where a seed diverged), as RunResults grouped by cell (cells with none are left out)."""
    found = done_runs(store, study)
    wanted = {(cell.dataset, config): cell for cell, config in study.runs()}
    ids = [run_id for key, run_id in found.items() if key in wanted]
    key_of = {run_id: key for key, run_id in found.items()}
    cells: dict[Cell, list[RunResult]] = {}
    for run_id, result in zip(ids, load_results(store, ids)):
        cells.setdefault(wanted[key_of[run_id]], []).append(result)
    return {cell: cells[cell] for cell in study.cells if cell in cells}


def training_seconds(store: RunStore, study: StudyConfig) -> float | None:
    """Wall time spent training the study's finished runs: for each launch that trained some of them,
    its first start to its last finish, summed over launches (a resumed study adds its launches)."""
    runs = store.list_runs(kind=KIND, status=FINISHED)
    if runs.empty or "cfg.study.id" not in runs:
        return None
    runs = runs[runs["cfg.study.id"] == study.id]
    if runs.empty:
        return None
    spans = runs.groupby("group_id").agg(start=("started_at", "min"), end=("finished_at", "max"))
    return float((spans["end"] - spans["start"]).dt.total_seconds().sum())


def study_from_store(store: RunStore, study_id: str) -> StudyConfig:
    """The StudyConfig of a study id, read back from its newest run (KeyError if none has it)."""
    runs = store.list_runs(kind=KIND)
    if runs.empty or "cfg.study.id" not in runs or not (runs["cfg.study.id"] == study_id).any():
        raise KeyError(f"no run of study {study_id!r} in {store.path}")
    run_id = int(runs.loc[runs["cfg.study.id"] == study_id, "id"].iloc[0])
    return StudyConfig.from_dict(store.get_run(run_id)["config"]["study"]["config"])


def studies_in_store(store: RunStore) -> pd.DataFrame:
    """One row per study id in the store: id, name, runs, done (finished: done or diverged), newest
    run id (newest first)."""
    runs = store.list_runs(kind=KIND)
    if runs.empty or "cfg.study.id" not in runs:
        return pd.DataFrame(columns=["id", "name", "runs", "done", "newest"])
    runs = runs.assign(done=runs["status"].isin(FINISHED))
    table = runs.groupby("cfg.study.id", sort=False).agg(
        name=("cfg.study.name", "first"), runs=("id", "size"), done=("done", "sum"), newest=("id", "max"))
    return table.reset_index().rename(columns={"cfg.study.id": "id"}).sort_values("newest", ascending=False)
