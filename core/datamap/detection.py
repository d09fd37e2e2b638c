"""Finding the label errors: how well each k's confidence and AUM point at the known flips.

What:
- `auroc(score, positive)`: area under the ROC curve (rank form, ties averaged), higher score =
  "more likely mislabelled"; `precision_at(score, positive, n)`: flipped share of the n top scores.
- `detection_table(dyn, scores)`: per k, AUROC and precision at the true noise rate of
  "low confidence" and "low AUM" against the injected flips, and, when the launch computed
  cross-validated probabilities, cleanlab's reference detector on them.
- `cross_val_probs(x, labels, ...)`: out-of-fold probabilities of a plain cross-entropy MLP
  (k = 1), the input cleanlab's `find_label_issues` expects (out-of-sample predictions).
- `cleanlab_reference(labels, probs, flipped)`: cleanlab's flags (precision, recall) and its
  label-quality score (AUROC, precision at the noise rate).

Why: a detector that uses the training run itself (confidence, AUM) against the standard
post-hoc one, per k: does k < 1, which "ignores" what it cannot fit, make the flips stand out?
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

from core.mlp import make_mlp


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties counting half; NaN scores
    rank lowest; NaN when either class is empty."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    score = np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-np.inf)
    ranks = rankdata(score)  # 1-based, ties averaged
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at(score: np.ndarray, positive: np.ndarray, n: int) -> float:
    """Share of positives among the n highest scores (NaN when n is 0; stable order on ties)."""
    if n <= 0:
        return math.nan
    score = np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-np.inf)
    top = np.argsort(-score, kind="stable")[:n]
    return float(np.asarray(positive, dtype=bool)[top].mean())


def cleanlab_reference(labels: np.ndarray, probs: np.ndarray, flipped: np.ndarray) -> dict:
    """cleanlab's find_label_issues on out-of-sample `probs` (N, C): its flags' precision and recall
    against the flips, and AUROC / precision at the noise rate of its label-quality score."""
    from cleanlab.filter import find_label_issues  # a large import, needed only here
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum(1, keepdims=True)
    # n_jobs=1: cleanlab's default forks a multiprocessing pool, and forking a threaded server (the
    # dashboard) can deadlock the fork on a lock some other thread held: the page then never returns
    flags = find_label_issues(labels, probs, n_jobs=1)
    quality = get_label_quality_scores(labels, probs)  # low = likely a label issue
    n_flips = int(flipped.sum())
    return {
        "flagged": int(flags.sum()),
        "flag_precision": float(flipped[flags].mean()) if flags.any() else math.nan,
        "flag_recall": float(flags[flipped].mean()) if n_flips else math.nan,
        "auroc": auroc(-quality, flipped),
        "precision_at_rate": precision_at(-quality, flipped, n_flips),
    }


def detection_table(dyn, scores: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per detector and k: AUROC and precision at the true noise rate against the known flips.

    Columns: detector, k (NaN for the reference), auroc, precision_at_rate, plus flagged /
    flag_precision / flag_recall for cleanlab. Empty when no label was flipped."""
    flipped = dyn.flipped
    n_flips = int(flipped.sum())
    if n_flips == 0:
        return pd.DataFrame(columns=["detector", "k", "auroc", "precision_at_rate"])
    rows = []
    for name, label in (("confidence", "low confidence"), ("aum", "low AUM")):
        for slot, k in enumerate(dyn.k):
            score = -scores[name][slot]
            rows.append({"detector": label, "k": float(k), "auroc": auroc(score, flipped),
                         "precision_at_rate": precision_at(score, flipped, n_flips)})
    if dyn.cv_probs is not None:
        rows.append({"detector": "cleanlab find_label_issues (cross-validated k = 1)", "k": math.nan,
                     **cleanlab_reference(dyn.given_label, dyn.cv_probs, flipped)})
    return pd.DataFrame(rows)


def cross_val_probs(x: torch.Tensor, labels: torch.Tensor, num_classes: int, *, folds: int = 3,
                    hidden: tuple[int, ...] = (256,), epochs: int = 10, lr: float = 0.03, momentum: float = 0.9,
                    batch_size: int = 128, seed: int = 0, cancel: threading.Event | None = None,
                    on_fold: Callable[[int, float], None] | None = None) -> np.ndarray | None:
    """Out-of-fold probabilities (N, C) float32: fold f's images predicted by a cross-entropy MLP
    trained on the other folds (SGD with momentum, `epochs` passes). None if `cancel` is set.
    `on_fold(fold, held_out_accuracy_vs_labels)` after each fold."""
    n = len(x)
    if folds < 2 or n < folds:
        raise ValueError(f"cross-validation needs 2 <= folds <= N; got folds={folds}, N={n}")
    generator = torch.Generator().manual_seed(seed)
    assignment = torch.randperm(n, generator=generator) % folds  # (N,) fold of each example
    probs = torch.zeros(n, num_classes)
    for fold in range(folds):
        train = torch.nonzero(assignment != fold).squeeze(1)
        held = torch.nonzero(assignment == fold).squeeze(1)
        model = make_mlp(hidden, "relu", seed=seed + fold, n_in=x.shape[1], n_out=num_classes).to(x.device)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        for epoch in range(epochs):
            order = train[torch.randperm(len(train), generator=generator)].to(x.device)
            for start in range(0, len(order), batch_size):
                if cancel is not None and cancel.is_set():
                    return None
                batch = order[start: start + batch_size]
                loss = F.cross_entropy(model(x[batch]), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            out = torch.softmax(model(x[held.to(x.device)]).float(), 1).cpu()  # (n_fold, C)
        probs[held] = out
        if on_fold is not None:
            on_fold(fold, float((out.argmax(1) == labels[held.to(x.device)].cpu()).float().mean()))
    return probs.numpy()
