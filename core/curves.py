"""Sensitivity curves: how hard each example pushes, for the k family and for known losses.

Everything the "Sensitivity curves" page draws is computed here (the page only draws):

- `update_size(abs_eps, k)`: |f_y| = |eps_y|^k, the target-logit update of the pseudo-gradient
  (Figure 2 of the paper).
- `reference_update_size(name, abs_eps, ...)`: |d loss / d z_y| of cross-entropy, MAE, GCE,
  focal, SCE and multi-class unhinged at the same |eps_y| = 1 - p_y, so the k family can be
  placed among known losses. The target-logit gradient of these losses depends on p_y alone.
- `hard_easy_ratio(...)`: how many times more a hard example (|eps_y| = 0.9) moves the model
  than an easy one (|eps_y| = 0.1).
- `explore_vector(logits, target, ks)`: the full f vector of one example for several k, beside
  the cross-entropy gradient, with the per-k sums (which are 0).
- `parse_k("1/16")`: k values as users type them.

Run `python -m core.curves --k 0.25 1 4` to print a table of |f_y| and the hard/easy ratios.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd
import torch

from core.cli import Parser, k_value, main_of, positive, run
from core.kvalue import K_MAX, K_MIN, format_k, parse_k
from core.pseudograd import pseudo_grad

K_PRESETS: tuple[str, ...] = ("1/16", "1/8", "1/4", "1/2", "1", "2", "4")

# name -> (title, parameter name or None, default parameter)
REFERENCE_LOSSES: dict[str, tuple[str, str | None, float | None]] = {
    "ce": ("Cross-entropy", None, None),
    "mae": ("MAE (1 - p_y)", None, None),
    "gce": ("GCE", "q", 0.7),
    "focal": ("Focal", "gamma", 2.0),
    "sce": ("SCE (α=0.01, β=1)", None, None),
    "unhinged": ("Unhinged", None, None),
}

LOGIT_PRESETS: dict[str, str] = {
    "confident and right": "the true class has a large logit (p_y near 1): a small error",
    "confident and wrong": "another class has a large logit (p_y near 0): a large error",
    "uncertain": "all logits close together: a medium error",
    "two-way confusion": "the true class and one other class tie, the rest are low",
}


def update_size(abs_eps: np.ndarray, k: float) -> np.ndarray:
    """|f_y| = |eps_y|^k (with 0^k = 0)."""
    return np.power(np.asarray(abs_eps, dtype=np.float64), k)


def reference_update_size(name: str, abs_eps: np.ndarray, param: float | None = None, num_classes: int = 10) -> np.ndarray:
    """|d loss / d z_y| of a reference loss at |eps_y| = 1 - p_y (independent of the other logits).

    ce: 1 - p_y; mae: p_y (1 - p_y); gce (q): p_y^q (1 - p_y);
    focal (gamma): (1 - p_y)^(gamma+1) - gamma p_y (1 - p_y)^gamma log p_y;
    sce (alpha=0.01, beta=1, A=ln 1e-4, the MNIST defaults of core.losses): alpha (1 - p_y) - beta A p_y (1 - p_y);
    unhinged: (K - 1) / K, the same for every example.
    """
    e = np.clip(np.asarray(abs_eps, dtype=np.float64), 0.0, 1.0)
    p = 1.0 - e
    if name not in REFERENCE_LOSSES:
        raise ValueError(f"unknown reference loss {name!r}; choose from {sorted(REFERENCE_LOSSES)}")
    if param is None:
        param = REFERENCE_LOSSES[name][2]
    if name == "ce":
        return e
    if name == "mae":
        return p * e
    if name == "gce":
        if not 0 < param <= 1:
            raise ValueError(f"GCE needs 0 < q <= 1; got {param}")
        return np.power(p, param) * e
    if name == "focal":
        if param < 0:
            raise ValueError(f"focal needs gamma >= 0; got {param}")
        with np.errstate(divide="ignore", invalid="ignore"):
            log_p = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)  # p log p -> 0 at p = 0
        return np.power(e, param + 1) - param * p * np.power(e, param) * log_p
    if name == "sce":
        return 0.01 * e - 1.0 * math.log(1e-4) * p * e
    return np.full_like(e, (num_classes - 1) / num_classes)


def curves_frame(
    ks: list[float],
    references: list[str] = (),
    *,
    q: float = 0.7,
    gamma: float = 2.0,
    num_classes: int = 10,
    normalize: bool = False,
    points: int = 201,
    log_x: bool = False,
) -> pd.DataFrame:
    """Long table (curve, family, abs_eps, size) of update sizes over |eps_y| in [0, 1].

    `normalize` scales each curve to a peak of 1 (only relative sizes matter: the learning
    rate rescales). `log_x` spaces the points logarithmically from 1e-4 for log axes.
    """
    abs_eps = np.geomspace(1e-4, 1.0, points) if log_x else np.linspace(0.0, 1.0, points)
    frames = []
    params = {"gce": q, "focal": gamma}
    for k in ks:
        frames.append(pd.DataFrame({"curve": f"k = {format_k(k)}", "family": "k", "k": k,
                                    "abs_eps": abs_eps, "size": update_size(abs_eps, k)}))
    for name in references:
        title, pname, _ = REFERENCE_LOSSES[name]
        label = f"{title} ({pname}={params[name]:g})" if pname else title
        size = reference_update_size(name, abs_eps, params.get(name), num_classes)
        frames.append(pd.DataFrame({"curve": label, "family": "reference", "k": np.nan,
                                    "abs_eps": abs_eps, "size": size}))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["curve", "family", "k", "abs_eps", "size"])
    if normalize and len(df):
        peak = df.groupby("curve")["size"].transform("max")
        df["size"] = np.where(peak > 0, df["size"] / peak.where(peak > 0, 1.0), 0.0)
    return df


def hard_easy_ratio(k: np.ndarray | float, hard: float = 0.9, easy: float = 0.1) -> np.ndarray:
    """How many times more a hard example moves the model than an easy one: (hard/easy)^k."""
    if not 0 < easy < 1 or not 0 < hard < 1:
        raise ValueError(f"hard and easy |eps_y| must lie in (0, 1); got hard={hard}, easy={easy}")
    return np.power(hard / easy, np.asarray(k, dtype=np.float64))


def hard_easy_curve(hard: float = 0.9, easy: float = 0.1, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """k on a log grid over [1/64, 16] and the hard/easy ratio at each k."""
    k = np.geomspace(1 / 64, 16, points)
    return k, hard_easy_ratio(k, hard, easy)


def reference_ratios(
    references: list[str], hard: float = 0.9, easy: float = 0.1, *, q: float = 0.7, gamma: float = 2.0, num_classes: int = 10
) -> dict[str, float]:
    """The hard/easy ratio of each reference loss, and the k of the pseudo-gradient matching it."""
    params = {"gce": q, "focal": gamma}
    out = {}
    for name in references:
        title, pname, _ = REFERENCE_LOSSES[name]
        label = f"{title} ({pname}={params[name]:g})" if pname else title
        sizes = reference_update_size(name, np.array([hard, easy]), params.get(name), num_classes)
        out[label] = float(sizes[0] / sizes[1])
    return out


def matching_k(ratio: float, hard: float = 0.9, easy: float = 0.1) -> float:
    """The k whose hard/easy ratio equals `ratio` (log ratio / log(hard/easy))."""
    k = math.log(ratio) / math.log(hard / easy)
    return 0.0 if abs(k) < 1e-12 else k


def preset_logits(preset: str, num_classes: int, target: int) -> list[float]:
    """Logits for one of LOGIT_PRESETS, deterministic, with some spread among the other classes."""
    if preset not in LOGIT_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {list(LOGIT_PRESETS)}")
    if not 2 <= num_classes <= 10 or not 0 <= target < num_classes:
        raise ValueError(f"need 2 <= classes <= 10 and 0 <= true class < classes; got {num_classes}, {target}")
    spread = np.linspace(-1.0, 1.0, num_classes - 1) if num_classes > 2 else np.zeros(1)
    others = list(range(num_classes))
    others.remove(target)
    z = np.zeros(num_classes)
    z[others] = spread
    if preset == "confident and right":
        z[target] = 5.0
    elif preset == "confident and wrong":
        z[target] = -1.0
        z[others[-1]] = 5.0
    elif preset == "uncertain":
        z[others] = 0.25 * spread
        z[target] = 0.0
    else:  # two-way confusion
        z[others] = spread - 3.0
        z[target] = 2.0
        z[others[-1]] = 2.0
    return [round(float(v), 2) for v in z]


def explore_vector(logits: list[float], target: int, ks: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """f_j of one example for each k, beside the cross-entropy gradient p - onehot(y).

    Returns (bars, summary): bars is long (series, k, class, value, is_target; k is NaN for the
    cross-entropy series); summary has one row
    per series with |eps_y|, f_y and sum_j f_j (0 up to rounding, Eq. 3 of the paper).
    """
    z = torch.tensor([logits], dtype=torch.float64)
    y = torch.tensor([target])
    series = [("cross-entropy gradient", 1.0)] + [(f"k = {format_k(k)}", k) for k in ks]
    p_y = torch.softmax(z, 1)[0, target].item()
    rows, summary = [], []
    for name, k in series:
        f = pseudo_grad(z, y, k)[0]
        for j, v in enumerate(f.tolist()):
            rows.append({"series": name, "k": np.nan if name.startswith("cross") else k, "class": j,
                         "value": v, "is_target": j == target})
        summary.append({"series": name, "k": k, "abs_eps_y": 1 - p_y, "f_y": f[target].item(), "sum_f": f.sum().item()})
    return pd.DataFrame(rows), pd.DataFrame(summary)


def _unit(text: str) -> float:
    """|eps| in (0, 1] from the command line."""
    value = positive(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in (0, 1]")
    return value


def _body(args) -> int:
    ks = [k if isinstance(k, float) else parse_k(k) for k in args.k]
    ratios = hard_easy_ratio(np.array(ks), args.hard, args.easy)
    grid = [0.01, 0.1, 0.5, 0.9, 1.0]
    print("k        " + " ".join(f"|f_y|@{e:<5g}" for e in grid) + f"  hard/easy ({args.hard:g}/{args.easy:g})")
    for k, r in zip(ks, ratios):
        print(f"{format_k(k):<8} " + " ".join(f"{v:>11.4f}" for v in update_size(np.array(grid), k)) + f"  {r:>10.3g}")
    print("\nreference losses: hard/easy ratio and the k that matches it")
    for label, r in reference_ratios(list(REFERENCE_LOSSES), args.hard, args.easy).items():
        print(f"  {label:<24} {r:>8.3g}   k = {matching_k(r, args.hard, args.easy):.3g}")
    return 0


def _parser() -> Parser:
    parser = Parser(prog="python -m core.curves", description=__doc__.splitlines()[0])
    parser.add_argument("--k", nargs="+", type=k_value, default=list(K_PRESETS), help="k values, e.g. 1/16 0.5 2")
    parser.add_argument("--hard", type=_unit, default=0.9, help="|eps_y| of a hard example, in (0, 1]")
    parser.add_argument("--easy", type=_unit, default=0.1, help="|eps_y| of an easy example, in (0, 1]")
    return parser


def _main(argv: list[str] | None = None) -> int:
    return main_of(_parser(), _body)(argv)


if __name__ == "__main__":
    run(_main)
