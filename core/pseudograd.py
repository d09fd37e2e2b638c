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

Everything is computed in log space (the paper's f, rewritten so that nothing underflows). With m the largest
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

import functools
import math

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch import Tensor, nn

from core.cli import Parser, finite, k_value, main_of, run, whole
from core.pseudograd_checks import check_inputs, check_k
from core.schedule import KSchedule

__all__ = ["pseudo_grad", "tunable_cross_entropy", "TunableCrossEntropyLoss"]

_REDUCTIONS = ("mean", "sum", "none")
# From this many classes on, the fused (log_)softmax kernels beat elementwise ops (measured on 2 CPU cores:
# even at 32-64 classes, fused 1.8x faster at 128 classes x 8192 rows, elementwise 1.5x faster at 16 x 128)
FUSED_FROM_CLASSES = 64


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    # half precision inputs are computed in float32; float64 stays float64
    return torch.float64 if dtype == torch.float64 else torch.float32


@functools.lru_cache(maxsize=None)
def _finfo(dtype: torch.dtype) -> torch.finfo:
    return torch.finfo(dtype)  # cached: small batches pay per call


def _computable(t: Tensor) -> Tensor:
    """t in its compute dtype (no call at all when it already is: small batches pay per call)."""
    dtype = _compute_dtype(t.dtype)
    return t if t.dtype == dtype else t.to(dtype)


def _k_in(k: float | Tensor, z: Tensor) -> float | Tensor:
    """k in the compute dtype, broadcastable to (N, 1, d1, ...), within [1e8 / max, max / 64] of that dtype.

    Below 1e8 / max (3e-31 in float32), f already equals its k -> 0 limit to rounding, while k times
    the target's mask value (the most negative float) still underflows exp to 0; and k = 1e-46 would
    round to 0 in float32 (0 * inf = NaN). Past max / 64, k * log C would overflow.
    """
    info = _finfo(z.dtype)
    lo, hi = 1e8 / info.max, info.max / 64
    if not isinstance(k, Tensor):
        return min(max(float(k), lo), hi)
    k = k.to(device=z.device, dtype=z.dtype).clamp(lo, hi)
    if k.numel() == 1:
        return k.reshape([1] * z.dim())
    return k.reshape(k.shape[0], 1, *k.shape[1:], *[1] * (z.dim() - 1 - k.dim()))


# ----------------------------------------------------------------------------- the math

def _log_parts(z: Tensor, t: Tensor, inplace: bool) -> tuple[Tensor, Tensor]:
    """d = z_y - logsumexp_{j != y} z_j (N, 1, ...) and X (N, C, ...) with softmax_{j != y}(k z_j) =
    softmax(k X) over j != y. Below FUSED_FROM_CLASSES classes X = z - m with -inf at y; for wider
    rows X is the log-softmax of the logits with z_y replaced by m, so the fused kernel's
    normaliser is S + 1 (never a row of -inf, and no second pass for the max): X_y = -log(S + 1).
    A row whose other logits are all -inf gets d = inf: cross-entropy 0 and f = 0.
    """
    lowest = _finfo(z.dtype).min
    if z.shape[1] < FUSED_FROM_CLASSES:
        masked = z.scatter(1, t, -math.inf)  # (N, C, ...)
        m = masked.amax(1, keepdim=True).clamp_min(lowest)  # (N, 1, ...): largest non-target logit, finite
        x = masked.sub_(m) if inplace else masked - m  # <= 0, exactly 0 at the largest
        return (z.gather(1, t) - m) - torch.exp(x).sum(1, keepdim=True).log(), x
    masked = z.scatter(1, t, lowest)
    m = masked.amax(1, keepdim=True)  # lowest when every other logit is -inf
    if inplace:
        x = torch.ops.aten._log_softmax.out(masked.scatter_(1, t, m), 1, False, out=masked)
    else:
        x = torch.log_softmax(masked.scatter(1, t, m), 1)
    log_s = torch.expm1(-x.gather(1, t)).log()  # S = (S + 1) - 1 with S >= 1: no cancellation
    return (z.gather(1, t) - m) - log_s, x


def _f_from_parts(d: Tensor, x: Tensor, t: Tensor, k: float | Tensor, scale: Tensor, inplace: bool) -> Tensor:
    """scale * f (N, C, ...) from _log_parts' d and X; written over X when `inplace`."""
    size = torch.exp(F.softplus(d) * -k) * scale  # (N, 1, ...): |eps_y|^k, times the loss's scale
    kx = x if isinstance(k, float) and k == 1.0 else x.mul_(k) if inplace else x * k
    if x.shape[1] < FUSED_FROM_CLASSES:  # x <= 0 with max 0: exp can't overflow, and the sum is >= 1
        share = kx.exp_() if inplace else kx.exp()
        total = share.sum(1, keepdim=True).clamp_min(_finfo(x.dtype).tiny)  # 0 only in fully masked rows
        f = share.mul_(size / total) if inplace else share * (size / total)
    elif inplace:  # y's entry of X is not -inf here: mask it (finite, so a fully masked row is no NaN)
        kx.scatter_(1, t, _finfo(x.dtype).min)
        f = torch.ops.aten._softmax.out(kx, 1, False, out=kx).mul_(size)
    else:
        f = torch.softmax(kx.scatter(1, t, _finfo(x.dtype).min), 1) * size
    return f.scatter_(1, t, -size) if inplace else f.scatter(1, t, -size)


def _targets(target: Tensor, ignore_index: int, weight: Tensor | None, dtype, masked: bool):
    """(class index (N, 1, ...), safe where ignored; per-position weight (N, ...): weight[y] and 0 where
    ignored, or None when every position counts 1)."""
    target = target if target.dtype == torch.int64 else target.long()
    if not masked and weight is None:
        return target.unsqueeze(1), None
    keep = target != ignore_index
    safe = torch.where(keep, target, 0)
    w = keep.to(dtype) if weight is None else weight.to(dtype)[safe] * keep
    return safe.unsqueeze(1), w


def pseudo_grad(logits: Tensor, target: Tensor, k: float | Tensor | KSchedule = 1.0, *,
                ignore_index: int = -100, validate: bool = True) -> Tensor:
    """The pseudo-gradient f(eps), shaped like logits ((C,), (N, C) or (N, C, d1, ...)), 0 where ignored.

    k > 0: a number, a tensor with one value per example (or position), or a KSchedule. Computed
    in at least float32 (float64 stays float64), returned in the dtype of `logits`. k = 1 gives
    p - onehot(y). `validate=False` skips the checks that read values back from the device.
    """
    k = k.k if isinstance(k, KSchedule) else k
    masked = check_inputs(logits, target, k, None, ignore_index, 0.0, validate)
    single = logits.dim() == 1
    z = _computable(logits)
    z, target = (z.unsqueeze(0), target.unsqueeze(0)) if single else (z, target)
    t, w = _targets(target, ignore_index, None, z.dtype, masked)
    d, x = _log_parts(z, t, inplace=False)
    f = _f_from_parts(d, x, t, _k_in(k, z), 1.0 if w is None else w.unsqueeze(1), inplace=False)
    return (f.squeeze(0) if single else f).to(logits.dtype)


# ----------------------------------------------------------------------------- autograd

def _reduce(ce: Tensor, w: Tensor | None, reduction: str) -> Tensor:
    """F.cross_entropy's reduction of per-position cross-entropy ce (N, 1, ...): 'mean' is the
    weighted mean sum(w ce) / sum(w) over non-ignored positions (nan when there are none)."""
    if w is not None or reduction == "none":
        ce = ce.squeeze(1) if w is None else ce.squeeze(1) * w
    if reduction == "none":
        return ce
    return ce.sum() if reduction == "sum" else ce.mean() if w is None else ce.sum() / w.sum()


def _scale(grad: Tensor, w: Tensor | None, reduction: str, positions: int) -> Tensor:
    """d loss / d (per-position cross-entropy) times the incoming grad, broadcastable to (N, 1, ...)."""
    if w is None:
        return grad.unsqueeze(1) if reduction == "none" else grad / positions if reduction == "mean" else grad
    if reduction == "mean":
        total = w.sum()
        w = w / torch.where(total == 0, torch.ones_like(total), total)  # all ignored: gradient 0, as F.cross_entropy
    return (grad * w).unsqueeze(1)


def _forward(logits, target, k, weight, ignore_index, reduction, masked, inplace):
    """(reduced loss in the logits' dtype, (d, X, class index, per-position weight or None))."""
    z = _computable(logits.detach())
    t, w = _targets(target, ignore_index, weight, z.dtype, masked)
    d, x = _log_parts(z, t, inplace)
    loss = _reduce(F.softplus(-d), w, reduction)
    return (loss if loss.dtype == logits.dtype else loss.to(logits.dtype)), (d, x, t, w)


def _backward(logits, target, k, weight, ignore_index, reduction, masked, parts, grad):
    """grad * f (N, C, ...) in the logits' dtype: written over the forward's X when `parts` is given,
    else recomputed from the logits (with differentiable ops, so create_graph=True differentiates f)."""
    z = _computable(logits)
    if parts is None:
        t, w = _targets(target, ignore_index, weight, z.dtype, masked)
        d, x = _log_parts(z, t, inplace=False)
    else:
        d, x, t, w = parts
    scale = _scale(grad if grad.dtype == z.dtype else grad.to(z.dtype), w, reduction, d.numel())
    f = _f_from_parts(d, x, t, _k_in(k, z), scale, inplace=parts is not None)
    return f if f.dtype == logits.dtype else f.to(logits.dtype)


class _TunableCE(torch.autograd.Function):
    """Forward: the reduced cross-entropy. Backward: grad * f to the logits (eager and torch.compile).

    The forward keeps d and X (see _log_parts); the first backward writes f over X (no new (N, C)
    buffer). A second backward (retain_graph=True), or one with create_graph=True, recomputes from
    the saved logits, the latter differentiably, so double backward gives the Jacobian of f.
    (The old ctx-in-forward style: half the per-call overhead of setup_context on small batches.)
    """

    @staticmethod
    def forward(ctx, logits, target, k, weight, ignore_index, reduction, masked):
        traced = torch.compiler.is_compiling()
        loss, parts = _forward(logits, target, k, weight, ignore_index, reduction, masked, inplace=not traced)
        ctx.save_for_backward(logits, target, k if isinstance(k, Tensor) else None, weight)
        ctx.args = (None if isinstance(k, Tensor) else k, ignore_index, reduction, masked)
        ctx.parts = None if traced else parts  # intermediates, used once
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        logits, target, k_tensor, weight = ctx.saved_tensors
        k, ignore_index, reduction, masked = ctx.args
        parts, ctx.parts = (ctx.parts if not torch.is_grad_enabled() else None), None
        f = _backward(logits, target, k if k_tensor is None else k_tensor, weight, ignore_index, reduction, masked,
                      parts, grad_loss)
        return f, None, None, None, None, None, None


class _TunableCEFunc(torch.autograd.Function):
    """The same computation for torch.func transforms (vmap, grad, jacrev, hessian) and forward-mode
    AD, which need the setup_context style; it recomputes f in the backward (no in-place tricks).
    jvp: the loss's tangent is <grad-scale * f, dz>, the pseudo-gradient acting as the gradient."""

    generate_vmap_rule = True

    @staticmethod
    def forward(logits, target, k, weight, ignore_index, reduction, masked):
        return _forward(logits, target, k, weight, ignore_index, reduction, masked, inplace=False)[0]

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        logits, target, k, weight, ignore_index, reduction, masked = inputs
        ctx.args = (None if isinstance(k, Tensor) else k, ignore_index, reduction, masked)
        saved = (logits, target, k if isinstance(k, Tensor) else None, weight)
        ctx.save_for_backward(*saved)
        ctx.save_for_forward(*saved)

    @staticmethod
    def _f(ctx, grad: Tensor) -> Tensor:
        logits, target, k_tensor, weight = ctx.saved_tensors
        k, ignore_index, reduction, masked = ctx.args
        return _backward(logits, target, k if k_tensor is None else k_tensor, weight, ignore_index, reduction,
                         masked, None, grad)

    @staticmethod
    def backward(ctx, grad_loss):
        return _TunableCEFunc._f(ctx, grad_loss), None, None, None, None, None, None

    @staticmethod
    def jvp(ctx, logits_tangent, *_):
        one = torch.ones((), dtype=logits_tangent.dtype, device=logits_tangent.device)
        tangent = (_TunableCEFunc._f(ctx, one) * logits_tangent).sum(1)  # (N, ...)
        return tangent if ctx.args[2] == "none" else tangent.sum()


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
    0), w_y f for "sum" and per position for "none". k = 1 given as a number calls F.cross_entropy
    itself (f at k = 1 is its gradient); a tensor k always takes the pseudo-gradient's path.
    `validate=False` skips the checks that read values back from the device (use it in hot loops on
    a GPU once the labels are known valid).
    """
    if size_average is not None or reduce is not None:
        reduction = torch.nn._reduction.legacy_get_string(size_average, reduce, emit_warning=False)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    k = k.k if isinstance(k, KSchedule) else k
    masked = check_inputs(logits, target, k, weight, ignore_index, label_smoothing, validate)
    if logits.dim() == 1:  # unbatched (C,): one example
        loss = tunable_cross_entropy(logits.unsqueeze(0), target.unsqueeze(0), weight, None, ignore_index, None,
                                     reduction, k=k.reshape(1) if isinstance(k, Tensor) else k, validate=False)
        return loss.squeeze(0) if reduction == "none" else loss
    # a torch.func transform or a dual tensor (forward-mode AD); never under torch.compile
    forward_ad = not torch.compiler.is_compiling() and (
        torch._C._functorch.is_functorch_wrapped_tensor(logits) or fwAD.unpack_dual(logits).tangent is not None)
    training = torch.is_grad_enabled() and logits.requires_grad or forward_ad
    if not training or (not isinstance(k, Tensor) and k == 1):  # just the value, or k = 1: cross-entropy itself
        z = _computable(logits)
        w = None if weight is None else weight.to(z.dtype)
        loss = F.cross_entropy(z, target.long(), w, ignore_index=ignore_index, reduction=reduction)
        return loss if loss.dtype == logits.dtype else loss.to(logits.dtype)
    function = _TunableCEFunc if forward_ad else _TunableCE
    return function.apply(logits, target, k, weight, ignore_index, reduction, masked)


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
            check_k(k, torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), validate=False)
        self.k = float(k) if isinstance(k, (int, float)) else k

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002 - nn.CrossEntropyLoss's name
        return tunable_cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                                     reduction=self.reduction, label_smoothing=self.label_smoothing, k=self.k)

    def extra_repr(self) -> str:
        k = str(self.k) if isinstance(self.k, KSchedule) else self.k
        return f"k={k}, reduction={self.reduction!r}, ignore_index={self.ignore_index}"


def _parser() -> Parser:
    parser = Parser(prog="python -m core.pseudograd",
                    description="Print the pseudo-gradient f(eps) of one example next to the cross-entropy gradient.")
    parser.add_argument("--logits", type=finite, nargs="+", default=[2.0, 0.5, -1.0], help="logits z_1..z_C")
    parser.add_argument("--target", type=whole, default=1, help="true class index y")
    parser.add_argument("--k", type=k_value, nargs="+", default=[0.25, 1.0, 4.0], help="one or more k, e.g. 1/4 1 4")
    return parser


def _body(args) -> int:
    z = torch.tensor(args.logits, dtype=torch.float64)
    if not 0 <= args.target < z.shape[0]:
        raise ValueError(f"--target {args.target} must lie in 0..{z.shape[0] - 1}")
    y = torch.tensor(args.target)
    rows = {f"k={k:g}": pseudo_grad(z, y, k).tolist() for k in args.k}
    print("class " + " ".join(f"{j:>9d}" for j in range(z.shape[0])))
    for name, f in rows.items():
        print(f"{name:<6}" + " ".join(f"{v:>9.5f}" for v in f) + f"   sum={sum(f):.1e}")
    return 0


def _main(argv: list[str] | None = None) -> int:
    """`python -m core.pseudograd`: the skeleton of every command (core.cli): one-line errors, exit 2."""
    return main_of(_parser(), _body)(argv)


if __name__ == "__main__":
    run(_main)
