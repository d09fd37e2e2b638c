"""What the recorded curves say about each example: data-map coordinates, AUM, forgetting, push.

What (all per k and example, over the epochs a run recorded; NaN epochs, after a run's end, are
left out):
- confidence   mean of p(given label)                      (Dataset Cartography, Swayamdipta 2020)
- variability  its standard deviation (population, as cartography's code)
- correctness  share of epochs where the given label had the largest logit
- aum          mean margin: given-label logit minus the largest other logit (Pleiss et al. 2020)
- forgetting   number of correct -> wrong flips between consecutive epochs (Toneva et al. 2019)
- push         mean |f_y| = |eps_y|^k = (1 - p_given)^k: the size of the update the example asked for
And per k: `push_share` (share of each epoch's total push that went to flipped examples),
`region` (easy / ambiguous / hard-to-learn), `given_up` (clean images a small k left unlearned
that k = 1 learned).

Why: these are the anchors the literature uses to find mislabelled and hard examples; computing
them for every k of the family shows which examples each k ignores and which it chases.

    from core.datamap.io import Dynamics
    from core.datamap.metrics import per_example
    scores = per_example(Dynamics.load("out.npz"))   # {"confidence": (K, N), ...}
"""

from __future__ import annotations

import math

import numpy as np

SCORES = ("confidence", "variability", "correctness", "aum", "forgetting", "push")

# Data-map regions (cartography's figures: variability on x, confidence on y). An example whose
# p(given) swings by more than AMBIGUOUS_VARIABILITY (std over epochs) is ambiguous; otherwise it is
# easy-to-learn when its confidence is at least EASY_CONFIDENCE, else hard-to-learn.
AMBIGUOUS_VARIABILITY = 0.2
EASY_CONFIDENCE = 0.5
REGIONS = ("easy-to-learn", "ambiguous", "hard-to-learn")


def _nanmean(values: np.ndarray, valid: np.ndarray, axis: int) -> np.ndarray:
    """Mean over `axis` of the valid entries (NaN where none is valid), without NumPy's warnings."""
    count = valid.sum(axis)
    total = np.where(valid, values, 0.0).sum(axis)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def push_curves(log_eps: np.ndarray, k_epoch: np.ndarray) -> np.ndarray:
    """(K, E, N) float32 push |eps_y|^k = exp(k * log|eps_y|) from log_eps (K, E, N) and k_epoch (K, E)."""
    return np.exp(k_epoch[:, :, None].astype(np.float32) * log_eps.astype(np.float32))


def per_example(dyn) -> dict[str, np.ndarray]:
    """The SCORES of every k and example, each (K, N) float64 (see the module docstring)."""
    p = dyn.p_given.astype(np.float32)  # (K, E, N)
    margin = dyn.margin.astype(np.float32)
    valid = ~np.isnan(p)
    correct = valid & (margin > 0)
    confidence = _nanmean(p, valid, 1)
    spread = _nanmean((np.where(valid, p, 0.0) - confidence[:, None, :]) ** 2, valid, 1)
    both = valid[:, 1:] & valid[:, :-1]
    forgotten = (both & correct[:, :-1] & ~correct[:, 1:]).sum(1)
    return {
        "confidence": confidence,
        "variability": np.sqrt(spread),
        "correctness": _nanmean(correct.astype(np.float32), valid, 1),
        "aum": _nanmean(margin, valid, 1),
        "forgetting": forgotten.astype(np.float64),
        "push": _nanmean(push_curves(dyn.log_eps, dyn.k_epoch), valid, 1),
    }


def push_share(dyn) -> np.ndarray:
    """(K, E): per k and epoch, the share of the total push that went to flipped examples (NaN
    without flips, or after the run's last epoch). Under no preference it equals the noise rate."""
    push = push_curves(dyn.log_eps, dyn.k_epoch)  # (K, E, N)
    valid = ~np.isnan(push)
    push = np.where(valid, push, 0.0)
    total = push.sum(2)
    flipped = push[:, :, dyn.flipped].sum(2)
    ok = (total > 0) & valid.any(2) & bool(dyn.flipped.any())
    return np.divide(flipped, total, out=np.full(total.shape, np.nan), where=ok)


def region(confidence: np.ndarray, variability: np.ndarray) -> np.ndarray:
    """Each example's data-map region (REGIONS), for arrays of any one shape."""
    out = np.where(confidence >= EASY_CONFIDENCE, REGIONS[0], REGIONS[2]).astype(object)
    out[variability > AMBIGUOUS_VARIABILITY] = REGIONS[1]
    return out


def region_counts(scores: dict[str, np.ndarray], flipped: np.ndarray) -> list[dict]:
    """Per k slot and region: how many examples, and how many of them are flipped."""
    rows = []
    for slot in range(scores["confidence"].shape[0]):
        where = region(scores["confidence"][slot], scores["variability"][slot])
        for name in REGIONS:
            inside = where == name
            rows.append({"slot": slot, "region": name, "examples": int(inside.sum()),
                         "flipped": int((inside & flipped).sum())})
    return rows


def reference_slot(k: np.ndarray) -> int | None:
    """The slot of k = 1 (cross-entropy), else of the largest k above 1; None when every k < 1."""
    exact = np.flatnonzero(np.isclose(k, 1.0))
    if len(exact):
        return int(exact[0])
    above = np.flatnonzero(k > 1)
    return int(above[np.argmax(k[above])]) if len(above) else None


def given_up(dyn, scores: dict[str, np.ndarray], low: float = 0.5, learned: float = 0.5) -> dict[int, np.ndarray]:
    """Per slot of k < 1: the clean examples (given label true) with confidence below `low` at that k
    but at least `learned` at the reference k (k = 1, see reference_slot), most given up first
    (largest confidence gap). {} when there is no reference k."""
    ref = reference_slot(dyn.k)
    if ref is None:
        return {}
    conf = scores["confidence"]
    clean = ~dyn.flipped
    out = {}
    for slot in np.flatnonzero(dyn.k < 1):
        chosen = np.flatnonzero(clean & (conf[slot] < low) & (conf[ref] >= learned))
        gap = conf[ref, chosen] - conf[slot, chosen]
        out[int(slot)] = chosen[np.argsort(-gap, kind="stable")]
    return out


def lagging(dyn, scores: dict[str, np.ndarray], slot: int) -> np.ndarray:
    """Clean examples whose confidence at k slot `slot` trails the reference k's (reference_slot),
    largest gap first: the softer version of given_up, for when nothing was strictly given up."""
    ref = reference_slot(dyn.k)
    if ref is None or ref == slot:
        return np.array([], dtype=np.int64)
    gap = scores["confidence"][ref] - scores["confidence"][slot]
    chosen = np.flatnonzero(~dyn.flipped & (gap > 0))
    return chosen[np.argsort(-gap[chosen], kind="stable")]


RANKINGS = {  # score name -> (how the gallery ranks by it, what it means); "first" = hardest first
    "confidence": ("ascending", "lowest confidence: p(given label) stayed low"),
    "aum": ("ascending", "lowest AUM: another class kept a larger logit"),
    "forgetting": ("descending", "most forgotten: learned, then lost again"),
    "push": ("descending", "largest push: the biggest updates, |eps_y|^k"),
}


def hardest(scores: dict[str, np.ndarray], by: str, slot: int, n: int) -> np.ndarray:
    """Indices (into N) of the n hardest examples at k slot `slot` by a RANKINGS score (NaN last)."""
    if by not in RANKINGS:
        raise ValueError(f"unknown ranking {by!r}; choose one of {', '.join(RANKINGS)}")
    values = scores[by][slot].astype(np.float64)
    key = values if RANKINGS[by][0] == "ascending" else -values
    key = np.where(np.isnan(key), np.inf, key)
    return np.argsort(key, kind="stable")[:n]


def _mean(values: np.ndarray, mask: np.ndarray) -> float:
    """Mean of the non-NaN values where mask holds (NaN when there are none)."""
    chosen = values[mask]
    chosen = chosen[~np.isnan(chosen)]
    return float(chosen.mean()) if len(chosen) else math.nan


def per_k_table(dyn, scores: dict[str, np.ndarray]) -> list[dict]:
    """One row per k: mean confidence and AUM of clean and flipped examples, forgetting events,
    the flipped share of the last epoch's push, the regions' sizes and how many clean images
    this k gave up on (given_up)."""
    flipped = dyn.flipped
    share = push_share(dyn)
    gave_up = given_up(dyn, scores)
    rows = []
    for slot, k in enumerate(dyn.k):
        where = region(scores["confidence"][slot], scores["variability"][slot])
        last = share[slot][~np.isnan(share[slot])]
        row = {"k": float(k), "epochs": int((~np.isnan(dyn.k_epoch[slot])).sum()),
               "confidence_clean": _mean(scores["confidence"][slot], ~flipped),
               "confidence_flipped": _mean(scores["confidence"][slot], flipped),
               "aum_clean": _mean(scores["aum"][slot], ~flipped), "aum_flipped": _mean(scores["aum"][slot], flipped),
               "forgetting_mean": float(np.nanmean(scores["forgetting"][slot])),
               "push_share_flipped_last": float(last[-1]) if len(last) else np.nan,
               "given_up": len(gave_up[slot]) if slot in gave_up else 0}
        row.update({name: int((where == name).sum()) for name in REGIONS})
        rows.append(row)
    return rows
