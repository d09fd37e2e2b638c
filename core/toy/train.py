"""The 1-D toy experiment of Keren, Sabato & Schuller (AAAI 2017, Section 5.1), fast and exact.

What: a 4-parameter softmax model z_i = w_i * x + b_i (i in {-1, +1}) trained by full-batch
gradient descent with the pseudo-gradient of each k, on x ~ U[-1, 1] labelled +1 iff
0 <= x <= alpha. It can only learn a threshold rule; the best threshold is 0, but the
points in (alpha, 1] pull cross-entropy's optimum away from it. Small k cares less about
them, so its test error is lower. Each run is one draw of the data and of the initial
weights, shared by every k. The stopping rule is `stopping_epoch`'s.

Why: the paper's cleanest illustration that k tunes sensitivity to large errors, and a
reproducible number table for the dashboard.

How to run:
    python -m core.toy                     # paper protocol, prints the per-k table
    python -m core.toy --runs 2 --n 3000   # smaller; --help lists every parameter
    python -m core.toy --population        # limiting threshold t*(k) for n -> infinity
    from core.toy import ToyConfig, run_toy
    result = run_toy(ToyConfig(), on_progress=print)   # result.per_k, result.per_run

How it is fast (the full protocol, up to ~38,000 epochs of 70 models x 30,000 points,
takes about 15 s of one CPU core instead of hours for a straightforward float64 loop):
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
   `taylor_tol` (1e-10 by default, about the rounding noise of a float32 pass; the bound
   is loose: final parameters agree with taylor_tol=1e-12 to ~1e-12). So the trajectory
   is the float64 gradient-descent trajectory up to that bound.
3. Errors of a threshold rule on sorted 1-D data are a searchsorted plus prefix counts:
   O(log n) per model and epoch. Validation errors are computed for a chunk of epochs at a
   time from the recorded (w, b) trajectory; the stopping rule is then applied exactly and
   a run that stopped inside the chunk is rolled back to its stopping epoch.
4. Stopped runs leave the active set. `method="reference"` runs a straightforward float64
   implementation (general softmax, 4 parameters, argmax errors) for verification.
"""

from __future__ import annotations

import argparse
import contextlib
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
    device: str = "auto"  # "auto", "cpu", "cuda": where the O(n) passes run (mps -> cpu: no float64)
    label_noise: float = 0.0  # fraction of TRAINING labels flipped (exactly round(eta * n))
    method: str = "taylor"  # "taylor" (fast, exact to taylor_tol) or "reference" (naive float64)
    taylor_order: int = 8  # J: order of the Taylor expansion of the gradient in (dw, db)
    taylor_tol: float = 1e-10  # bound on the absolute error of each mean-gradient component
    history_every: int = 100  # epochs between rows of ToyResult.history (0: no history)
    threads: int = 1  # torch CPU threads while training (0: leave torch's setting); 1 is
    # fastest on a busy 2-core machine: the O(n) passes are small and threads contend

    def __post_init__(self):
        if not 0 < self.alpha < 1:
            raise ToyConfigError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.threads < 0:
            raise ToyConfigError(f"threads must be >= 0 (0: torch's setting), got {self.threads}")
        if not 1 <= self.taylor_order <= 16:
            raise ToyConfigError(f"taylor_order must be in 1..16, got {self.taylor_order}")
        for name in ("n_train", "n_val", "n_test", "runs", "patience", "max_epochs"):
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
        xpow = self.x.unsqueeze(-1) ** torch.arange(J + 2, device=device, dtype=torch.float64)  # (R, n, J+2)
        xpow = torch.cat([xpow, xpow * self.y.unsqueeze(-1)], dim=2)  # (R, n, 2(J+2)): x^p, s x^p
        self.xpow_t = xpow.transpose(1, 2).contiguous()  # (R, 2(J+2), n): faster as a matmul operand
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
        order = np.argsort(self.run[models], kind="stable")  # run groups become slices
        models, w0, b0 = models[order], w0[order], b0[order]
        out_A, out_ce = [], []
        for lo in range(0, len(models), chunk):
            idx = models[lo:lo + chunk]
            run = torch.as_tensor(self.run[idx], device=self.device)
            x, y = self.x[run], self.y[run]  # (m, n)
            w = torch.as_tensor(w0[lo:lo + chunk], device=self.device)[:, None]
            b = torch.as_tensor(b0[lo:lo + chunk], device=self.device)[:, None]
            m = y * (w * x + b)  # (m, n) margins
            e = torch.exp(-m.abs())
            l1 = torch.log1p(e)
            qk = torch.exp(-self.k[idx][:, None] * (m.clamp(min=0) + l1))  # q^k in log space
            ce = ((-m).clamp(min=0) + l1).mean(dim=1)  # softplus(-m)
            p = torch.sigmoid(m)
            V = torch.empty(len(idx), self.J + 1, x.shape[1], dtype=torch.float64, device=self.device)
            V[:, 0] = qk
            for l in range(1, self.J + 1):
                torch.mul(V[:, l - 1], p, out=V[:, l])  # (m, J+1, n): q^k p^l
            Bm = torch.empty(len(idx), self.J + 1, 2 * (self.J + 2), dtype=torch.float64, device=self.device)
            lo_r = 0
            for r, cnt in zip(*np.unique(self.run[idx], return_counts=True)):  # idx is sorted by run
                Vr = V[lo_r:lo_r + cnt].reshape(-1, V.shape[2])  # (m_r (J+1), n)
                Bm[lo_r:lo_r + cnt] = (Vr @ self.xpow_t[r].T).reshape(cnt, self.J + 1, -1)
                lo_r += cnt
            # A[j] = sum_l P[j, l] B[l], using the moments with s^(j+1)
            Bj = torch.where(self.odd[None, :, None, None], Bm[:, None, :, : self.J + 2], Bm[:, None, :, self.J + 2:])
            A = torch.einsum("mjl,mjlp->mjp", self.P[idx], Bj)
            out_A.append((A / x.shape[1]).cpu().numpy())
            out_ce.append(ce.cpu().numpy())
        self.refreshes += len(models)
        self.refresh_s += time.perf_counter() - t0
        A, ce = np.empty((len(models), self.J + 1, self.J + 2)), np.empty(len(models))
        A[order], ce[order] = np.concatenate(out_A), np.concatenate(out_ce)
        return A, ce

    def coefficients(self, A: np.ndarray) -> np.ndarray:
        """(m, 2, (J+1)^2): gradient (w, b) = K @ vec(dw^a db^c), from moments A."""
        Kw = A[:, self.jj, self.aa + 1] * self.scale
        Kb = A[:, self.jj, self.aa] * self.scale
        return np.stack([Kw, Kb], axis=1).reshape(len(A), 2, -1)

    def evaluate(self, K: np.ndarray, dw: np.ndarray, db: np.ndarray) -> np.ndarray:
        """(m, 2) gradient at offsets (dw, db) from the expansion points."""
        outer = np.vander(dw, self.J + 1, increasing=True)[:, :, None] * \
            np.vander(db, self.J + 1, increasing=True)[:, None, :]  # (m, J+1, J+1): dw^a db^c
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
        yield _final_snapshot(run_reference(cfg))
        return
    with _torch_threads(cfg.threads):
        yield from _train(cfg, cancel, every_s)


@contextlib.contextmanager
def _torch_threads(n: int):
    """Use n torch CPU threads inside the block (0: unchanged), then restore the old setting."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)  # per calling thread with torch's OpenMP backend
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _float64_device(name: str) -> torch.device:
    """pick_device, except that MPS (no float64) falls back to the CPU."""
    device = pick_device(name)
    return torch.device("cpu") if device.type == "mps" else device


def _train(cfg: ToyConfig, cancel, every_s: float) -> Iterator[ToySnapshot]:
    t_start = time.perf_counter()
    should_stop = _as_callable(cancel)
    device = _float64_device(cfg.device)
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
    wa, ba, rho = w.copy(), b.copy(), tg.rho.copy()
    epoch, last_emit, t_step, t_eval = 0, time.perf_counter(), 0.0, 0.0
    # Chunks are a fixed number of epochs, never a wall-time slice: the active set (and so
    # which models share a refresh call) must not depend on timing, for bit-exact reruns.
    chunk_cap = 64
    cancelled = False
    while len(act):
        t0 = time.perf_counter()
        L = min(chunk_cap, cfg.max_epochs - epoch)
        W_buf, B_buf = np.empty((len(act), L)), np.empty((len(act), L))
        n_done = 0
        while n_done < L:
            dw, db = wa - w0, ba - b0
            need = np.abs(dw) + np.abs(db) > rho
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
            for j in cols:  # rows of runs still going at that epoch
                keep = (stops < 0) | (stops >= epoch + 1 + j)
                history.append((epoch + 1 + j, act[keep], errs[keep, j], W_buf[keep, j], B_buf[keep, j]))
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
        act, wa, ba, w0, b0, K, rho = act[keep], wa[keep], ba[keep], w0[keep], b0[keep], K[keep], rho[keep]
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
    yield _final_snapshot(result, _fraction(epoch, start, stop_epoch, cfg) if cancelled else 1.0)


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


def _final_snapshot(result: ToyResult, fraction: float = 1.0) -> ToySnapshot:
    pr = result.per_run
    return ToySnapshot(int(pr["epochs"].max()), result.elapsed_s, fraction, pr["k"].to_numpy(),
                       pr["run"].to_numpy(), pr["val_error"].to_numpy(), pr["threshold"].to_numpy(),
                       pr["train_ce"].to_numpy(), pr["status"].to_numpy() != "cancelled",
                       pr["epochs"].to_numpy(), result)


def run_toy(cfg: ToyConfig = ToyConfig(), on_progress: Callable[[ToySnapshot], None] | None = None,
            cancel=None) -> ToyResult:
    """Run the toy experiment; on_progress gets a ToySnapshot every ~0.25 s, and a last one
    whose `.result` is the returned ToyResult.

    `cancel` is a threading.Event or a callable returning True to stop; it is checked
    every 64 epochs (a few tenths of a second at most on a CPU) and the result then has
    status "cancelled", with the unfinished runs marked "cancelled" at the epoch they reached.
    """
    for snap in iter_toy(cfg, cancel=cancel):
        if on_progress is not None:
            on_progress(snap)
        if snap.result is not None:
            return snap.result
    raise RuntimeError("iter_toy ended without a result")  # unreachable


# --------------------------------------------------------------------------- reference
def run_reference(cfg: ToyConfig) -> ToyResult:
    """Straightforward float64 implementation, for verification on small configs.

    Full 4-parameter softmax model, pseudo-gradient from its definition (|eps_y| is the
    other class's softmax probability, so it does not cancel), all parameters updated,
    validation error from argmax every epoch, same stopping rule. O(n) per model per epoch.
    """
    with _torch_threads(cfg.threads):
        return _reference(cfg)


@torch.no_grad()
def _reference(cfg: ToyConfig) -> ToyResult:
    t_start = time.perf_counter()
    device = _float64_device(cfg.device)
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
        return 100.0 * (pred != target_v).sum(1).cpu().numpy() / cfg.n_val

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
        per_run.loc[i, "test_error"] = 100.0 * np.sum(pred != d.y_test) / cfg.n_test
        per_run.loc[i, ["w_neg", "w_pos", "b_neg", "b_pos"]] = [Wn[i, 0], Wn[i, 1], Bn[i, 0], Bn[i, 1]]
    elapsed = time.perf_counter() - t_start
    return ToyResult(cfg, _summarize(per_run), per_run, _history_frame([], model_k, model_run),
                     elapsed, str(device), "complete", {"total_s": elapsed, "epochs": epoch})


# --------------------------------------------------------------------------- population limit
_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)


def _quadrature(w: float, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes x, weights (density 1/2 included) and clean labels for E over D.

    Composite 16-point Gauss-Legendre on [-1, 0], [0, alpha], [alpha, 1] (the label is
    constant on each), panels no wider than 2/|w|: the integrands vary on the scale 1/|w|
    and are analytic within pi/|w| of the real axis, so each panel is exact to ~1e-16.
    """
    h = min(0.25, 2.0 / max(abs(w), 1e-12))
    xs, ws, ys = [], [], []
    for lo, hi, y in ((-1.0, 0.0, -1.0), (0.0, alpha, 1.0), (alpha, 1.0, -1.0)):
        edges = np.linspace(lo, hi, max(1, math.ceil((hi - lo) / h)) + 1)
        mid, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
        xs.append((mid[:, None] + half[:, None] * _GL_X).ravel())
        ws.append((half[:, None] * _GL_W).ravel() / 2)
        ys.append(np.full(xs[-1].size, y))
    return np.concatenate(xs), np.concatenate(ws), np.concatenate(ys)


def _u(m, k):
    return np.exp(-k * np.logaddexp(0.0, m))  # sigmoid(-m)^k in log space


def population_gradient(w: float, b: float, k: float, alpha: float = 0.95,
                        label_noise: float = 0.0) -> np.ndarray:
    """(2,) expected pseudo-gradient ascent direction E[s u(s (w x + b)) (x, 1)] under D.

    Labels flipped with probability label_noise. Gradient descent on the expected
    pseudo-gradient moves (w, b) by 2 lr times this per epoch (mean reduction).
    """
    x, q, y = _quadrature(w, alpha)
    d = w * x + b
    v = (1 - label_noise) * y * _u(y * d, k) - label_noise * y * _u(-y * d, k)
    return np.array([np.sum(q * v * x), np.sum(q * v)])


def _population_jacobian(w, b, k, alpha, label_noise) -> np.ndarray:
    x, q, y = _quadrature(w, alpha)
    d = w * x + b
    du = lambda m: -k * _u(m, k) / (1.0 + np.exp(-m))  # u'(m) = -k q^k p
    c = q * ((1 - label_noise) * du(y * d) + label_noise * du(-y * d))
    return np.array([[np.sum(c * x * x), np.sum(c * x)], [np.sum(c * x), np.sum(c)]])


def population_ce(w: float, b: float, alpha: float = 0.95) -> float:
    """Expected cross-entropy E[softplus(-y (w x + b))] under the clean D."""
    x, q, y = _quadrature(w, alpha)
    return float(np.sum(q * np.logaddexp(0.0, -y * (w * x + b))))


def threshold_error(w: float, b: float, alpha: float = 0.95) -> float:
    """Error (%) under the clean D of 'predict +1 iff w x + b > 0', in closed form."""
    if w == 0:
        return 100.0 * (1 - alpha / 2 if b > 0 else alpha / 2)
    t = -b / w
    seg = lambda lo, hi: max(0.0, hi - lo)  # length of [lo, hi]
    if w > 0:  # +1 on (t, 1]
        wrong = seg(max(t, -1), 0) + seg(max(t, alpha), 1) + seg(0, min(t, alpha))
    else:  # +1 on [-1, t)
        wrong = seg(-1, min(t, 0)) + seg(alpha, min(t, 1)) + seg(max(t, 0), alpha)
    return 100.0 * wrong / 2


def _newton(k, alpha, label_noise, w, b, tol, max_iter):
    """Stationary point of the expected pseudo-gradient by Newton with an exact line search.

    For two classes the pseudo-gradient IS the gradient of a strictly convex function of
    (w, b) (it depends on d = z+ - z- only; Jacobian E[u'(m) (x,1)(x,1)^T], u' < 0), so the
    stationary point is unique and is where gradient descent with a small enough step
    converges; along the Newton direction the directional derivative is monotone, so the
    step length is found by bracketing its sign change.
    """
    theta = np.array([w, b], dtype=np.float64)
    for it in range(1, max_iter + 1):
        g = population_gradient(theta[0], theta[1], k, alpha, label_noise)
        step = -np.linalg.solve(_population_jacobian(theta[0], theta[1], k, alpha, label_noise), g)
        slope = lambda a: -population_gradient(*(theta + a * step), k, alpha, label_noise) @ step
        s0, a, s1 = slope(0.0), 1.0, slope(1.0)
        if abs(s1) <= 0.5 * abs(s0):  # full Newton step (quadratic convergence near the end)
            pass
        elif s1 < 0:  # minimum beyond the Newton step: expand
            while a < 64 and slope(2 * a) < 0:
                a *= 2
        else:  # bisect for the sign change of the (monotone) slope
            lo, hi = 0.0, 1.0
            for _ in range(60):
                a = (lo + hi) / 2
                sa = slope(a)
                if abs(sa) <= 0.5 * abs(s0):
                    break
                lo, hi = (a, hi) if sa < 0 else (lo, a)
        theta = theta + a * step
        if np.all(np.abs(a * step) <= tol * (1 + np.abs(theta))):
            break
    return theta, it


def population_limit(ks=None, alpha: float = 0.95, label_noise: float = 0.0, tol: float = 1e-12,
                     max_iter: int = 200) -> pd.DataFrame:
    """The n -> infinity limit of the toy: where gradient descent on the EXPECTED
    pseudo-gradient under D converges, per k (default 40 values log-spaced in [1/64, 16]).

    No sampling: expectations are Gauss-Legendre integrals (see `_quadrature`). Columns:
    k, w, b (class differences), threshold t* = -b/w, error (%) of the limit rule under the
    clean D (closed form), ce (expected cross-entropy), grad_norm at the solution, iterations.
    Solved by Newton (see `_newton`) with continuation from k = 1 outwards; tests check
    the result against plain gradient descent on the same integrals.
    """
    ks = np.geomspace(1 / 64, 16, 40) if ks is None else np.asarray(ks, dtype=np.float64)
    if np.any(ks <= 0) or not 0 < alpha < 1 or not 0 <= label_noise < 0.5:
        raise ValueError("need ks > 0, 0 < alpha < 1 and 0 <= label_noise < 0.5")
    solved: dict[float, np.ndarray] = {}
    rows = {}
    for k in sorted(set(ks.tolist()), key=lambda k: abs(math.log(k))):
        near = min(solved, key=lambda s: abs(math.log(s / k)), default=None)
        start = solved[near] if near is not None else np.array([5.0, -0.25])
        theta, it = _newton(k, alpha, label_noise, start[0], start[1], tol, max_iter)
        solved[k] = theta
        w, b = theta
        g = population_gradient(w, b, k, alpha, label_noise)
        rows[k] = {"k": k, "w": w, "b": b, "threshold": -b / w, "error": threshold_error(w, b, alpha),
                   "ce": population_ce(w, b, alpha), "grad_norm": float(np.abs(g).max()), "iterations": it}
    return pd.DataFrame([rows[k] for k in ks.tolist()])


# --------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m core.toy", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = ToyConfig()
    for f in dataclasses.fields(ToyConfig):
        default = getattr(d, f.name)
        flag = "--" + f.name.replace("_", "-")
        if f.name == "ks":
            ap.add_argument(flag, default=",".join(f"{k:g}" for k in default),
                            help="comma-separated pseudo-gradient exponents")
        else:
            ap.add_argument(flag, type=type(default), default=default, help=f"ToyConfig.{f.name}")
    ap.add_argument("--n", type=int, default=None, help="set n_train = n_val = n_test at once")
    ap.add_argument("--json", metavar="PATH", help="write config, per-k and per-run tables as JSON")
    ap.add_argument("--csv", metavar="PATH", help="write the per-k table as CSV")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--population", action="store_true",
                    help="print the population-limit curve t*(k) instead of training")
    ap.add_argument("--population-n", type=int, default=40, help="number of k values (1/64 .. 16)")
    return ap


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    if args.population:
        table = population_limit(np.geomspace(1 / 64, 16, args.population_n), alpha=args.alpha,
                                 label_noise=min(args.label_noise, 0.499))
        print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
        if args.csv:
            table.to_csv(args.csv, index=False)
        return 0
    kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(ToyConfig)}
    kw["ks"] = tuple(float(k) for k in str(args.ks).split(",") if k.strip())
    if args.n is not None:
        kw.update(n_train=args.n, n_val=args.n, n_test=args.n)
    try:
        cfg = ToyConfig(**kw)
    except ToyConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def progress(s: ToySnapshot):
        if not args.quiet and s.result is None:
            print(f"epoch {s.epoch:6d}  stopped {int(s.stopped.sum()):3d}/{len(s.stopped)}  "
                  f"~{100 * s.fraction_done:3.0f}%  {s.elapsed_s:6.1f}s", file=sys.stderr)

    result = run_toy(cfg, on_progress=progress)
    print(result.per_k.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"{result.status}; {result.elapsed_s:.1f} s on {result.device}; "
          f"{int(result.per_run['hit_max_epochs'].sum())} runs hit max_epochs")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result.to_json(), fh, indent=1, default=float)
    if args.csv:
        result.per_k.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
