"""The straightforward float64 toy trainer, the yardstick for the fast one (core.toy.train).

What: the full 4-parameter softmax model, the pseudo-gradient from its definition (|eps_y| is
the other class's softmax probability, so nothing cancels), every parameter updated, the
validation error from argmax every epoch, the same stopping rule. O(n) per model per epoch,
so only for small configs (or a few epochs at full size). It keeps no history or frames.

Why: the fast trainer takes shortcuts (class differences, Taylor expansions, searchsorted
errors); tests and benchmarks/toy_bench.py check it against this independent computation.

    from core.toy import ToyConfig, run_reference
    result = run_reference(ToyConfig(runs=2, n_train=400, n_val=400, n_test=400, patience=100))
    # or ToyConfig(method="reference") through run_toy / the CLI (--method reference)
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from core.engine.status import DONE
from core.device import torch_threads
from core.toy.config import ToyConfig, ToyData, draw_data, float64_device
from core.toy.metrics import _cross_entropy, stop_scan
from core.toy.result import ToyResult, _history_frame, _per_run, _summarize


def run_reference(cfg: ToyConfig) -> ToyResult:
    """Train every (k, run) model of `cfg` the straightforward way (see module docstring)."""
    with torch_threads(cfg.threads):
        return _reference(cfg)


class _SoftmaxModels:
    """All (k, run) models as (M, 2) weights and biases, with their data as (M, n) tensors."""

    def __init__(self, cfg: ToyConfig, data: list[ToyData], model_k, model_run, device: torch.device):
        def t(arrays):
            return torch.tensor(np.stack(arrays), dtype=torch.float64, device=device)

        self.cfg, self.device = cfg, device
        self.x = t([data[r].x_train for r in model_run])  # (M, n)
        self.x_val = t([data[r].x_val for r in model_run])
        target = (t([data[r].y_train for r in model_run]) > 0).long()  # class index: 0 is -1, 1 is +1
        self.target_val = (t([data[r].y_val for r in model_run]) > 0).long()
        self.onehot = torch.nn.functional.one_hot(target, 2).to(torch.float64)  # (M, n, 2)
        self.W = t([data[r].w_init for r in model_run])  # (M, 2)
        self.B = torch.zeros(len(model_k), 2, dtype=torch.float64, device=device)
        self.k = torch.tensor(model_k, dtype=torch.float64, device=device)[:, None]
        self.scale = 1.0 if cfg.reduction == "sum" else 1.0 / cfg.n_train

    def val_error(self) -> np.ndarray:
        pred = (self.W[:, None, :] * self.x_val[..., None] + self.B[:, None, :]).argmax(-1)
        return 100.0 * (pred != self.target_val).sum(1).cpu().numpy() / self.cfg.n_val

    def step(self, active: np.ndarray) -> None:
        """One epoch of full-batch descent along the pseudo-gradient, for the `active` (M,) models."""
        act = torch.tensor(active, device=self.device)[:, None]
        logits = self.W[:, None, :] * self.x[..., None] + self.B[:, None, :]  # (M, n, 2)
        p = torch.softmax(logits, dim=-1)
        p_other = (p * (1 - self.onehot)).sum(-1, keepdim=True)  # |eps_y|
        power = p_other ** self.k[..., None]
        f = torch.where(self.onehot > 0, -power, power)  # (M, n, 2)
        gW = (f * self.x[..., None]).sum(1) * self.scale
        gB = f.sum(1) * self.scale
        self.W = torch.where(act, self.W - self.cfg.lr * gW, self.W)
        self.B = torch.where(act, self.B - self.cfg.lr * gB, self.B)


def _descend(cfg: ToyConfig, models: _SoftmaxModels) -> tuple[int, np.ndarray, np.ndarray]:
    """Train to the stopping rule (or max_epochs): (last epoch, stop epoch (M,), reason (M,))."""
    err = models.val_error()
    M = len(err)
    anchor, start = err.copy(), np.zeros(M, dtype=np.int64)
    stop_epoch = np.full(M, -1, dtype=np.int64)
    reason = np.array(["running"] * M, dtype=object)
    epoch = 0
    while (stop_epoch < 0).any() and epoch < cfg.max_epochs:
        epoch += 1
        running = stop_epoch < 0
        models.step(running)
        err = models.val_error()
        a_anchor, a_start = anchor[running], start[running]
        s = stop_scan(err[running, None], epoch, a_anchor, a_start, cfg.patience, cfg.tol)
        anchor[running], start[running] = a_anchor, a_start
        idx = np.nonzero(running)[0][s >= 0]
        stop_epoch[idx], reason[idx] = epoch, "rule"
    hit = stop_epoch < 0
    stop_epoch[hit], reason[hit] = epoch, "max_epochs"
    return epoch, stop_epoch, reason


def _table(cfg: ToyConfig, data: list[ToyData], model_k, model_run, Wn, Bn, stop_epoch, reason) -> pd.DataFrame:
    """The per-run table, with argmax-based test errors (independent of the searchsorted path)."""
    w, b = Wn[:, 1] - Wn[:, 0], Bn[:, 1] - Bn[:, 0]
    train_ce = np.array([_cross_entropy(data[r].x_train, data[r].y_train, w[i:i + 1], b[i:i + 1])[0]
                         for i, r in enumerate(model_run)])
    per_run = _per_run(cfg, data, model_k, model_run, w, b, stop_epoch, reason, train_ce)
    for i, r in enumerate(model_run):
        d = data[r]
        pred = np.where(Wn[i, 1] * d.x_test + Bn[i, 1] > Wn[i, 0] * d.x_test + Bn[i, 0], 1.0, -1.0)
        per_run.loc[i, "test_error"] = 100.0 * np.sum(pred != d.y_test) / cfg.n_test
        per_run.loc[i, ["w_neg", "w_pos", "b_neg", "b_pos"]] = [Wn[i, 0], Wn[i, 1], Bn[i, 0], Bn[i, 1]]
    return per_run


@torch.no_grad()
def _reference(cfg: ToyConfig) -> ToyResult:
    t_start = time.perf_counter()
    device = float64_device(cfg.device)
    data = [draw_data(cfg, r) for r in range(cfg.runs)]
    model_k = np.repeat(np.array(cfg.ks), cfg.runs)
    model_run = np.tile(np.arange(cfg.runs), len(cfg.ks))
    models = _SoftmaxModels(cfg, data, model_k, model_run, device)
    epoch, stop_epoch, reason = _descend(cfg, models)
    per_run = _table(cfg, data, model_k, model_run, models.W.cpu().numpy(), models.B.cpu().numpy(),
                     stop_epoch, reason)
    elapsed = time.perf_counter() - t_start
    return ToyResult(cfg, _summarize(per_run), per_run, _history_frame([], model_k, model_run),
                     elapsed, str(device), DONE, {"total_s": elapsed, "epochs": epoch})
