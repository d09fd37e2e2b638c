"""k that changes during training: `KSchedule`, the paper's future work made runnable.

What: a schedule of the pseudo-gradient's k over training progress in [0, 1] (the fvcore
ParamScheduler convention: a callable of progress), with a PyTorch-LR-scheduler-style counter
(`step()` once per iteration or per epoch, `.k` the current value), and one text form that
commands, configs and labels share:

    "0.5" or "constant:0.5"       k = 0.5 throughout
    "linear:1/4:2"                 a straight line from k = 1/4 at progress 0 to k = 2 at progress 1
    "cosine:2:1/4"                 half a cosine from 2 to 1/4 (flat at both ends)
    "step:1/4@0,1@0.5,2@0.8"       k = 1/4 from progress 0, 1 from 0.5, 2 from 0.8 on
    "piecewise:1/4@0,2@0.5,2@1"    straight lines through the points (held flat past the last one)

Numbers are decimals or fractions (1/4); every k must be finite and > 0; points start at
progress 0 and rise strictly. `parse_schedule` raises ValueError with a one-line message.

Why: the paper's conclusion proposes "different levels of sensitivity to hard examples in
different stages of the training procedure": ignore the examples you cannot make sense of at
first (small k), focus on them later (large k).

How:

    from core.schedule import KSchedule
    schedule = KSchedule.parse("linear:1/4:2", total_steps=epochs * len(loader))
    for x, y in loader:
        tunable_cross_entropy(model(x), y, k=schedule).backward()   # uses schedule.k
        optimizer.step(); schedule.step()
"""

from __future__ import annotations

import math
from fractions import Fraction

__all__ = ["KINDS", "KSchedule", "parse_schedule"]

KINDS = ("constant", "linear", "cosine", "step", "piecewise")
_TWO_POINT = ("linear", "cosine")  # written kind:start:end


def _parse_number(text: str, what: str) -> float:
    """A float from '0.25', '1/4' or '2e-3'; ValueError naming the text."""
    s = text.strip()
    try:
        value = float(Fraction(s)) if "/" in s else float(s)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{what} {text!r} is not a number (write 0.25 or 1/4)") from None
    return value


def _format_number(x: float) -> str:
    """'1/4' for reciprocals of whole numbers below 1, else the shortest decimal ('2', '0.3')."""
    if 0 < x < 1 and abs(1 / x - round(1 / x)) < 1e-9 and round(1 / x) <= 1024:
        return f"1/{round(1 / x)}"
    return f"{x:g}"


class KSchedule:
    """k as a function of training progress in [0, 1], with a step counter like an LR scheduler.

    `points` are (progress, k) pairs, progress starting at 0 and strictly rising; `kind` says how
    k goes between them (constant, linear, cosine, step, piecewise). `schedule(progress)` is the
    value at any progress (clamped to [0, 1]); `schedule.k` is the value at `last_step /
    total_steps` (progress 0 while total_steps is None).
    """

    def __init__(self, kind: str, points, total_steps: int | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown schedule kind {kind!r}; choose one of {', '.join(KINDS)}")
        points = tuple((float(p), float(k)) for p, k in points)
        need = {"constant": 1, "linear": 2, "cosine": 2}.get(kind)
        if need is not None and len(points) != need:
            raise ValueError(f"a {kind} schedule has {need} value(s); got {len(points)}")
        if not points:
            raise ValueError(f"a {kind} schedule needs at least one k@progress point")
        for p, k in points:
            if not (math.isfinite(k) and k > 0):
                raise ValueError(f"every k of a schedule must be a finite number > 0; got {_format_number(k)}")
            if not 0 <= p <= 1:
                raise ValueError(f"schedule progress must lie in [0, 1]; got {p:g}")
        if points[0][0] != 0:
            raise ValueError(f"a schedule's first point must be at progress 0; got {points[0][0]:g}")
        if any(b[0] <= a[0] for a, b in zip(points, points[1:])):
            raise ValueError("schedule points must have strictly rising progress, e.g. step:1/4@0,1@0.5")
        if total_steps is not None and (isinstance(total_steps, bool) or not isinstance(total_steps, int)
                                        or total_steps < 1):
            raise ValueError(f"total_steps must be a whole number >= 1 or None; got {total_steps!r}")
        self.kind, self.points, self.total_steps = kind, points, total_steps
        self.last_step = 0  # how many times step() was called (LR-scheduler style)

    # -------------------------------------------------------------- constructors

    @classmethod
    def constant(cls, k: float, total_steps: int | None = None) -> "KSchedule":
        return cls("constant", [(0.0, k)], total_steps)

    @classmethod
    def linear(cls, start: float, end: float, total_steps: int | None = None) -> "KSchedule":
        return cls("linear", [(0.0, start), (1.0, end)], total_steps)

    @classmethod
    def cosine(cls, start: float, end: float, total_steps: int | None = None) -> "KSchedule":
        return cls("cosine", [(0.0, start), (1.0, end)], total_steps)

    @classmethod
    def parse(cls, text: str, total_steps: int | None = None) -> "KSchedule":
        """The schedule written as text (module docstring); ValueError with a one-line message."""
        return parse_schedule(text, total_steps)

    # -------------------------------------------------------------- values

    def __call__(self, progress: float) -> float:
        """k at this training progress (clamped to [0, 1])."""
        t = min(max(float(progress), 0.0), 1.0)
        pts = self.points
        if self.kind == "constant" or t <= pts[0][0]:
            return pts[0][1]
        if self.kind == "step":
            return next(k for p, k in reversed(pts) if p <= t)
        (p0, k0), (p1, k1) = next(((a, b) for a, b in zip(pts, pts[1:]) if t <= b[0]), (pts[-1], pts[-1]))
        if p1 == p0:  # past the last point: held flat
            return k1
        w = (t - p0) / (p1 - p0)
        if self.kind == "cosine":
            w = (1 - math.cos(math.pi * w)) / 2
        return k0 + (k1 - k0) * w

    @property
    def progress(self) -> float:
        """Training progress in [0, 1] from the step counter (0 while total_steps is None)."""
        return 0.0 if self.total_steps is None else min(self.last_step / self.total_steps, 1.0)

    @property
    def k(self) -> float:
        """The current k: the schedule at `progress`."""
        return self(self.progress)

    def step(self) -> None:
        """Advance one step (call it after each optimizer step, or once per epoch with total_steps = epochs)."""
        self.last_step += 1

    def state_dict(self) -> dict:
        return {"last_step": self.last_step}

    def load_state_dict(self, state: dict) -> None:
        self.last_step = int(state["last_step"])

    @property
    def is_constant(self) -> bool:
        return len({k for _, k in self.points}) == 1

    # -------------------------------------------------------------- text

    def __str__(self) -> str:
        ks = [_format_number(k) for _, k in self.points]
        if self.kind == "constant":
            return f"constant:{ks[0]}"
        if self.kind in _TWO_POINT:
            return f"{self.kind}:{ks[0]}:{ks[1]}"
        return f"{self.kind}:" + ",".join(f"{k}@{p:g}" for k, (p, _) in zip(ks, self.points))

    def __repr__(self) -> str:
        return f"KSchedule.parse({str(self)!r}, total_steps={self.total_steps})"

    def __eq__(self, other) -> bool:
        return isinstance(other, KSchedule) and (self.kind, self.points) == (other.kind, other.points)

    def __hash__(self) -> int:
        return hash((self.kind, self.points))

    @property
    def label(self) -> str:
        """Short display label, e.g. 'k 1/4→2 (linear)', 'k 1/4→1→2 (step)', 'k 1/2'."""
        ks = [_format_number(k) for _, k in self.points]
        if self.kind == "constant":
            return f"k {ks[0]}"
        return f"k {'→'.join(ks)} ({self.kind})"


def parse_schedule(text: str, total_steps: int | None = None) -> KSchedule:
    """A KSchedule from its text form: '0.5', 'constant:0.5', 'linear:1/4:2', 'cosine:2:1/4',
    'step:1/4@0,1@0.5,2@0.8', 'piecewise:1/4@0,2@0.5'. ValueError with a one-line message."""
    if isinstance(text, KSchedule):
        return KSchedule(text.kind, text.points, total_steps)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a k schedule is text like 'linear:1/4:2'; got {text!r}")
    kind, _, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    if not rest:  # a bare number is a constant
        return KSchedule.constant(_parse_number(kind, "k"), total_steps)
    if kind == "constant":
        return KSchedule.constant(_parse_number(rest, "k"), total_steps)
    if kind in _TWO_POINT:
        parts = rest.split(":")
        if len(parts) != 2:
            raise ValueError(f"write a {kind} schedule as {kind}:START:END, e.g. {kind}:1/4:2; got {text!r}")
        start, end = (_parse_number(x, "k") for x in parts)
        return KSchedule(kind, [(0.0, start), (1.0, end)], total_steps)
    if kind in ("step", "piecewise"):
        points = []
        for item in rest.split(","):
            k, at, p = item.partition("@")
            if not at:
                raise ValueError(f"write each point of a {kind} schedule as K@PROGRESS, e.g. 1/4@0; "
                                 f"got {item.strip()!r}")
            points.append((_parse_number(p, "progress"), _parse_number(k, "k")))
        return KSchedule(kind, points, total_steps)
    raise ValueError(f"unknown schedule kind {kind!r} in {text!r}; choose one of {', '.join(KINDS)}")
