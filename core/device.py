"""Where computation runs, shared by every experiment: the device (CUDA, then MPS, then CPU,
overridable) and the number of torch CPU threads for a block of work.

    from core.device import pick_device, torch_threads
    device = pick_device()          # best available
    device = pick_device("cpu")     # the user's override; raises ValueError if unavailable
    with torch_threads(1): ...      # tiny models: one thread is as fast and leaves the other core free
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def available_devices() -> list[str]:
    """Names of the devices this process can use, best first."""
    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    names.append("cpu")
    return names


def pick_device(override: str | torch.device | None = None) -> torch.device:
    """The device to run on: `override` if given ("auto" or None means best available)."""
    if override is None or str(override) == "auto":
        return torch.device(available_devices()[0])
    try:
        device = torch.device(override)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {override!r}; use one of {available_devices()} or 'auto'") from exc
    if device.type not in available_devices():
        raise ValueError(
            f"device {str(override)!r} is not available on this machine; available: {available_devices()}"
        )
    return device


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use n torch CPU threads inside the block (0 or None: unchanged), then restore the old setting.
    torch.set_num_threads is process-wide: a job running beside the block shares the setting."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
