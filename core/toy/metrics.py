"""Measuring a threshold rule: its error on sorted data, its cross-entropy, and the stopping rule.

What: `_SortedErrors` counts the errors of the rule "predict +1 iff w x + b > 0" on sorted 1-D
data with a searchsorted and prefix counts (O(log n) per model and epoch); `_cross_entropy` is
the mean cross-entropy of the two-class model; `stop_scan` / `stopping_epoch` apply the
paper's stopping rule (stop once `patience` epochs stayed within `tol` of the error at the
start of the window) to a chunk of epochs at once, or to a whole sequence.

Why: the fast trainer, the float64 reference and the tests must measure runs the same way.

    from core.toy.metrics import stopping_epoch
    stopping_epoch([10, 9, 9, 9, 9], patience=3, tol=0.001)    # -> 4
"""

from __future__ import annotations

import numpy as np


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


def thresholds(w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The threshold t = -b / w of each rule (NaN where w == 0: no threshold)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(w != 0, -b / w, np.nan)
