"""The toy experiment on the engine: one toy experiment (all its k and runs) is ONE run in the
store, of kind "toy", launched, logged and ended by core.engine.lab like every other run.

What:
- `toy_task(cfg, cancel)`: the engine task (a module-level generator, so Ray pickles it by
  reference). It trains with core.toy.train.iter_toy and yields `Progress` about 4 times a
  second (with a `ToyLive`: what a page draws), an `Epoch` about once a second of training
  (per-k mean validation error and threshold, runs still training: the store holds a toy
  run's progress while it trains), and `Finished(0, "done" | "stopped", summary, result)`
  whose result holds the per-k and per-run tables, a thinned history and the threshold frames
  of the animation (<= 80 frames: per k the mean threshold, and every run's threshold).
- `toy_group(cfg)`, `submit(lab, cfg, owner)`: queue it as a background job (dashboard);
  `run_here(lab, cfg)`: train it now on the calling thread (the CLI; Ctrl-C stops it).
- `load(store, run_id) -> SavedToy`: a saved run of any status back, including runs
  stopped or interrupted mid-way (their logged epochs make a partial trace and animation).

Why: before, a toy run saved nothing until it finished, and the dashboard and the CLI launched
it two different ways. Now the Lab owns its status, and pages and the CLI share this module.

    from core.engine.lab import Lab
    from core.toy import ToyConfig, submit, load
    lab = Lab()
    launched = submit(lab, ToyConfig(runs=2, n_train=3000, n_val=3000, n_test=3000), owner="me")
    lab.jobs.wait(launched.job_ids[0]); load(lab.store, launched.run_ids[0]).per_k
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.curves import format_k
from core.engine.executors import Epoch, Event, Executor, Finished, Group, Progress
from core.engine.lab import Lab, Launched
from core.engine.status import FINAL, to_jsonable
from core.engine.store import RunStore
from core.toy.config import ToyConfig, float64_device
from core.toy.result import FRAME_COLUMNS, HISTORY_COLUMNS, ToyResult, ToySnapshot
from core.toy.train import iter_toy

KIND = "toy"  # the runs' kind in the store and the jobs' kind in the queue
PROGRESS_EVERY_S = 0.25  # seconds between Progress events (live views)
EPOCH_EVERY_S = 1.0  # seconds of training between logged epochs (the store)
LIVE_POINTS = 200  # snapshots kept in a live trace (older ones are thinned, never the newest)
HISTORY_POINTS = 400  # epochs kept per model in a saved history
TRACE_COLUMNS = ["epoch", "k", "val_error", "threshold", "running"]


@dataclass(frozen=True)
class ToyLive:
    """What a page draws while a toy experiment trains. Arrays are per model (M,), in
    ToyResult.per_run order; the trace holds T snapshots. Small and picklable (Ray sends it)."""

    alpha: float  # the run's alpha, to draw D
    label_noise: float
    epoch: int  # epochs done by the slowest model still training
    elapsed_s: float
    k: np.ndarray  # (M,)
    run: np.ndarray  # (M,)
    val_error: np.ndarray  # (M,) % now
    threshold: np.ndarray  # (M,) now
    stopped: np.ndarray  # (M,) bool: the model has ended
    trace_epochs: np.ndarray  # (T,)
    trace_val_error: np.ndarray  # (T, M)
    trace_threshold: np.ndarray  # (T, M)

    def frame(self) -> pd.DataFrame:
        """One row per model now: k, run, val_error, threshold, stopped."""
        return pd.DataFrame({"k": self.k, "run": self.run, "val_error": self.val_error,
                             "threshold": self.threshold, "stopped": self.stopped})

    def thresholds(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Now, as one animation frame: (epoch, k, threshold) means over runs and (epoch, k, run,
        threshold) per run (the shapes of SavedToy.frames and SavedToy.frame_runs)."""
        runs = pd.DataFrame({"epoch": self.epoch, "k": self.k, "run": self.run, "threshold": self.threshold})
        means = runs.groupby(["epoch", "k"], sort=False)["threshold"].mean().reset_index()
        return means, runs

    def trace(self) -> pd.DataFrame:
        """Long table over the kept snapshots: epoch, k, run, val_error, threshold."""
        T, M = self.trace_val_error.shape
        return pd.DataFrame({"epoch": np.repeat(self.trace_epochs, M), "k": np.tile(self.k, T),
                             "run": np.tile(self.run, T), "val_error": self.trace_val_error.ravel(),
                             "threshold": self.trace_threshold.ravel()})


@dataclass(frozen=True)
class SavedToy:
    """A toy experiment read back from the run store (any status)."""

    run_id: int
    status: str  # the store's status (core.engine.status's words)
    label: str
    config: ToyConfig | None  # None if saved by a version with other fields
    per_k: pd.DataFrame  # one row per k (empty if the run saved no result)
    per_run: pd.DataFrame  # one row per (k, run)
    history: pd.DataFrame  # epoch, k, run, val_error, threshold (thinned)
    trace: pd.DataFrame  # TRACE_COLUMNS: the logged epochs, means over runs per k
    frames: pd.DataFrame  # epoch, k, threshold (mean over runs): the animation; from the logged
    # epochs when the run saved no frames (stopped before its end by a dead process)
    frame_runs: pd.DataFrame  # epoch, k, run, threshold: every run in the animation (may be empty)
    elapsed_s: float | None
    device: str | None
    error: str | None

    @property
    def finished(self) -> bool:
        return self.status in FINAL


# --------------------------------------------------------------------------- the task
class _Sink:
    """In-process only: what run_toy hands back (every snapshot to on_progress, the ToyResult)."""

    def __init__(self, on_progress: Callable[[ToySnapshot], None] | None) -> None:
        self.on_progress, self.result = on_progress, None

    def seen(self, snap: ToySnapshot) -> None:
        if self.on_progress is not None:
            self.on_progress(snap)
        if snap.result is not None:
            self.result = snap.result


class _CancelOf:
    """A threading.Event-like view of run_toy's `cancel` (an Event or a callable returning True)."""

    def __init__(self, cancel) -> None:
        self.check, self.flag = cancel, threading.Event()

    def is_set(self) -> bool:
        return self.flag.is_set() or bool(self.check is not None and (
            self.check() if callable(self.check) and not hasattr(self.check, "is_set") else self.check.is_set()))

    def set(self) -> None:
        self.flag.set()


def toy_task(cfg: ToyConfig, cancel, sink: _Sink | None = None) -> Iterator[Event]:
    """Train the toy experiment of `cfg` as run 0 of its group, yielding engine events (see
    the module docstring). `cancel` is a threading.Event (or anything with `is_set()`). In
    process, `sink` also gets every snapshot and the ToyResult itself (run_toy)."""
    yield Progress(0.0, "drawing the data…")  # at once: the run is "running" from its first moment
    live = _LiveTrace(cfg)
    last_log, snap = time.monotonic(), None
    for snap in iter_toy(cfg, cancel=cancel, every_s=PROGRESS_EVERY_S):
        if sink is not None:
            sink.seen(snap)
        if snap.result is not None:
            break
        yield Progress(snap.fraction_done, _message(snap), live=live.add(snap))
        if time.monotonic() - last_log >= EPOCH_EVERY_S:
            last_log = time.monotonic()
            yield Epoch(0, snap.epoch, epoch_metrics(snap))
    result = snap.result
    yield Epoch(0, snap.epoch, epoch_metrics(snap))  # the final state, so every run logs its end
    yield Finished(0, result.status, summary=_summary(result), result=toy_payload(result))


def _message(snap: ToySnapshot) -> str:
    running = int((~snap.stopped).sum())
    return f"epoch {snap.epoch:,}: {running} of {len(snap.stopped)} runs still training"


def epoch_metrics(snap: ToySnapshot) -> dict:
    """A logged epoch: runs still training, seconds so far, and per k (keys f"{k:g}") the mean
    over runs of the validation error (%) and of the threshold. JSON-able."""
    frame = snap.frame()
    if snap.result is not None:  # the final snapshot: every model has ended
        frame["stopped"] = True
    means = frame.groupby("k", sort=False)[["val_error", "threshold"]].mean()
    return to_jsonable({"running": int((~frame["stopped"]).sum()), "elapsed_s": round(float(snap.elapsed_s), 3),
                        "val_error": {f"{k:g}": float(v) for k, v in means["val_error"].items()},
                        "threshold": {f"{k:g}": float(v) for k, v in means["threshold"].items()}})


class _LiveTrace:
    """The snapshots of one run for its live view, thinned to at most 2 * LIVE_POINTS."""

    def __init__(self, cfg: ToyConfig):
        self.cfg = cfg
        self.epochs: list[int] = []
        self.val: list[np.ndarray] = []
        self.thr: list[np.ndarray] = []

    def add(self, snap: ToySnapshot) -> ToyLive:
        """Keep `snap` and return a new ToyLive (readers never see a mutated one)."""
        self.epochs.append(snap.epoch)
        self.val.append(snap.val_error)
        self.thr.append(snap.threshold)
        if len(self.epochs) > 2 * LIVE_POINTS:  # halve the older history, keep the newest
            for buf in (self.epochs, self.val, self.thr):
                buf[:-1] = buf[:-1:2]
        return ToyLive(self.cfg.alpha, self.cfg.label_noise, snap.epoch, snap.elapsed_s, snap.k, snap.run,
                       snap.val_error, snap.threshold, snap.stopped.copy(), np.array(self.epochs),
                       np.stack(self.val), np.stack(self.thr))


# --------------------------------------------------------------------------- what is saved
def _summary(result: ToyResult) -> dict:
    """The store's final.* columns: mean test error per k, runs cut by the cap, seconds."""
    summary = {f"test_error_k{row.k:g}": float(row.test_error_mean) for row in result.per_k.itertuples()}
    summary["hit_max_epochs"] = int(result.per_run["hit_max_epochs"].sum())
    summary["elapsed_s"] = float(result.elapsed_s)
    return to_jsonable(summary)


def toy_payload(result: ToyResult) -> dict:
    """The saved result: ToyResult.to_json() (config, status, timings, per_k, per_run), the
    history thinned to HISTORY_POINTS epochs (as columns) and the animation frames."""
    payload = result.to_json()
    history = _thin(result.history, HISTORY_POINTS)
    payload["history"] = to_jsonable({"epoch": history["epoch"].astype(int).tolist(), "k": history["k"].tolist(),
                                      "run": history["run"].astype(int).tolist(), "val_error": _round(history["val_error"]),
                                      "threshold": _round(history["threshold"])})
    payload["frames"] = _frames_payload(result.frames)
    return payload


def _thin(frame: pd.DataFrame, max_epochs: int) -> pd.DataFrame:
    """Keep at most `max_epochs` distinct epochs (evenly spaced, always the last one)."""
    epochs = np.sort(frame["epoch"].unique()) if len(frame) else np.array([])
    if len(epochs) <= max_epochs:
        return frame
    keep = set(epochs[np.linspace(0, len(epochs) - 1, max_epochs).round().astype(int)].tolist())
    return frame[frame["epoch"].isin(keep)]


def _round(values) -> list:
    """Floats to 6 significant digits (light JSON; far below the runs' spread)."""
    return [float(f"{v:.6g}") for v in np.asarray(values, dtype=np.float64).ravel()]


def _frames_payload(frames: pd.DataFrame) -> dict:
    """{"epochs": [F], "ks": [K], "mean": [F][K], "k": [M], "run": [M], "thresholds": [F][M]}."""
    if frames.empty:
        return {"epochs": [], "ks": [], "mean": [], "k": [], "run": [], "thresholds": []}
    epochs = sorted(frames["epoch"].unique().tolist())
    first = frames[frames["epoch"] == epochs[0]]
    ks = list(dict.fromkeys(first["k"].tolist()))
    mean = frames.groupby(["epoch", "k"], sort=False)["threshold"].mean().unstack("k").loc[epochs, ks]
    per_model = frames["threshold"].to_numpy().reshape(len(epochs), len(first))
    return to_jsonable({"epochs": [int(e) for e in epochs], "ks": ks, "mean": [_round(r) for r in mean.to_numpy()],
                        "k": first["k"].tolist(), "run": [int(r) for r in first["run"]],
                        "thresholds": [_round(r) for r in per_model]})


# --------------------------------------------------------------------------- launching
def toy_label(cfg: ToyConfig) -> str:
    """What a person sees for a toy run, e.g. "4 k (4, 1, 1/4, 1/16) x 3 runs, n=5,000"."""
    ks = ", ".join(format_k(k) for k in cfg.ks)
    noise = f", noise {cfg.label_noise:.0%}" if cfg.label_noise else ""
    return f"{len(cfg.ks)} k ({ks}) x {cfg.runs} runs, n={cfg.n_train:,}{noise}"


def toy_group(cfg: ToyConfig) -> Group:
    """The engine group of one toy experiment: one run, trained by toy_task."""
    device = float64_device(cfg.device)
    return Group(task=toy_task, spec=cfg, size=1, label=toy_label(cfg), gpu=device.type == "cuda",
                 meta={"alpha": cfg.alpha})


def launch_args(cfgs: list[ToyConfig], names: list[str | None] | None = None,
                ) -> tuple[list[Group], list[dict], list[str], str]:
    """What Lab.launch / Lab.run_here take for toy experiments, one run each: groups, saved configs,
    labels (a name, else toy_label) and the device."""
    names = names or [None] * len(cfgs)
    return ([toy_group(cfg) for cfg in cfgs], [to_jsonable(dataclasses.asdict(cfg)) for cfg in cfgs],
            [name or toy_label(cfg) for cfg, name in zip(cfgs, names)], str(float64_device(cfgs[0].device)))


def submit(lab: Lab, cfg: ToyConfig, owner: str, name: str | None = None,
               executor: Executor | None = None) -> Launched:
    """Queue the toy experiment of `cfg` as `owner`'s background job; the run is saved "queued"
    at once. QueueFullError (nothing saved) when the owner has too many jobs waiting."""
    groups, configs, labels, device = launch_args([cfg], [name])
    return lab.launch(KIND, groups, configs, labels, device=device, owner=owner, name=labels[0],
                      executor=executor, meta={"alpha": cfg.alpha, "label_noise": cfg.label_noise})


def submit_group(lab: Lab, cfgs: list[ToyConfig], owner: str, names: list[str],
                 executor: Executor | None = None) -> Launched:
    """Queue several toy experiments as one launch (e.g. one per label-noise rate of a comparison):
    each is its own run and job, and all share one group id in the store, so they are read back together."""
    if not cfgs or len(names) != len(cfgs):
        raise ValueError("give one name per toy configuration")
    groups, configs, labels, device = launch_args(cfgs, names)
    return lab.launch(KIND, groups, configs, labels, device=device, owner=owner, name=names[0], executor=executor,
                      meta={"alpha": cfgs[0].alpha})


def run_here(lab: Lab, cfg: ToyConfig, name: str | None = None, executor: Executor | None = None,
                 cancel=None, on_event: Callable[[int, Event], None] | None = None) -> SavedToy:
    """Train now on the calling thread (a CLI's main thread: Ctrl-C stops it, keeping what is
    done), save the run, and return it as saved. `on_event` sees every event (to print progress)."""
    groups, configs, labels, device = launch_args([cfg], [name])
    launched = lab.run_here(KIND, groups, configs, labels, device=device, executor=executor, cancel=cancel,
                            on_event=on_event)
    return load(lab.store, launched.run_ids[0])


def run_toy(cfg: ToyConfig = ToyConfig(), on_progress: Callable[[ToySnapshot], None] | None = None,
            cancel=None, lab: Lab | None = None) -> ToyResult:
    """Run the toy experiment in this process through the Lab (Lab.run_here; an in-memory run store
    unless `lab` is given) and return its ToyResult. on_progress gets a ToySnapshot about 4 times
    a second and a last one carrying the result. `cancel` (a threading.Event, or a callable
    returning True) stops within a few tenths of a second: the result then has status "stopped"
    and the unfinished runs stop at the epoch they reached. Raises RuntimeError if training failed."""
    sink = _Sink(on_progress)
    group = dataclasses.replace(toy_group(cfg), task=functools.partial(toy_task, sink=sink))
    _, configs, labels, device = launch_args([cfg])
    lab = lab or Lab(store=RunStore(":memory:"))
    stop = _CancelOf(cancel)
    launched = lab.run_here(KIND, [group], configs, labels, device=device, cancel=stop)
    if sink.result is None and stop.is_set():  # stopped before it started: the empty "stopped" result
        return next(snap.result for snap in iter_toy(cfg, cancel=lambda: True) if snap.result is not None)
    if sink.result is None:
        error = lab.store.get_run(launched.run_ids[0]).get("error") or "no result"
        raise RuntimeError(f"the toy experiment failed: {error}")
    return sink.result


# --------------------------------------------------------------------------- reading back
def load(store: RunStore, run_id: int) -> SavedToy:
    """A saved toy experiment of any status (one read of the run, one of its epochs)."""
    run = store.get_run(run_id)
    result = run.get("result") or {}
    trace = _trace(store.history(run_id))
    frames, frame_runs = _frames(result.get("frames"))
    if frames.empty and not trace.empty:  # no saved frames: animate the logged epochs' means
        frames = trace[["epoch", "k", "threshold"]].reset_index(drop=True)
    history = pd.DataFrame(result.get("history") or [])  # columns (new) or records (older runs)
    return SavedToy(
        run_id=int(run_id), status=run["status"], label=run.get("label") or "", config=_config(run.get("config")),
        per_k=pd.DataFrame(result.get("per_k", [])), per_run=pd.DataFrame(result.get("per_run", [])),
        history=history if not history.empty else pd.DataFrame(columns=HISTORY_COLUMNS), trace=trace,
        frames=frames, frame_runs=frame_runs, elapsed_s=result.get("elapsed_s") or run.get("seconds"),
        device=run.get("device"), error=run.get("error"),
    )


def _config(saved: dict | None) -> ToyConfig | None:
    try:
        fields = dict(saved)
        fields["ks"] = tuple(fields["ks"])
        return ToyConfig(**fields)
    except (TypeError, ValueError, KeyError):
        return None  # saved by an older version with other fields


def _trace(history: pd.DataFrame) -> pd.DataFrame:
    """RunStore.history of a toy run (columns val_error.<k>, threshold.<k>, running) -> TRACE_COLUMNS."""
    parts = []
    for column in history.columns:
        if column.startswith("val_error."):
            key = column[len("val_error."):]
            parts.append(pd.DataFrame({
                "epoch": history["epoch"].astype(int), "k": float(key), "val_error": history[column].astype(float),
                "threshold": history.get(f"threshold.{key}", pd.Series(np.nan, index=history.index)).astype(float),
                "running": history.get("running", pd.Series(np.nan, index=history.index))}))
    if not parts:
        return pd.DataFrame(columns=TRACE_COLUMNS)
    trace = pd.concat(parts, ignore_index=True)
    return trace.sort_values(["epoch", "k"], ascending=[True, False], kind="stable").reset_index(drop=True)


def _frames(saved: dict | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The saved frames payload -> (epoch, k, threshold) means and the FRAME_COLUMNS per-run table."""
    if not saved or not saved.get("epochs"):
        return pd.DataFrame(columns=["epoch", "k", "threshold"]), pd.DataFrame(columns=FRAME_COLUMNS)
    epochs, ks = np.asarray(saved["epochs"], dtype=np.int64), np.asarray(saved["ks"], dtype=np.float64)
    mean = np.asarray(saved["mean"], dtype=np.float64)  # (F, K)
    means = pd.DataFrame({"epoch": np.repeat(epochs, len(ks)), "k": np.tile(ks, len(epochs)), "threshold": mean.ravel()})
    k, run = np.asarray(saved["k"], dtype=np.float64), np.asarray(saved["run"], dtype=np.int64)
    thr = np.asarray(saved["thresholds"], dtype=np.float64)  # (F, M)
    runs = pd.DataFrame({"epoch": np.repeat(epochs, len(k)), "k": np.tile(k, len(epochs)),
                         "run": np.tile(run, len(epochs)), "threshold": thr.ravel()})
    return means, runs
