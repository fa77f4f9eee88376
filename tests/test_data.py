"""Tests for refimpl.data: file formats, search path, loaders, downloads and helpers."""
from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from refimpl import data
from refimpl.data import cifar, datasets, download
from refimpl.data import Dataset, DatasetNotFoundError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


# ----------------------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array in the IDX format (big-endian header and payload)."""
    codes = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
             np.float32: 0x0D, np.float64: 0x0E}
    code = codes[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, payload: bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def write_idx_dataset(directory: Path, n_train=12, n_test=6, n_classes=10, label_offset=0,
                      files=IDX_NAMES, seed=0, gz=(True, False, True, False), suffix=True):
    """Four synthetic IDX files (some gzipped) with every class present; returns the arrays."""
    rng = np.random.default_rng(seed)
    x_tr = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    x_te = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    y_tr = (np.arange(n_train) % n_classes + label_offset).astype(np.uint8)
    y_te = (np.arange(n_test) % n_classes + label_offset).astype(np.uint8)
    for name, arr, z in zip(files, (x_tr, y_tr, x_te, y_te), gz):
        write(directory / (name + (".gz" if z and suffix else "")), idx_bytes(arr), gz=z)
    return x_tr, y_tr, x_te, y_te


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Empty $REFIMPL_DATA, $HOME and system data directory under tmp_path."""
    monkeypatch.setenv("REFIMPL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", tmp_path / "system")
    return tmp_path


# ----------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_roundtrip(tmp_path, gz, dtype):
    arr = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    if dtype == np.uint8:
        arr = np.arange(30, dtype=np.uint8).reshape(2, 3, 5)
    path = write(tmp_path / "a.idx", idx_bytes(arr), gz=gz)
    out = data.read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)
    out[0, 0, 0] = 1  # a writable copy


def test_read_idx_images_and_labels(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1], dtype=np.uint8)
    pi = write(tmp_path / "img.gz", idx_bytes(images), gz=True)
    pl = write(tmp_path / "lab", idx_bytes(labels))
    x, y = data.read_idx_images(pi), data.read_idx_labels(pl)
    assert x.dtype == np.uint8 and x.shape == (4, 28, 28)
    assert y.dtype == np.uint8 and y.shape == (4,)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_gzip_detected_by_content_not_extension(tmp_path):
    arr = np.arange(6, dtype=np.uint8)
    compressed = write(tmp_path / "no-suffix", idx_bytes(arr), gz=True)
    raw = write(tmp_path / "misnamed.gz", idx_bytes(arr), gz=False)
    np.testing.assert_array_equal(data.read_idx(compressed), arr)
    np.testing.assert_array_equal(data.read_idx(raw), arr)


def test_wrong_magic_names_file_and_both_magics(tmp_path):
    path = write(tmp_path / "labels-file", idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match="labels-file") as err:
        data.read_idx_images(path)
    assert "2051" in str(err.value) and "2049" in str(err.value)
    with pytest.raises(ValueError, match="labels-file"):
        data.read_idx_labels(write(tmp_path / "labels-file", idx_bytes(np.zeros((1, 2, 2), np.uint8))))


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_and_oversized_payloads(tmp_path, gz):
    good = idx_bytes(np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="short-file.*truncated"):
        data.read_idx(write(tmp_path / "short-file", good[:-1], gz=gz))
    with pytest.raises(ValueError, match="long-file.*oversized"):
        data.read_idx(write(tmp_path / "long-file", good + b"\0", gz=gz))
    with pytest.raises(ValueError, match="header-only"):
        data.read_idx(write(tmp_path / "header-only", good[:10], gz=gz))


def test_bad_type_code_and_non_idx(tmp_path):
    with pytest.raises(ValueError, match="type-file.*type code"):
        data.read_idx(write(tmp_path / "type-file", bytes([0, 0, 0x0A, 1, 0, 0, 0, 0])))
    with pytest.raises(ValueError, match="text-file.*not an IDX"):
        data.read_idx(write(tmp_path / "text-file", b"hello world"))


def test_corrupt_gzip_names_file(tmp_path):
    blob = gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8)))
    with pytest.raises(ValueError, match="cut.gz.*gzip"):
        data.read_idx(write(tmp_path / "cut.gz", blob[: len(blob) // 2]))
    garbled = blob[:10] + bytes(b ^ 0xFF for b in blob[10:30]) + blob[30:]
    with pytest.raises(ValueError, match="garbled.gz.*gzip"):
        data.read_idx(write(tmp_path / "garbled.gz", garbled))


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        data.read_idx(tmp_path / "nope")


# ----------------------------------------------------------------------------- search path


def test_search_path_order(tmp_path, monkeypatch):
    monkeypatch.setenv("REFIMPL_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert data.data_search_path("x") == [
        tmp_path / "d" / "x", tmp_path / "h" / ".cache" / "refimpl" / "x",
        Path("/usr/share/datasets/x")]
    monkeypatch.delenv("REFIMPL_DATA")
    assert data.data_search_path("x")[0] == tmp_path / "h" / ".cache" / "refimpl" / "x"


def test_not_found_names_every_searched_path(isolated):
    with pytest.raises(DatasetNotFoundError) as err:
        data.load_idx_dataset("nosuch")
    assert isinstance(err.value, FileNotFoundError)
    message = str(err.value)
    for directory in data.data_search_path("nosuch"):
        assert str(directory) in message
    assert err.value.searched == data.data_search_path("nosuch")
    assert "train-images-idx3-ubyte" in message


def test_not_found_message_says_how_to_get_fashion_mnist(isolated):
    with pytest.raises(DatasetNotFoundError) as err:
        data.load_fashion_mnist()
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "download=True" in message
    for directory in data.data_search_path("fashion-mnist"):
        assert str(directory) in message


def test_cifar_not_found_lists_subdirectories(isolated):
    with pytest.raises(DatasetNotFoundError) as err:
        data.load_cifar("cifar-100")
    for directory in data.data_search_path("cifar-100"):
        assert str(directory) in str(err.value)
        assert str(directory / "cifar-100-python") in str(err.value)


# ----------------------------------------------------------------------------- IDX data sets


def test_generic_idx_dataset(isolated):
    x_tr, y_tr, x_te, y_te = write_idx_dataset(isolated / "data" / "toy")
    ds = data.load_idx_dataset("toy")
    assert isinstance(ds, Dataset) and ds.name == "toy" and ds.classes is None
    assert ds.source == str(isolated / "data" / "toy")
    assert ds.x_train.shape == (12, 1, 28, 28) and ds.x_test.shape == (6, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    np.testing.assert_array_equal(np.rint(ds.x_train[:, 0] * 255), x_tr)
    np.testing.assert_array_equal(ds.y_test, y_te)
    assert ds.n_classes == 10
    raw = data.load_idx_dataset("toy", normalize=False)
    assert raw.x_train.dtype == np.uint8
    np.testing.assert_array_equal(raw.x_train[:, 0], x_tr)


def test_refimpl_data_takes_precedence_over_cache(isolated):
    write_idx_dataset(isolated / "home" / ".cache" / "refimpl" / "toy", seed=1)
    x_tr, *_ = write_idx_dataset(isolated / "data" / "toy", seed=2)
    ds = data.load_idx_dataset("toy", normalize=False)
    np.testing.assert_array_equal(ds.x_train[:, 0], x_tr)


def test_idx_count_mismatch(isolated):
    directory = isolated / "data" / "toy"
    write_idx_dataset(directory)
    write(directory / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(ValueError, match="t10k-labels.*5 labels for 6 images"):
        data.load_idx_dataset("toy")


def test_labels_out_of_range_for_known_classes(isolated):
    write_idx_dataset(isolated / "data" / "mnist", n_classes=11)
    with pytest.raises(ValueError, match="labels range"):
        data.load_mnist()


def test_emnist_letters_transposed_and_shifted(isolated):
    split_files = [f"emnist-letters-{p}" for p in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                   "test-images-idx3-ubyte", "test-labels-idx1-ubyte")]
    x_tr, y_tr, _, y_te = write_idx_dataset(
        isolated / "data" / "emnist" / "gzip", n_train=52, n_test=26, n_classes=26,
        label_offset=1, files=split_files)
    ds = data.load_emnist("letters", normalize=False)
    assert ds.name == "emnist-letters" and ds.n_classes == 26 and ds.classes[0] == "A"
    np.testing.assert_array_equal(ds.y_train, y_tr.astype(np.int64) - 1)
    assert ds.y_test.min() == 0 and ds.y_test.max() == 25
    np.testing.assert_array_equal(ds.x_train[:, 0], x_tr.transpose(0, 2, 1))
    same = data.load_dataset("emnist-letters", normalize=False)
    np.testing.assert_array_equal(same.y_train, ds.y_train)
    with pytest.raises(ValueError, match="unknown EMNIST split"):
        data.load_emnist("nope")


@pytest.mark.data
@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_from_system_package():
    ds = data.load_fashion_mnist()
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(ds.y_train), np.full(10, 6000))
    assert ds.classes[0] == "T-shirt/top" and ds.n_classes == 10


# ----------------------------------------------------------------------------- digits


def test_load_digits():
    ds = data.load_digits()
    assert ds.x_train.shape == (1347, 1, 8, 8) and ds.x_test.shape == (450, 1, 8, 8)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    assert ds.n_classes == 10
    again, other = data.load_digits(seed=0), data.load_digits(seed=1)
    np.testing.assert_array_equal(ds.x_train, again.x_train)
    np.testing.assert_array_equal(ds.y_test, again.y_test)
    assert not np.array_equal(ds.y_train, other.y_train)
    # stratified: each class's share of the test set matches its share overall (to rounding)
    y_all = np.concatenate([ds.y_train, ds.y_test])
    expected = np.bincount(y_all) * 0.25
    assert np.all(np.abs(np.bincount(ds.y_test) - expected) <= 1)
    with pytest.raises(ValueError, match="test_fraction"):
        data.load_digits(test_fraction=1.0)


def test_load_dataset_dispatch():
    assert data.load_dataset("digits", seed=3).y_train.shape == (1347,)
    with pytest.raises(ValueError, match="unknown data set 'imagenet'.*fashion-mnist.*cifar-100"):
        data.load_dataset("imagenet")


# ----------------------------------------------------------------------------- CIFAR


def cifar_batch(n, rng, label_keys):
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"batch_label": b"x"}
    for key, k in label_keys.items():
        batch[key] = list(np.arange(n) % k)
    return batch


def dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=2))


def test_cifar10_reader(isolated):
    rng = np.random.default_rng(0)
    directory = isolated / "data" / "cifar-10" / "cifar-10-batches-py"
    batches = [cifar_batch(4, rng, {b"labels": 10}) for _ in range(6)]
    for i, b in enumerate(batches[:5], 1):
        dump(directory / f"data_batch_{i}", b)
    dump(directory / "test_batch", batches[5])
    dump(directory / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)]})
    ds = data.load_cifar("cifar-10")
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    np.testing.assert_array_equal(
        np.rint(ds.x_train[4:8] * 255).astype(np.uint8), batches[1][b"data"].reshape(4, 3, 32, 32))
    np.testing.assert_array_equal(ds.y_test, [0, 1, 2, 3])
    assert ds.classes == tuple(f"c{i}" for i in range(10)) and ds.source == str(directory)


def test_cifar100_in_directory_itself_and_label_modes(isolated):
    rng = np.random.default_rng(1)
    directory = isolated / "data" / "cifar-100"  # files directly in the named directory
    keys = {b"fine_labels": 100, b"coarse_labels": 20}
    dump(directory / "train", cifar_batch(30, rng, keys))
    dump(directory / "test", cifar_batch(25, rng, keys))
    fine = data.load_cifar("cifar-100")
    coarse = data.load_dataset("cifar-100", label_mode="coarse", normalize=False)
    assert fine.x_train.shape == (30, 3, 32, 32) and fine.classes is None
    assert fine.y_train.max() == 29 and coarse.y_train.max() == 19
    assert coarse.x_test.dtype == np.uint8 and coarse.x_test.shape == (25, 3, 32, 32)
    with pytest.raises(ValueError, match="label_mode"):
        data.load_cifar("cifar-10", label_mode="coarse")
    with pytest.raises(ValueError, match="unknown CIFAR"):
        data.load_cifar("cifar-11")


def test_cifar_old_numpy_pickles_load(isolated):
    """The real batches were pickled by NumPy 1 (module numpy.core.multiarray)."""
    rng = np.random.default_rng(2)
    directory = isolated / "data" / "cifar-100"
    keys = {b"fine_labels": 100, b"coarse_labels": 20}
    for name in ("train", "test"):
        blob = pickle.dumps(cifar_batch(3, rng, keys), protocol=2)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(blob.replace(b"numpy._core.", b"numpy.core."))
    assert data.load_cifar("cifar-100").x_train.shape == (3, 3, 32, 32)


@pytest.mark.parametrize("damage", ["truncate", "shape", "labels", "code"])
def test_cifar_corrupt_file_names_it(isolated, damage):
    rng = np.random.default_rng(3)
    directory = isolated / "data" / "cifar-100" / "cifar-100-python"
    keys = {b"fine_labels": 100, b"coarse_labels": 20}
    dump(directory / "train", cifar_batch(5, rng, keys))
    bad = cifar_batch(5, rng, keys)
    if damage == "shape":
        bad[b"data"] = bad[b"data"][:, :100]
    elif damage == "labels":
        bad[b"fine_labels"] = bad[b"fine_labels"][:4]
    dump(directory / "test", bad)
    if damage == "truncate":
        blob = (directory / "test").read_bytes()
        (directory / "test").write_bytes(blob[: len(blob) // 2])
    elif damage == "code":  # a pickle that would run code must be refused, not executed
        (directory / "test").write_bytes(pickle.dumps(print, protocol=2))
    with pytest.raises(ValueError, match=str(directory / "test")):
        data.load_cifar("cifar-100")


# ----------------------------------------------------------------------------- downloads


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


def test_download_offline_fails_clearly_and_leaves_nothing(isolated, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetNotFoundError) as err:
        data.load_fashion_mnist(download=True)
    message = str(err.value)
    assert "download" in message.lower() and "failed" in message and "no network" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert files_under(isolated / "home") == []
    assert not (isolated / "home" / ".cache" / "refimpl" / "fashion-mnist").exists()
    with pytest.raises(DatasetNotFoundError, match="failed"):
        data.load_cifar("cifar-10", download=True)
    assert files_under(isolated / "home") == []


def test_download_verifies_and_writes_atomically(isolated, monkeypatch):
    payloads = {}
    for name, arr in zip(IDX_NAMES, (np.zeros((2, 28, 28), np.uint8), np.array([0, 1], np.uint8),
                                     np.ones((1, 28, 28), np.uint8), np.array([1], np.uint8))):
        payloads["https://example.org/toy/" + name + ".gz"] = gzip.compress(idx_bytes(arr))
    checksums = {url.rsplit("/", 1)[1]: ("sha256", hashlib.sha256(blob).hexdigest())
                 for url, blob in payloads.items()}
    monkeypatch.setitem(download.IDX_DOWNLOADS, "toy", ("https://example.org/toy/", checksums))
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(payloads[url]))
    ds = data.load_idx_dataset("toy", download=True)
    cache = isolated / "home" / ".cache" / "refimpl" / "toy"
    assert ds.source == str(cache) and ds.x_test.shape == (1, 1, 28, 28)
    assert sorted(p.name for p in files_under(cache)) == sorted(checksums)

    # a corrupted transfer is rejected and leaves nothing behind
    first = next(iter(payloads))
    payloads[first] = payloads[first][:-1] + bytes([payloads[first][-1] ^ 1])
    for p in files_under(cache):
        p.unlink()
    with pytest.raises(ValueError, match="corrupt.*not kept"):
        data.load_idx_dataset("toy", download=True)
    assert files_under(cache) == []


def test_cifar_download_unpacks_into_cache(isolated, monkeypatch):
    rng = np.random.default_rng(4)
    staging = isolated / "staging" / "cifar-10-batches-py"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        dump(staging / name, cifar_batch(2, rng, {b"labels": 10}))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(staging, arcname="cifar-10-batches-py")
    blob = buffer.getvalue()
    monkeypatch.setitem(cifar._CIFAR["cifar-10"], "checksum",
                        ("sha256", hashlib.sha256(blob).hexdigest()))
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(blob))
    ds = data.load_cifar("cifar-10", download=True)
    cache = isolated / "home" / ".cache" / "refimpl" / "cifar-10"
    assert ds.x_train.shape == (10, 3, 32, 32) and ds.source == str(cache / "cifar-10-batches-py")
    assert sorted(p.name for p in cache.iterdir()) == ["cifar-10-batches-py"]  # archive removed


def test_download_without_checksum_warns(isolated, monkeypatch):
    blob = gzip.compress(idx_bytes(np.zeros(1, np.uint8)))
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(blob))
    with pytest.warns(UserWarning, match="not verified"):
        download.download("https://example.org/f", isolated / "f", None, "toy")
    assert (isolated / "f").read_bytes() == blob


def test_download_not_available_says_so(isolated):
    with pytest.raises(DatasetNotFoundError, match="download=True is not available"):
        data.load_idx_dataset("toy", download=True)


# ----------------------------------------------------------------------------- helpers


def test_train_val_split():
    x = np.arange(100).reshape(100, 1) * 10
    y = np.arange(100) % 4
    x_tr, y_tr, x_va, y_va = data.train_val_split(x, y, 0.2, seed=0)
    assert len(x_tr) == 80 and len(x_va) == 20
    assert set(x_tr[:, 0]).isdisjoint(x_va[:, 0])
    np.testing.assert_array_equal(np.sort(np.concatenate([x_tr, x_va])[:, 0]), x[:, 0])
    np.testing.assert_array_equal(y_tr, x_tr[:, 0] // 10 % 4)  # pairs stay together
    again = data.train_val_split(x, y, 0.2, seed=0)
    np.testing.assert_array_equal(again[2], x_va)
    assert not np.array_equal(data.train_val_split(x, y, 0.2, seed=1)[2], x_va)


def test_train_val_split_stratified():
    y = np.array([0] * 50 + [1] * 30 + [2] * 20)
    x = np.arange(100)
    x_tr, y_tr, x_va, y_va = data.train_val_split(x, y, 0.1, seed=0, stratify=True)
    np.testing.assert_array_equal(np.bincount(y_va), [5, 3, 2])
    assert len(x_tr) == 90 and set(x_tr).isdisjoint(x_va)
    np.testing.assert_array_equal(y[x_va], y_va)
    np.testing.assert_array_equal(
        data.train_val_split(x, y, 0.1, seed=0, stratify=True)[2], x_va)


def test_train_val_split_errors():
    with pytest.raises(ValueError, match="lengths"):
        data.train_val_split(np.zeros(5), np.zeros(4), seed=0)
    with pytest.raises(ValueError, match="empty"):
        data.train_val_split(np.zeros(5), np.zeros(5), 0.01, seed=0)


def test_flatten_and_one_hot():
    assert data.flatten(np.zeros((3, 1, 4, 5))).shape == (3, 20)
    oh = data.one_hot(np.array([2, 0, 1]), 3)
    assert oh.dtype == np.float32
    np.testing.assert_array_equal(oh, np.eye(3)[[2, 0, 1]])
    assert data.one_hot([1], 2, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="range"):
        data.one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="range"):
        data.one_hot(np.array([-1]), 3)
    with pytest.raises(ValueError, match="integer"):
        data.one_hot(np.array([0.5]), 3)


def test_class_subset_relabels_in_given_order():
    y = np.array([0, 7, 3, 7, 1, 3])
    x = np.arange(6) * 100
    xs, ys = data.class_subset(x, y, [7, 3])
    np.testing.assert_array_equal(xs, [100, 200, 300, 500])
    np.testing.assert_array_equal(ys, [0, 1, 0, 1])
    assert ys.dtype == np.int64
    with pytest.raises(ValueError, match="repeat"):
        data.class_subset(x, y, [7, 7])
    with pytest.raises(ValueError, match="without examples"):
        data.class_subset(x, y, [9])


def test_balanced_subset():
    y = np.array([0] * 10 + [1] * 5 + [2] * 7)
    x = np.arange(len(y))
    xs, ys = data.balanced_subset(x, y, 4, seed=0)
    np.testing.assert_array_equal(np.bincount(ys), [4, 4, 4])
    np.testing.assert_array_equal(y[xs], ys)
    assert len(set(xs)) == 12
    np.testing.assert_array_equal(data.balanced_subset(x, y, 4, seed=0)[0], xs)
    with pytest.raises(ValueError, match=r"\[1\] have fewer than 6"):
        data.balanced_subset(x, y, 6, seed=0)


def test_subsample_is_balanced_where_possible():
    rng = np.random.default_rng(0)
    y_train = np.array([0] * 50 + [1] * 50 + [2] * 3)
    ds = Dataset(rng.random((103, 1, 2, 2), dtype=np.float32), y_train,
                 rng.random((30, 1, 2, 2), dtype=np.float32), np.arange(30) % 3,
                 "toy", ("a", "b", "c"), "memory")
    sub = data.subsample(ds, 21, 9, seed=0)
    np.testing.assert_array_equal(np.bincount(sub.y_train), [9, 9, 3])  # class 2 has only 3
    np.testing.assert_array_equal(np.bincount(sub.y_test), [3, 3, 3])
    assert sub.name == "toy" and sub.classes == ds.classes and sub.source == "memory"
    assert sub.x_train.shape == (21, 1, 2, 2)
    same = data.subsample(ds, 21, 9, seed=0)
    np.testing.assert_array_equal(same.x_train, sub.x_train)
    # rows are whole examples: each kept x row comes from ds with the matching label
    rows = {tuple(r.ravel()): label for r, label in zip(ds.x_train, ds.y_train)}
    assert all(rows[tuple(r.ravel())] == label for r, label in zip(sub.x_train, sub.y_train))
    with pytest.raises(ValueError, match="cannot draw"):
        data.subsample(ds, 200, 5, seed=0)


def test_health_data_takes_a_seed_and_refuses_a_nan_noise():
    from refimpl.data.synthetic import health_data
    x, y = health_data(3, 5)
    x2, y2 = health_data(np.random.default_rng(3), 5)
    assert x.shape == (5, 4) and y.shape == (5, 1) and np.array_equal(x, x2) and np.array_equal(y, y2)
    for noise in (np.nan, -0.1, np.inf):                          # NaN made every target NaN
        with pytest.raises(ValueError, match="noise"):
            health_data(3, 5, noise=noise)


def test_g_true_needs_four_inputs():
    from refimpl.data.synthetic import g_true
    assert g_true(np.zeros(4)) == 1 - 1                                      # 1 − 0 − 0 − 0 − e⁰
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):               # was: the first 4 of 5 columns
        g_true(np.zeros((3, 5)))
