"""What a toy experiment produces: progress snapshots while it trains, and its result tables.

What: `ToySnapshot` (per-model arrays: validation error, threshold, stopped... at one moment),
`ToyResult` (the per-k and per-run tables, a thinned history, the animation frames, timings),
`FrameRecorder` (every model's threshold at evenly spaced epochs, at most about 80 frames
however long training goes), and the helpers that build the tables.

Why: the fast trainer and the float64 reference return the same result type, which the CLI
prints, the engine task saves and the dashboard draws.

Statuses use core.engine.status's words: a result is "done" (every model reached its stopping
rule or the epoch cap) or "stopped" (cancelled; the unfinished models are at the epoch they
reached). Per model, `status` is "done" or "stopped" and `hit_max_epochs` says which done
models were cut by the cap rather than by the stopping rule.

    from core.toy import run_toy
    result = run_toy(cfg)          # result.per_k, result.per_run, result.history, result.frames
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.engine.status import DONE, STOPPED, to_jsonable
from core.results import group_runs
from core.toy.config import ToyConfig, ToyData
from core.toy.metrics import _cross_entropy, _SortedErrors, thresholds

MAX_FRAMES = 80  # animation frames kept per result (evenly spaced epochs, first and last included)
FRAME_COLUMNS = ["epoch", "k", "run", "threshold"]
HISTORY_COLUMNS = ["epoch", "k", "run", "val_error", "threshold"]


@dataclass
class ToySnapshot:
    """Progress of a running toy experiment; arrays are per model, in ToyResult.per_run order."""

    epoch: int  # epochs done by the slowest still-running model
    elapsed_s: float
    fraction_done: float  # rough estimate in [0, 1]: assumes each stable window will hold
    k: np.ndarray  # (M,)
    run: np.ndarray  # (M,)
    val_error: np.ndarray  # (M,) % at the model's current (or stopping) epoch
    threshold: np.ndarray  # (M,) -b / w
    train_ce: np.ndarray  # (M,) train cross-entropy at the model's latest exact evaluation
    stopped: np.ndarray  # (M,) bool: the model has ended (stopping rule or epoch cap)
    stop_epoch: np.ndarray  # (M,) int, -1 while running
    result: "ToyResult | None" = None  # set on the last snapshot of a finished or stopped run

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"k": self.k, "run": self.run, "val_error": self.val_error,
                             "threshold": self.threshold, "train_ce": self.train_ce,
                             "stopped": self.stopped, "stop_epoch": self.stop_epoch})


@dataclass
class ToyResult:
    """Outcome of run_toy. Errors are %, cross-entropy in nats, thresholds t = -b / w."""

    config: ToyConfig
    per_k: pd.DataFrame  # one row per k: mean/std over runs of test_error, threshold, test_ce, epochs
    per_run: pd.DataFrame  # one row per (k, run): metrics, epochs, hit_max_epochs, status, w/b
    history: pd.DataFrame  # epoch, k, run, val_error, threshold every cfg.history_every epochs
    elapsed_s: float
    device: str
    status: str  # "done" or "stopped" (core.engine.status's words)
    timings: dict = field(default_factory=dict)  # seconds and counters, for benchmarks
    frames: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FRAME_COLUMNS))
    # epoch, k, run, threshold at <= MAX_FRAMES evenly spaced epochs (for the animation)

    def to_json(self) -> dict:
        """Config, status, timings and the per-k and per-run tables as plain JSON types."""
        return to_jsonable({"config": dataclasses.asdict(self.config), "status": self.status,
                            "elapsed_s": self.elapsed_s, "device": self.device, "timings": self.timings,
                            "per_k": self.per_k.to_dict(orient="records"),
                            "per_run": self.per_run.to_dict(orient="records")})


def _summarize(per_run: pd.DataFrame) -> pd.DataFrame:
    """One row per k: mean and std over runs (core.results' grouping, the run being the seed), runs, and
    how many runs hit the epoch cap."""
    cols = ["test_error", "threshold", "test_ce", "epochs"]
    res = group_runs(per_run.assign(id=range(len(per_run))), ["k"], cols, seed="run", label=None)
    out = res.groups[["k"] + [f"{c}_{s}" for c in cols for s in ("mean", "std")]].copy()
    out["runs"] = res.groups["n"].to_numpy()
    out["hit_max_epochs"] = res.runs.groupby("group")["hit_max_epochs"].sum().to_numpy()
    return out


def _per_run(cfg: ToyConfig, data: list[ToyData], model_k, model_run, w, b, epochs, reason,
             train_ce) -> pd.DataFrame:
    """Per-model table; w, b are the differences, the class weights are rebuilt from init.

    reason[i] is why model i ended: "rule" (stopping rule), "max_epochs" or "stopped" (cancelled).
    """
    rows = []
    tests = [_SortedErrors(d.x_test, d.y_test) for d in data]
    vals = [_SortedErrors(d.x_val, d.y_val) for d in data]
    for i, (k, r) in enumerate(zip(model_k, model_run)):
        d = data[r]
        s_w = d.w_init[0] + d.w_init[1]  # sums never change (sum-to-zero pseudo-gradient)
        rows.append({
            "k": k, "run": int(r), "test_error": float(tests[r].percent(w[i], b[i])),
            "val_error": float(vals[r].percent(w[i], b[i])),
            "threshold": float(-b[i] / w[i]) if w[i] != 0 else float("nan"),
            "test_ce": float(_cross_entropy(d.x_test, d.y_test, w[i:i + 1], b[i:i + 1])[0]),
            "train_ce": float(train_ce[i]), "epochs": int(epochs[i]),
            "hit_max_epochs": reason[i] == "max_epochs", "status": STOPPED if reason[i] == "stopped" else DONE,
            "label_noise_realized": d.flipped / cfg.n_train,
            "w_neg": (s_w - w[i]) / 2, "w_pos": (s_w + w[i]) / 2, "b_neg": -b[i] / 2, "b_pos": b[i] / 2,
        })
    return pd.DataFrame(rows)


def _history_frame(history, model_k, model_run) -> pd.DataFrame:
    """history: (epoch, model indices, val errors, w, b) tuples -> the long HISTORY_COLUMNS table."""
    if not history:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    parts = [pd.DataFrame({"epoch": e, "k": model_k[a], "run": model_run[a], "val_error": err,
                           "threshold": thresholds(ww, bb)}) for e, a, err, ww, bb in history]
    return pd.concat(parts, ignore_index=True)


def _final_snapshot(result: ToyResult, fraction: float = 1.0) -> ToySnapshot:
    pr = result.per_run
    return ToySnapshot(int(pr["epochs"].max()), result.elapsed_s, fraction, pr["k"].to_numpy(),
                       pr["run"].to_numpy(), pr["val_error"].to_numpy(), pr["threshold"].to_numpy(),
                       pr["train_ce"].to_numpy(), pr["status"].to_numpy() != STOPPED,
                       pr["epochs"].to_numpy(), result)


class FrameRecorder:
    """Every model's threshold at evenly spaced epochs, for an animation of training.

    It records each epoch that `wants` (multiples of `stride`); when it holds more than
    2 * max_frames frames the stride doubles and every other frame goes, so however long
    training lasts it keeps between max_frames and 2 * max_frames frames spread over all of it
    (epoch 0 always among them). Deterministic: it depends on epochs only, never on time.
    """

    def __init__(self, max_frames: int = MAX_FRAMES):
        self.max_frames, self.stride = max_frames, 1
        self.epochs: list[int] = []
        self.values: list[np.ndarray] = []  # (M,) thresholds per frame

    def wants(self, epoch: int) -> bool:
        return epoch % self.stride == 0

    def add(self, epoch: int, values: np.ndarray) -> None:
        self.epochs.append(int(epoch))
        self.values.append(np.array(values, dtype=np.float64))
        if len(self.epochs) > 2 * self.max_frames:
            self.stride *= 2
            keep = [i for i, e in enumerate(self.epochs) if e % self.stride == 0]
            self.epochs = [self.epochs[i] for i in keep]
            self.values = [self.values[i] for i in keep]

    def table(self, model_k: np.ndarray, model_run: np.ndarray, last_epoch: int,
              last_values: np.ndarray) -> pd.DataFrame:
        """The FRAME_COLUMNS table: at most max_frames epochs, evenly picked, the first one and
        the final state (`last_values` at `last_epoch`) included."""
        kept = [i for i, e in enumerate(self.epochs) if e <= last_epoch]  # a chunk may run past the end
        epochs, values = [self.epochs[i] for i in kept], [self.values[i] for i in kept]
        if not epochs or last_epoch > epochs[-1]:
            epochs.append(int(last_epoch))
            values.append(np.asarray(last_values, dtype=np.float64))
        pick = np.unique(np.linspace(0, len(epochs) - 1, min(self.max_frames, len(epochs))).round().astype(int))
        M = len(model_k)
        return pd.DataFrame({"epoch": np.repeat([epochs[i] for i in pick], M),
                             "k": np.tile(model_k, len(pick)), "run": np.tile(model_run, len(pick)),
                             "threshold": np.concatenate([values[i] for i in pick])})
