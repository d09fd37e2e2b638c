"""The 1-D toy experiment of Keren, Sabato & Schuller (AAAI 2017, Section 5.1), fast and exact.

What: a 4-parameter softmax model z_i = w_i * x + b_i (i in {-1, +1}) trained by full-batch
gradient descent with the pseudo-gradient of each k, on x ~ U[-1, 1] labelled +1 iff
0 <= x <= alpha. It can only learn a threshold rule; the best threshold is 0, but the
points in (alpha, 1] pull cross-entropy's optimum away from it. Small k cares less about
them, so its test error is lower (see /work/shared/method.md, "The 1-D toy experiment").

Why: the paper's cleanest illustration that k tunes sensitivity to large errors, and a
reproducible number table for the dashboard.

How to run:
    python -m core.toy                     # paper protocol, prints the per-k table
    python -m core.toy --runs 2 --n 3000   # smaller; --help lists every parameter
    python -m core.toy --population        # limiting threshold t*(k) for n -> infinity
    from core.toy import ToyConfig, run_toy
    result = run_toy(ToyConfig(), on_progress=print)   # result.per_k, result.per_run

How it is fast (the full protocol, ~30,000 epochs of 70 models x 30,000 points, takes
seconds instead of tens of minutes):
1. Two classes: only the differences w = w+ - w-, b = b+ - b- evolve (the pseudo-gradient
   sums to zero over the classes), and with margin m = s (w x + b) (s = the +-1 label) the
   update is  (w, b) += 2 lr mean_i s_i u(m_i) (x_i, 1),  u(m) = sigmoid(-m)**k.
2. Taylor refresh. u is analytic (poles at Im m = +-pi), and its derivatives are
   u^(j)(m) = sigmoid(-m)**k * P_j(sigmoid(m)) with polynomials P_j computed exactly.
   At an expansion point (w0, b0) one pass over the data gives the moments
   A[j, p] = mean_i s_i^(j+1) u^(j)(m_i) x_i^p, from which the gradient at any nearby
   (w0 + dw, b0 + db) is a polynomial in (dw, db) of order J (`taylor_order`). Each epoch
   then costs O(J^2) per model instead of O(n). Since |x| <= 1 the Lagrange remainder is at
   most sup|u^(J+1)| rho^(J+1) / (J+1)!  with rho = |dw| + |db|; a model is re-expanded
   (one O(n) pass, float64) as soon as rho exceeds the radius that keeps this bound below
   `taylor_tol` (1e-12 by default, far below float32 noise). So the trajectory is the
   exact float64 gradient-descent trajectory up to that bound.
3. Errors of a threshold rule on sorted 1-D data are a searchsorted plus prefix counts:
   O(log n) per model and epoch. Validation errors are computed for a chunk of epochs at a
   time from the recorded (w, b) trajectory; the stopping rule is then applied exactly and
   a run that stopped inside the chunk is rolled back to its stopping epoch.
4. Stopped runs leave the active set. `method="reference"` runs a straightforward float64
   implementation (general softmax, 4 parameters, argmax errors) for verification.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import torch

from core.device import pick_device

PAPER_KS = (4.0, 2.0, 1.0, 0.5, 0.25, 0.125, 0.0625)


class ToyConfigError(ValueError):
    """A ToyConfig field is out of range; the message says which and what is allowed."""


@dataclass(frozen=True)
class ToyConfig:
    alpha: float = 0.95  # right end of the +1 interval [0, alpha]; labels -1 elsewhere on [-1, 1]
    n_train: int = 30_000  # training examples per run
    n_val: int = 30_000  # validation examples per run (stopping rule)
    n_test: int = 30_000  # test examples per run (reported errors and cross-entropy)
    ks: tuple[float, ...] = PAPER_KS  # pseudo-gradient exponents; k = 1 is cross-entropy
    runs: int = 10  # independent data draws (each shared by all k, init shared too)
    lr: float = 0.01  # learning rate of full-batch gradient descent
    init_scale: float = 0.1  # weights ~ U(-init_scale, init_scale), biases 0
    reduction: str = "mean"  # batch gradient over training examples: "mean" or "sum"
    patience: int = 3000  # epochs the validation error must stay within tol to stop
    tol: float = 0.001  # percentage points; a change of more than tol restarts the window
    max_epochs: int = 200_000  # hard cap per run; runs that hit it are flagged
    seed: int = 0  # everything random (data, init, label noise) derives from it
    device: str = "auto"  # "auto", "cpu", "cuda", "mps": where the O(n) passes run
    label_noise: float = 0.0  # fraction of TRAINING labels flipped (exactly round(eta * n))
    method: str = "taylor"  # "taylor" (fast, exact to taylor_tol) or "reference" (naive float64)
    taylor_order: int = 8  # J: order of the Taylor expansion of the gradient in (dw, db)
    taylor_tol: float = 1e-12  # bound on the absolute error of each mean-gradient component
    history_every: int = 100  # epochs between rows of ToyResult.history (0: no history)

    def __post_init__(self):
        if not 0 < self.alpha < 1:
            raise ToyConfigError(f"alpha must be in (0, 1), got {self.alpha}")
        for name in ("n_train", "n_val", "n_test", "runs", "patience", "max_epochs", "taylor_order"):
            if int(getattr(self, name)) < 1:
                raise ToyConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not self.ks or any(not (k > 0 and math.isfinite(k)) for k in self.ks):
            raise ToyConfigError(f"ks must be a non-empty list of positive numbers, got {self.ks}")
        if self.reduction not in ("mean", "sum"):
            raise ToyConfigError(f"reduction must be 'mean' or 'sum', got {self.reduction!r}")
        if self.method not in ("taylor", "reference"):
            raise ToyConfigError(f"method must be 'taylor' or 'reference', got {self.method!r}")
        if not 0 <= self.label_noise < 1:
            raise ToyConfigError(f"label_noise must be in [0, 1), got {self.label_noise}")
        if self.lr <= 0 or self.init_scale < 0 or self.tol < 0 or self.taylor_tol <= 0:
            raise ToyConfigError("lr and taylor_tol must be > 0, init_scale and tol >= 0")
        object.__setattr__(self, "ks", tuple(float(k) for k in self.ks))


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class ToyData:
    """One run's draw. Labels are +-1; index 0 of w_init is class -1, index 1 class +1."""

    x_train: np.ndarray  # (n_train,) float64
    y_train: np.ndarray  # (n_train,) +-1, after label noise
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    w_init: np.ndarray  # (2,) [w_-, w_+], shared by every k of the run
    flipped: int  # number of training labels flipped


def label_rule(x: np.ndarray, alpha: float) -> np.ndarray:
    """+1 iff 0 <= x <= alpha, else -1."""
    return np.where((x >= 0) & (x <= alpha), 1.0, -1.0)


def draw_data(cfg: ToyConfig, run: int) -> ToyData:
    """The data and initial weights of run `run`: independent per run, determined by cfg.seed."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, run]))
    xs = [rng.uniform(-1.0, 1.0, n) for n in (cfg.n_train, cfg.n_val, cfg.n_test)]
    ys = [label_rule(x, cfg.alpha) for x in xs]
    flipped = int(round(cfg.label_noise * cfg.n_train))
    if flipped:
        idx = rng.choice(cfg.n_train, size=flipped, replace=False)
        ys[0][idx] = -ys[0][idx]
    w_init = rng.uniform(-cfg.init_scale, cfg.init_scale, 2)
    return ToyData(xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], w_init, flipped)


# --------------------------------------------------------------------------- stopping rule
def stop_scan(errors: np.ndarray, first_epoch: int, anchor: np.ndarray, start: np.ndarray,
              patience: int, tol: float) -> np.ndarray:
    """Apply the stopping rule to errors (M, L) of epochs first_epoch .. first_epoch + L - 1.

    `anchor`/`start` (M,) hold each model's stable window (its reference error and the epoch
    it began) and are updated in place. Returns (M,) the stopping epoch or -1. The rule: the
    window restarts at epoch e (anchor = err_e, start = e) when |err_e - anchor| > tol; a run
    stops at the first epoch e with e - start >= patience, i.e. once `patience` consecutive
    epochs have all stayed within tol of the error at the window's start.
    """
    stop = np.full(errors.shape[0], -1, dtype=np.int64)
    for j in range(errors.shape[1]):
        e = first_epoch + j
        moved = np.abs(errors[:, j] - anchor) > tol
        anchor[moved] = errors[moved, j]
        start[moved] = e
        stop[(stop < 0) & (e - start >= patience)] = e
    return stop


def stopping_epoch(val_errors, patience: int = 3000, tol: float = 0.001) -> int | None:
    """The epoch at which training stops, for val_errors[e] = error (%) after epoch e.

    val_errors[0] is the error before training and opens the first window. None if the
    sequence ends before the rule fires.
    """
    err = np.asarray(val_errors, dtype=np.float64)[None, :]
    anchor, start = err[:, 0].copy(), np.zeros(1, dtype=np.int64)
    stop = stop_scan(err[:, 1:], 1, anchor, start, patience, tol)[0]
    return None if stop < 0 else int(stop)


# --------------------------------------------------------------------------- threshold errors
class _SortedErrors:
    """Error counts of the rule 'predict +1 iff w x + b > 0' on sorted data: O(log n) each."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        order = np.argsort(x, kind="stable")
        self.x = x[order]
        pos = np.concatenate([[0], np.cumsum(y[order] > 0)])
        self.cum_pos, self.cum_neg = pos, np.arange(len(x) + 1) - pos
        self.n_pos, self.n_neg, self.n = pos[-1], len(x) - pos[-1], len(x)

    def percent(self, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Error (%) for arrays of (w, b) of any shape; ties (w x + b == 0) predict -1."""
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(w != 0, -b / w, 0.0)
        right = np.searchsorted(self.x, t, side="right")  # #x <= t
        left = np.searchsorted(self.x, t, side="left")  # #x < t
        up = self.cum_pos[right] + self.n_neg - self.cum_neg[right]  # w > 0: +1 for x > t
        down = self.cum_neg[left] + self.n_pos - self.cum_pos[left]  # w < 0: +1 for x < t
        flat = np.where(b > 0, self.n_neg, self.n_pos)
        return 100.0 * np.where(w > 0, up, np.where(w < 0, down, flat)) / self.n


def _cross_entropy(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean cross-entropy softplus(-y (w x + b)) per model; w, b (M,), x, y (n,)."""
    m = y[None, :] * (w[:, None] * x[None, :] + b[:, None])
    return np.logaddexp(0.0, -m).mean(axis=1)


# --------------------------------------------------------------------------- Taylor machinery
def _derivative_polys(k: float, order: int) -> np.ndarray:
    """(order+1, order+1) coefficients: u^(j)(m) = sigmoid(-m)^k * sum_l P[j, l] sigmoid(m)^l."""
    P = np.zeros((order + 1, order + 1))
    P[0, 0] = 1.0
    for j in range(order):  # P_{j+1}(p) = p ((1 - p) P_j'(p) - k P_j(p))
        dP = np.zeros(order + 1)
        dP[: order] = P[j, 1:] * np.arange(1, order + 1)
        inner = dP - k * P[j]
        inner[1:] -= dP[:-1]
        P[j + 1, 1:] = inner[:-1]
    return P


def _taylor_radius(k: float, order: int, tol: float) -> float:
    """Largest rho = |dw| + |db| whose Taylor remainder bound stays below tol."""
    m = np.linspace(-60.0, 60.0, 48_001)
    p = 1.0 / (1.0 + np.exp(-m))
    P = _derivative_polys(k, order + 1)[order + 1]
    sup = np.max(np.abs(np.exp(-k * np.logaddexp(0.0, m)) * np.polyval(P[::-1], p)))
    sup = 1.25 * sup + 1e-300  # grid safety margin
    return float(min(1.0, (math.factorial(order + 1) * tol / sup) ** (1.0 / (order + 1))))


class _TaylorGradients:
    """Per-model Taylor models of the mean pseudo-gradient, re-expanded on demand.

    The O(n) refresh runs in float64 torch on `device`; the per-epoch evaluation runs on
    the host in numpy, O(J^2) per model.
    """

    def __init__(self, data: list[ToyData], model_k: np.ndarray, model_run: np.ndarray,
                 cfg: ToyConfig, device: torch.device):
        J = cfg.taylor_order
        self.J, self.device = J, device
        self.x = torch.tensor(np.stack([d.x_train for d in data]), dtype=torch.float64, device=device)
        self.y = torch.tensor(np.stack([d.y_train for d in data]), dtype=torch.float64, device=device)
        self.xpow = self.x.unsqueeze(-1) ** torch.arange(J + 2, device=device, dtype=torch.float64)  # (R, n, J+2)
        polys = {k: _derivative_polys(k, J) for k in np.unique(model_k)}
        radii = {k: _taylor_radius(k, J, cfg.taylor_tol) for k in polys}
        self.P = torch.tensor(np.stack([polys[k] for k in model_k]), device=device)  # (M, J+1, J+1)
        self.rho = np.array([radii[k] for k in model_k])
        self.k = torch.tensor(model_k, dtype=torch.float64, device=device)
        self.run = model_run
        self.odd = torch.arange(J + 1, device=device) % 2 == 1  # s^(j+1) = 1 for odd j
        a = np.arange(J + 1)
        jj = a[:, None] + a[None, :]
        fact = np.array([math.factorial(i) for i in range(J + 1)], dtype=np.float64)
        self.ok = jj <= J
        self.jj = np.minimum(jj, J)
        self.scale = np.where(self.ok, 1.0 / (fact[:, None] * fact[None, :]), 0.0)
        self.aa = np.broadcast_to(a[:, None], jj.shape)
        self.refreshes = 0
        self.refresh_s = 0.0

    @torch.no_grad()
    def moments(self, models: np.ndarray, w0: np.ndarray, b0: np.ndarray, chunk: int = 16):
        """A (m, J+1, J+2) moments and train cross-entropy (m,) at (w0, b0) for `models`."""
        t0 = time.perf_counter()
        out_A, out_ce = [], []
        for lo in range(0, len(models), chunk):
            idx = models[lo:lo + chunk]
            run = torch.as_tensor(self.run[idx], device=self.device)
            x, y = self.x[run], self.y[run]  # (m, n)
            w = torch.as_tensor(w0[lo:lo + chunk], device=self.device)[:, None]
            b = torch.as_tensor(b0[lo:lo + chunk], device=self.device)[:, None]
            m = y * (w * x + b)  # (m, n) margins
            logq = torch.nn.functional.logsigmoid(-m)  # log sigmoid(-m): q^k never underflows early
            qk = torch.exp(self.k[idx][:, None] * logq)
            p = torch.sigmoid(m)
            ce = (-logq - m).mean(dim=1)  # softplus(-m)
            ppow = p.unsqueeze(-1) ** torch.arange(self.J + 1, device=self.device, dtype=torch.float64)
            c = torch.bmm(ppow, self.P[idx].transpose(1, 2)) * qk.unsqueeze(-1)  # (m, n, J+1): u^(j)
            c = torch.where(self.odd, c, c * y.unsqueeze(-1))  # times s^(j+1)
            A = torch.empty(len(idx), self.J + 1, self.J + 2, dtype=torch.float64, device=self.device)
            for r in torch.unique(run).tolist():  # one plain matmul per run, no gather of x^p
                sel = (run == r).nonzero().squeeze(1)
                cr = c[sel].transpose(1, 2).reshape(-1, c.shape[1])  # (m_r (J+1), n)
                A[sel] = (cr @ self.xpow[r]).reshape(len(sel), self.J + 1, self.J + 2)
            out_A.append((A / x.shape[1]).cpu().numpy())
            out_ce.append(ce.cpu().numpy())
        self.refreshes += len(models)
        self.refresh_s += time.perf_counter() - t0
        return np.concatenate(out_A), np.concatenate(out_ce)

    def coefficients(self, A: np.ndarray) -> np.ndarray:
        """(m, 2, (J+1)^2): gradient (w, b) = K @ vec(dw^a db^c), from moments A."""
        Kw = A[:, self.jj, self.aa + 1] * self.scale
        Kb = A[:, self.jj, self.aa] * self.scale
        return np.stack([Kw, Kb], axis=1).reshape(len(A), 2, -1)

    def evaluate(self, K: np.ndarray, dw: np.ndarray, db: np.ndarray) -> np.ndarray:
        """(m, 2) gradient at offsets (dw, db) from the expansion points."""
        ar = np.arange(self.J + 1)
        outer = (dw[:, None] ** ar)[:, :, None] * (db[:, None] ** ar)[:, None, :]
        return np.matmul(K, outer.reshape(len(dw), -1, 1))[:, :, 0]


# --------------------------------------------------------------------------- results
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
    stopped: np.ndarray  # (M,) bool
    stop_epoch: np.ndarray  # (M,) int, -1 while running
    result: "ToyResult | None" = None  # set on the last snapshot of a finished or cancelled run

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
    status: str  # "complete" or "cancelled"
    timings: dict = field(default_factory=dict)  # seconds and counters, for benchmarks

    def to_json(self) -> dict:
        return {"config": dataclasses.asdict(self.config), "status": self.status,
                "elapsed_s": self.elapsed_s, "device": self.device, "timings": self.timings,
                "per_k": self.per_k.to_dict(orient="records"),
                "per_run": self.per_run.to_dict(orient="records")}


def _summarize(per_run: pd.DataFrame) -> pd.DataFrame:
    cols = ["test_error", "threshold", "test_ce", "epochs"]
    g = per_run.groupby("k", sort=False)
    out = g[cols].agg(["mean", "std"])
    out.columns = [f"{c}_{s}" for c, s in out.columns]
    out["runs"] = g.size()
    out["hit_max_epochs"] = g["hit_max_epochs"].sum()
    return out.reset_index()


def _per_run(cfg, data, model_k, model_run, w, b, epochs, status, train_ce) -> pd.DataFrame:
    """Per-model table; w, b are the differences, the class weights are rebuilt from init."""
    rows = []
    for i, (k, r) in enumerate(zip(model_k, model_run)):
        d = data[r]
        s_w = d.w_init[0] + d.w_init[1]  # sums never change (sum-to-zero pseudo-gradient)
        rows.append({
            "k": k, "run": int(r), "test_error": float(_SortedErrors(d.x_test, d.y_test).percent(w[i], b[i])),
            "val_error": float(_SortedErrors(d.x_val, d.y_val).percent(w[i], b[i])),
            "threshold": float(-b[i] / w[i]) if w[i] != 0 else float("nan"),
            "test_ce": float(_cross_entropy(d.x_test, d.y_test, w[i:i + 1], b[i:i + 1])[0]),
            "train_ce": float(train_ce[i]), "epochs": int(epochs[i]),
            "hit_max_epochs": status[i] == "max_epochs", "status": status[i],
            "label_noise_realized": d.flipped / cfg.n_train,
            "w_neg": (s_w - w[i]) / 2, "w_pos": (s_w + w[i]) / 2, "b_neg": -b[i] / 2, "b_pos": b[i] / 2,
        })
    return pd.DataFrame(rows)


def _as_callable(cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


# --------------------------------------------------------------------------- fast training
def iter_toy(cfg: ToyConfig, cancel=None, every_s: float = 0.25) -> Iterator[ToySnapshot]:
    """Train all (k, run) models of `cfg`, yielding a ToySnapshot about every `every_s` seconds.

    The last snapshot has `.result` set (a ToyResult), also when cancelled. With
    cfg.method == "reference" this delegates to the slow reference and yields once.
    """
    if cfg.method == "reference":
        result = run_reference(cfg)
        yield _final_snapshot(result)
        return
    t_start = time.perf_counter()
    should_stop = _as_callable(cancel)
    device = pick_device(cfg.device)
    data = [draw_data(cfg, r) for r in range(cfg.runs)]
    model_k = np.repeat(np.array(cfg.ks), cfg.runs)  # model i = (ks[i // runs], run i % runs)
    model_run = np.tile(np.arange(cfg.runs), len(cfg.ks))
    M = len(model_k)
    val_sets = [_SortedErrors(d.x_val, d.y_val) for d in data]
    tg = _TaylorGradients(data, model_k, model_run, cfg, device)
    eta = 2.0 * cfg.lr * (cfg.n_train if cfg.reduction == "sum" else 1.0)

    w = np.array([data[r].w_init[1] - data[r].w_init[0] for r in model_run])
    b = np.zeros(M)
    val_err = np.array([val_sets[r].percent(w[i], b[i]) for i, r in enumerate(model_run)])
    anchor, start = val_err.copy(), np.zeros(M, dtype=np.int64)
    stop_epoch = np.full(M, -1, dtype=np.int64)
    status = np.array(["running"] * M, dtype=object)
    train_ce = np.full(M, np.nan)
    history = []
    # active-set state, compacted when runs stop
    act = np.arange(M)
    w0, b0 = w.copy(), b.copy()
    A, train_ce[:] = tg.moments(act, w0, b0)
    K = tg.coefficients(A)
    wa, ba = w.copy(), b.copy()
    epoch, last_emit, t_step, t_eval = 0, time.perf_counter(), 0.0, 0.0
    chunk_cap = 512
    cancelled = False
    while len(act):
        t0 = time.perf_counter()
        L = min(chunk_cap, cfg.max_epochs - epoch)
        W_buf, B_buf = np.empty((len(act), L)), np.empty((len(act), L))
        n_done = 0
        while n_done < L:
            dw, db = wa - w0, ba - b0
            need = np.abs(dw) + np.abs(db) > tg.rho[act]
            if need.any():
                sel = np.nonzero(need)[0]
                w0[sel], b0[sel] = wa[sel], ba[sel]
                A, ce = tg.moments(act[sel], w0[sel], b0[sel])
                K[sel] = tg.coefficients(A)
                train_ce[act[sel]] = ce
                dw[sel], db[sel] = 0.0, 0.0
            g = tg.evaluate(K, dw, db)
            wa += eta * g[:, 0]
            ba += eta * g[:, 1]
            W_buf[:, n_done], B_buf[:, n_done] = wa, ba
            n_done += 1
            if n_done % 16 == 0 and time.perf_counter() - t0 > 0.2:
                break
        t1 = time.perf_counter()
        t_step += t1 - t0
        W_buf, B_buf = W_buf[:, :n_done], B_buf[:, :n_done]
        errs = np.empty_like(W_buf)
        for r in np.unique(model_run[act]):
            rows = model_run[act] == r
            errs[rows] = val_sets[r].percent(W_buf[rows], B_buf[rows])
        a_anchor, a_start = anchor[act], start[act]
        stops = stop_scan(errs, epoch + 1, a_anchor, a_start, cfg.patience, cfg.tol)
        anchor[act], start[act] = a_anchor, a_start
        if cfg.history_every:
            cols = [j for j in range(n_done) if (epoch + 1 + j) % cfg.history_every == 0]
            for j in cols:
                history.append((epoch + 1 + j, act.copy(), errs[:, j].copy(), W_buf[:, j].copy(), B_buf[:, j].copy()))
        epoch += n_done
        done = stops >= 0
        last = np.where(done, stops - (epoch - n_done + 1), n_done - 1)  # column of the final epoch
        rows = np.arange(len(act))
        w[act], b[act], val_err[act] = W_buf[rows, last], B_buf[rows, last], errs[rows, last]
        stop_epoch[act[done]] = stops[done]
        status[act[done]] = "stopped"
        if epoch >= cfg.max_epochs:
            hit = act[~done]
            stop_epoch[hit], status[hit] = epoch, "max_epochs"
            done[:] = True
        cancelled = should_stop()
        keep = ~done
        act, wa, ba, w0, b0, K = act[keep], wa[keep], ba[keep], w0[keep], b0[keep], K[keep]
        t_eval += time.perf_counter() - t1
        now = time.perf_counter()
        if cancelled or (now - last_emit >= every_s and len(act)):
            last_emit = now
            yield ToySnapshot(epoch, now - t_start, _fraction(epoch, start, stop_epoch, cfg), model_k,
                              model_run, val_err.copy(), _thresholds(w, b), train_ce.copy(),
                              stop_epoch >= 0, stop_epoch.copy())
        if cancelled:
            status[act] = "cancelled"
            stop_epoch[act] = epoch
            break
    # final metrics: exact train cross-entropy at the final parameters
    for r in range(cfg.runs):
        sel = model_run == r
        train_ce[sel] = _cross_entropy(data[r].x_train, data[r].y_train, w[sel], b[sel])
    per_run = _per_run(cfg, data, model_k, model_run, w, b, stop_epoch, status, train_ce)
    hist = _history_frame(history, model_k, model_run)
    elapsed = time.perf_counter() - t_start
    timings = {"total_s": elapsed, "refresh_s": tg.refresh_s, "step_s": t_step - tg.refresh_s,
               "eval_s": t_eval, "refreshes": tg.refreshes, "epochs": int(epoch),
               "model_epochs": int(stop_epoch.sum())}
    result = ToyResult(cfg, _summarize(per_run), per_run, hist, elapsed, str(device),
                       "cancelled" if cancelled else "complete", timings)
    yield _final_snapshot(result)


def _thresholds(w, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(w != 0, -b / w, np.nan)


def _fraction(epoch, start, stop_epoch, cfg) -> float:
    """Done model-epochs over expected ones, assuming each current stable window holds."""
    expected = np.where(stop_epoch >= 0, stop_epoch, np.minimum(start + cfg.patience, cfg.max_epochs))
    done = np.where(stop_epoch >= 0, stop_epoch, epoch)
    return float(min(1.0, done.sum() / max(1, expected.sum())))


def _history_frame(history, model_k, model_run) -> pd.DataFrame:
    if not history:
        return pd.DataFrame(columns=["epoch", "k", "run", "val_error", "threshold"])
    parts = [pd.DataFrame({"epoch": e, "k": model_k[a], "run": model_run[a], "val_error": err,
                           "threshold": _thresholds(ww, bb)}) for e, a, err, ww, bb in history]
    return pd.concat(parts, ignore_index=True)


def _final_snapshot(result: ToyResult) -> ToySnapshot:
    pr = result.per_run
    return ToySnapshot(int(pr["epochs"].max()), result.elapsed_s, 1.0, pr["k"].to_numpy(),
                       pr["run"].to_numpy(), pr["val_error"].to_numpy(), pr["threshold"].to_numpy(),
                       pr["train_ce"].to_numpy(), pr["status"].to_numpy() != "cancelled",
                       pr["epochs"].to_numpy(), result)


def run_toy(cfg: ToyConfig = ToyConfig(), on_progress: Callable[[ToySnapshot], None] | None = None,
            cancel=None) -> ToyResult:
    """Run the toy experiment; on_progress gets a ToySnapshot every ~0.25 s.

    `cancel` is a threading.Event or a callable returning True to stop; it is honoured
    within about a quarter of a second and the result then has status "cancelled", with
    the unfinished runs marked "cancelled" at the epoch they reached.
    """
    for snap in iter_toy(cfg, cancel=cancel):
        if on_progress is not None:
            on_progress(snap)
        if snap.result is not None:
            return snap.result
    raise RuntimeError("iter_toy ended without a result")  # unreachable


# --------------------------------------------------------------------------- reference
@torch.no_grad()
def run_reference(cfg: ToyConfig) -> ToyResult:
    """Straightforward float64 implementation, for verification on small configs.

    Full 4-parameter softmax model, pseudo-gradient from its definition (|eps_y| is the
    other class's softmax probability, so it does not cancel), all parameters updated,
    validation error from argmax every epoch, same stopping rule. O(n) per model per epoch.
    """
    t_start = time.perf_counter()
    device = pick_device(cfg.device)
    data = [draw_data(cfg, r) for r in range(cfg.runs)]
    model_k = np.repeat(np.array(cfg.ks), cfg.runs)
    model_run = np.tile(np.arange(cfg.runs), len(cfg.ks))
    M = len(model_k)

    def t(a):
        return torch.tensor(np.stack(a), dtype=torch.float64, device=device)

    x, xv = t([data[r].x_train for r in model_run]), t([data[r].x_val for r in model_run])  # (M, n)
    target = (t([data[r].y_train for r in model_run]) > 0).long()  # class index: 0 is -1, 1 is +1
    target_v = (t([data[r].y_val for r in model_run]) > 0).long()
    W = t([data[r].w_init for r in model_run])  # (M, 2)
    B = torch.zeros(M, 2, dtype=torch.float64, device=device)
    k = torch.tensor(model_k, dtype=torch.float64, device=device)[:, None]
    scale = 1.0 if cfg.reduction == "sum" else 1.0 / cfg.n_train
    onehot = torch.nn.functional.one_hot(target, 2).to(torch.float64)  # (M, n, 2)

    def val_error():
        pred = (W[:, None, :] * xv[..., None] + B[:, None, :]).argmax(-1)
        return ((pred != target_v).double().mean(1) * 100).cpu().numpy()

    err = val_error()
    anchor, start = err.copy(), np.zeros(M, dtype=np.int64)
    stop_epoch = np.full(M, -1, dtype=np.int64)
    status = np.array(["running"] * M, dtype=object)
    epoch = 0
    while (stop_epoch < 0).any() and epoch < cfg.max_epochs:
        epoch += 1
        active = torch.tensor(stop_epoch < 0, device=device)[:, None]
        logits = W[:, None, :] * x[..., None] + B[:, None, :]  # (M, n, 2)
        p = torch.softmax(logits, dim=-1)
        p_other = (p * (1 - onehot)).sum(-1, keepdim=True)  # |eps_y|
        f = torch.where(onehot > 0, -p_other ** k[..., None], p_other ** k[..., None])  # (M, n, 2)
        gW = (f * x[..., None]).sum(1) * scale
        gB = f.sum(1) * scale
        W = torch.where(active, W - cfg.lr * gW, W)
        B = torch.where(active, B - cfg.lr * gB, B)
        err = val_error()
        running = stop_epoch < 0
        a_anchor, a_start = anchor[running], start[running]
        s = stop_scan(err[running, None], epoch, a_anchor, a_start, cfg.patience, cfg.tol)
        anchor[running], start[running] = a_anchor, a_start
        idx = np.nonzero(running)[0][s >= 0]
        stop_epoch[idx], status[idx] = epoch, "stopped"
    hit = stop_epoch < 0
    stop_epoch[hit], status[hit] = epoch, "max_epochs"
    Wn, Bn = W.cpu().numpy(), B.cpu().numpy()
    w, b = Wn[:, 1] - Wn[:, 0], Bn[:, 1] - Bn[:, 0]
    train_ce = np.array([_cross_entropy(data[r].x_train, data[r].y_train, w[i:i + 1], b[i:i + 1])[0]
                         for i, r in enumerate(model_run)])
    per_run = _per_run(cfg, data, model_k, model_run, w, b, stop_epoch, status, train_ce)
    # the reference reports argmax-based test errors, independent of the searchsorted path
    for i, r in enumerate(model_run):
        d = data[r]
        pred = np.where(Wn[i, 1] * d.x_test + Bn[i, 1] > Wn[i, 0] * d.x_test + Bn[i, 0], 1.0, -1.0)
        per_run.loc[i, "test_error"] = 100.0 * np.mean(pred != d.y_test)
        per_run.loc[i, ["w_neg", "w_pos", "b_neg", "b_pos"]] = [Wn[i, 0], Wn[i, 1], Bn[i, 0], Bn[i, 1]]
    elapsed = time.perf_counter() - t_start
    return ToyResult(cfg, _summarize(per_run), per_run, _history_frame([], model_k, model_run),
                     elapsed, str(device), "complete", {"total_s": elapsed, "epochs": epoch})
