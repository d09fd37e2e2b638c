"""The Taylor machinery of the fast trainer: the mean pseudo-gradient of many toy models as
polynomials in their parameter offsets, re-expanded on demand.

What: with two classes only the differences w = w+ - w-, b = b+ - b- evolve, and with margin
m = s (w x + b) (s the +-1 label) gradient descent moves (w, b) by 2 lr mean_i s_i u(m_i) (x_i, 1),
u(m) = sigmoid(-m)**k. u is analytic and its derivatives are u^(j)(m) = sigmoid(-m)**k P_j(sigmoid(m))
with polynomials P_j computed exactly (`_derivative_polys`). At an expansion point (w0, b0) one pass
over the data gives the moments A[j, p] = mean_i s_i^(j+1) u^(j)(m_i) x_i^p, from which the gradient
at any nearby (w0 + dw, b0 + db) is a polynomial of order J in (dw, db): O(J^2) per model and epoch
instead of O(n). Since |x| <= 1 the Lagrange remainder is at most sup|u^(J+1)| rho^(J+1) / (J+1)!
with rho = |dw| + |db|; `_taylor_radius` is the rho that keeps it below the tolerance, and a model
is re-expanded (one O(n) float64 pass, `_TaylorGradients.moments`) as soon as it moves further.

Why: it makes the paper's protocol (up to ~38,000 epochs of 70 models x 30,000 points) take
seconds instead of hours, while following the float64 gradient-descent trajectory to ~1e-10.

    from core.toy.taylor import _TaylorGradients     # used by core.toy.train; see its docstring
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from core.toy.config import ToyConfig, ToyData


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
