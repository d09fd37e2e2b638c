"""The exceptions of core.data: one for "no source could provide the data", three for bad bytes.

What: `DatasetUnavailableError` (every source failed; the message lists each attempt and
what to do), `DataFormatError` (a file or array is not what the data set should be), its
IDX-specific subclass `IdxFormatError`, and `UnsafePickleError` (a data pickle asked for
something other than plain NumPy arrays).

Why: callers (the CLIs, the dashboard) catch one specific exception and show its message;
tests assert the right failure happened for the right reason.

How: raise them; `MnistUnavailableError` is the historical name of `DatasetUnavailableError`
and stays an alias, so `except MnistUnavailableError` keeps catching every data set's error.
"""

from __future__ import annotations

import pickle


class DatasetUnavailableError(RuntimeError):
    """No source could provide a data set; the message lists each attempt and what to do."""


MnistUnavailableError = DatasetUnavailableError  # the name callers have always caught


class DataFormatError(ValueError):
    """A file or array is not a valid copy of the data set (bad format, shape, labels, checksum)."""


class IdxFormatError(DataFormatError):
    """A file is not a valid IDX file (bad magic, unknown dtype, truncated, trailing bytes), or
    IDX data is not the data set it should be."""


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for something other than plain NumPy array reconstruction."""
