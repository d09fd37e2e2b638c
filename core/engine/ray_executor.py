"""RayExecutor: the groups of a grid as Ray tasks, on a local Ray instance or a cluster.

What: the cluster half of the executor interface (core.engine.executors). Every `Group` becomes
one Ray streaming-generator task (`num_returns="streaming"`) that runs `run_task(group, cancel)`
on a worker and sends each event back as soon as the task yields it. The driver, i.e. the thread
that called `run`, waits on all the groups' generators at once (`ray.wait`) and calls
`emit(group_index, event)` as events arrive, in order within a group, so the run store and the
live views stay on the driver exactly as with `LocalExecutor`.

Why: a grid is many independent groups; on a cluster, or on a machine with more cores than one
group can use, they train side by side, and a group lost with its node ends only that group.

How to run:

    python -m core.mnist train --k 0.5 1 --executor ray                              # a local Ray instance
    python -m core.mnist train --k 0.5 1 --executor ray --ray-address 10.0.0.5:6379  # join a cluster
    pytest tests/test_ray_executor.py            # local Ray and a real two-node cluster (-m cluster: only that)

    from core.engine import make_executor
    with make_executor("ray", address=None) as executor:  # `with` shuts down a Ray it started
        executor.run(groups, emit, cancel)

The rules it follows:
- Ray: with no address it starts a local instance (`ray.init(address="local")`: never silently
  joins a cluster someone started on this machine; pass address="auto" for that), with this
  machine's CPUs, no dashboard and usage stats off (`RAY_USAGE_STATS_ENABLED=0` unless set). With
  an address it joins that cluster. Ray starts on the first `run` (or `start`). A process uses one
  Ray: a Ray already initialized is reused, and an executor for another address than the one this
  process is connected to is refused (`RayAddressError`) rather than silently sent to the first.
  In the dashboard the address is the server's (`core.engine.server_ray_address()`,
  $TUNABLE_RAY_ADDRESS), never a visitor's.
- Release: `close()` releases an executor. Ray is shut down once no open executor holds it and no
  `run` is in progress, if an executor of this process started it (a Ray initialized elsewhere
  stays up); closing never ends a run in flight. A page closes its executor right after launching
  (the job's run keeps Ray up until it ends); a CLI uses `with`.
- Resources: a task asks for `num_cpus_per_task` CPUs and sets torch's intra-op threads to the
  same number (parallel groups on few cores otherwise fight over threads). A group with
  `gpu=True` asks for `gpu_share(n_gpu_groups, n_gpus)` of a GPU: a whole GPU each when there are
  enough, else an equal share, 1/ceil(n_gpu_groups / n_gpus) rounded down to Ray's 1e-4 unit,
  never below 1/8 (beyond 8 groups per GPU they queue instead of crowding its memory). On a
  cluster without GPUs such a group fails at once. `Group.meta["ray_resources"]` adds custom
  resources to its request, e.g. `{"node_b": 0.01}` runs it only on nodes started with
  `ray start --resources '{"node_b": 1}'`; like any Ray task whose resources no live node offers,
  it waits (until Stop) while no such node is up.
  Tasks are never retried (`max_retries=0`): a retried, half-trained group would log epochs twice.
- Stop: once `cancel` is set, every unfinished task is cancelled (`ray.cancel`: a KeyboardInterrupt
  in the task, then a kill after `CANCEL_GRACE_S`), nothing more is emitted for it, and `run`
  returns; the caller marks its unfinished runs "stopped". Inside a task the `cancel` event it is
  given is never set: the KeyboardInterrupt is what stops it.
- Failures: a worker or node lost mid-run (WorkerCrashedError, NodeDiedError, ObjectLostError,
  RaySystemError...) ends that group with GroupEnded("interrupted", ...), its emitted epochs kept;
  an exception that escapes the task (e.g. an event that cannot be pickled, a module the worker
  cannot import) with GroupEnded("failed", "<Type>: <message>"). The other groups go on.
- Code and data: specs travel by pickle and a task's function by reference, so the workers
  import `core` and each task's module from the same directories as the driver. Nothing is
  uploaded: on a multi-machine cluster the repository must be at the same path on every node, or
  installed there. PYTHONPATH (and TUNABLE_DATA_DIR, TUNABLE_RUNS_DB when set) reach
  the workers through the runtime env of the Ray job this executor starts, so the workers
  Ray starts with the job serve the first run at once and stay warm between runs; a task whose
  module lives elsewhere, or a Ray started by someone else, gets them in the task's own runtime env.
- Token auth (Ray 2.60): a local instance creates `~/.ray/auth_token` and uses it. To join a
  cluster that uses tokens, the driver needs `RAY_AUTH_MODE=token` and the head's token (in
  `~/.ray/auth_token` or `RAY_AUTH_TOKEN`): Ray never sends a token to an explicit address on its own.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import ray
import ray.exceptions as rex

from core.engine.executors import Emit, Event, ExecutorUnavailableError, Group, GroupEnded, run_task
from core.engine.status import FAILED, INTERRUPTED, ROOT

PASSED_ENV = ("TUNABLE_DATA_DIR", "TUNABLE_RUNS_DB")  # driver -> workers
MIN_GPU_SHARE = 1 / 8  # at most 8 groups on one GPU at a time
POLL_S = 0.2  # longest the driver waits for events before it looks at `cancel` again
CANCEL_GRACE_S = 2.0  # after ray.cancel, how long a task may take to stop before it is killed
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20  # a local instance's object store: events are small

# A lost worker, node or object: the group is "interrupted" (its finished epochs stand).
_LOST = (
    rex.WorkerCrashedError,
    rex.NodeDiedError,
    rex.LocalRayletDiedError,
    rex.ObjectLostError,  # OwnerDiedError, ObjectFetchTimedOutError, ObjectReconstructionFailedError...
    rex.RayActorError,  # ActorDiedError, ActorUnavailableError
    rex.OutOfMemoryError,  # Ray's memory monitor killed the worker
    rex.RaySystemError,
    rex.RpcError,
)


def _run_group(group: Group, num_threads: int) -> Iterator[Event]:
    """The Ray task (runs on a worker): the group's events, each sent to the driver as it is yielded."""
    import torch

    torch.set_num_threads(num_threads)
    yield from run_task(group, threading.Event())  # ray.cancel stops it with a KeyboardInterrupt


_remote_run_group = ray.remote(num_returns="streaming", max_retries=0)(_run_group)


def gpu_share(n_gpu_groups: int, n_gpus: float) -> float:
    """GPUs one gpu group asks for: 1 when every group can have its own, else 1/ceil(groups/GPUs),
    but at least MIN_GPU_SHARE (more groups wait their turn); 0 when there is no GPU or group.
    Rounded down to Ray's resource unit (1e-4), so that 1/ceil(...) shares fill a GPU exactly."""
    if n_gpu_groups <= 0 or n_gpus <= 0:
        return 0.0
    share = max(MIN_GPU_SHARE, 1.0 / math.ceil(n_gpu_groups / n_gpus))
    return math.floor(share * 10_000) / 10_000


def group_ended(exc: BaseException) -> GroupEnded:
    """What a Ray error raised for a group's event means for the group."""
    if isinstance(exc, rex.RayTaskError):  # an exception escaped the task
        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
        if isinstance(cause, rex.RaySystemError) and isinstance(getattr(cause, "client_exc", None), BaseException):
            cause = cause.client_exc  # e.g. the worker could not unpickle the group
        message = f"{type(cause).__name__}: {_first_line(cause)}"
        if isinstance(cause, ImportError):
            message += " (the worker cannot import the task: the repository must be importable on every node)"
        return GroupEnded(FAILED, message)
    if isinstance(exc, rex.TaskCancelledError):
        return GroupEnded(INTERRUPTED, "its Ray task was cancelled from outside this run")
    if isinstance(exc, _LOST):
        return GroupEnded(INTERRUPTED, f"{type(exc).__name__}: {_first_line(exc)}")
    return GroupEnded(FAILED, f"{type(exc).__name__}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _import_root(fn: Any) -> str | None:
    """The directory the driver imported `fn`'s module from (a sys.path entry), or None."""
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    file = getattr(module, "__file__", None)
    if module is None or module.__name__ == "__main__" or not file:
        return None  # cloudpickle sends functions of __main__ by value
    path = Path(file).absolute()
    depth = module.__name__.count(".") + (path.name == "__init__.py")
    return str(path.parents[depth])


def worker_env(groups: Sequence[Group]) -> dict[str, str]:
    """Environment variables of the groups' tasks: PYTHONPATH (the repository, each task's import
    root, the driver's PYTHONPATH) and the TUNABLE_* settings the driver has."""
    paths = [str(ROOT)]
    for group in groups:
        root = _import_root(group.task)
        if root and root not in paths:
            paths.append(root)
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env = {"PYTHONPATH": os.pathsep.join(paths)}
    env.update({name: os.environ[name] for name in PASSED_ENV if os.environ.get(name)})
    return env


def _machine_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class RayAddressError(ExecutorUnavailableError):
    """This process is connected to one Ray and was asked to use another (Ray allows one per process)."""


class _RayUse:
    """Who uses this process's Ray: Ray is shut down when an executor of this process started it
    and no open executor holds it and no run is in progress (closing never ends a run)."""

    lock = threading.Lock()
    address: str | None = None  # what an executor connected to: "local" or "host:port"; None: not us
    started = False  # an executor of this process called ray.init
    holders: weakref.WeakSet = weakref.WeakSet()  # open executors that started or joined it
    runs = 0  # RayExecutor.run calls in progress
    job_env: dict[str, str] | None = None  # env_vars of the Ray job an executor started, if one did


def _resolve(address: str) -> str:
    host, _, port = address.rpartition(":")
    try:
        return f"{socket.gethostbyname(host)}:{port}"
    except (OSError, UnicodeError):
        return address


def _address_conflict(wanted: str | None) -> str | None:
    """Why this process cannot use Ray at `wanted` (None: a local instance; "auto": whatever runs),
    or None when it can. Caller holds _RayUse.lock."""
    if not ray.is_initialized() or wanted in (None, "auto"):
        if ray.is_initialized() and wanted is None and _RayUse.address not in (None, "local"):
            return f"this process is connected to the Ray cluster at {_RayUse.address}, not to a local instance"
        return None
    current = _RayUse.address
    if current is None:  # a Ray initialized outside the executors: ask it where it is
        current = ray.get_runtime_context().gcs_address
    if current == "local":
        return f"this process runs a local Ray instance and cannot join {wanted} as well"
    if _resolve(wanted) != _resolve(current):
        return f"this process is connected to the Ray cluster at {current} and cannot join {wanted} as well"
    return None


def _check_address(wanted: str | None) -> None:
    """RayAddressError naming both addresses if Ray at `wanted` cannot be used. Caller holds _RayUse.lock."""
    conflict = _address_conflict(wanted)
    if conflict:
        raise RayAddressError(f"{conflict}: a process uses one Ray. The Ray address is the server's choice "
                              "(TUNABLE_RAY_ADDRESS, or --ray-address of a CLI); restart the process to use another.")


class RayExecutor:
    """Runs every group as a Ray task at once and streams their events back (see module docstring)."""

    name = "ray"
    parallel = True

    def __init__(self, address: str | None = None, num_cpus_per_task: int = 1, num_cpus: int | None = None,
                 num_gpus: int | None = None, object_store_memory: int | None = LOCAL_OBJECT_STORE_BYTES):
        if num_cpus_per_task < 1:
            raise ValueError(f"num_cpus_per_task must be at least 1, got {num_cpus_per_task}")
        self.address = None if address in (None, "", "local") else address  # a head's "host:port"; None: local
        self.num_cpus_per_task = int(num_cpus_per_task)  # CPUs (and torch threads) of each task
        self.num_cpus = num_cpus  # CPUs of a local instance; None: this machine's
        self.num_gpus = num_gpus  # GPUs of a local instance; None: the ones Ray finds
        self.object_store_memory = object_store_memory  # bytes, a local instance's object store
        self._closed = False  # close() was called: a later run only leases Ray, it does not hold it

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, num_cpus_per_task={self.num_cpus_per_task})"

    def check_address(self) -> None:
        """RayAddressError if this process is already connected to another Ray than this executor's."""
        with _RayUse.lock:
            _check_address(self.address)

    def start(self) -> None:
        """Start (or join) Ray now rather than on the first `run` and hold it until `close()`; a Ray
        already initialized is reused. RayAddressError if it runs elsewhere than this executor's address."""
        self._closed = False
        self._connect(hold=True)

    def _connect(self, hold: bool) -> None:
        """Make sure Ray is up at this executor's address; `hold`: keep it up until close()."""
        with _RayUse.lock:
            _check_address(self.address)
            if not ray.is_initialized():
                _RayUse.job_env = self._init()
                _RayUse.address, _RayUse.started = self.address or "local", True
            if hold:
                _RayUse.holders.add(self)

    def _init(self) -> dict[str, str]:
        """ray.init for this executor's address; returns the job's env_vars. Caller holds _RayUse.lock."""
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        job_env = worker_env([])  # every worker of the job has it: tasks of core need no env of their own
        try:
            if self.address is None:
                ray.init(address="local", num_cpus=self.num_cpus or _machine_cpus(), num_gpus=self.num_gpus,
                         include_dashboard=False, object_store_memory=self.object_store_memory,
                         runtime_env={"env_vars": job_env})
            else:
                ray.init(address=self.address, runtime_env={"env_vars": job_env})
        except (ConnectionError, rex.AuthenticationError, RuntimeError) as exc:
            if self.address is None:
                raise ExecutorUnavailableError(f"cannot start a local Ray instance: {_first_line(exc)}") from exc
            raise ExecutorUnavailableError(
                f"cannot join the Ray cluster at {self.address}: {_first_line(exc)}. Check the address "
                "(`ray status --address ADDR`) and, for a cluster with token auth, set RAY_AUTH_MODE=token "
                "with the head's token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
            ) from exc
        return job_env

    def close(self) -> None:
        """Release this executor: Ray is shut down once no open executor holds it and no run is in
        progress, if an executor of this process started it (a Ray initialized elsewhere stays up).
        Safe at any time: a run in progress goes on and shuts Ray down when it ends."""
        with _RayUse.lock:
            self._closed = True
            _RayUse.holders.discard(self)
            _shutdown_if_unused()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self, groups: Sequence[Group], emit: Emit, cancel: threading.Event) -> None:
        """Submit every group, then emit their events as they arrive until all have ended or
        `cancel` is set (unfinished tasks are then cancelled and emit nothing more)."""
        if not groups or cancel.is_set():
            return
        self._connect(hold=not self._closed)
        with _RayUse.lock:
            _RayUse.runs += 1
        try:
            self._run(groups, emit, cancel)
        finally:
            with _RayUse.lock:
                _RayUse.runs -= 1
                _shutdown_if_unused()

    def _run(self, groups: Sequence[Group], emit: Emit, cancel: threading.Event) -> None:
        n_gpus = ray.cluster_resources().get("GPU", 0.0)
        share = gpu_share(sum(group.gpu for group in groups), n_gpus)
        env = worker_env(groups)
        runtime_env = None if env == _RayUse.job_env else {"env_vars": env}  # own workers only when needed
        pending: dict[Any, int] = {}  # ObjectRefGenerator -> group index
        try:
            for gi, group in enumerate(groups):
                if group.gpu and not share:
                    emit(gi, GroupEnded(FAILED, "it trains on CUDA and the Ray cluster has no GPU: add a GPU "
                                                "node or train it on the CPU"))
                    continue
                options: dict[str, Any] = {
                    "num_cpus": self.num_cpus_per_task,
                    "num_gpus": share if group.gpu else 0,
                    "runtime_env": runtime_env,
                    "name": f"group {gi}" + (f": {group.label}" if group.label else ""),
                }
                if group.meta.get("ray_resources"):
                    options["resources"] = dict(group.meta["ray_resources"])
                pending[_remote_run_group.options(**options).remote(group, self.num_cpus_per_task)] = gi
            while pending and not cancel.is_set():
                gens = list(pending)
                ready, _ = ray.wait(gens, num_returns=1, timeout=POLL_S)
                if ready:  # take one event from every group that has one, so none waits behind a chatty one
                    ready, _ = ray.wait(gens, num_returns=len(gens), timeout=0)
                for gen in ready:
                    if cancel.is_set():
                        break
                    self._take(gen, pending, emit)
        finally:
            if pending:
                _cancel(list(pending))

    @staticmethod
    def _take(gen: Any, pending: dict[Any, int], emit: Emit) -> None:
        """Emit the next event of a ready generator; drop it from `pending` once its group has ended."""
        gi = pending[gen]
        try:
            ref = next(gen)
        except StopIteration:
            del pending[gen]
            return
        try:
            event = ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - a lost or failed group must not end the others
            del pending[gen]
            emit(gi, group_ended(exc))
            return
        emit(gi, event)


def _shutdown_if_unused() -> None:
    """Shut down the Ray an executor started once nothing uses it. Caller holds _RayUse.lock."""
    if _RayUse.started and not _RayUse.holders and not _RayUse.runs:
        if ray.is_initialized():
            ray.shutdown()
        _RayUse.address, _RayUse.started, _RayUse.job_env = None, False, None


def _cancel(gens: list) -> None:
    """Cancel unfinished tasks: a KeyboardInterrupt first, a kill for those still running after
    CANCEL_GRACE_S (a task inside a long C call only sees the interrupt when it returns)."""
    for gen in gens:
        ray.cancel(gen)
    ended, _ = ray.wait([gen.completed() for gen in gens], num_returns=len(gens), timeout=CANCEL_GRACE_S)
    ended = set(ended)
    for gen in gens:
        if gen.completed() not in ended:
            ray.cancel(gen, force=True)
