"""CIFAR-10 and CIFAR-100 from the python pickle batches (read with a NumPy-only unpickler)."""
from __future__ import annotations

import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

import numpy as np

from .datasets import Dataset, cache_dir, check_labels, data_search_path, not_found
from .download import download


_CIFAR = {
    "cifar-10": {
        "subdir": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": "batches.meta",
        "labels": {"fine": (b"labels", b"label_names", 10)},
        "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "checksum": ("sha256", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    },
    "cifar-100": {
        "subdir": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": "meta",
        "labels": {
            "fine": (b"fine_labels", b"fine_label_names", 100),
            "coarse": (b"coarse_labels", b"coarse_label_names", 20),
        },
        "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "checksum": ("sha256", "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),
    },
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that only builds NumPy arrays and plain containers (no arbitrary code)."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core") and int(np.__version__.split(".")[0]) >= 2:
            module = "numpy._core" + module[len("numpy.core"):]
        return super().find_class(module, name)


def _load_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError,
            AttributeError, ImportError, IndexError, KeyError) as exc:
        raise ValueError(
            f"{path}: not a readable CIFAR pickle ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    return obj


def _read_cifar_batch(
    path: Path, label_key: bytes, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR batch: uint8 images (n, 3, 32, 32) and int64 labels (n,)."""
    batch = _load_pickle(path)
    if b"data" not in batch or label_key not in batch:
        raise ValueError(f"{path}: missing key b'data' or {label_key!r}")
    data = np.asarray(batch[b"data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(
            f"{path}: expected uint8 data of shape (n, 3072), found {data.dtype} {data.shape}"
        )
    labels = np.asarray(batch[label_key], dtype=np.int64).reshape(-1)
    if len(labels) != len(data):
        raise ValueError(f"{path}: {len(labels)} labels for {len(data)} images")
    check_labels(labels, n_classes, str(path))
    return data.reshape(-1, 3, 32, 32), labels


def _download_cifar(name: str) -> None:
    """Fetch and unpack the CIFAR archive into ``~/.cache/refimpl/<name>``."""
    spec = _CIFAR[name]
    dest_dir = cache_dir(name)
    archive = dest_dir / spec["url"].rsplit("/", 1)[1]
    created = not dest_dir.exists()
    try:
        download(spec["url"], archive, spec["checksum"], name)
        tmp = Path(tempfile.mkdtemp(dir=dest_dir, prefix=".extract-"))
        try:
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(tmp, filter="data")
                else:  # Python without extraction filters: refuse unsafe member names
                    for m in tar.getmembers():
                        unsafe = m.name.startswith("/") or ".." in Path(m.name).parts
                        if unsafe or not (m.isfile() or m.isdir()):
                            raise ValueError(f"{archive}: unsafe archive member {m.name!r}")
                    tar.extractall(tmp)
            target = dest_dir / spec["subdir"]
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp / spec["subdir"], target)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{archive}: could not unpack ({exc})") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            archive.unlink(missing_ok=True)
    finally:
        if created:
            try:
                dest_dir.rmdir()
            except OSError:
                pass


def find_cifar(name: str) -> tuple[Path | None, list[Path]]:
    """The first searched directory holding CIFAR ``name``'s batches, and the directories searched."""
    spec = _CIFAR[name]
    wanted = spec["train"] + spec["test"]
    searched = []
    for root in data_search_path(name):
        for directory in (root, root / spec["subdir"]):
            searched.append(directory)
            if all((directory / f).is_file() for f in wanted):
                return directory, searched
    return None, searched


def load_cifar(
    name: str = "cifar-10",
    label_mode: str = "fine",
    *,
    download: bool = False,
    normalize: bool = True,
) -> Dataset:
    """CIFAR-10 or CIFAR-100 from the python pickle batches.

    For each directory ``d`` of :func:`data_search_path` (``name``), looks in ``d`` and in the
    extracted subdirectory ``d/cifar-10-batches-py`` (``d/cifar-100-python``) for
    ``data_batch_1..5`` and ``test_batch`` (CIFAR-100: ``train`` and ``test``); class names
    come from ``batches.meta`` (``meta``) when present. The pickles are read with a restricted
    unpickler that builds only NumPy arrays and plain containers.

    Args:
        name: ``"cifar-10"`` or ``"cifar-100"``.
        label_mode: CIFAR-100 only: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
        download: if not found, fetch and unpack the canonical archive (SHA-256 checked)
            into ``~/.cache/refimpl/<name>``.
        normalize: ``float32`` images in ``[0, 1]``; if False, raw ``uint8``.

    Returns:
        A :class:`Dataset` with ``x_*`` ``(N, 3, 32, 32)`` and ``y_*`` ``int64`` ``(N,)``
        (50,000 / 10,000 examples for the real data).

    Raises:
        ValueError: unknown ``name`` or ``label_mode``, or a corrupt/malformed file (named).
        DatasetNotFoundError: the files are in no searched directory (and were not downloaded).
    """
    if name not in _CIFAR:
        raise ValueError(f"unknown CIFAR data set {name!r}; known: {', '.join(_CIFAR)}")
    spec = _CIFAR[name]
    if label_mode not in spec["labels"]:
        raise ValueError(
            f"label_mode for {name} must be one of {list(spec['labels'])}, got {label_mode!r}"
        )
    label_key, names_key, n_classes = spec["labels"][label_mode]
    wanted = spec["train"] + spec["test"]

    directory, searched = find_cifar(name)
    if directory is None and download:
        _download_cifar(name)
        directory, searched = find_cifar(name)
    if directory is None:
        raise not_found(name, searched, wanted)

    def read(filenames: list[str]) -> tuple[np.ndarray, np.ndarray]:
        parts = [_read_cifar_batch(directory / f, label_key, n_classes) for f in filenames]
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        return (x.astype(np.float32) / np.float32(255) if normalize else x), y

    x_train, y_train = read(spec["train"])
    x_test, y_test = read(spec["test"])
    classes = None
    meta_path = directory / spec["meta"]
    if meta_path.is_file():
        meta = _load_pickle(meta_path)
        if names_key in meta:
            classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta[names_key])
            if len(classes) != n_classes:
                raise ValueError(f"{meta_path}: {len(classes)} class names, expected {n_classes}")
    return Dataset(x_train, y_train, x_test, y_test, name, classes, str(directory))


