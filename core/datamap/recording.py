"""Per-example training dynamics, recorded inside the batched trainer while it trains.

What: `DynamicsRecording(directory)` is a core.mnist.group_task RecorderFactory: give it to
`groups_of(..., record=...)` (or `train_events(..., record=...)`) and every run of every group
records, each epoch and for every training example by its index, three numbers taken from the
logits of the minibatch that example was in, before the update:
    p_given  p(given label)                        = sigmoid(d)
    margin   given-label logit - largest other one (AUM's margin; > 0 means "correct")
    log_eps  log |eps_y| = log(1 - p_given)        = -softplus(d)   (the push is exp(k * log_eps))
with d = z_y - logsumexp_{j != y} z_j, computed in log space as core.pseudograd does, so nothing
underflows. When a run ends, its epochs are written to one .npz file (core.datamap.io) and the
run's summary in the store gets {"dynamics": that file}.

Why: Dataset Cartography, AUM and forgetting events all read these per-example curves; taking them
from the training pass itself (as those papers do) costs one copy of the (M, B, C) logits per step
and one small computation per epoch, instead of a second pass over the training set
(benchmarks/datamap_bench.py measures it).

How: each step only copies the minibatch's logits into an (M, N, C) float32 buffer on the training
device (one scatter: a busy CPU makes every extra small op costly, so nothing else happens per
step); `end_epoch` computes the three values for the whole epoch at once and moves them to the host
as float16 (6 bytes per example and epoch).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from core.datamap.io import RunDynamics, write_run

FIELDS = ("p_given", "margin", "log_eps")  # what is recorded per example and epoch, in this order


def batch_dynamics(logits: Tensor, target: Tensor) -> Tensor:
    """(3, ...) float32: p_given, margin and log|eps_y| (FIELDS) for logits (..., C) and targets (...)."""
    z = logits.float()
    yy = target.unsqueeze(-1)  # (..., 1)
    z_y = z.gather(-1, yy)  # (..., 1)
    others = z.scatter(-1, yy, -math.inf)  # (..., C), -inf at the given label
    top = others.amax(-1, keepdim=True)  # (..., 1): the largest other logit
    d = (z_y - top) - torch.log(torch.exp(others - top).sum(-1, keepdim=True))  # z_y - logsumexp_{j != y} z_j
    return torch.stack([torch.sigmoid(d), z_y - top, -F.softplus(d)]).squeeze(-1)


@dataclass(frozen=True)
class DynamicsRecording:
    """Record per-example dynamics for every run of a group and save each run's file in `directory`.

    A picklable factory (a Ray worker builds the recorder); `prefix` is what the run's summary
    writes before the file name (the directory relative to the run store, e.g. "dynamics"). With a
    `token`, each run's file is `file_name(token, k)`, known before training (a launch stores it in
    the run's config) and rewritten after every epoch, so a process that dies keeps the finished
    epochs; without one, a run's file gets a random name when the run ends.
    """

    directory: str  # absolute directory the run files are written to (created if missing)
    prefix: str = "dynamics"  # summary["dynamics"] = f"{prefix}/{file name}"
    token: str | None = None  # names the files by (token, k) and saves them every epoch; None: once, at the end

    def __call__(self, trainer, split) -> "DynamicsRecorder":
        return DynamicsRecorder(trainer, split, Path(self.directory), self.prefix, self.token)


def file_name(token: str, k: float) -> str:
    """The run file of the run with this k in the launch `token` (k is unique within a launch)."""
    return f"{token}-k{k:.6g}.npz"


class DynamicsRecorder:
    """The Recorder of one group (core.mnist.group_task.Recorder): buffers, host copies, run files."""

    def __init__(self, trainer, split, directory: Path, prefix: str = "dynamics", token: str | None = None) -> None:
        self.directory, self.prefix, self.token = directory, prefix, token
        self.n = len(trainer.train_x)
        self.device = trainer.train_x.device
        self.configs = list(trainer.configs)
        self.dataset = str(getattr(split, "dataset", "mnist"))
        self.given = trainer.train_y.to(torch.int16).cpu().numpy()  # (M, N): the labels each run trains on
        self.given_device = trainer.train_y.clone()  # (M, N) int64, for end_epoch
        self.num_classes = int(getattr(trainer, "num_classes", 10))
        self.true = split.train_y.to(torch.int16).cpu().numpy()  # (N,)
        self.epochs: list[list[np.ndarray]] = [[] for _ in self.configs]  # per run: (3, N) float16 per epoch
        self.ks: list[list[float]] = [[] for _ in self.configs]  # per run: k during each epoch
        self.buffer: Tensor | None = None  # (M_alive, N, C) float32 logits of this epoch, NaN where not seen
        self.k: Tensor | None = None

    def on_batch(self, idx: Tensor, logits: Tensor, target: Tensor, k: Tensor) -> None:
        """Keep this minibatch's logits (M, B, C) at their examples' positions idx (M, B)."""
        m, _, c = logits.shape
        if self.buffer is None or self.buffer.shape[0] != m:
            self.buffer = torch.full((m, self.n, c), math.nan, device=self.device)
        self.buffer.scatter_(1, idx.unsqueeze(-1).expand(-1, -1, c), logits.float())
        self.k = k

    def end_epoch(self, epoch: int, positions: Sequence[int]) -> None:
        """Close the epoch for the runs at `positions` of the group (the trainer's current order)."""
        if self.buffer is None:
            return
        target = self.given_device[list(positions)]  # (M_alive, N)
        values = torch.cat([batch_dynamics(self.buffer[:, s: s + 8192], target[:, s: s + 8192])
                            for s in range(0, self.n, 8192)], 2)  # (3, M_alive, N); NaN where not seen
        host = values.to(torch.float16).cpu().numpy()  # one host read
        ks = self.k.cpu().tolist()
        for m, pos in enumerate(positions):
            self.epochs[pos].append(host[:, m])
            self.ks[pos].append(float(ks[m]))
            if self.token is not None:  # the finished epochs survive the process
                write_run(self.directory / file_name(self.token, self.configs[pos].k), self.run(pos))
        self.buffer = None

    def run(self, position: int) -> RunDynamics:
        """What run `position` recorded so far."""
        stacked = np.stack(self.epochs[position], 1) if self.epochs[position] else np.zeros((3, 0, self.n), np.float16)
        return RunDynamics(
            p_given=stacked[0], margin=stacked[1], log_eps=stacked[2], k=np.asarray(self.ks[position], np.float32),
            index=np.arange(self.n, dtype=np.int32), given_label=self.given[position], true_label=self.true,
            dataset=self.dataset, config=self.configs[position].to_dict(),
        )

    def finish(self, position: int) -> dict:
        """Save run `position`'s file; its summary entry {"dynamics": "<prefix>/<file>"}."""
        if self.token is not None:
            name = file_name(self.token, self.configs[position].k)
        else:
            name = f"{secrets.token_hex(6)}.npz"
        write_run(self.directory / name, self.run(position))
        self.epochs[position] = []  # free the host copy
        return {"dynamics": f"{self.prefix}/{name}"}
