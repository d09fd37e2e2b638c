"""The pseudo-gradient of Keren, Sabato & Schuller (AAAI 2017): tunable sensitivity to large errors.

For logits z, p = softmax(z) and true class y, cross-entropy's gradient w.r.t. the logits is
the prediction bias eps = p - onehot(y). The method replaces it by f(eps):

    f_y = -|eps_y|^k
    f_j = |eps_y|^k * eps_j^k / sum_{i != y} eps_i^k        (j != y)

k = 1 is cross-entropy; k < 1 makes training insensitive to large errors; k > 1 focuses it
on them. f is back-propagated as if it were d loss / d z, so it drops into any optimizer
and any architecture.

`tunable_cross_entropy` takes what F.cross_entropy takes: logits (C,), (N, C) or
(N, C, d1, ..., dK) with class-index targets, `weight`, `ignore_index`, `reduction` (the same
weighted mean over non-ignored positions), plus `k`: a number, a tensor with one k per example
(or per position), or a core.schedule.KSchedule (its current k). The value is ordinary
cross-entropy; the gradient is w_y f / (sum of w_y) for "mean". `label_smoothing` and
probability targets are refused: f is defined for one true class.

Everything is computed in log space (method.md, "Numerically stable form"). With m the largest
non-target logit and S = sum_{j != y} exp(z_j - m):

    d = z_y - L,  L = m + log S      (the non-target logsumexp)
    cross-entropy = softplus(-d),  |eps_y|^k = exp(-k softplus(d)),  eps_j^k / sum = softmax_{j != y}(k z_j)

so nothing underflows to 0/0 at large k or large margins. The forward keeps d and one (N, C)
buffer (z - m, or its log-softmax for wide rows); the backward turns that buffer into f in place.

    from core.pseudograd import tunable_cross_entropy
    loss = tunable_cross_entropy(model(x), y, k=0.5)   # value: plain cross-entropy
    loss.backward()                                    # gradient: the pseudo-gradient

Run `python -m core.pseudograd --k 0.5 --logits 2 0 -1 --target 1` to print f for one example.
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch import Tensor, nn

from core.schedule import KSchedule

__all__ = ["pseudo_grad", "tunable_cross_entropy", "TunableCrossEntropyLoss"]

_REDUCTIONS = ("mean", "sum", "none")
_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
# From this many classes on, the fused (log_)softmax kernels beat elementwise ops (benchmarks/pseudograd_bench.py)
FUSED_FROM_CLASSES = 64


# ----------------------------------------------------------------------------- validation

def _is_traced(t: Tensor) -> bool:
    """True inside torch.compile or a torch.func transform, where data-dependent checks can't run."""
    return torch.compiler.is_compiling() or torch._C._functorch.is_functorch_wrapped_tensor(t)


def _check_k(k, logits: Tensor, target: Tensor, validate: bool) -> None:
    """k: a finite number > 0, or a tensor of 1 value, one per example or one per position."""
    if isinstance(k, Tensor):
        n = logits.shape[0] if logits.dim() > 1 else 1
        if not (k.numel() == 1 or k.shape == target.shape or (logits.dim() > 2 and k.shape == (n,))):
            raise ValueError(f"k must be a number or a tensor with 1 value, one per example ({n},) or one per "
                             f"position {tuple(target.shape)}; got shape {tuple(k.shape)}")
        if validate and not _is_traced(k) and k.numel() and not bool(torch.isfinite(k).all() & (k > 0).all()):
            raise ValueError(f"every k must be a finite number > 0; got min {k.min().item()}, max {k.max().item()}")
    elif isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k <= 0:
        raise ValueError(f"k must be a finite number > 0, a tensor or a KSchedule; got {k!r}")


def _check_inputs(logits, target, k, weight, ignore_index: int, label_smoothing: float, validate: bool) -> None:
    """Raise ValueError naming the problem. Value checks (which sync with the device) need `validate`."""
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
    if target.dtype not in _INT_DTYPES:
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
    _check_k(k, logits, target, validate)
    if not validate or _is_traced(logits) or _is_traced(target) or not target.numel():
        return
    outside = ((target < 0) | (target >= c)) & (target != ignore_index)
    if bool(outside.any()):
        raise ValueError(f"target holds a class index outside [0, {c - 1}] (ignore_index is {ignore_index}): "
                         f"{target[outside][0].item()}")


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    # half precision inputs are computed in float32; float64 stays float64
    return torch.float64 if dtype == torch.float64 else torch.float32


def _k_in(k: float | Tensor, z: Tensor) -> float | Tensor:
    """k in the compute dtype, broadcastable to (N, 1, d1, ...), within [1e8 / max, max / 64] of that dtype.

    Below 1e8 / max (3e-31 in float32), f already equals its k -> 0 limit to rounding, while k times
    the target's mask value (the most negative float) still underflows exp to 0; and k = 1e-46 would
    round to 0 in float32 (0 * inf = NaN). Past max / 64, k * log C would overflow.
    """
    info = torch.finfo(z.dtype)
    lo, hi = 1e8 / info.max, info.max / 64
    if not isinstance(k, Tensor):
        return min(max(float(k), lo), hi)
    k = k.to(device=z.device, dtype=z.dtype).clamp(lo, hi)
    if k.numel() == 1:
        return k.reshape([1] * z.dim())
    return k.reshape(k.shape[0], 1, *k.shape[1:], *[1] * (z.dim() - 1 - k.dim()))


# ----------------------------------------------------------------------------- the math

def _log_parts(z: Tensor, t: Tensor, inplace: bool) -> tuple[Tensor, Tensor]:
    """d = z_y - logsumexp_{j != y} z_j (N, 1, ...) and X (N, C, ...): z - m, or log_softmax of the
    non-target logits for wide rows; either way softmax_{j != y}(k z_j) = softmax(k X) and X_y ~ -inf.

    The target is masked with the most negative float, not -inf, so a row whose other logits are
    all -inf (masked classes) stays finite: d = huge, cross-entropy 0 and f = 0, as F.cross_entropy.
    """
    lowest = torch.finfo(z.dtype).min
    masked = z.scatter(1, t, lowest)  # (N, C, ...)
    m = masked.amax(1, keepdim=True)  # (N, 1, ...): largest non-target logit
    if z.shape[1] < FUSED_FROM_CLASSES:
        x = masked.sub_(m) if inplace else masked - m  # <= 0, exactly 0 at the largest
        log_s = torch.exp(x).sum(1, keepdim=True).log()
    elif inplace:  # z_j - L, written over `masked`
        x = torch.ops.aten._log_softmax.out(masked, 1, False, out=masked)
        log_s = -x.amax(1, keepdim=True)  # log S, exactly as the kernel computed it
    else:
        x = torch.log_softmax(masked, 1)
        log_s = -x.amax(1, keepdim=True)
    d = (z.gather(1, t) - m) - log_s
    return d.masked_fill(m == lowest, math.inf), x  # every other logit -inf: |eps_y| = 0 exactly


def _f_from_parts(d: Tensor, x: Tensor, t: Tensor, k: float | Tensor, scale: Tensor, inplace: bool) -> Tensor:
    """scale * f (N, C, ...) from _log_parts' d and X; in place into X when `inplace`."""
    size = torch.exp(F.softplus(d) * -k) * scale  # (N, 1, ...): |eps_y|^k, times the loss's scale
    kx = x.mul_(k) if inplace else x * k
    if x.shape[1] < FUSED_FROM_CLASSES:  # x <= 0 with max 0: exp can't overflow, and the sum is >= 1
        share = kx.exp_() if inplace else kx.exp()
        total = share.sum(1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
        f = share.mul_(size / total) if inplace else share * (size / total)
    elif inplace:
        f = torch.ops.aten._softmax.out(kx, 1, False, out=kx).mul_(size)
    else:
        f = torch.softmax(kx, 1) * size
    return f.scatter_(1, t, -size) if inplace else f.scatter(1, t, -size)


def _targets(target: Tensor, ignore_index: int, weight: Tensor | None, dtype) -> tuple[Tensor, Tensor]:
    """(safe class index (N, 1, ...), per-position weight (N, ...): weight[y], 0 where ignored)."""
    target = target.long()
    keep = target != ignore_index
    safe = target.masked_fill(~keep, 0)
    w = keep.to(dtype) if weight is None else weight.to(dtype).gather(0, safe.flatten()).view_as(safe) * keep
    return safe.unsqueeze(1), w


def pseudo_grad(logits: Tensor, target: Tensor, k: float | Tensor | KSchedule = 1.0, *,
                ignore_index: int = -100, validate: bool = True) -> Tensor:
    """The pseudo-gradient f(eps), shaped like logits ((C,), (N, C) or (N, C, d1, ...)), 0 where ignored.

    k > 0: a number, a tensor with one value per example (or position), or a KSchedule. Computed
    in at least float32 (float64 stays float64), returned in the dtype of `logits`. k = 1 gives
    p - onehot(y). `validate=False` skips the checks that read values back from the device.
    """
    k = k.k if isinstance(k, KSchedule) else k
    _check_inputs(logits, target, k, None, ignore_index, 0.0, validate)
    single = logits.dim() == 1
    z = logits.to(_compute_dtype(logits.dtype))
    z, target = (z.unsqueeze(0), target.unsqueeze(0)) if single else (z, target)
    t, w = _targets(target, ignore_index, None, z.dtype)
    d, x = _log_parts(z, t, inplace=False)
    f = _f_from_parts(d, x, t, _k_in(k, z), w.unsqueeze(1), inplace=False)
    return (f.squeeze(0) if single else f).to(logits.dtype)


# ----------------------------------------------------------------------------- autograd

def _reduce(per_position: Tensor, w: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return per_position
    total = per_position.sum()
    if reduction == "sum":
        return total
    return total / w.sum()  # F.cross_entropy's weighted mean: nan when every position is ignored


def _scale(grad: Tensor, w: Tensor, reduction: str) -> Tensor:
    """d loss / d (per-position cross-entropy), (N, 1, ...): w for 'sum', w / sum(w) for 'mean'."""
    if reduction == "none":
        return (grad * w).unsqueeze(1)
    if reduction == "mean":
        total = w.sum()
        w = w / torch.where(total == 0, torch.ones_like(total), total)  # all ignored: gradient 0, as F.cross_entropy
    return (grad * w).unsqueeze(1)


class _TunableCE(torch.autograd.Function):
    """Forward: the reduced cross-entropy, and d and X (see _log_parts). Backward: grad * f to the logits.

    The backward turns the saved X into f in place (no new (N, C) buffer) the first time; a second
    backward (retain_graph=True) or one with create_graph=True recomputes from the saved logits,
    the latter with differentiable ops, so double backward is the Jacobian of f. Forward-mode AD
    (jvp, torch.func.hessian) uses the same pseudo-gradient: tangent of the loss = <grad-scale * f, dz>.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(logits, target, k, weight, ignore_index, reduction):
        z = logits.detach().to(_compute_dtype(logits.dtype))
        t, w = _targets(target, ignore_index, weight, z.dtype)
        d, x = _log_parts(z, t, inplace=True)
        loss = _reduce(F.softplus(-d).squeeze(1) * w, w, reduction)
        return loss.to(logits.dtype), d, x, w

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        logits, target, k, weight, ignore_index, reduction = inputs
        _, d, x, w = output
        ctx.mark_non_differentiable(d, x, w)
        ctx.k = None if isinstance(k, Tensor) else k
        ctx.reduction, ctx.ignore_index, ctx.fresh = reduction, ignore_index, True
        saved = (logits, target, k if isinstance(k, Tensor) else None, weight, d, x, w)
        ctx.save_for_backward(*saved)
        ctx.save_for_forward(*saved)

    @staticmethod
    def _f(ctx, tensors, grad: Tensor) -> Tensor:
        logits, target, k_tensor, weight, d, x, w = tensors
        z = logits.to(_compute_dtype(logits.dtype))
        k = _k_in(k_tensor if k_tensor is not None else ctx.k, z)
        t = target.long().masked_fill(target == ctx.ignore_index, 0).unsqueeze(1)
        inplace = ctx.fresh and not torch.is_grad_enabled() and not _is_traced(x)
        if inplace:  # .data: writing f over X must not trip the saved-tensor version check of a later backward
            x = x.data
        else:  # recompute (differentiably, if grad mode is on)
            t, w = _targets(target, ctx.ignore_index, weight, z.dtype)
            d, x = _log_parts(z, t, inplace=False)
        ctx.fresh = False
        return _f_from_parts(d, x, t, k, _scale(grad.to(z.dtype), w, ctx.reduction), inplace)

    @staticmethod
    def backward(ctx, grad_loss, _grad_d, _grad_x, _grad_w):
        logits = ctx.saved_tensors[0]
        return _TunableCE._f(ctx, ctx.saved_tensors, grad_loss).to(logits.dtype), None, None, None, None, None


class _TunableCEForwardAD(_TunableCE):
    """_TunableCE plus forward-mode AD (torch.compile can't trace a custom jvp, so it is a subclass)."""

    @staticmethod
    def jvp(ctx, logits_tangent, *_):
        ctx.fresh = False
        f = _TunableCE._f(ctx, ctx.saved_tensors, torch.ones((), dtype=logits_tangent.dtype,
                                                               device=logits_tangent.device))
        tangent = (f * logits_tangent).sum(1)  # (N, ...)
        loss_tangent = tangent if ctx.reduction == "none" else tangent.sum()
        return loss_tangent.to(logits_tangent.dtype), None, None, None


def tunable_cross_entropy(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    *,
    k: float | Tensor | KSchedule = 1.0,
    validate: bool = True,
) -> Tensor:
    """Drop-in for F.cross_entropy (same arguments, in the same order) whose backward delivers the
    pseudo-gradient of parameter k (keyword only).

    The value is ordinary cross-entropy (what gets logged). The gradient w.r.t. the logits is
    w_y f(eps) / sum(w_y) for reduction="mean" (w_y = 1 without `weight`; ignored positions count
    0), w_y f for "sum" and per position for "none". `validate=False` skips the checks that read
    values back from the device (use it in hot loops on a GPU once the labels are known valid).
    """
    if size_average is not None or reduce is not None:
        reduction = torch.nn._reduction.legacy_get_string(size_average, reduce, emit_warning=False)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    k = k.k if isinstance(k, KSchedule) else k
    _check_inputs(logits, target, k, weight, ignore_index, label_smoothing, validate)
    if logits.dim() == 1:  # unbatched (C,): one example
        loss = tunable_cross_entropy(logits.unsqueeze(0), target.unsqueeze(0), weight, None, ignore_index, None,
                                     reduction, k=k.reshape(1) if isinstance(k, Tensor) else k, validate=False)
        return loss.squeeze(0) if reduction == "none" else loss
    z = logits.to(_compute_dtype(logits.dtype))
    # forward-mode AD: a dual tensor, or any torch.func transform (jacfwd); never under torch.compile
    forward_ad = not torch.compiler.is_compiling() and (
        torch._C._functorch.is_functorch_wrapped_tensor(logits) or fwAD.unpack_dual(logits).tangent is not None)
    if not (torch.is_grad_enabled() and logits.requires_grad or forward_ad):  # evaluation: just the loss
        w = None if weight is None else weight.to(z.dtype)
        return F.cross_entropy(z, target.long(), w, ignore_index=ignore_index, reduction=reduction).to(logits.dtype)
    loss, *_ = (_TunableCEForwardAD if forward_ad else _TunableCE).apply(logits, target, k, weight, ignore_index,
                                                                         reduction)
    return loss


class TunableCrossEntropyLoss(nn.CrossEntropyLoss):
    """Module form of `tunable_cross_entropy`: nn.CrossEntropyLoss's arguments (weight first, so
    TunableCrossEntropyLoss(weight) works), plus k: a number, a tensor or a KSchedule (its current k)."""

    def __init__(self, weight: Tensor | None = None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0, *, k: float | Tensor | KSchedule = 1.0):
        if weight is not None and not isinstance(weight, Tensor):
            raise ValueError(f"weight must be a float tensor with one value per class; got {weight!r} "
                             "(pass k by keyword: k=...)")
        super().__init__(weight, size_average, ignore_index, reduce, reduction, label_smoothing)
        if self.reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}")
        if label_smoothing != 0:
            raise ValueError(f"label_smoothing={label_smoothing} is not supported: the pseudo-gradient is defined "
                             "for one true class per example (Keren et al. 2017); use label_smoothing=0")
        if not isinstance(k, (Tensor, KSchedule)):
            _check_k(k, torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), validate=False)
        self.k = float(k) if isinstance(k, (int, float)) else k

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002 - nn.CrossEntropyLoss's name
        return tunable_cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                                     reduction=self.reduction, label_smoothing=self.label_smoothing, k=self.k)

    def extra_repr(self) -> str:
        k = str(self.k) if isinstance(self.k, KSchedule) else self.k
        return f"k={k}, reduction={self.reduction!r}, ignore_index={self.ignore_index}"


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m core.pseudograd",
        description="Print the pseudo-gradient f(eps) of one example next to the cross-entropy gradient.",
    )
    parser.add_argument("--logits", type=float, nargs="+", default=[2.0, 0.5, -1.0], help="logits z_1..z_C")
    parser.add_argument("--target", type=int, default=1, help="true class index y")
    parser.add_argument("--k", type=float, nargs="+", default=[0.25, 1.0, 4.0], help="one or more k > 0")
    args = parser.parse_args(argv)
    z = torch.tensor(args.logits, dtype=torch.float64)
    y = torch.tensor(args.target)
    try:
        rows = {f"k={k:g}": pseudo_grad(z, y, k).tolist() for k in args.k}
    except ValueError as exc:
        parser.error(str(exc))
    print("class " + " ".join(f"{j:>9d}" for j in range(z.shape[0])))
    for name, f in rows.items():
        print(f"{name:<6}" + " ".join(f"{v:>9.5f}" for v in f) + f"   sum={sum(f):.1e}")


if __name__ == "__main__":
    _main()
