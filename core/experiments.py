"""Launching experiments in the background and saving them: the glue between the job queue,
the run store and the experiment code.

What: `submit_mnist(...)` trains a list of MNIST configurations (one batched job); every run is
saved before it starts and every epoch is committed as it finishes, so a crash loses nothing
but the epoch in progress. `load_mnist_results(...)` turns saved runs back into
`core.mnist.RunResult`s (for the selection protocol). `submit_toy(...)` starts a toy experiment
as a background job: the run is saved in the run store before it starts (status "queued"),
marked running, and saved with its result when it ends ("done", "stopped" or "failed", with the
error text). While it runs, the job's latest
data holds a `ToyLive` with everything a live page draws. `load_toy(...)` reads a saved run back.

Why: the dashboard, the CLI and the tests all launch runs the same way, and a page stays a thin
skin: it builds a config, calls one function here, and draws what comes back.

    from core.experiments import Lab
    lab = Lab()                                   # a JobManager + a RunStore
    job, run_id = lab.submit_toy(ToyConfig(runs=2, n_train=3000, n_val=3000, n_test=3000))
    lab.jobs.wait(job.id); lab.load_toy(run_id).per_k
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.device import pick_device
from core.jobs import Job, JobContext, JobManager
from core.mnist import DataConfig, EpochEvent, RunResult, TrainConfig, fit
from core.runstore import RunStore
from core.toy import ToyConfig, ToySnapshot, run_toy

LIVE_POINTS = 300  # snapshots kept for live charts (older ones are thinned, never the latest)
HISTORY_POINTS = 400  # epochs kept per model in a saved toy history


@dataclass(frozen=True)
class ToyLive:
    """What a page draws while a toy experiment runs."""

    run_id: int  # id in the run store
    alpha: float  # the run's alpha, for drawing D
    snapshot: ToySnapshot  # the latest progress snapshot
    parts: tuple[pd.DataFrame, ...]  # one frame per kept snapshot (concatenated on read, not in the worker)

    @property
    def trace(self) -> pd.DataFrame:
        """epoch, k, run, val_error, threshold, stopped, ... over time (thinned to ~LIVE_POINTS epochs)."""
        return pd.concat(self.parts, ignore_index=True)


@dataclass(frozen=True)
class SavedToy:
    """A toy experiment read back from the run store."""

    run_id: int
    status: str  # done, stopped, failed, interrupted, queued, running
    config: ToyConfig | None
    per_k: pd.DataFrame  # one row per k (empty if the run has no result)
    per_run: pd.DataFrame  # one row per (k, run)
    history: pd.DataFrame  # epoch, k, run, val_error, threshold
    elapsed_s: float | None
    device: str | None
    error: str | None


def _thin(frame: pd.DataFrame, max_epochs: int) -> pd.DataFrame:
    """Keep at most `max_epochs` distinct epochs (evenly spaced, always the last one)."""
    epochs = np.sort(frame["epoch"].unique()) if len(frame) else np.array([])
    if len(epochs) <= max_epochs:
        return frame
    keep = set(epochs[np.linspace(0, len(epochs) - 1, max_epochs).round().astype(int)].tolist())
    return frame[frame["epoch"].isin(keep)]


FLOPS_PER_S = {"cpu": 3e10, "cuda": 3e12, "mps": 5e11}  # rough sustained rates for small-batch MLP training
STARTUP_S = 8.0  # loading MNIST and compiling the fused pseudo-gradient kernel, once per job


def estimate_mnist_seconds(configs: list[TrainConfig], data: DataConfig) -> float:
    """A rough wall-time estimate for fit(configs, data): 6 flops per weight per training image
    (forward + backward), 2 per evaluated image, at FLOPS_PER_S for the device, plus STARTUP_S."""
    n_train = data.n_train or 50_000
    n_eval = min(data.train_eval or n_train, n_train) + (data.n_val if data.n_val is not None else 10_000) + (
        data.n_test if data.n_test is not None else 10_000)
    flops = 0.0
    for c in configs:
        widths = (784, *c.hidden, 10)
        weights = sum(a * b for a, b in zip(widths, widths[1:]))
        flops += c.epochs * weights * (6 * n_train + 2 * n_eval)
    return STARTUP_S + flops / FLOPS_PER_S.get(pick_device(data.device).type, FLOPS_PER_S["cpu"])


def toy_label(cfg: ToyConfig) -> str:
    ks = ", ".join(f"{k:g}" for k in cfg.ks)
    noise = f", noise {cfg.label_noise:.0%}" if cfg.label_noise else ""
    return f"{len(cfg.ks)} k ({ks}) x {cfg.runs} runs, n={cfg.n_train:,}{noise}"


class Lab:
    """A job manager and a run store, and the functions that launch experiments through them."""

    def __init__(self, jobs: JobManager | None = None, store: RunStore | None = None) -> None:
        self.jobs = jobs or JobManager()
        self.store = store or RunStore()

    # ------------------------------------------------------------------------- toy
    def submit_toy(self, cfg: ToyConfig, name: str | None = None) -> tuple[Job, int]:
        """Queue a toy experiment; returns its job snapshot and run-store id."""
        device = str(pick_device(cfg.device))
        run_id = self.store.create_run("toy", dataclasses.asdict(cfg), name or toy_label(cfg), device=device)

        def work(ctx: JobContext):
            self.store.mark_running(run_id, device)
            frames: list[pd.DataFrame] = []

            def on_progress(snap: ToySnapshot) -> None:
                frames.append(snap.frame().assign(epoch=snap.epoch))
                if len(frames) > 2 * LIVE_POINTS:
                    frames[:-1] = frames[:-1:2]  # halve the older history, keep the newest
                eta = snap.elapsed_s * (1 - snap.fraction_done) / snap.fraction_done if snap.fraction_done > 0.02 else None
                running = int((~snap.stopped).sum())
                ctx.report(snap.fraction_done, f"epoch {snap.epoch:,}: {running} of {len(snap.stopped)} runs still training",
                           eta_s=eta, live=ToyLive(run_id, cfg.alpha, snap, tuple(frames)))

            try:
                result = run_toy(cfg, on_progress=on_progress, cancel=ctx.cancel_event)
            except Exception as exc:
                self.store.finish(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
                raise
            payload = result.to_json()
            payload["history"] = _thin(result.history, HISTORY_POINTS).to_dict(orient="records")
            summary = {f"test_error_k{row['k']:g}": row["test_error_mean"] for row in payload["per_k"]}
            summary["hit_max_epochs"] = int(result.per_run["hit_max_epochs"].sum())
            summary["elapsed_s"] = result.elapsed_s
            status = "done" if result.status == "complete" else "stopped"
            self.store.finish(run_id, status, summary=summary, result=payload)
            return run_id

        job = self.jobs.submit(name or toy_label(cfg), work, device=device, kind="toy", meta={"run_id": run_id})
        return job, run_id

    def load_toy(self, run_id: int) -> SavedToy:
        """A saved toy experiment (any status) from the run store."""
        run = self.store.get_run(run_id)
        result = run.get("result") or {}
        try:
            cfg_dict = dict(run["config"])
            cfg_dict["ks"] = tuple(cfg_dict["ks"])
            config = ToyConfig(**cfg_dict)
        except (TypeError, ValueError, KeyError):
            config = None  # saved by an older version with other fields
        return SavedToy(
            run_id=run_id, status=run["status"], config=config,
            per_k=pd.DataFrame(result.get("per_k", [])), per_run=pd.DataFrame(result.get("per_run", [])),
            history=pd.DataFrame(result.get("history", [])), elapsed_s=result.get("elapsed_s"),
            device=run.get("device"), error=run.get("error"),
        )

    # ------------------------------------------------------------------------- MNIST (and label noise)
    def submit_mnist(self, configs: list[TrainConfig], data: DataConfig, name: str | None = None,
                     kind: str = "mnist") -> tuple[Job, list[int]]:
        """Queue MNIST training of `configs` as one job; returns its snapshot and the run-store ids."""
        if not configs:
            raise ValueError("choose at least one configuration to train")
        device = str(pick_device(data.device))
        data = dataclasses.replace(data, device=device)
        group_id = secrets.token_hex(4)
        run_ids = [self.store.create_run(kind, {"train": c.to_dict(), "data": dataclasses.asdict(data)}, c.label,
                                         group_id=group_id, device=device) for c in configs]
        name = name or f"{len(configs)} run{'s' * (len(configs) > 1)} · {configs[0].arch}"

        def work(ctx: JobContext):
            ctx.report(0.0, "loading MNIST…")
            for run_id in run_ids:
                self.store.mark_running(run_id, device)

            def on_epoch(event: EpochEvent) -> None:
                self.store.log_epoch(run_ids[event.index], event.epoch, event.metrics)
                eta = None if math.isnan(event.eta_s) else event.eta_s
                ctx.report(event.fraction, f"{event.config.label}: epoch {event.epoch}/{event.config.epochs}, "
                           f"validation error {event.metrics['val_error']:.2%}", eta_s=eta)

            try:
                results = fit(configs, data, on_epoch=on_epoch, cancel=ctx.cancel_event)
            except Exception as exc:
                for run_id in run_ids:
                    if self.store.get_run(run_id)["status"] in ("queued", "running"):
                        self.store.finish(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
                raise
            for run_id, result in zip(run_ids, results):
                self.store.finish(run_id, result.status, summary=result.final)
            return run_ids

        job = self.jobs.submit(name, work, device=device, kind=kind, meta={"run_ids": run_ids, "group_id": group_id,
                               "labels": {i: c.label for i, c in zip(run_ids, configs)},
                               "ks": {i: c.k for i, c in zip(run_ids, configs)}})
        return job, run_ids

    def load_mnist_results(self, run_ids: list[int]) -> list[RunResult]:
        """Saved MNIST runs as RunResults (history from the stored epochs); unreadable configs are skipped."""
        history = self.store.history(run_ids)
        results = []
        for run_id in run_ids:
            run = self.store.get_run(run_id)
            try:
                config = TrainConfig.from_dict(run["config"]["train"])
            except (KeyError, TypeError, ValueError):
                continue
            rows = history[history["run_id"] == run_id].drop(columns=["run_id", "at"], errors="ignore")
            status = {"interrupted": "stopped", "failed": "stopped"}.get(run["status"], run["status"])
            results.append(RunResult(config, status, rows.to_dict(orient="records"), run.get("device") or "",
                                     run.get("seconds") or 0.0))
        return results
