"""The experiment engine: one owner of a run's life, from launch to its last epoch.

- `status`     the one vocabulary (queued -> running -> done | stopped | failed | diverged |
               interrupted), JSON sanitising, ETA, provenance;
- `store`      every run and epoch in SQLite (`RunStore`), committed as it happens;
- `queue`      background jobs per device, sessions served round-robin, Stop only for the owner;
- `executors`  where groups of runs train: in-process (`LocalExecutor`) or on Ray
               (`ray_executor.RayExecutor`);
- `lab`        `Lab`: creates the runs, queues or runs their groups, and turns every event
               into the store's status changes.

    from core.engine import make_executor, server_ray_address
    executor = make_executor("ray", address=None)    # a local Ray instance; "host:6379" joins a cluster
    executor = make_executor("ray", address=server_ray_address())   # the dashboard: the server's choice
    executor.close()                                  # release it (a run in flight keeps Ray up until it ends)
"""

from __future__ import annotations

import os
from typing import Any

from core.engine.executors import ExecutorUnavailableError

EXECUTORS = ("local", "ray")
RAY_ADDRESS_ENV = "TUNABLE_RAY_ADDRESS"  # the Ray cluster a dashboard's "Ray" launches use; unset: a local Ray


def server_ray_address() -> str | None:
    """The Ray cluster this server's pages train on: $TUNABLE_RAY_ADDRESS ("host:port"), set by
    whoever starts the app; None (unset or empty) means a local Ray instance on this machine.
    Pages show it read-only: a visitor never chooses where the server connects (and unpickles from)."""
    return os.environ.get(RAY_ADDRESS_ENV, "").strip() or None


def make_executor(name: str = "local", address: str | None = None, **kwargs: Any):
    """"local" (the default, in-process) or "ray" (`address`: a cluster's "host:port"; None starts
    a local Ray instance, as `ray.init()` does). RayAddressError (an ExecutorUnavailableError) when
    this process is already connected to another Ray. Release it with `close()` when done."""
    if name == "local":
        if address:
            raise ValueError("a Ray address needs the ray executor (--executor ray)")
        from core.engine.executors import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        try:
            from core.engine.ray_executor import RayExecutor
        except ImportError as exc:
            raise ExecutorUnavailableError(
                f"the Ray executor needs Ray ({exc}): pip install -r requirements-cluster.txt"
            ) from exc
        executor = RayExecutor(address=address, **kwargs)
        executor.check_address()
        return executor
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
