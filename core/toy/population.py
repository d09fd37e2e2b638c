"""The n -> infinity limit of the toy experiment: where gradient descent on the EXPECTED
pseudo-gradient under D converges, per k, with no sampling at all.

What: `population_gradient` (the expected update direction, by composite Gauss-Legendre
quadrature, exact to ~1e-16), `population_ce` (expected cross-entropy), `threshold_error`
(error of a threshold rule under the clean D, in closed form) and `population_limit` (the
stationary point per k, by Newton's method with an exact line search).

Why: the finite-sample results scatter around this curve; drawn beside them (and on the toy
page before any run) it shows what each k converges to when data are unlimited.

    python -m core.toy --population                 # t*(k) for 40 k values in [1/64, 16]
    from core.toy import population_limit
    population_limit([4, 1, 0.25])                  # k, w, b, threshold, error, ce, ...
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

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

