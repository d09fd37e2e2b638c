"""k as people write it: read '0.25', '1/4' or '2^-2' (parse_k) and write '1/16' or '0.3' (format_k).

Why one module: every command and page accepts k in one range, [K_MIN, K_MAX], with one message
for a bad value, and every label writes k the same way. (The library, core.pseudograd, takes any
finite k > 0; the range keeps what people type away from values no experiment means.)

    from core.kvalue import parse_k, format_k
    parse_k("1/4")    # 0.25
    format_k(0.0625)  # '1/16'
"""

from __future__ import annotations

import math
from fractions import Fraction

K_MIN, K_MAX = 1e-6, 1e6  # the k a command or page accepts (the library itself takes any finite k > 0)


def read_number(text: str | float) -> float:
    """A number as people type it: '0.25', '1/4', '2^-2' (or '2**-2'), or a number. ValueError
    naming the text when it cannot be read; an overflow reads as inf (the caller checks ranges)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    s = str(text).strip().replace(" ", "")
    if not s:
        raise ValueError("empty value")
    try:
        if "**" in s or "^" in s:
            base, exp = s.replace("^", "**").split("**", 1)
            value = float(base) ** float(exp)
        else:
            value = float(Fraction(s))
    except OverflowError:
        return math.inf
    except (ValueError, ZeroDivisionError, TypeError):
        raise ValueError(f"cannot read a number from {text!r}; write e.g. 0.25, 1/4 or 2^-2") from None
    if isinstance(value, complex):
        raise ValueError(f"cannot read a number from {text!r}; write e.g. 0.25, 1/4 or 2^-2")
    return value


def parse_k(text: str | float) -> float:
    """A k value from user text (see read_number), in [K_MIN, K_MAX]. Raises ValueError with a
    one-line message naming the text and what is allowed."""
    try:
        value = read_number(text)
    except ValueError:
        raise ValueError(f"cannot read k from {text!r}; write e.g. 0.25, 1/4 or 2^-2") from None
    if not math.isfinite(value) or not K_MIN <= value <= K_MAX:
        raise ValueError(f"k = {text!r} is out of range: k must be a number from {K_MIN:g} to {K_MAX:g}")
    return value


def format_k(k: float) -> str:
    """k as a short label: '1/16' for reciprocals of whole numbers below 1, '0.3' otherwise (every page writes k so)."""
    if 0 < k < 1 and math.isfinite(1 / k):
        inv = 1 / k
        if abs(inv - round(inv)) < 1e-9 and round(inv) <= 1024:
            return f"1/{round(inv)}"
    return f"{k:g}"
