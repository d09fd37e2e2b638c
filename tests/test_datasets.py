"""Tests for the data sets beyond MNIST in core.data: Fashion-MNIST, CIFAR-10/100, SVHN, the
registry, the CLI, and load_split's per-data-set normalization.

Nothing here touches the network beyond 127.0.0.1: public sources are a loopback HTTP server
serving small files the tests generate in each real format (IDX .gz; CIFAR's pickled batches
inside a .tar.gz with the real member names; SVHN's MATLAB .mat), and Debian's package is a
small .deb built with `dpkg-deb --build`, handed over by a stand-in for apt-get.

    .venv/bin/python -m pytest tests/test_datasets.py -q
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import socket
import stat
import struct
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from core import data
from core.data import (
    CifarSources,
    DataFormatError,
    DatasetUnavailableError,
    DebianPackage,
    FashionSources,
    MnistUnavailableError,
    SvhnSources,
    array_sha256,
    check_arrays,
    load_dataset,
    load_split,
)
from core.data.cifar import LAYOUTS
from core.data.fashion import FASHION_INFO
from core.data.svhn import SVHN_INFO
from tests.conftest import data_unavailable

# ---------------------------------------------------------------- fixtures: directories and servers


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """An empty data directory, selected the way users select it: through TUNABLE_DATA_DIR."""
    path = tmp_path / "data"
    monkeypatch.setenv(data.ENV_VAR, str(path))
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return path


@pytest.fixture
def closed_url() -> str:
    """A loopback URL on a port nothing listens on (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _md5(raw: bytes) -> str:
    return hashlib.md5(raw).hexdigest()


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def _assert_same(got, want: dict[str, np.ndarray]) -> None:
    for key, expected in want.items():
        actual = getattr(got, key)
        assert actual.dtype == np.uint8, key
        np.testing.assert_array_equal(actual, expected, err_msg=key)


def _colour(n_train: int, n_test: int, classes: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random uint8 colour images (N, 32, 32, 3) with labels cycling through all classes."""
    rng = np.random.default_rng(seed)
    return {
        "train_x": rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
        "train_y": (np.arange(n_train) % classes).astype(np.uint8),
        "test_x": rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
        "test_y": (np.arange(n_test)[::-1] % classes).astype(np.uint8),
    }


# ---------------------------------------------------------------- Fashion-MNIST files and a fake .deb


def _grey(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_x": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "train_y": (np.arange(20) % 10).astype(np.uint8),
        "test_x": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "test_y": rng.integers(0, 10, 10, dtype=np.uint8),
    }


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def _write_idx_set(directory: Path, arrays: dict[str, np.ndarray], level: int = 9) -> tuple[tuple[str, str], ...]:
    """The four IDX .gz files; returns their (file name, MD5) pairs as FashionSources.md5 wants."""
    directory.mkdir(parents=True, exist_ok=True)
    md5 = []
    for key, name in data.IDX_NAMES.items():
        raw = gzip.compress(_idx_bytes(arrays[key]), compresslevel=level, mtime=level)
        (directory / f"{name}.gz").write_bytes(raw)
        md5.append((f"{name}.gz", _md5(raw)))
    return tuple(md5)


def _sha_pins(arrays: dict[str, np.ndarray]) -> tuple[tuple[str, str], ...]:
    return tuple((key, array_sha256(arrays[key])) for key in data.IDX_NAMES)


@pytest.fixture(scope="module")
def fake_deb(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    """A small dataset-fashion-mnist .deb built by dpkg-deb: the four IDX files re-compressed
    (other gzip level and mtime than the "upstream" ones, so the .gz bytes differ) under
    usr/share/datasets/fashion-mnist/."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed (the Debian fallback needs it)")
    tree = tmp_path_factory.mktemp("deb") / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: dataset-fashion-mnist\nVersion: 0.0-1\nArchitecture: all\n"
        "Maintainer: Test <test@example.invalid>\nDescription: small stand-in for tests\n"
    )
    arrays = _grey(seed=3)
    _write_idx_set(tree / "usr/share/datasets/fashion-mnist", arrays, level=1)
    deb = tree.parent / "dataset-fashion-mnist_0.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(deb)], check=True, capture_output=True)
    return deb, arrays


def _fake_apt(tmp_path: Path, deb: Path | None, fail: str = "") -> tuple[Path, Path]:
    """A stand-in for apt-get: logs its arguments, prints apt's dlstatus lines, and for
    `download` copies `deb` into its working directory (or fails with `fail`)."""
    log = tmp_path / "apt.log"
    script = tmp_path / "fake-apt-get"
    done = 'echo "dlstatus:1:100.0000:Retrieving file 1 of 1"'
    download = f'echo "{fail}"; exit 100' if fail else f'cp "{deb}" . && {done}'
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$PWD $*" >> "{log}"\n'
        'case " $* " in\n'
        '  *" update "*) echo "dlstatus:1:40.0000:Retrieving index"; echo "Reading package lists..." ;;\n'
        f'  *" download "*) echo "dlstatus:1:0.0000:Retrieving file 1 of 1"; {download} ;;\n'
        "  *) exit 2 ;;\n"
        "esac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def _fashion_offline(closed_url: str, **overrides) -> FashionSources:
    return FashionSources(**{"mirrors": (closed_url,), "debian": None, "timeout_s": 2.0, **overrides})


# ---------------------------------------------------------------- CIFAR batches in the real format


def _py2_str(s: str) -> bytes:
    raw = s.encode("latin1")
    return b"U" + bytes([len(raw)]) + raw  # SHORT_BINSTRING, as Python 2 wrote str


def _py2_uint8_array(a: np.ndarray) -> bytes:
    """Opcodes of a uint8 array as Python 2 / NumPy 1 pickled it (protocol 2, data as BINSTRING)."""
    shape = b"(" + b"".join(b"J" + struct.pack("<i", d) for d in a.shape) + b"t"
    dtype = b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    payload = a.tobytes()
    return (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
        b"(K\x01" + shape + dtype + b"\x89T" + struct.pack("<I", len(payload)) + payload + b"tb"
    )


def _py2_int_list(values) -> bytes:
    return b"](" + b"".join(b"J" + struct.pack("<i", int(v)) for v in values) + b"e"


def _cifar_batch(x: np.ndarray, labels: dict[str, np.ndarray]) -> bytes:
    """A CIFAR batch as the real files hold it: a Python-2 pickled dict with "data" uint8
    (N, 3072) (the R, G and B planes of each image, row-major) and integer label lists."""
    planes = x.transpose(0, 3, 1, 2).reshape(len(x), 3072)  # (N, H, W, C) -> (N, C*H*W)
    items = _py2_str("batch_label") + _py2_str("training batch 1 of 5") + _py2_str("data") + _py2_uint8_array(planes)
    for key, y in labels.items():
        items += _py2_str(key) + _py2_int_list(y)
    items += _py2_str("filenames") + b"](" + b"".join(_py2_str(f"img_{i}.png") for i in range(len(x))) + b"e"
    return b"\x80\x02}(" + items + b"u."


def _cifar_members(name: str, arrays: dict[str, np.ndarray], coarse: np.ndarray | None = None) -> dict[str, bytes]:
    """{member path: bytes} of a CIFAR archive holding `arrays`, with the real member names."""
    layout = LAYOUTS[name]
    members = {}
    for part, files in (("train", layout.train), ("test", layout.test)):
        xs = np.array_split(arrays[f"{part}_x"], len(files))
        ys = np.array_split(arrays[f"{part}_y"], len(files))
        for i, file in enumerate(files):
            labels = {layout.label_key: ys[i]}
            if coarse is not None:
                labels["coarse_labels"] = coarse[: len(ys[i])]
            members[f"{layout.folder}/{file}"] = _cifar_batch(xs[i], labels)
    meta = "batches.meta" if name == "cifar10" else "meta"
    members[f"{layout.folder}/{meta}"] = b"\x80\x02}(" + _py2_str("num_cases_per_batch") + b"K\x04u."
    return members


def _tar_gz(path: Path, members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member, raw in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def _cifar_offline(closed_url: str, md5: str = "0" * 32) -> CifarSources:
    return CifarSources(md5=md5, mirrors=(closed_url,), timeout_s=2.0)


# ---------------------------------------------------------------- SVHN .mat files


def _write_mat(path: Path, x: np.ndarray, digits: np.ndarray, y_dtype=np.uint8) -> None:
    """SVHN's layout: X uint8 (32, 32, 3, N), y (N, 1) with the digit 0 stored as 10."""
    from scipy.io import savemat

    path.parent.mkdir(parents=True, exist_ok=True)
    y = np.where(digits == 0, 10, digits).astype(y_dtype).reshape(-1, 1)
    savemat(path, {"X": np.ascontiguousarray(x.transpose(1, 2, 3, 0)), "y": y}, do_compression=True)


def _svhn_files(directory: Path, arrays: dict[str, np.ndarray], y_dtype=np.uint8) -> tuple[tuple[str, str], ...]:
    md5 = []
    for part, name in (("train", "train_32x32.mat"), ("test", "test_32x32.mat")):
        _write_mat(directory / name, arrays[f"{part}_x"], arrays[f"{part}_y"], y_dtype)
        md5.append((name, _md5((directory / name).read_bytes())))
    return tuple(md5)


# ================================================================ registry and CLI


def test_registry_names_every_dataset_and_rejects_unknown_ones():
    """load_dataset knows the five data sets (with forgiving spellings) and names them when asked
    for another."""
    assert data.dataset_names() == ("mnist", "fashion-mnist", "cifar10", "cifar100", "svhn")
    assert data.get_dataset("Fashion_MNIST").info.name == "fashion-mnist"
    assert data.get_dataset("CIFAR-100").info.num_classes == 100
    with pytest.raises(ValueError, match="cifar10, cifar100, svhn"):
        load_dataset("imagenet")


def test_cli_help_lists_datasets_and_cli_loads_by_name(root, capsys):
    """`python -m core.data --help` lists every data set; `--dataset NAME` loads that one and
    prints its shapes and cache path; an unknown name is a usage error."""
    with pytest.raises(SystemExit) as info:
        data.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in data.dataset_names()) and "--dataset" in out
    _write_idx_set(root / "fashion-mnist", _grey())
    assert data.main(["--dataset", "fashion-mnist", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Fashion-MNIST" in out and "(20, 28, 28)" in out and str(root / "fashion-mnist.npz") in out
    assert data.main(["--dataset", "imagenet"]) == 2
    assert "imagenet" in capsys.readouterr().err


def test_unavailable_error_keeps_its_mnist_name():
    """`except MnistUnavailableError` (existing callers) catches every data set's error."""
    assert MnistUnavailableError is DatasetUnavailableError
    assert data.MnistArrays is data.DatasetArrays and data.MnistSplit is data.DataSplit


# ================================================================ Fashion-MNIST


def test_fashion_local_directory_comes_first_and_is_its_own(root, closed_url):
    """Fashion-MNIST's IDX files in <data dir>/fashion-mnist/ are used without any network,
    and MNIST's files (same names) in the data directory itself are not mistaken for them."""
    mnist_like, fashion = _grey(seed=1), _grey(seed=2)
    _write_idx_set(root, mnist_like)
    _write_idx_set(root / "fashion-mnist", fashion)
    got = load_dataset("fashion-mnist", sources=_fashion_offline(closed_url))
    _assert_same(got, fashion)
    assert got.name == "fashion-mnist" and got.num_classes == 10 and "fashion-mnist" in got.source
    assert got.cache_path == root / "fashion-mnist.npz" and got.cache_path.is_file()
    assert load_dataset("fashion-mnist", sources=_fashion_offline(closed_url)).source.startswith("cache")


def test_fashion_mirror_files_must_match_their_md5(root, server):
    """Files from a mirror are accepted only with the published MD5s: right digests load and
    cache; one wrong digest is refused, naming the file, and leaves nothing behind."""
    url, www = server
    arrays = _grey()
    md5 = _write_idx_set(www / "fashion", arrays)
    wrong = tuple((n, "0" * 32 if n.startswith("train-labels") else d) for n, d in md5)
    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset("fashion-mnist", sources=FashionSources(mirrors=(f"{url}fashion/",), md5=wrong, debian=None))
    assert "checksum mismatch" in str(info.value) and "train-labels-idx1-ubyte.gz" in str(info.value)
    assert _leftovers(root) == []
    got = load_dataset("fashion-mnist", sources=FashionSources(mirrors=(f"{url}fashion/",), md5=md5, debian=None))
    _assert_same(got, arrays)
    assert "mirrors" in got.source and _leftovers(root) == ["fashion-mnist.npz"]


def test_fashion_debian_fallback_unpacks_the_package_without_root(root, tmp_path, closed_url, fake_deb):
    """With the mirrors down, the .deb handed over by apt-get is unpacked by the real dpkg-deb and
    its re-compressed files decoded and checked by array SHA-256; apt runs on private state
    (lists, cache) inside the data directory's temp folder, without locking, reporting progress;
    and nothing but the cache is left."""
    deb, arrays = fake_deb
    apt, log = _fake_apt(tmp_path, deb)
    pkg = DebianPackage("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist", apt_get=(str(apt),))
    events = []
    got = load_dataset(
        "fashion-mnist",
        on_progress=lambda m, f: events.append((m, f)),
        sources=_fashion_offline(closed_url, debian=pkg, debian_sha256=_sha_pins(arrays)),
    )
    _assert_same(got, arrays)
    assert "Debian package dataset-fashion-mnist" in got.source
    assert _leftovers(root) == ["fashion-mnist.npz"]
    calls = log.read_text().splitlines()
    assert [c.split()[-1] for c in calls] == ["update", "dataset-fashion-mnist"]
    for call in calls:
        assert f"{root}/.fashion-mnist-download-" in call.split("Dir::State::Lists=")[1]
        assert "Debug::NoLocking=1" in call and "APT::Sandbox::User=" in call
    assert ("apt-get download dataset-fashion-mnist", 1.0) in events and ("apt-get update", 0.4) in events


def test_fashion_debian_arrays_must_match_the_pinned_sha256(root, tmp_path, closed_url, fake_deb):
    """Debian's .gz bytes are not upstream's, so the decoded arrays are what is checked: a package
    whose arrays differ from the pinned SHA-256s is refused and nothing is cached."""
    deb, arrays = fake_deb
    apt, _ = _fake_apt(tmp_path, deb)
    pins = (("train_x", "f" * 64),) + _sha_pins(arrays)[1:]
    pkg = DebianPackage("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist", apt_get=(str(apt),))
    with pytest.raises(DatasetUnavailableError, match="train_x has SHA-256"):
        load_dataset("fashion-mnist", sources=_fashion_offline(closed_url, debian=pkg, debian_sha256=pins))
    assert _leftovers(root) == []


def test_fashion_total_failure_explains_apt_and_the_local_directory(root, tmp_path, closed_url):
    """When the mirrors and apt-get both fail, the error gives apt's own message and says to put the
    four IDX files in <data dir>/fashion-mnist/ or set TUNABLE_DATA_DIR."""
    apt, _ = _fake_apt(tmp_path, None, fail="E: Unable to locate package dataset-fashion-mnist")
    pkg = DebianPackage("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist", apt_get=(str(apt),))
    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset("fashion-mnist", sources=_fashion_offline(closed_url, debian=pkg))
    message = str(info.value)
    assert "unreachable" in message and "exit 100" in message and "Unable to locate package" in message
    assert str(root / "fashion-mnist") in message and "train-images-idx3-ubyte" in message
    assert "TUNABLE_DATA_DIR" in message and "--dataset fashion-mnist" in message
    assert _leftovers(root) == []


def test_full_size_fashion_must_have_the_pinned_array_checksums():
    """Full-size Fashion-MNIST from any source must have 6,000/1,000 images per class and the
    pinned SHA-256 of every decoded array."""
    arrays = {
        "train_x": np.zeros((60000, 28, 28), np.uint8),
        "train_y": np.repeat(np.arange(10, dtype=np.uint8), 6000),
        "test_x": np.zeros((10000, 28, 28), np.uint8),
        "test_y": np.repeat(np.arange(10, dtype=np.uint8), 1000),
    }
    with pytest.raises(DataFormatError, match="train_x has SHA-256"):
        check_arrays(arrays, FASHION_INFO, "test")
    arrays["train_y"] = np.arange(60000).astype(np.uint8) % 10 + (np.arange(60000) < 5).astype(np.uint8)
    with pytest.raises(DataFormatError, match="class counts"):
        check_arrays(arrays, FASHION_INFO, "test")


def test_real_fashion_cache_if_present_is_the_real_data():
    """Where this machine has fetched Fashion-MNIST (`python -m core.data --dataset fashion-mnist`),
    its cache holds the real data: 60,000/10,000, 6,000/1,000 per class, pinned SHA-256s."""
    env = os.environ.get(data.ENV_VAR)
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tunable-sensitivity"
    cache = (Path(env) if env else user_cache) / "fashion-mnist.npz"
    if not cache.is_file():
        data_unavailable(f"no real Fashion-MNIST cache at {cache}")
    arrays, origin = data._read_cache(cache)
    assert arrays["train_x"].shape == (60000, 28, 28) and arrays["test_x"].shape == (10000, 28, 28)
    check_arrays(arrays, FASHION_INFO, str(cache))  # counts and all four pinned SHA-256s
    assert dict(FASHION_INFO.sha256) == {key: array_sha256(arrays[key]) for key in data.IDX_NAMES}


# ================================================================ CIFAR-10 / CIFAR-100


def test_cifar10_archive_from_a_mirror_is_verified_decoded_and_cached(root, server):
    """The published .tar.gz (real member names, Python-2 pickled batches of R, G, B planes) is
    checked against its MD5 and decoded to (N, 32, 32, 3) images with their labels, in batch order."""
    url, www = server
    arrays = _colour(10, 4, 10)
    raw = _tar_gz(www / "cifar-10-python.tar.gz", _cifar_members("cifar10", arrays))
    events = []
    got = load_dataset(
        "cifar10", on_progress=lambda m, f: events.append((m, f)), sources=CifarSources(md5=_md5(raw), mirrors=(url,))
    )
    _assert_same(got, arrays)
    assert got.name == "cifar10" and got.num_classes == 10 and "MD5 verified" in got.source
    assert _leftovers(root) == ["cifar10.npz"]
    assert any(f == 1.0 for _, f in events)


def test_cifar_checksum_mismatch_and_corrupt_archive_are_rejected(root, server):
    """An archive whose MD5 differs is refused; one with the right MD5 but cut short is refused as
    unreadable; neither leaves a cache or temp file."""
    url, www = server
    raw = _tar_gz(www / "cifar-10-python.tar.gz", _cifar_members("cifar10", _colour(10, 4, 10)))
    with pytest.raises(DatasetUnavailableError, match="checksum mismatch"):
        load_dataset("cifar10", sources=CifarSources(md5="0" * 32, mirrors=(url,)))
    (www / "cifar-10-python.tar.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetUnavailableError, match=r"cifar-10-python\.tar\.gz.*(cannot read|not a readable)"):
        load_dataset("cifar10", sources=CifarSources(md5=_md5(raw[: len(raw) // 2]), mirrors=(url,)))
    assert _leftovers(root) == []


@pytest.mark.parametrize("form", ["unpacked-folder", "archive"])
def test_cifar_local_files_are_used_without_any_network(root, closed_url, form):
    """In the data directory, the unpacked cifar-10-batches-py/ folder or the .tar.gz as published
    is read before any download."""
    arrays = _colour(10, 4, 10)
    members = _cifar_members("cifar10", arrays)
    if form == "archive":
        _tar_gz(root / "cifar-10-python.tar.gz", members)
    else:
        for member, raw in members.items():
            (root / member).parent.mkdir(parents=True, exist_ok=True)
            (root / member).write_bytes(raw)
    got = load_dataset("cifar10", sources=_cifar_offline(closed_url))
    _assert_same(got, arrays)
    assert str(root) in got.source


def test_cifar100_uses_the_fine_labels(root, closed_url):
    """CIFAR-100 is loaded with its 100 fine labels, not the 20 coarse ones."""
    arrays = _colour(200, 100, 100)
    coarse = (np.arange(200) % 20).astype(np.uint8)[::-1]
    _tar_gz(root / "cifar-100-python.tar.gz", _cifar_members("cifar100", arrays, coarse=coarse))
    got = load_dataset("cifar100", sources=_cifar_offline(closed_url))
    _assert_same(got, arrays)
    assert got.num_classes == 100 and int(got.train_y.max()) == 99


def test_cifar_reads_python3_pickles_with_bytes_keys(root, closed_url):
    """Batches re-pickled by Python 3 (protocol 4, bytes keys, label arrays) load the same."""
    arrays = _colour(5, 2, 10)
    layout = LAYOUTS["cifar10"]
    members = {}
    for part, files in (("train", layout.train), ("test", layout.test)):
        xs, ys = np.array_split(arrays[f"{part}_x"], len(files)), np.array_split(arrays[f"{part}_y"], len(files))
        for file, x, y in zip(files, xs, ys):
            batch = {b"data": x.transpose(0, 3, 1, 2).reshape(len(x), 3072), b"labels": y.astype(np.int64)}
            members[f"{layout.folder}/{file}"] = pickle.dumps(batch, protocol=4)
    _tar_gz(root / "cifar-10-python.tar.gz", members)
    _assert_same(load_dataset("cifar10", sources=_cifar_offline(closed_url)), arrays)


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_cifar_hostile_pickle_is_refused_unexecuted(root, tmp_path, closed_url):
    """A batch pickle that would call os.system is refused before anything runs."""
    marker = tmp_path / "pwned"
    members = _cifar_members("cifar10", _colour(10, 4, 10))
    members["cifar-10-batches-py/data_batch_3"] = pickle.dumps({"data": _Evil(marker)}, protocol=2)
    _tar_gz(root / "cifar-10-python.tar.gz", members)
    with pytest.raises(DatasetUnavailableError, match="refusing"):
        load_dataset("cifar10", sources=_cifar_offline(closed_url))
    assert not marker.exists() and _leftovers(root) == ["cifar-10-python.tar.gz"]


def test_cifar_unreachable_error_names_the_local_option(root, closed_url):
    """With no local files and no reachable source, the error lists both attempts and says which
    archive or folder to put where."""
    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset("cifar10", sources=_cifar_offline(closed_url))
    message = str(info.value)
    assert "unreachable" in message and "local CIFAR-10 files" in message
    assert "cifar-10-python.tar.gz" in message and "cifar-10-batches-py/" in message and "data_batch_5" in message
    assert str(root) in message and "TUNABLE_DATA_DIR" in message and "--dataset cifar10" in message
    assert _leftovers(root) == []


def test_full_size_cifar_must_have_the_known_class_counts():
    """Full-size CIFAR-10 (50,000/10,000) must have 5,000/1,000 images per class."""
    images = np.broadcast_to(np.zeros((1, 32, 32, 3), np.uint8), (50000, 32, 32, 3))
    arrays = {
        "train_x": images,
        "train_y": np.repeat(np.arange(10, dtype=np.uint8), 5000),
        "test_x": images[:10000],
        "test_y": np.repeat(np.arange(10, dtype=np.uint8), 1000),
    }
    check_arrays(arrays, LAYOUTS["cifar10"].info, "test")
    arrays["test_y"] = np.zeros(10000, np.uint8)
    with pytest.raises(DataFormatError, match="class counts"):
        check_arrays(arrays, LAYOUTS["cifar10"].info, "test")


# ================================================================ SVHN


def test_svhn_from_a_mirror_maps_label_10_to_digit_0(root, server):
    """SVHN's two .mat files (X (32, 32, 3, N), y (N, 1)) are MD5-checked and decoded to
    (N, 32, 32, 3) images, with the label 10 turned into the digit 0."""
    url, www = server
    arrays = _colour(12, 6, 10)
    md5 = _svhn_files(www, arrays)
    got = load_dataset("svhn", sources=SvhnSources(mirrors=(url,), md5=md5))
    _assert_same(got, arrays)
    assert int((got.train_y == 0).sum()) == 2 and "MD5 verified" in got.source
    assert _leftovers(root) == ["svhn.npz"]
    with pytest.raises(DatasetUnavailableError, match="checksum mismatch"):
        wrong = (md5[0], ("test_32x32.mat", "0" * 32))
        load_dataset("svhn", data_dir=root / "other", sources=SvhnSources(mirrors=(url,), md5=wrong))


@pytest.mark.parametrize("y_dtype", [np.uint8, np.float64], ids=["uint8-y", "double-y"])
def test_svhn_local_files_are_used_and_labels_10_become_0(root, closed_url, y_dtype):
    """train_32x32.mat and test_32x32.mat in the data directory are read with no network, whatever
    numeric type y has, and 10 becomes 0."""
    arrays = _colour(10, 5, 10)
    _svhn_files(root, arrays, y_dtype=y_dtype)
    got = load_dataset("svhn", sources=SvhnSources(mirrors=(closed_url,), timeout_s=2.0))
    _assert_same(got, arrays)
    assert ".mat files in" in got.source


def test_svhn_corrupt_or_wrong_files_are_rejected(root, closed_url):
    """A .mat file that is not MATLAB data, or holds labels outside 1..10, is refused with a
    message naming the file, and nothing is cached."""
    from scipy.io import savemat

    arrays = _colour(4, 2, 10)
    _svhn_files(root, arrays)
    (root / "test_32x32.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    offline = SvhnSources(mirrors=(closed_url,), timeout_s=2.0)
    with pytest.raises(DatasetUnavailableError, match="test_32x32.mat: not a readable"):
        load_dataset("svhn", sources=offline)
    savemat(root / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[0], [11]], np.uint8)})
    with pytest.raises(DatasetUnavailableError, match="integers 1..10"):
        load_dataset("svhn", sources=offline)
    assert "svhn.npz" not in _leftovers(root)


def test_svhn_unreachable_error_names_the_files(root, closed_url):
    """With nothing local or reachable, the error says to put both .mat files in the data directory."""
    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset("svhn", sources=SvhnSources(mirrors=(closed_url,), timeout_s=2.0))
    message = str(info.value)
    assert "train_32x32.mat and test_32x32.mat" in message and str(root) in message and "unreachable" in message


def test_full_size_svhn_must_have_the_known_class_counts():
    """Full-size SVHN (73,257/26,032) must have its known per-digit counts."""
    train_y = np.repeat(np.arange(10, dtype=np.uint8), SVHN_INFO.train_counts)
    test_y = np.repeat(np.arange(10, dtype=np.uint8), SVHN_INFO.test_counts)
    images = np.broadcast_to(np.zeros((1, 32, 32, 3), np.uint8), (len(train_y), 32, 32, 3))
    arrays = {"train_x": images, "train_y": train_y, "test_x": images[: len(test_y)], "test_y": test_y}
    check_arrays(arrays, SVHN_INFO, "test")
    arrays["train_y"] = np.sort(train_y % 9)
    with pytest.raises(DataFormatError, match="class counts"):
        check_arrays(arrays, SVHN_INFO, "test")


# ================================================================ load_split


def test_colour_split_is_flat_and_standardized_with_training_statistics(root, closed_url):
    """A colour split is float32 (N, 3072) in (H, W, C) order, standardized per channel with the
    mean and std of the training part only (validation = the last val_size training images), and
    carries what a trainer needs: data set, classes, input width, image shape, constants."""
    arrays = _colour(10, 4, 10, seed=5)
    _tar_gz(root / "cifar-10-python.tar.gz", _cifar_members("cifar10", arrays))
    split = load_split(dataset="cifar10", val_size=3, sources=_cifar_offline(closed_url))
    fit = arrays["train_x"][:7].astype(np.float64) / 255  # (7, 32, 32, 3)
    mean, std = fit.mean(axis=(0, 1, 2)), fit.std(axis=(0, 1, 2))
    np.testing.assert_allclose(split.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(split.std, std, rtol=1e-12)

    def expected(x):
        return torch.from_numpy(((x / 255 - mean) / std).reshape(len(x), 3072))

    torch.testing.assert_close(split.train_x.double(), expected(arrays["train_x"][:7]), rtol=0, atol=1e-5)
    torch.testing.assert_close(split.val_x.double(), expected(arrays["train_x"][7:]), rtol=0, atol=1e-5)
    torch.testing.assert_close(split.test_x.double(), expected(arrays["test_x"]), rtol=0, atol=1e-5)
    assert split.train_x.dtype == torch.float32 and split.train_y.dtype == torch.int64
    assert split.val_y.tolist() == arrays["train_y"][7:].tolist()
    assert (split.dataset, split.num_classes, split.input_dim, split.image_shape) == ("cifar10", 10, 3072, (32, 32, 3))
    per_channel = split.train_x.view(-1, 3).double()
    torch.testing.assert_close(per_channel.mean(0), torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-6)
    torch.testing.assert_close(per_channel.std(0, correction=0), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-5)


def test_grey_split_subset_and_default_validation_size(root, closed_url):
    """Fashion-MNIST's split is (N, 784) standardized with one channel's statistics, which do not
    depend on `subset`; the default validation size (10,000) must fit the data."""
    _write_idx_set(root / "fashion-mnist", _grey())
    offline = _fashion_offline(closed_url)
    full = load_split(dataset="fashion-mnist", val_size=5, sources=offline)
    small = load_split(dataset="fashion-mnist", val_size=5, subset=(3, 2, 0), sources=offline)
    assert full.input_dim == 784 and len(full.mean) == 1 and full.train_x.shape == (15, 784)
    assert (len(small.train_x), len(small.val_x), small.test_x.shape) == (3, 2, (0, 784))
    assert small.mean == full.mean and torch.equal(small.train_x, full.train_x[:3])
    with pytest.raises(ValueError, match="val_size=10000"):
        load_split(dataset="fashion-mnist", sources=offline)


def test_svhn_default_validation_is_a_tenth_and_channel_stats_are_exact():
    """SVHN holds out 7,326 (10%) of its training images by default; channel_stats equals NumPy's
    float64 mean and population std."""
    assert data.get_dataset("svhn").info.val_size == 7326
    x = np.random.default_rng(0).integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    mean, std = data.channel_stats(x)
    np.testing.assert_allclose(mean, (x / 255).mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(std, (x / 255).std(axis=(0, 1, 2)), rtol=1e-10)
