"""What core.pseudograd accepts: F.cross_entropy's arguments, checked with one-line messages.

What: `check_inputs(logits, target, k, weight, ignore_index, label_smoothing, validate)` raises a
ValueError naming the problem (shapes, dtypes, k, weight; the refused label_smoothing and
probability targets) and says whether some position may need masking for `ignore_index`;
`check_k` checks k alone (a number, or a tensor of 1 value, one per example or per position).
Checks that read values back from the device run only with `validate`, and never while traced
(`is_traced`: torch.compile or a torch.func transform).

Why apart from the math: what the interface accepts is one idea, how f is computed another.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def is_traced(t: Tensor) -> bool:
    """True inside torch.compile or a torch.func transform, where data-dependent checks can't run."""
    return torch.compiler.is_compiling() or torch._C._functorch.is_functorch_wrapped_tensor(t)


def check_k(k, logits: Tensor, target: Tensor, validate: bool) -> None:
    """k: a finite number > 0, or a tensor of 1 value, one per example or one per position."""
    if isinstance(k, Tensor):
        n = logits.shape[0] if logits.dim() > 1 else 1
        if not (k.numel() == 1 or k.shape == target.shape or (logits.dim() > 2 and k.shape == (n,))):
            raise ValueError(f"k must be a number or a tensor with 1 value, one per example ({n},) or one per "
                             f"position {tuple(target.shape)}; got shape {tuple(k.shape)}")
        if validate and not is_traced(k) and k.numel() and not bool(torch.isfinite(k).all() & (k > 0).all()):
            raise ValueError(f"every k must be a finite number > 0; got min {k.min().item()}, max {k.max().item()}")
    elif isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k <= 0:
        raise ValueError(f"k must be a finite number > 0, a tensor or a KSchedule; got {k!r}")


def check_inputs(logits, target, k, weight, ignore_index: int, label_smoothing: float, validate: bool) -> bool:
    """Raise ValueError naming the problem. Value checks (which sync with the device) need `validate`.

    Returns whether positions may need masking (some target may equal ignore_index): False only when
    the values were read and none does.
    """
    if not isinstance(logits, Tensor) or not isinstance(target, Tensor):
        raise ValueError("logits and target must be torch tensors")
    if logits.dim() == 0 or not logits.is_floating_point():
        raise ValueError(f"logits must be a float tensor (C,), (N, C) or (N, C, d1, ...); "
                         f"got shape {tuple(logits.shape)}, dtype {logits.dtype}")
    if label_smoothing != 0:
        raise ValueError(f"label_smoothing={label_smoothing} is not supported: the pseudo-gradient is defined for "
                         "one true class per example (Keren et al. 2017); use label_smoothing=0")
    if target.is_floating_point() and target.shape == logits.shape:
        raise ValueError("probability targets are not supported: the pseudo-gradient is defined for one true "
                         "class per example (Keren et al. 2017); pass class indices")
    if target.dtype not in INT_DTYPES:
        raise ValueError(f"target must hold integer class indices; got dtype {target.dtype}")
    c = logits.shape[0 if logits.dim() == 1 else 1]
    expected = () if logits.dim() == 1 else (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f"target must have shape {expected} to match logits {tuple(logits.shape)} "
                         f"(classes on dim {0 if logits.dim() == 1 else 1}); got {tuple(target.shape)}")
    if c < 2:
        raise ValueError(f"need at least 2 classes; logits have {c}")
    if weight is not None and not (isinstance(weight, Tensor) and weight.is_floating_point()
                                   and weight.shape == (c,)):
        got = f"shape {tuple(weight.shape)}" if isinstance(weight, Tensor) else repr(weight)
        raise ValueError(f"weight must be a float tensor with one value per class ({c},); got {got} "
                         "(pass k by keyword: k=...)")
    check_k(k, logits, target, validate)
    if not validate or is_traced(logits) or is_traced(target) or not target.numel():
        return True
    lo, hi = (int(v) for v in torch.aminmax(target))  # one pass, the common case needs nothing more
    if 0 <= lo and hi < c:
        return lo <= ignore_index <= hi
    outside = ((target < 0) | (target >= c)) & (target != ignore_index)
    if bool(outside.any()):
        raise ValueError(f"target holds a class index outside [0, {c - 1}] (ignore_index is {ignore_index}): "
                         f"{target[outside][0].item()}")
    return True
