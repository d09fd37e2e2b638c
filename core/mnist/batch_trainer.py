"""Batched training: M runs of one architecture as ONE stacked model on one device.

What: `BatchTrainer` trains M configurations that share (hidden, activation, batch_size) as one
batched MLP (core.mlp: stacked weights, torch.baddbmm), each with its own data order
(`epoch_order`), learning rate, momentum, k or objective, clipping and label noise, and
evaluates them with one host read per epoch. It gives the same numbers as training each run
alone (tests/test_mnist.py checks it) in less time.

Why: the paper's protocol is a grid of (k, lr, seed) runs; batching them is what makes the grid
affordable on a CPU and fast on a GPU.

How it runs: the whole data set lives on the device. Each epoch, model m visits the training set
in the order `epoch_order(seed_m, epoch, n)` (drawn on the CPU, so identical on every device) in
minibatches gathered as (M, B, D). The step loop never reads a value back from the device.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from core.data import MnistSplit
from core.labelnoise import NoiseSpec, memorization_metrics
from core.losses import ObjectiveSpec, make_objective
from core.mlp import BatchedMLP, BatchedSGD
from core.mnist.config import DIVERGENCE_CE, ConfigError, TrainConfig
from core.pseudograd import tunable_cross_entropy
from core.schedule import parse_schedule

_EVAL_BUDGET = 2**23  # floats per hidden activation in one evaluation chunk (M * rows * width)

# Sees every training minibatch right after the forward pass: (idx (M, B) positions in the training set,
# logits (M, B, C) detached, target (M, B) the labels trained on, k (M,)). core.datamap records with it.
BatchObserver = Callable[[Tensor, Tensor, Tensor, Tensor], None]


def epoch_order(seed: int, epoch: int, n: int) -> Tensor:
    """The order (n,) in which a run with this seed visits the training set in `epoch` (CPU, int64)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed((seed << 20) + epoch))


class BatchTrainer:
    """M runs of one architecture and batch size as one batched model (core.mlp) on one device.

    `train_one_epoch` and `evaluate_epoch` return (M,) tensors / per-run dicts; `keep` drops runs.
    """

    def __init__(self, configs: Sequence[TrainConfig], split: MnistSplit, train_eval: int | None = 10_000) -> None:
        self.configs = list(configs)
        first = self.configs[0]
        if any((c.hidden, c.activation, c.batch_size) != (first.hidden, first.activation, first.batch_size)
               for c in self.configs):
            raise ConfigError("runs trained together must share hidden, activation and batch_size")
        device = split.train_x.device
        self.device = device
        self.num_classes = int(getattr(split, "num_classes", 10))
        self.batch_size = first.batch_size
        self.train_x, self.val_x, self.test_x = split.train_x, split.val_x, split.test_x
        self.test_y = split.test_y
        self.n_eval = len(split.train_x) if train_eval is None else min(train_eval, len(split.train_x))
        self.clean_train_y = split.train_y[: self.n_eval]
        # label noise on train+val together, once per distinct NoiseSpec; (M, N) labels per run
        noisy: dict[NoiseSpec, tuple[Tensor, Tensor, float]] = {}
        n_train = len(split.train_y)
        both = torch.cat([split.train_y, split.val_y]).cpu()
        for spec in {c.noise for c in self.configs}:
            out = spec.apply(both, self.num_classes)
            labels = out.labels.to(device)
            noisy[spec] = (labels[:n_train], labels[n_train:], out.realized_rate)
        self.train_y = torch.stack([noisy[c.noise][0] for c in self.configs])  # (M, N_train)
        self.val_y = torch.stack([noisy[c.noise][1] for c in self.configs])  # (M, N_val)
        self.noise_rate = [noisy[c.noise][2] for c in self.configs]
        self.model = BatchedMLP.from_seeds(first.hidden, first.activation, [c.seed for c in self.configs], device=device,
                                           n_in=split.train_x.shape[1], n_out=self.num_classes)
        self.optimizer = BatchedSGD(
            self.model.parameters(),
            lr=[c.lr for c in self.configs],
            momentum=[c.momentum for c in self.configs],
            weight_decay=[c.weight_decay for c in self.configs],
            clip_norm=[c.clip_norm for c in self.configs],
        )
        self.observe: BatchObserver | None = None  # set it to watch every training minibatch (core.datamap)
        self._plan()

    def _plan(self) -> None:
        """Group the runs by objective: all pseudo-gradient runs in one call with a per-example k."""
        self.k = torch.tensor([c.k for c in self.configs], dtype=torch.float32, device=self.device)  # (M,)
        self._schedules = [None if c.k_schedule is None else parse_schedule(c.k_schedule) for c in self.configs]
        groups: dict[ObjectiveSpec | None, list[int]] = {}
        for m, c in enumerate(self.configs):
            groups.setdefault(c.objective, []).append(m)
        self._groups = [
            (torch.tensor(idx, device=self.device), None if spec is None else make_objective(spec))
            for spec, idx in groups.items()
        ]

    def _k_table(self, epoch: int, steps: range) -> Tensor | None:
        """(len(steps), M) k of every run at every step of this epoch (1-based), from each run's own
        schedule at progress (epoch - 1 + step / steps_per_epoch) / epochs; None if no run has a schedule."""
        if not any(self._schedules):
            return None
        per_epoch = self.steps_per_epoch
        rows = [[c.k if s is None else s((epoch - 1 + step / per_epoch) / c.epochs)
                 for c, s in zip(self.configs, self._schedules)] for step in steps]
        return torch.tensor(rows, dtype=torch.float32).reshape(len(steps), len(self.configs)).to(self.device)

    def _tunable(self, logits: Tensor, target: Tensor, k: Tensor) -> Tensor:
        m, b, c = logits.shape
        per_example = tunable_cross_entropy(
            logits.reshape(m * b, c), target.reshape(m * b), k=k.view(m, 1).expand(m, b).reshape(m * b),
            reduction="none", validate=False,
        )
        return per_example.view(m, b).mean(1)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Per-run mean training objective (M,) for logits (M, B, C) and targets (M, B)."""
        m, b, c = logits.shape
        if len(self._groups) == 1:
            _, objective = self._groups[0]
            if objective is None:
                return self._tunable(logits, target, self.k)
            return objective.per_example(logits.reshape(m * b, c), target.reshape(m * b)).view(m, b).mean(1)
        parts, order = [], []
        for idx, objective in self._groups:
            z, t = logits.index_select(0, idx), target.index_select(0, idx)
            if objective is None:
                parts.append(self._tunable(z, t, self.k.index_select(0, idx)))
            else:
                parts.append(objective.per_example(z.reshape(-1, c), t.reshape(-1)).view(len(idx), b).mean(1))
            order.append(idx)
        return torch.zeros(m, device=logits.device, dtype=parts[0].dtype).index_copy(0, torch.cat(order), torch.cat(parts))

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_x) / self.batch_size)

    def train_one_epoch(
        self, epoch: int, cancel: threading.Event | None = None, steps: range | None = None
    ) -> dict[str, Tensor] | None:
        """One pass over the training set per run; {"train_loss": (M,), "grad_norm": (M,)} or None if cancelled.

        `steps` restricts the pass to those minibatches of the epoch (benchmarks time slices of an epoch).
        """
        n, b = len(self.train_x), self.batch_size
        m = len(self.configs)
        order = torch.stack([epoch_order(c.seed, epoch, n) for c in self.configs]).to(self.device)  # (M, N)
        loss_sum = torch.zeros(m, device=self.device)
        norm_sum = torch.zeros(m, device=self.device)
        steps = range(self.steps_per_epoch) if steps is None else steps
        k_table = self._k_table(epoch, steps)  # scheduled k per step, or None (constant k)
        for i, step in enumerate(steps):
            if cancel is not None and cancel.is_set():
                return None
            if k_table is not None:
                self.k = k_table[i]  # (M,)
            idx = order[:, step * b: (step + 1) * b]  # (M, B)
            x = self.train_x.index_select(0, idx.reshape(-1)).view(m, idx.shape[1], -1)  # (M, B, D)
            target = self.train_y.gather(1, idx)  # (M, B)
            logits = self.model(x)  # (M, B, C)
            if self.observe is not None:
                self.observe(idx, logits.detach(), target, self.k)
            loss = self.loss(logits, target)  # (M,)
            self.optimizer.zero_grad()
            loss.sum().backward()  # runs share no parameters: each gets the gradient of its own mean loss
            self.optimizer.step()
            loss_sum += loss.detach()
            norm_sum += self.optimizer.last_grad_norm
        return {"train_loss": loss_sum / max(len(steps), 1), "grad_norm": norm_sum / max(len(steps), 1)}

    @torch.no_grad()
    def evaluate(
        self, x: Tensor, target: Tensor, cancel: threading.Event | None = None
    ) -> tuple[Tensor, Tensor, Tensor] | None:
        """(mean CE (M,), error (M,), predictions (M, N)) on inputs x (N, D), targets (M, N) or (N,)."""
        m, n = len(self.configs), len(x)
        if n == 0:
            nan = torch.full((m,), math.nan, device=self.device)
            return nan, nan, torch.empty(m, 0, dtype=torch.long, device=self.device)
        width = max(w.shape[2] for w in self.model.weights)
        chunk = max(256, _EVAL_BUDGET // (m * width))
        target = target.expand(m, n)
        ce = torch.zeros(m, device=self.device)
        wrong = torch.zeros(m, device=self.device)
        preds = []
        for start in range(0, n, chunk):
            if cancel is not None and cancel.is_set():
                return None
            logits = self.model(x[start: start + chunk])  # (M, n, C)
            t = target[:, start: start + chunk]
            ce += F.cross_entropy(logits.reshape(-1, logits.shape[2]), t.reshape(-1), reduction="none").view_as(t).sum(1)
            pred = logits.argmax(2)  # (M, n)
            wrong += (pred != t).sum(1)
            preds.append(pred)
        return ce / n, wrong / n, torch.cat(preds, 1)

    def evaluate_epoch(self, trained: dict[str, Tensor], cancel: threading.Event | None = None) -> list[dict] | None:
        """Per-run metrics after an epoch (one host read for all runs), plus a "diverged" flag; None if cancelled."""
        parts = [
            self.evaluate(self.train_x[: self.n_eval], self.train_y[:, : self.n_eval], cancel),
            self.evaluate(self.val_x, self.val_y, cancel),
            self.evaluate(self.test_x, self.test_y, cancel),
        ]
        if any(p is None for p in parts):
            return None
        (tr_ce, tr_err, tr_pred), (va_ce, va_err, _), (te_ce, te_err, _) = parts
        table = torch.stack([
            trained["train_loss"], tr_ce, tr_err, va_ce, va_err, te_ce, te_err, trained["grad_norm"],
            self.model.params_finite().float(),
        ]).cpu().tolist()
        out = []
        for m in range(len(self.configs)):
            loss, train_ce, train_err, val_ce, val_err, test_ce, test_err, grad_norm, finite = (row[m] for row in table)
            memo = memorization_metrics(tr_pred[m], self.train_y[m, : self.n_eval], self.clean_train_y)
            diverged = not (finite and math.isfinite(loss) and math.isfinite(train_ce) and train_ce <= DIVERGENCE_CE)
            out.append({
                "train_loss": loss, "train_ce": train_ce, "train_error": train_err,
                "val_ce": val_ce, "val_error": val_err, "test_ce": test_ce, "test_error": test_err,
                "grad_norm": grad_norm, "noise_rate": self.noise_rate[m],
                "train_acc_noisy": memo["acc_noisy"], "train_acc_true": memo["acc_true"],
                "memorized": memo["memorized"], "corrected": memo["corrected"], "diverged": diverged,
            })
        return out

    def keep(self, index: Sequence[int]) -> None:
        """Keep only the runs at these positions (in this order); the others leave the batch."""
        idx = torch.tensor(list(index), dtype=torch.long, device=self.device)
        self.configs = [self.configs[i] for i in index]
        self.noise_rate = [self.noise_rate[i] for i in index]
        self.train_y, self.val_y = self.train_y[idx], self.val_y[idx]
        self.model.keep(idx)
        self.optimizer.keep(idx, self.model.parameters())
        self._plan()

    def state_dict(self, m: int) -> dict[str, Tensor]:
        """Run m's weights as an nn.Sequential state_dict on the CPU."""
        return self.model.to_sequential(m).state_dict()
