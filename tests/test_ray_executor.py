"""RayExecutor on a real local Ray instance and on a real two-node cluster on 127.0.0.1.

Ray runs with token auth on (HOME is a temporary directory holding the token) and usage stats off.
The local tests share one Ray instance; the cluster test starts its own head and worker node as
subprocesses and ends exactly those processes, by PID (never `ray stop`, which ends every Ray
process on the machine).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import ray
from ray._private.authentication_test_utils import reset_auth_token_state

import ray_tasks
from core.engine import RAY_ADDRESS_ENV, make_executor, server_ray_address
from core.engine.executors import Epoch, Finished, Group, GroupEnded
from core.engine.ray_executor import MIN_GPU_SHARE, ROOT, RayAddressError, RayExecutor, gpu_share, worker_env
from core.engine.status import DONE, FAILED, INTERRUPTED
from ray_tasks import Spec, expected, summary

RAY_CLI = str(Path(sys.executable).parent / "ray")


@pytest.fixture(scope="module")
def ray_env(tmp_path_factory):
    """HOME in a temporary directory with its own auth token (token auth stays on), usage stats off."""
    home = tmp_path_factory.mktemp("ray-home")
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))  # as `ray get-auth-token --generate`
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("RAY_AUTH_MODE", "token")
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        for name in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
            mp.delenv(name, raising=False)
        reset_auth_token_state()  # Ray read its auth settings at import, before these
        yield home
    reset_auth_token_state()


def run_grid(executor, groups, cancel=None, on_emit=None):
    """Run `groups`; every group's events in arrival order, and the threads emit was called on."""
    events = {gi: [] for gi in range(len(groups))}
    threads = set()

    def emit(gi, event):
        threads.add(threading.get_ident())
        events[gi].append(event)
        if on_emit:
            on_emit(gi, event)

    executor.run(groups, emit, cancel or threading.Event())
    return events, threads


def sleepy_group(spec: Spec, **kwargs) -> Group:
    return Group(ray_tasks.sleepy, spec, size=spec.runs, label=f"group {spec.group}", **kwargs)


def test_gpu_share_rule():
    """A gpu group gets a whole GPU when there are enough, else 1/ceil(groups/GPUs), at least MIN_GPU_SHARE."""
    assert gpu_share(2, 4) == 1.0
    assert gpu_share(4, 4) == 1.0
    assert gpu_share(3, 1) == 0.3333 and gpu_share(7, 1) == 0.1428  # whole shares fill a GPU: 7 * 0.1428 <= 1
    assert gpu_share(3, 2) == 0.5
    assert gpu_share(100, 1) == MIN_GPU_SHARE
    assert gpu_share(3, 0) == 0.0 and gpu_share(0, 2) == 0.0


def test_worker_env_carries_import_roots_and_data_settings(monkeypatch, tmp_path):
    """Workers get the repository and each task's import root on PYTHONPATH, and the TUNABLE_* settings."""
    monkeypatch.setenv("TUNABLE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    env = worker_env([sleepy_group(Spec(0))])
    assert env["PYTHONPATH"].split(os.pathsep) == [str(ROOT), str(ROOT / "tests")]
    assert env["TUNABLE_DATA_DIR"] == str(tmp_path)
    assert env["TUNABLE_RUNS_DB"] == os.environ["TUNABLE_RUNS_DB"]  # conftest's temporary database


@pytest.mark.timeout(120)
class TestLocalRay:
    """One local Ray instance (4 logical CPUs and 1 logical GPU: slots for sleeping tasks) for these tests."""

    @pytest.fixture(scope="class")
    @classmethod
    def executor(cls, ray_env):
        assert not ray.is_initialized()
        executor = make_executor("ray", num_cpus=4, num_gpus=1)
        executor.start()
        yield executor
        executor.close()
        assert not ray.is_initialized()

    def test_grid_streams_every_event_in_order_while_groups_run_together(self, executor, tmp_path):
        """Each group's events reach emit, on the calling thread and in order, while all groups run at once
        in worker processes (a rendezvous that every group must reach before its first epoch)."""
        specs = [Spec(gi, runs=2, epochs=3, shared_dir=str(tmp_path), meet=4) for gi in range(4)]
        events, threads = run_grid(executor, [sleepy_group(spec) for spec in specs])

        assert threads == {threading.get_ident()}
        for gi, spec in enumerate(specs):
            assert [summary(e) for e in events[gi]] == expected(spec)
            metrics = [e.metrics for e in events[gi] if isinstance(e, Epoch)]
            assert all(m["met"] for m in metrics), "groups did not run at the same time"
            assert all(m["group"] == gi and m["pid"] != os.getpid() for m in metrics)
            assert all(m["threads"] == 1 and m["resources"] == {"CPU": 1.0} for m in metrics)

    def test_gpu_groups_share_the_gpu(self, executor, tmp_path):
        """Three gpu groups on one GPU each ask for a third of it and run on it together."""
        specs = [Spec(gi, runs=1, epochs=1, shared_dir=str(tmp_path), meet=3) for gi in range(3)]
        events, _ = run_grid(executor, [sleepy_group(spec, gpu=True) for spec in specs])
        for gi, spec in enumerate(specs):
            assert [summary(e) for e in events[gi]] == expected(spec)
            (metrics,) = [e.metrics for e in events[gi] if isinstance(e, Epoch)]
            assert metrics["met"]
            assert metrics["resources"] == {"CPU": 1.0, "GPU": 0.3333}

    def test_cancel_returns_promptly_and_stops_the_tasks(self, executor, tmp_path):
        """Once cancel is set, run returns within seconds, nothing more is emitted, and the tasks stop."""
        specs = [Spec(gi, runs=1, epochs=10_000, sleep_s=0.05, shared_dir=str(tmp_path)) for gi in range(3)]
        cancel = threading.Event()
        started, late, cancelled_at = set(), [], []

        def on_emit(gi, event):
            if cancel.is_set():
                late.append((gi, event))
            if isinstance(event, Epoch):  # past run_task's "starting": the task is beating
                started.add(gi)
            if len(started) == len(specs) and not cancel.is_set():
                cancel.set()
                cancelled_at.append(time.monotonic())

        run_grid(executor, [sleepy_group(spec) for spec in specs], cancel, on_emit)
        returned_after = time.monotonic() - cancelled_at[0]

        assert returned_after < 5.0
        assert late == []
        time.sleep(0.5)
        beats = [(tmp_path / f"beat-{gi}").read_text() for gi in range(3)]
        time.sleep(1.0)
        assert [(tmp_path / f"beat-{gi}").read_text() for gi in range(3)] == beats, "a cancelled task kept running"

    def test_a_failed_or_crashed_group_ends_alone(self, executor):
        """An exception in a task or an unpicklable event ends its group "failed", a dead worker ends its
        group "interrupted" (epochs already sent are kept), and the other groups finish."""
        specs = [Spec(0, epochs=3), Spec(1, fail_at=1), Spec(2, unpicklable_at=1), Spec(3, crash_at=1)]
        events, _ = run_grid(executor, [sleepy_group(spec) for spec in specs])

        assert [summary(e) for e in events[0]] == expected(specs[0])
        for gi, status, error in [(1, FAILED, "ValueError: planted failure"),
                                  (2, FAILED, "TypeError: cannot pickle '_thread.lock' object"),
                                  (3, INTERRUPTED, "WorkerCrashedError: ")]:
            *before, last = events[gi]
            assert [summary(e) for e in before] == expected(specs[gi], last_epoch=1)
            assert isinstance(last, GroupEnded) and last.status == status
            assert last.error.startswith(error), last.error

    def test_reuses_a_running_ray_and_leaves_it_up(self, executor):
        """An executor that finds Ray initialized uses it, and its close() does not shut that Ray down."""
        guest = RayExecutor()
        events, _ = run_grid(guest, [sleepy_group(Spec(0, runs=1, epochs=1))])
        assert [summary(e) for e in events[0]] == expected(Spec(0, runs=1, epochs=1))
        guest.close()
        assert ray.is_initialized()


    def test_a_second_different_address_is_refused(self, executor):
        """While this process runs a local Ray, an executor for a cluster address is refused with a
        message naming it (make_executor and start alike), instead of silently using the local Ray."""
        with pytest.raises(RayAddressError, match="cannot join 127.0.0.1:1 as well.*TUNABLE_RAY_ADDRESS"):
            make_executor("ray", address="127.0.0.1:1")
        with pytest.raises(RayAddressError, match="127.0.0.1:1"):
            RayExecutor(address="127.0.0.1:1").start()
        assert ray.is_initialized()


def test_server_ray_address_comes_from_the_environment(monkeypatch):
    """server_ray_address() is $TUNABLE_RAY_ADDRESS (trimmed); unset or blank means a local Ray (None)."""
    monkeypatch.setenv(RAY_ADDRESS_ENV, " 10.0.0.5:6379 ")
    assert server_ray_address() == "10.0.0.5:6379"
    monkeypatch.setenv(RAY_ADDRESS_ENV, " ")
    assert server_ray_address() is None
    monkeypatch.delenv(RAY_ADDRESS_ENV)
    assert server_ray_address() is None


@pytest.mark.timeout(120)
def test_close_releases_ray_but_never_ends_a_run_in_flight(ray_env, tmp_path):
    """A page closes its executor right after launching: the run in flight goes on to its end, and
    then the Ray it started is shut down (nothing else holds it)."""
    assert not ray.is_initialized()
    executor = make_executor("ray", num_cpus=2)
    spec = Spec(0, runs=1, epochs=4, sleep_s=0.3, shared_dir=str(tmp_path))
    closed = threading.Event()

    def close_once_running(gi, event):
        if isinstance(event, Epoch) and not closed.is_set():
            executor.close()
            closed.set()
            assert ray.is_initialized()

    events, _ = run_grid(executor, [sleepy_group(spec)], on_emit=close_once_running)
    assert closed.is_set() and [summary(e) for e in events[0]] == expected(spec)
    assert not ray.is_initialized()


# ---- a real cluster: a head and a second node on 127.0.0.1, each a `ray start --block` process ----


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (read from /proc: children of each of its threads)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            out += [child, *_descendants(child)]
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_tree(proc: subprocess.Popen, sig: int) -> None:
    """Send `sig` to a `ray start --block` process and every process below it; SIGKILL what is left after
    SIGTERM had its chance (the tree is read before anything dies: orphans lose their parent)."""
    pids = [proc.pid, *_descendants(proc.pid)]
    for pid in pids if sig == signal.SIGKILL else [proc.pid]:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 5
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in filter(_alive, pids):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def ray_cluster(ray_env):
    """A head (resource node_a) and a second node (resource node_b), 2 logical CPUs each; yields
    (address, nodes by name). Ends exactly the processes it started, even when the test fails."""
    assert not ray.is_initialized()
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    address = f"127.0.0.1:{port}"
    nodes: dict[str, subprocess.Popen] = {}

    def start(name: str, *args: str) -> None:
        log = open(Path(temp_dir) / f"{name}.log", "w")
        nodes[name] = subprocess.Popen(
            [RAY_CLI, "start", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "2",
             "--resources", f'{{"{name}": 1}}', "--object-store-memory", str(100 * 2**20),
             "--dashboard-agent-listen-port", str(_free_port()), "--disable-usage-stats", *args],
            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True)

    try:
        start("node_a", "--head", "--port", str(port), "--temp-dir", temp_dir, "--include-dashboard", "false",
              "--dashboard-port", str(_free_port()), "--ray-client-server-port", str(_free_port()))
        deadline = time.monotonic() + 60
        while not _listening(port):
            assert nodes["node_a"].poll() is None and time.monotonic() < deadline, "the head did not start"
            time.sleep(0.2)
        start("node_b", "--address", address)
        yield address, nodes
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for proc in reversed(nodes.values()):
            _kill_tree(proc, signal.SIGTERM)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.cluster
@pytest.mark.timeout(240)
def test_cluster_node_lost_interrupts_only_its_groups(ray_cluster, tmp_path):
    """On a two-node cluster the grid spreads over both nodes at once; killing the second node mid-run
    ends its groups "interrupted" with the epochs they had sent, and the head's groups finish "done"."""
    address, nodes = ray_cluster
    executor = RayExecutor(address=address)
    executor.start()
    deadline = time.monotonic() + 90
    while not ray.cluster_resources().get("node_b"):
        assert time.monotonic() < deadline, "the second node did not join"
        time.sleep(0.2)

    pin = {gi: "node_a" if gi < 2 else "node_b" for gi in range(4)}
    specs = [Spec(gi, runs=2, epochs=12, sleep_s=0.25, shared_dir=str(tmp_path), meet=4) for gi in range(4)]
    groups = [sleepy_group(spec, meta={"ray_resources": {pin[gi]: 0.01}}) for gi, spec in enumerate(specs)]
    killed_at_epoch = {}

    def on_emit(gi, event):  # the driver's thread: kill node_b once both its groups logged epoch 2
        if isinstance(event, Epoch) and pin[gi] == "node_b" and event.epoch >= 2:
            killed_at_epoch.setdefault(gi, event.epoch)
            if len(killed_at_epoch) == 2 and nodes["node_b"].poll() is None:
                _kill_tree(nodes["node_b"], signal.SIGKILL)

    try:
        events, _ = run_grid(executor, groups, on_emit=on_emit)
    finally:
        executor.close()

    node_ids = {gi: {e.metrics["node_id"] for e in events[gi] if isinstance(e, Epoch)} for gi in range(4)}
    assert node_ids[0] == node_ids[1] and node_ids[2] == node_ids[3] and node_ids[0] != node_ids[2]
    assert all(e.metrics["met"] for gi in range(4) for e in events[gi] if isinstance(e, Epoch))
    for gi in (0, 1):
        assert [summary(e) for e in events[gi]] == expected(specs[gi])
        assert all(e.status == DONE for e in events[gi] if isinstance(e, Finished))
    for gi in (2, 3):
        *before, last = events[gi]
        assert isinstance(last, GroupEnded) and last.status == INTERRUPTED and last.error, last
        epochs = max(e.epoch for e in before if isinstance(e, Epoch))
        assert 2 <= epochs < specs[gi].epochs
        assert [summary(e) for e in before] == expected(specs[gi], last_epoch=epochs)[: len(before)]
