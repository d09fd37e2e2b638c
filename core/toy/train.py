"""The fast trainer of the toy experiment: every (k, run) model at once, exact to a bound.

What: a 4-parameter softmax model z_i = w_i * x + b_i (i in {-1, +1}) trained by full-batch
gradient descent with the pseudo-gradient of each k, on x ~ U[-1, 1] labelled +1 iff
0 <= x <= alpha, until the stopping rule (core.toy.metrics) fires. `iter_toy` yields a
`ToySnapshot` about every 0.25 s and ends with one that carries the `ToyResult`, stopping
early, with what it has, when `cancel` is set. (`core.toy.run_toy` runs it through the Lab.)

Why: the full protocol (up to ~38,000 epochs of 70 models x 30,000 points) takes about 15 s
of one CPU core here, instead of hours for a straightforward float64 loop (core.toy.reference).

How it is fast:
1. Two classes: only the differences w = w+ - w-, b = b+ - b- evolve (the pseudo-gradient
   sums to zero over the classes), and with margin m = s (w x + b) (s = the +-1 label) the
   update is  (w, b) += 2 lr mean_i s_i u(m_i) (x_i, 1),  u(m) = sigmoid(-m)**k.
2. Taylor refresh (core.toy.taylor): each epoch costs O(J^2) per model instead of O(n); a
   model is re-expanded (one O(n) float64 pass) once it moves beyond the radius that keeps
   the remainder below `taylor_tol` (1e-10 by default; the bound is loose: final parameters
   agree with taylor_tol=1e-12 to ~1e-12). So the trajectory is the float64 one up to that bound.
3. Errors of a threshold rule on sorted 1-D data are a searchsorted plus prefix counts.
   Validation errors are computed for a chunk of epochs at a time from the recorded (w, b)
   trajectory; the stopping rule is then applied exactly and a run that stopped inside the
   chunk is rolled back to its stopping epoch.
4. Stopped runs leave the active set.

    from core.toy.train import iter_toy
    for snap in iter_toy(cfg, cancel=event): ...       # snap.frame(); the last has snap.result
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

import numpy as np
import torch

from core.engine.status import DONE, STOPPED
from core.device import torch_threads
from core.toy.config import ToyConfig, draw_data, float64_device
from core.toy.metrics import _cross_entropy, _SortedErrors, stop_scan, thresholds
from core.toy.reference import run_reference
from core.toy.result import (FrameRecorder, ToyResult, ToySnapshot, _final_snapshot, _history_frame, _per_run,
                             _summarize)
from core.toy.taylor import _TaylorGradients

# Chunks are a fixed number of epochs, never a wall-time slice: the active set (and so which
# models share a refresh call) must not depend on timing, for bit-exact reruns.
CHUNK_EPOCHS = 64


def iter_toy(cfg: ToyConfig, cancel=None, every_s: float = 0.25) -> Iterator[ToySnapshot]:
    """Train all (k, run) models of `cfg`, yielding a ToySnapshot about every `every_s` seconds.

    The last snapshot has `.result` set (a ToyResult), also when stopped. With
    cfg.method == "reference" this delegates to the slow reference and yields once.
    """
    if cfg.method == "reference":
        yield _final_snapshot(run_reference(cfg))
        return
    with torch_threads(cfg.threads):
        yield from _train(cfg, cancel, every_s)


def _as_callable(cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    is_set = getattr(cancel, "is_set", None)  # threading.Event, or a Ray executor's stand-in
    return is_set if callable(is_set) else cancel


def _train(cfg: ToyConfig, cancel, every_s: float) -> Iterator[ToySnapshot]:
    t_start = time.perf_counter()
    should_stop = _as_callable(cancel)
    trainer = _Trainer(cfg, float64_device(cfg.device))
    last_emit, stopped = time.perf_counter(), False
    while len(trainer.act):
        t0 = time.perf_counter()
        W_buf, B_buf = trainer.step_chunk()
        t1 = time.perf_counter()
        trainer.end_chunk(W_buf, B_buf)
        stopped = bool(len(trainer.act)) and should_stop()  # a stop after the last model ended changes nothing
        trainer.t_step += t1 - t0
        trainer.t_eval += time.perf_counter() - t1
        now = time.perf_counter()
        if stopped or (now - last_emit >= every_s and len(trainer.act)):
            last_emit = now
            yield trainer.snapshot(now - t_start)
        if stopped:
            fraction = trainer.fraction()
            trainer.stop_active()
            break
    result = trainer.result(stopped, t_start)
    yield _final_snapshot(result, fraction if stopped else 1.0)


class _Trainer:
    """The fast path's state: every model's parameters, the active set and its Taylor models.

    Model i is (k = cfg.ks[i // runs], run = i % runs); w, b are the class differences.
    """

    def __init__(self, cfg: ToyConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        self.data = [draw_data(cfg, r) for r in range(cfg.runs)]
        self.model_k = np.repeat(np.array(cfg.ks), cfg.runs)
        self.model_run = np.tile(np.arange(cfg.runs), len(cfg.ks))
        M = len(self.model_k)
        self.val_sets = [_SortedErrors(d.x_val, d.y_val) for d in self.data]
        self.tg = _TaylorGradients(self.data, self.model_k, self.model_run, cfg, device)
        self.eta = 2.0 * cfg.lr * (cfg.n_train if cfg.reduction == "sum" else 1.0)
        self.w = np.array([self.data[r].w_init[1] - self.data[r].w_init[0] for r in self.model_run])
        self.b = np.zeros(M)
        self.val_err = np.array([self.val_sets[r].percent(self.w[i], self.b[i]) for i, r in enumerate(self.model_run)])
        self.anchor, self.start = self.val_err.copy(), np.zeros(M, dtype=np.int64)
        self.stop_epoch = np.full(M, -1, dtype=np.int64)
        self.reason = np.array(["running"] * M, dtype=object)  # then "rule", "max_epochs" or "stopped"
        self.train_ce = np.full(M, np.nan)
        self.history: list[tuple] = []
        self.frames = FrameRecorder()
        self.frames.add(0, thresholds(self.w, self.b))
        # the active set, compacted as models stop: expansion points, Taylor coefficients, radii
        self.act = np.arange(M)
        self.w0, self.b0 = self.w.copy(), self.b.copy()
        A, self.train_ce[:] = self.tg.moments(self.act, self.w0, self.b0)
        self.K = self.tg.coefficients(A)
        self.wa, self.ba, self.rho = self.w.copy(), self.b.copy(), self.tg.rho.copy()
        self.epoch, self.t_step, self.t_eval = 0, 0.0, 0.0

    def step_chunk(self) -> tuple[np.ndarray, np.ndarray]:
        """Up to CHUNK_EPOCHS epochs of gradient descent of the active models: (m, L) w and b per epoch."""
        L = min(CHUNK_EPOCHS, self.cfg.max_epochs - self.epoch)
        W_buf, B_buf = np.empty((len(self.act), L)), np.empty((len(self.act), L))
        for j in range(L):
            dw, db = self.wa - self.w0, self.ba - self.b0
            need = np.abs(dw) + np.abs(db) > self.rho
            if need.any():  # re-expand the models that left their Taylor radius
                sel = np.nonzero(need)[0]
                self.w0[sel], self.b0[sel] = self.wa[sel], self.ba[sel]
                A, ce = self.tg.moments(self.act[sel], self.w0[sel], self.b0[sel])
                self.K[sel] = self.tg.coefficients(A)
                self.train_ce[self.act[sel]] = ce
                dw[sel], db[sel] = 0.0, 0.0
            g = self.tg.evaluate(self.K, dw, db)
            self.wa += self.eta * g[:, 0]
            self.ba += self.eta * g[:, 1]
            W_buf[:, j], B_buf[:, j] = self.wa, self.ba
        return W_buf, B_buf

    def end_chunk(self, W_buf: np.ndarray, B_buf: np.ndarray) -> None:
        """Validation errors and the stopping rule for the chunk's epochs; ended models are
        rolled back to their last epoch and leave the active set."""
        cfg, act, n_done, first = self.cfg, self.act, W_buf.shape[1], self.epoch + 1
        errs = np.empty_like(W_buf)
        for r in np.unique(self.model_run[act]):
            rows = self.model_run[act] == r
            errs[rows] = self.val_sets[r].percent(W_buf[rows], B_buf[rows])
        a_anchor, a_start = self.anchor[act], self.start[act]
        stops = stop_scan(errs, first, a_anchor, a_start, cfg.patience, cfg.tol)
        self.anchor[act], self.start[act] = a_anchor, a_start
        done = stops >= 0
        last = np.where(done, stops - first, n_done - 1)  # column of each model's final epoch
        self._record(first, W_buf, B_buf, errs, stops, last)
        self.epoch += n_done
        rows = np.arange(len(act))
        self.w[act], self.b[act], self.val_err[act] = W_buf[rows, last], B_buf[rows, last], errs[rows, last]
        self.stop_epoch[act[done]] = stops[done]
        self.reason[act[done]] = "rule"
        if self.epoch >= cfg.max_epochs:
            hit = act[~done]
            self.stop_epoch[hit], self.reason[hit] = self.epoch, "max_epochs"
            done[:] = True
        keep = ~done
        self.act, self.wa, self.ba = self.act[keep], self.wa[keep], self.ba[keep]
        self.w0, self.b0, self.K, self.rho = self.w0[keep], self.b0[keep], self.K[keep], self.rho[keep]

    def _record(self, first: int, W_buf, B_buf, errs, stops, last) -> None:
        """History rows (every cfg.history_every epochs, models still going) and animation
        frames (every model, the ended ones at their final state) of the chunk's epochs."""
        every, rows = self.cfg.history_every, np.arange(len(self.act))
        for j in range(W_buf.shape[1]):
            e = first + j
            if every and e % every == 0:
                keep = (stops < 0) | (stops >= e)
                self.history.append((e, self.act[keep], errs[keep, j], W_buf[keep, j], B_buf[keep, j]))
            if self.frames.wants(e):
                col = np.minimum(j, last)
                w, b = self.w.copy(), self.b.copy()
                w[self.act], b[self.act] = W_buf[rows, col], B_buf[rows, col]
                self.frames.add(e, thresholds(w, b))

    def fraction(self) -> float:
        """Done model-epochs over expected ones, assuming each current stable window holds."""
        stop, cfg = self.stop_epoch, self.cfg
        expected = np.where(stop >= 0, stop, np.minimum(self.start + cfg.patience, cfg.max_epochs))
        done = np.where(stop >= 0, stop, self.epoch)
        return float(min(1.0, done.sum() / max(1, expected.sum())))

    def snapshot(self, elapsed_s: float) -> ToySnapshot:
        return ToySnapshot(self.epoch, elapsed_s, self.fraction(), self.model_k, self.model_run,
                           self.val_err.copy(), thresholds(self.w, self.b), self.train_ce.copy(),
                           self.stop_epoch >= 0, self.stop_epoch.copy())

    def stop_active(self) -> None:
        """Cancelled: the models still training end at the epoch they reached."""
        self.reason[self.act] = "stopped"
        self.stop_epoch[self.act] = self.epoch

    def result(self, stopped: bool, t_start: float) -> ToyResult:
        """The ToyResult, with the exact train cross-entropy at the final parameters."""
        cfg, data, model_k, model_run = self.cfg, self.data, self.model_k, self.model_run
        for r in range(cfg.runs):
            sel = model_run == r
            self.train_ce[sel] = _cross_entropy(data[r].x_train, data[r].y_train, self.w[sel], self.b[sel])
        per_run = _per_run(cfg, data, model_k, model_run, self.w, self.b, self.stop_epoch, self.reason, self.train_ce)
        frames = self.frames.table(model_k, model_run, int(self.stop_epoch.max()), thresholds(self.w, self.b))
        elapsed = time.perf_counter() - t_start
        tg = self.tg
        timings = {"total_s": elapsed, "refresh_s": tg.refresh_s, "step_s": self.t_step - tg.refresh_s,
                   "eval_s": self.t_eval, "refreshes": tg.refreshes, "epochs": int(self.epoch),
                   "model_epochs": int(self.stop_epoch.sum())}
        return ToyResult(cfg, _summarize(per_run), per_run, _history_frame(self.history, model_k, model_run),
                         elapsed, str(self.device), STOPPED if stopped else DONE, timings, frames)
