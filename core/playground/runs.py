"""Train a playground config and save it in the run store, so every run (CLI or page) is in the history.

What: `run_and_record(cfg, device=None, label=None)` picks the device, creates a "playground" run in
`core.runstore.RunStore`, trains (`fit`), and finishes the run with a summary (per k: final train and
test accuracy; training seconds). Returns the result and the run id.

Why here: the CLI and the page must record runs the same way; keeping the store calls in one place
(and to create_run / mark_running / finish only) makes them easy to re-route.

    from core.playground.runs import run_and_record
    result, run_id = run_and_record(PRESETS["outliers"].config, label="outliers preset")

If the store cannot be written (a locked or read-only database), the run still trains and returns
with run_id None and `result` intact; `last_store_error()` says why.
"""

from __future__ import annotations


import torch

from core.device import pick_device, torch_threads
from core.playground.config import PlaygroundConfig
from core.playground.train import PlaygroundResult, fit

_STORE_ERROR: dict[str, str | None] = {"last": None}


def default_label(cfg: PlaygroundConfig) -> str:
    """A short human label: dataset, noise, outliers and the k values."""
    from core.curves import format_k

    d = cfg.data
    parts = [d.dataset, f"{d.points} pts"]
    if d.label_noise:
        parts.append(f"{d.label_noise:.0%} flipped")
    if d.outliers:
        parts.append(f"{d.outliers} outliers")
    return ", ".join(parts) + "; k = " + ", ".join(format_k(k) for k in cfg.ks)


def summarize(result: PlaygroundResult) -> dict:
    """The run store summary: training seconds, steps, and per k the final accuracies."""
    return {"train_seconds": round(result.train_seconds, 4), "steps": int(result.steps[-1]),
            "device": result.device, "runs": result.runs()}


def last_store_error() -> str | None:
    """Why the last run could not be saved (None if it was)."""
    return _STORE_ERROR["last"]


def _store_call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # the history is a convenience; never lose the run over it
        _STORE_ERROR["last"] = f"{type(exc).__name__}: {exc}"
        return None


def run_and_record(cfg: PlaygroundConfig, device: str | torch.device | None = None, label: str | None = None,
                   on_progress=None, threads: int | None = None) -> tuple[PlaygroundResult, int | None]:
    """Train `cfg` on `device` (None: cuda, mps, cpu) and record the run. Raises PlaygroundConfigError or
    ValueError (unknown device) before anything is recorded.

    threads: torch CPU threads while training (None: as they are). The models are tiny, so every op is a
    few microseconds and a second thread only adds hand-offs: on a shared 2-core machine 500 steps took
    0.3-0.4 s on 1 thread and 0.5-1.2 s on 2 (more when the other core is busy). The dashboard passes 1.
    """
    from core.runstore import RunStore

    device = pick_device(device)
    _STORE_ERROR["last"] = None
    store = _store_call(RunStore)
    run_id = _store_call(store.create_run, "playground", cfg.to_dict(), label or default_label(cfg)) if store else None
    if run_id is not None:
        _store_call(store.mark_running, run_id, str(device))
    try:
        with torch_threads(threads):
            result = fit(cfg, device, on_progress=on_progress)
    except BaseException as exc:
        if run_id is not None:
            _store_call(store.finish, run_id, "failed", summary={"error": f"{type(exc).__name__}: {exc}"})
        raise
    if run_id is not None:
        _store_call(store.finish, run_id, "done", summary=summarize(result))
    return result, run_id
