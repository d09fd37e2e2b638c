"""Training objectives to compare against the pseudo-gradient, behind one calling convention.

Every objective is called as `objective(logits (B, C), target (B,)) -> scalar`, the mean over
the batch, ready for `.backward()`. The registry `OBJECTIVES` maps a short name to the
per-example function, its default parameters, a one-line description and a LaTeX formula for
display. With p = softmax(z), p_y the probability of the given label and K classes:

    ce        -log p_y
    tunable   the pseudo-gradient of parameter k (core.pseudograd); its VALUE is plain CE
    mae       1 - p_y
    gce       (1 - p_y^q) / q                         Zhang & Sabuncu 2018
    sce       alpha * CE + beta * RCE                 Wang et al. 2019
    nce_rce   alpha * NCE + beta * RCE                Ma et al. 2020
    focal     -(1 - p_y)^gamma log p_y                Lin et al. 2017
    unhinged  -z_y + (1/K) sum_j z_j                  the k -> 0 limit of the pseudo-gradient

Why: the method's k interpolates between the unhinged loss (k -> 0) and cross-entropy (k = 1),
so the natural baselines are the noise-robust losses of the label-noise literature
(each paper's definition; README "Label noise"). One registry keeps the trainer, the CLI and the pages agreeing
on names, defaults and labels.

Defaults are the published MNIST settings where there is one:
- gce q = 0.7: Zhang & Sabuncu 2018, also Ma et al.'s configs/mnist/*/gce.yaml.
- sce alpha = 0.01, beta = 1.0: Wang et al.'s train_models.py (MNIST block; 0.1 / 1.0 is their
  CIFAR-10 setting), also Ma et al.'s configs/mnist/*/sce.yaml.
- nce_rce alpha = 1, beta = 10: Ma et al.'s configs/mnist/{sym,asym}/nce+rce.yaml
  (github.com/HanxunH/Active-Passive-Losses). Their paper searched alpha in {0.1, 1, 10},
  beta in {0.1, 1, 10, 100}; some re-implementations use beta = 100 for MNIST.
- focal gamma = 2: Lin et al. 2017 (Ma et al.'s MNIST config uses 0.5).
- RCE's A = ln(1e-4), as in both reference codes (the log of the clamped one-hot label).
- MAE is 1 - p_y, as in Ma et al.'s code; the textbook sum_j |p_j - onehot_j| is twice that.
Focal's (1 - p_y)^gamma is differentiated here, as Lin et al. define it; the widely copied
clcarwin implementation (used by Ma et al.) detaches it.

Numerics: everything goes through log_softmax, never softmax-then-log, so each objective has
a finite value and gradient in float32 at logit margins of 1e4: p_y^q = exp(q log p_y),
log(1 - p_y) = logsumexp of the non-target log-probabilities, 1 - p_y^q = -expm1(q log p_y).
Half-precision logits are computed (and the loss returned) in float32; float64 stays float64.

Usage:

    from core.losses import ObjectiveSpec, make_objective, parse_objective
    spec = parse_objective("gce:q=0.5")          # or ObjectiveSpec("gce", {"q": 0.5})
    objective = make_objective(spec)              # a picklable callable
    loss = objective(model(x), y); loss.backward()
    spec.label                                    # 'GCE (q=0.5)'
    str(spec)                                     # 'gce:q=0.5'  (parse_objective round-trips)

Run `python -m core.losses` to list the objectives, or
`python -m core.losses ce gce:q=0.5 tunable:k=0.25 --logits 2 0 -1 --target 1` to compare them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import Tensor

from core.cli import Parser, finite, main_of, run, whole
from core.pseudograd import tunable_cross_entropy

__all__ = [
    "OBJECTIVES",
    "RCE_LOG_FLOOR",
    "Objective",
    "ObjectiveInfo",
    "ObjectiveSpec",
    "make_objective",
    "parse_objective",
]

RCE_LOG_FLOOR = math.log(1e-4)  # A in RCE = -A (1 - p_y): the reference code clamps log(0) at log(1e-4)


# ----------------------------------------------------------------------------- helpers

def _check_inputs(logits: Tensor, target: Tensor) -> None:
    """Shape and dtype checks that need no device sync; raise ValueError naming the problem."""
    if not isinstance(logits, Tensor) or not isinstance(target, Tensor):
        raise ValueError("logits and target must be torch tensors")
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must have shape (batch, classes >= 2); got {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise ValueError(f"logits must be floating point; got dtype {logits.dtype}")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ValueError(f"target must hold integer class indices; got dtype {target.dtype}")
    if target.shape != (logits.shape[0],):
        raise ValueError(f"target must have shape ({logits.shape[0]},) to match logits; got {tuple(target.shape)}")


def _log_probs(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(logp (B, C), log p_y (B,), log(1 - p_y) (B,)), all in log space."""
    logp = torch.log_softmax(logits, dim=1)  # (B, C)
    is_target = torch.arange(logits.shape[1], device=logits.device) == target.unsqueeze(1)  # (B, C)
    logp_y = logp.gather(1, target.unsqueeze(1)).squeeze(1)  # (B,)
    # log(1 - p_y), exact in value and gradient on both sides of p_y = 1/2:
    # p_y -> 1: logsumexp of the other classes (1 - exp(logp_y) cancels to 0 in fp32);
    # p_y -> 0: log1p(-p_y), whose gradient vanishes with p_y (the logsumexp form's gradient is a
    # difference of two softmaxes that leaves ~1e-7 of rounding, and focal multiplies it by log p_y)
    small = logp_y < -math.log(2.0)  # (B,)
    via_p_y = torch.log1p(-torch.exp(torch.where(small, logp_y, -1.0)))  # unused side fed a safe input
    via_others = torch.logsumexp(logp.masked_fill(is_target, -math.inf), dim=1)
    return logp, logp_y, torch.where(small, via_p_y, via_others)


def _rce(log1m_p_y: Tensor) -> Tensor:
    """Reverse cross-entropy -sum_j p_j log(clamp(onehot_j, 1e-4)) = -A (1 - p_y), A = ln 1e-4."""
    return -RCE_LOG_FLOOR * torch.exp(log1m_p_y)


# ----------------------------------------------------------------------------- per-example objectives
# Each maps (logits (B, C) in the compute dtype, target (B,) int64, **params) to a loss (B,).

def _ce(logits: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(logits, target, reduction="none")


def _tunable(logits: Tensor, target: Tensor, k: float) -> Tensor:
    # value: cross-entropy; gradient: the pseudo-gradient f(eps) (core.pseudograd)
    return tunable_cross_entropy(logits, target, k=k, reduction="none")


def _mae(logits: Tensor, target: Tensor) -> Tensor:
    _, _, log1m_p_y = _log_probs(logits, target)
    return torch.exp(log1m_p_y)


def _gce(logits: Tensor, target: Tensor, q: float) -> Tensor:
    _, logp_y, _ = _log_probs(logits, target)
    return -torch.expm1(q * logp_y) / q  # (1 - p_y^q) / q, exact as p_y -> 1 and as q -> 0


def _sce(logits: Tensor, target: Tensor, alpha: float, beta: float) -> Tensor:
    _, logp_y, log1m_p_y = _log_probs(logits, target)
    return alpha * -logp_y + beta * _rce(log1m_p_y)


def _nce_rce(logits: Tensor, target: Tensor, alpha: float, beta: float) -> Tensor:
    logp, logp_y, log1m_p_y = _log_probs(logits, target)
    nce = logp_y / logp.sum(dim=1)  # denominator <= -K log K < 0: never 0
    return alpha * nce + beta * _rce(log1m_p_y)


def _focal(logits: Tensor, target: Tensor, gamma: float) -> Tensor:
    _, logp_y, log1m_p_y = _log_probs(logits, target)
    return -torch.exp(gamma * log1m_p_y) * logp_y  # (1 - p_y)^gamma in log space


def _unhinged(logits: Tensor, target: Tensor) -> Tensor:
    return -logits.gather(1, target.unsqueeze(1)).squeeze(1) + logits.mean(dim=1)


# ----------------------------------------------------------------------------- registry

def _positive(x: float) -> bool:
    return x > 0


def _non_negative(x: float) -> bool:
    return x >= 0


def _unit_interval(x: float) -> bool:
    return 0 < x <= 1


@dataclass(frozen=True)
class ObjectiveInfo:
    """One registry entry."""

    fn: Callable[..., Tensor]  # per-example loss: (logits (B, C), target (B,), **params) -> (B,)
    defaults: Mapping[str, float]  # parameter name -> default value, in display order
    title: str  # short human name used in labels, e.g. "GCE"
    description: str  # one line for tooltips and --help
    latex: str  # the per-example formula, for st.latex / Plotly
    constraints: Mapping[str, tuple[Callable[[float], bool], str]] = field(default_factory=dict)
    # name -> (predicate, what it requires) for parameters with a restricted range


_SYMBOLS = {"alpha": "α", "beta": "β", "gamma": "γ"}  # label display of parameter names

OBJECTIVES: Mapping[str, ObjectiveInfo] = MappingProxyType({
    "ce": ObjectiveInfo(
        _ce, {}, "CE",
        "Cross-entropy: the pseudo-gradient at k = 1.",
        r"-\log p_y",
    ),
    "tunable": ObjectiveInfo(
        _tunable, {"k": 1.0}, "Tunable",
        "Pseudo-gradient of Keren et al. 2017 (k < 1: insensitive to large errors); logs plain CE.",
        r"\frac{\partial}{\partial z}\leftarrow f(\varepsilon):\ f_y=-|\varepsilon_y|^k,\ "
        r"f_j=|\varepsilon_y|^k\,\frac{\varepsilon_j^k}{\sum_{i\neq y}\varepsilon_i^k}",
        {"k": (_positive, "k > 0")},
    ),
    "mae": ObjectiveInfo(
        _mae, {}, "MAE",
        "Mean absolute error 1 - p_y, half of sum_j |p_j - onehot_j| (the factor 2 goes into the learning rate).",
        r"1 - p_y",
    ),
    "gce": ObjectiveInfo(
        _gce, {"q": 0.7}, "GCE",
        "Generalized cross-entropy (Zhang & Sabuncu 2018): q -> 0 is CE, q = 1 is MAE.",
        r"\frac{1 - p_y^{\,q}}{q}",
        {"q": (_unit_interval, "0 < q <= 1")},
    ),
    "sce": ObjectiveInfo(
        _sce, {"alpha": 0.01, "beta": 1.0}, "SCE",
        "Symmetric cross-entropy (Wang et al. 2019): alpha CE + beta RCE, RCE = -ln(1e-4) (1 - p_y).",
        r"-\alpha\log p_y \;-\; \beta A\,(1 - p_y),\quad A=\ln 10^{-4}",
        {"alpha": (_non_negative, "alpha >= 0"), "beta": (_non_negative, "beta >= 0")},
    ),
    "nce_rce": ObjectiveInfo(
        _nce_rce, {"alpha": 1.0, "beta": 10.0}, "NCE+RCE",
        "Active-passive loss (Ma et al. 2020): alpha normalized CE + beta RCE.",
        r"\alpha\,\frac{\log p_y}{\sum_j \log p_j} \;-\; \beta A\,(1 - p_y),\quad A=\ln 10^{-4}",
        {"alpha": (_non_negative, "alpha >= 0"), "beta": (_non_negative, "beta >= 0")},
    ),
    "focal": ObjectiveInfo(
        _focal, {"gamma": 2.0}, "Focal",
        "Focal loss (Lin et al. 2017): down-weights well-classified examples; gamma = 0 is CE.",
        r"-(1 - p_y)^{\gamma}\log p_y",
        {"gamma": (_non_negative, "gamma >= 0")},
    ),
    "unhinged": ObjectiveInfo(
        _unhinged, {}, "Unhinged",
        "Multi-class unhinged loss, the k -> 0 limit of the pseudo-gradient; unbounded below.",
        r"-z_y + \frac{1}{K}\sum_j z_j",
    ),
})


def _options() -> str:
    return ", ".join(
        name + (f" ({', '.join(f'{p}={v:g}' for p, v in info.defaults.items())})" if info.defaults else "")
        for name, info in OBJECTIVES.items()
    )


@dataclass(frozen=True)
class ObjectiveSpec:
    """A registry name and its parameters: hashable, comparable, printable, parseable.

    `params` may be a dict or pairs and may leave out parameters: the stored value is the full
    set, defaults filled in, in the registry's order, so ObjectiveSpec("gce") equals
    ObjectiveSpec("gce", {"q": 0.7}). Raises ValueError on an unknown name, an unknown
    parameter or a value out of range.
    """

    name: str  # a key of OBJECTIVES, e.g. "gce"
    params: tuple[tuple[str, float], ...] = ()  # ((parameter, value), ...), defaults filled in

    def __post_init__(self) -> None:
        if self.name not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.name!r}; choose one of: {_options()}")
        info = OBJECTIVES[self.name]
        given = dict(self.params.items() if isinstance(self.params, Mapping) else self.params)
        unknown = sorted(set(given) - set(info.defaults))
        if unknown:
            allowed = ", ".join(info.defaults) or "none"
            raise ValueError(f"objective {self.name!r} has no parameter {', '.join(unknown)}; its parameters: {allowed}")
        resolved = []
        for key, default in info.defaults.items():
            value = given.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{self.name} parameter {key} must be a finite number; got {value!r}")
            check = info.constraints.get(key)
            if check is not None and not check[0](float(value)):
                raise ValueError(f"{self.name} parameter {key} must satisfy {check[1]}; got {value!r}")
            resolved.append((key, float(value)))
        object.__setattr__(self, "params", tuple(resolved))

    @property
    def kwargs(self) -> dict[str, float]:
        """The parameters as keyword arguments for the per-example function."""
        return dict(self.params)

    @property
    def label(self) -> str:
        """Human label for legends and tables, e.g. 'GCE (q=0.7)' or 'SCE (α=0.01, β=1)'."""
        title = OBJECTIVES[self.name].title
        if not self.params:
            return title
        return f"{title} ({', '.join(f'{_SYMBOLS.get(k, k)}={v:g}' for k, v in self.params)})"

    def __str__(self) -> str:
        """The CLI form, e.g. 'gce:q=0.7'; `parse_objective` reads it back."""
        if not self.params:
            return self.name
        return f"{self.name}:" + ",".join(f"{k}={v!r}" for k, v in self.params)


def parse_objective(text: str) -> ObjectiveSpec:
    """Read 'name' or 'name:param=value,param=value' (e.g. 'sce:alpha=0.1,beta=1') into a spec."""
    name, _, rest = text.strip().partition(":")
    params: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"cannot read {item!r} in {text!r}: write parameters as name=value, e.g. 'gce:q=0.7'")
        if key in params:
            raise ValueError(f"parameter {key} given twice in {text!r}")
        try:
            params[key] = float(value)
        except ValueError:
            raise ValueError(f"parameter {key} in {text!r} must be a number; got {value.strip()!r}") from None
    return ObjectiveSpec(name.strip().lower(), params)


@dataclass(frozen=True)
class Objective:
    """A training objective bound to its parameters: `objective(logits, target) -> mean loss`.

    Picklable (it holds only the spec), so it can be sent to worker processes.
    """

    spec: ObjectiveSpec

    def per_example(self, logits: Tensor, target: Tensor) -> Tensor:
        """Loss of each example (B,), in float32 for half-precision logits, else in logits' dtype."""
        _check_inputs(logits, target)
        z = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()
        return OBJECTIVES[self.spec.name].fn(z, target.long(), **self.spec.kwargs)

    def __call__(self, logits: Tensor, target: Tensor) -> Tensor:
        return self.per_example(logits, target).mean()


def make_objective(spec: ObjectiveSpec | str) -> Objective:
    """The callable training objective for a spec, or for a string such as 'gce:q=0.7'."""
    return Objective(parse_objective(spec) if isinstance(spec, str) else spec)


def _body(args) -> int:
    if not args.specs:
        for name, info in OBJECTIVES.items():
            print(f"{str(ObjectiveSpec(name)):<30} {info.description}")
        return 0
    z = torch.tensor([args.logits], dtype=torch.float64)
    y = torch.tensor([args.target])
    if not 0 <= args.target < z.shape[1]:
        raise ValueError(f"--target {args.target} must lie in 0..{z.shape[1] - 1}")
    objectives = [make_objective(s) for s in args.specs]
    print(f"{'objective':<24} {'value':>9}  gradient d/dz")
    for objective in objectives:
        logits = z.clone().requires_grad_(True)
        value = objective(logits, y)
        value.backward()
        grad = " ".join(f"{g:>9.5f}" for g in logits.grad[0].tolist())
        print(f"{objective.spec.label:<24} {value.item():>9.5f}  {grad}")
    return 0


def _parser() -> Parser:
    parser = Parser(
        prog="python -m core.losses",
        description="List the training objectives, or print value and logit gradient of some for one example.",
    )
    parser.add_argument("specs", nargs="*", help="objectives such as ce, gce:q=0.5, tunable:k=0.25 (none: list all)")
    parser.add_argument("--logits", type=finite, nargs="+", default=[2.0, 0.5, -1.0], help="logits z_1..z_C")
    parser.add_argument("--target", type=whole, default=1, help="true class index y")
    return parser


def _main(argv: list[str] | None = None) -> int:
    return main_of(_parser(), _body)(argv)


if __name__ == "__main__":
    run(_main)
