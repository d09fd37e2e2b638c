"""The 1-D toy experiment (Section 5.1 of the paper) as a package; see core/toy/train.py."""

from core.toy.train import *  # noqa: F401,F403
from core.toy.train import _derivative_polys, _SortedErrors  # noqa: F401
