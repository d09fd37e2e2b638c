"""A live playground session: the K networks of a config trained a few steps at a time, steerable between steps.

What: `LiveSession(cfg)` holds K x S stacked networks (one per k, `cfg.seeds` initializations each), their
Adam state and the training points. `advance(steps)` trains that many steps and returns a snapshot dict;
`set(k=..., lr=...)`, `add_point(x, y, label)` and `flip(index)` change the run without touching the
weights; `reset()` goes back to step 0. The same config gives the same snapshots, bit for bit on a CPU.

Why: teaching needs TensorFlow Playground's feel: change k or the learning rate while it trains, click an
outlier in and watch each k react. The Playground is the one exception to "every run goes through the Lab":
its runs are tiny interactive steps (milliseconds each, steered by clicks), so they are neither queued nor
stored; `fit` / `python -m core.playground` record whole runs in the run store.

How the seeds are shown honestly: every panel's accuracy is the mean over its S seeds (with min and max),
and its boundary and pushes are those of its median seed (by training accuracy, then test accuracy), so one
unlucky initialization cannot make a k look bad, and no average of boundaries draws a shape no net learned.

    session = LiveSession(PRESETS["outliers"].config)
    snap = session.advance(10)                  # snap["step"] == 10, snap["accuracy"] (K,), snap["prob"] (K, G, G)
    session.set(k=(0.25, 1.0, 4.0), lr=0.01)   # a new k branches off the weights of the panel it replaces
    session.add_point(1.2, -0.8, 1)             # the same point for every panel; training goes on
    session.flip(3); session.reset()
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from core.device import pick_device
from core.playground.config import PlaygroundConfig
from core.playground.datasets import make_dataset
from core.playground.model import StackedMLP
from core.playground.steps import batches, boundary, evaluate, make_grid, train_step

MAX_ADDED = 200  # points a session may add by clicking (keeps every step, and the server's memory, small)


class LiveSessionError(ValueError):
    """An edit or setting the session cannot take; the message says what is allowed."""


def branch_from(old: tuple[float, ...], new: tuple[float, ...]) -> list[int]:
    """For each new k, the old panel whose weights it continues from.

    A k already there keeps its own panel; the new ks take the removed panels in order (so replacing one k
    changes that panel's k in place); any further new k copies the panel of the nearest k (on a log scale).
    """
    src = [old.index(k) if k in old else -1 for k in new]
    freed = iter(i for i, k in enumerate(old) if k not in new)
    for j, k in enumerate(new):
        if src[j] < 0:
            src[j] = next(freed, -1)
            if src[j] < 0:
                src[j] = min(range(len(old)), key=lambda i: (abs(math.log(old[i] / k)), i))
    return src


class LiveSession:
    """K networks x S seeds of a PlaygroundConfig, trained on demand from one shared start per seed."""

    def __init__(self, config: PlaygroundConfig, device: str | torch.device | None = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        self.device, self.dtype = pick_device(device), dtype
        self.config = config  # the current settings: set() replaces ks and lr here
        ds = make_dataset(config.data)
        self.bounds = ds.bounds
        self._tensor = lambda a, float_=True: torch.as_tensor(a, device=self.device).to(  # noqa: E731
            dtype if float_ else torch.int64)
        self._x_test, self._y_test = self._tensor(ds.x_test), self._tensor(ds.y_test, False)
        self._grid = self._tensor(make_grid(ds.bounds, config.grid)[2])
        self._original = (ds.x_train, ds.y_train, ds.y_true, ds.outlier)
        self._load_points(*self._original, added=np.zeros(len(ds.y_train), dtype=bool))
        self.reset()

    # ------------------------------------------------------------------ state
    def _load_points(self, x, y, y_true, outlier, added) -> None:
        self.x, self.y, self.y_true = x.astype(np.float32), y.astype(np.int64), y_true.astype(np.int64)
        self.outlier, self.added = outlier.astype(bool), added.astype(bool)
        self._x, self._target = self._tensor(self.x), self._tensor(self.y, False)
        self._batches = batches(len(self.y), self.config.batch_size, self.config.seed + int(self.added.sum()),
                                self.device)

    def _model_ks(self) -> tuple[float, ...]:
        return self.config.ks * self.config.seeds  # model m = seed * K + panel

    def reset(self, *, keep_data: bool = True) -> dict:
        """Back to step 0: fresh weights and Adam state (current ks and lr). keep_data=False also drops the
        clicked-in points and flips. Returns the step-0 snapshot."""
        cfg = self.config
        if not keep_data:
            self._load_points(*self._original, added=np.zeros(len(self._original[1]), dtype=bool))
        self.model = StackedMLP(len(cfg.ks) * cfg.seeds, cfg.hidden, cfg.activation,
                                seeds=[cfg.seed + s for s in range(cfg.seeds)], dtype=self.dtype, device=self.device)
        # fused: one kernel per step for all parameters (about 20% faster here), the same update as the default
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr,
                                          fused=self.device.type in ("cpu", "cuda"))
        self.step = 0
        return self.snapshot()

    def set(self, *, k: tuple[float, ...] | None = None, lr: float | None = None) -> None:
        """New k values and/or learning rate; every network keeps its weights and Adam state (see branch_from)."""
        try:
            new = dataclasses.replace(self.config, **({"ks": tuple(k)} if k is not None else {}),
                                      **({"lr": lr} if lr is not None else {}))
        except ValueError as exc:
            raise LiveSessionError(str(exc)) from exc
        if new.ks != self.config.ks:
            self._rebranch(branch_from(self.config.ks, new.ks), new)
        self.config = new
        for group in self.optimizer.param_groups:
            group["lr"] = new.lr

    @torch.no_grad()
    def _rebranch(self, src: list[int], new: PlaygroundConfig) -> None:
        """Rebuild the stacked model with panel j continuing panel src[j] (weights and Adam moments)."""
        old_k, seeds = len(self.config.ks), self.config.seeds
        pick = lambda t: t.reshape(seeds, old_k, *t.shape[1:])[:, src].reshape(-1, *t.shape[1:]).clone()  # noqa: E731
        states = [self.optimizer.state.get(p, {}) for p in self.model.parameters()]
        model = StackedMLP(len(src) * seeds, new.hidden, new.activation, dtype=self.dtype, device=self.device)
        for mine, theirs in zip(model.parameters(), self.model.parameters()):
            mine.copy_(pick(theirs))
        optimizer = torch.optim.Adam(model.parameters(), lr=new.lr, fused=self.device.type in ("cpu", "cuda"))
        for p, state in zip(model.parameters(), states):
            if state:
                optimizer.state[p] = {"step": state["step"].clone(), "exp_avg": pick(state["exp_avg"]),
                                      "exp_avg_sq": pick(state["exp_avg_sq"])}
        self.model, self.optimizer = model, optimizer

    # ------------------------------------------------------------------ data edits
    def _nearest_true_label(self, x: float, y: float) -> int:
        clean = ~self.outlier & ~self.added
        d = ((self.x[clean] - np.array([x, y], dtype=np.float32)) ** 2).sum(1)
        return int(self.y_true[clean][np.argmin(d)])

    def label_against(self, x: float, y: float) -> int:
        """The label the data's own rule does NOT give at (x, y): what an outlier placed there carries."""
        return 1 - self._nearest_true_label(x, y)

    def add_point(self, x: float, y: float, label: int, *, outlier: bool = False) -> int:
        """Add a training point for every panel (weights kept); returns its index. outlier=True marks it as one
        (drawn as a diamond; its label should be label_against(x, y))."""
        if not (isinstance(label, (int, np.integer)) and label in (0, 1)):
            raise LiveSessionError(f"label must be 0 or 1; got {label!r}")
        if not (math.isfinite(x) and math.isfinite(y)):
            raise LiveSessionError(f"a point needs finite coordinates; got ({x!r}, {y!r})")
        if self.added.sum() >= MAX_ADDED:
            raise LiveSessionError(f"at most {MAX_ADDED} points can be added; reset the data to add more")
        truth = self._nearest_true_label(x, y) if outlier else int(label)
        self._load_points(np.r_[self.x, [[x, y]]], np.r_[self.y, label], np.r_[self.y_true, truth],
                          np.r_[self.outlier, outlier], np.r_[self.added, True])
        return len(self.y) - 1

    def flip(self, index: int) -> None:
        """Swap the label of training point `index` for every panel (weights kept)."""
        if not (isinstance(index, (int, np.integer)) and 0 <= index < len(self.y)):
            raise LiveSessionError(f"point index must be from 0 to {len(self.y) - 1}; got {index!r}")
        y = self.y.copy()
        y[index] = 1 - y[index]
        self._load_points(self.x, y, self.y_true, self.outlier, self.added)

    # ------------------------------------------------------------------ training
    def advance(self, steps: int) -> dict:
        """Train `steps` Adam updates (0 allowed) and return the snapshot."""
        if not (isinstance(steps, (int, np.integer)) and 0 <= steps <= 10_000):
            raise LiveSessionError(f"steps must be a whole number from 0 to 10000; got {steps!r}")
        ks = self._model_ks()
        for _ in range(steps):
            idx = next(self._batches)
            x, target = (self._x, self._target) if idx is None else (self._x[idx], self._target[idx])
            train_step(self.model, self.optimizer, x, target, ks)
        self.step += int(steps)
        return self.snapshot()

    @torch.no_grad()
    def pushes(self) -> np.ndarray:
        """(S, K, N) |f_y| of every point under every seed's network (a snapshot holds the median seed's only)."""
        m = evaluate(self.model, self._x, self._target, self._model_ks(), self._x_test, self._y_test, None)
        return m["push"].cpu().numpy().reshape(self.config.seeds, len(self.config.ks), -1)

    @torch.no_grad()
    def snapshot(self) -> dict:
        """What the panels show now (numpy arrays; K panels, S seeds, N points, G grid):

        step, ks (K,), lr, seeds; accuracy / accuracy_min / accuracy_max (K,) on the training points against
        their given labels (mean, min, max over seeds), accuracy_seeds (S, K); test_accuracy (K,) mean on the
        clean test set, test_accuracy_seeds (S, K); loss (K,) mean cross-entropy; median_seed (K,); from the
        median seed: push (K, N) each point's |f_y| and prob (K, G, G) p(class 1), row i at grid y i; the
        points: x (N, 2), y (N,), flipped (N,) label differs from the data's rule, outlier (N,), added (N,);
        bounds (x0, x1, y0, y1) of the grid.
        """
        cfg = self.config
        num_k, seeds, g = len(cfg.ks), cfg.seeds, cfg.grid
        m = {key: v.cpu().numpy() for key, v in
             evaluate(self.model, self._x, self._target, self._model_ks(), self._x_test, self._y_test, None).items()}
        acc = m["train_acc"].reshape(seeds, num_k).astype(np.float64)
        test = m["test_acc"].reshape(seeds, num_k).astype(np.float64)
        median = np.array([np.lexsort((test[:, j], acc[:, j]))[seeds // 2] for j in range(num_k)])
        chosen = median * num_k + np.arange(num_k)  # model index of each panel's median seed
        prob = boundary(self.model, self._grid, torch.as_tensor(chosen, device=self.device)).cpu().numpy()
        return {
            "step": self.step, "ks": np.array(cfg.ks), "lr": cfg.lr, "seeds": seeds,
            "accuracy": acc.mean(0), "accuracy_min": acc.min(0), "accuracy_max": acc.max(0), "accuracy_seeds": acc,
            "test_accuracy": test.mean(0), "test_accuracy_seeds": test,
            "loss": m["train_loss"].reshape(seeds, num_k).mean(0).astype(np.float64), "median_seed": median,
            "push": m["push"][chosen].astype(np.float32), "prob": prob.reshape(num_k, g, g),
            "x": self.x.copy(), "y": self.y.copy(), "flipped": (self.y != self.y_true) & ~self.outlier,
            "outlier": self.outlier & (self.y != self.y_true), "added": self.added.copy(), "bounds": self.bounds,
        }
