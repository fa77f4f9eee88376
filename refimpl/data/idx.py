"""The MNIST family from IDX files: MNIST, Fashion-MNIST, KMNIST and EMNIST.

IDX is the MNIST file format (big-endian header, then the raw array); files may be raw or
gzip-compressed. Images come back ``(N, 1, 28, 28)``, ``float32`` in ``[0, 1]`` by default, and
labels ``int64``.
"""
from __future__ import annotations

import dataclasses
import gzip
import os
import zlib
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .datasets import Dataset, check_labels, data_search_path, not_found
from .download import IDX_DOWNLOADS, download_idx
from .embedded import DIGIT_CLASSES


# IDX type codes (third byte of the magic number) -> big-endian NumPy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IDX_IMAGES_MAGIC = 2051  # 0x00000803: ubyte, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: ubyte, 1 dimension


def _read_maybe_gzip(path: Path) -> bytes:
    """File contents, decompressed when they start with the gzip magic bytes 1f 8b."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt gzip data ({exc})") from exc


def read_idx(path: str | os.PathLike, *, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or raw.

    Compression is detected from the content (gzip magic bytes 1f 8b), not the file name.
    The header is a big-endian magic number ``0x0000TTDD`` (``TT``: type code, ``DD``:
    number of dimensions) followed by ``DD`` big-endian uint32 sizes. Supported type codes:
    0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.

    Args:
        path: the file.
        expected_magic: if given, the magic number the file must have (2051 for images,
            2049 for labels).

    Returns:
        An array of the dimensions in the header, in native byte order (a fresh, writable copy).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError (naming the file): corrupt gzip data; a magic number other than
            ``expected_magic`` or not of the IDX form; an unknown type code; a payload that
            is shorter or longer than the product of the dimensions.
    """
    path = Path(path)
    data = _read_maybe_gzip(path)
    if len(data) < 4:
        raise ValueError(f"{path}: too short to be an IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise ValueError(
            f"{path}: wrong IDX magic number: expected {expected_magic} (0x{expected_magic:08x}), "
            f"found {magic} (0x{magic:08x})"
        )
    type_code, ndim = data[2], data[3]
    if data[:2] != b"\x00\x00" or ndim == 0:
        raise ValueError(f"{path}: not an IDX file (magic number 0x{magic:08x})")
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02x}")
    dtype = _IDX_DTYPES[type_code]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "oversized"
        raise ValueError(
            f"{path}: {what} IDX payload: dimensions {dims} of {dtype.name} need "
            f"{expected} bytes, found {found}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def read_idx_images(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX image file (magic 2051): ``uint8`` array ``(N, rows, cols)``.

    Raises ValueError (naming the file) on a wrong magic number or a corrupt file; see
    :func:`read_idx`.
    """
    return read_idx(path, expected_magic=IDX_IMAGES_MAGIC)


def read_idx_labels(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX label file (magic 2049): ``uint8`` array ``(N,)``.

    Raises ValueError (naming the file) on a wrong magic number or a corrupt file; see
    :func:`read_idx`.
    """
    return read_idx(path, expected_magic=IDX_LABELS_MAGIC)





_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_UPPER = tuple(chr(c) for c in range(ord("A"), ord("Z") + 1))
_LOWER = tuple(chr(c) for c in range(ord("a"), ord("z") + 1))
_CLASSES = {
    "mnist": DIGIT_CLASSES,
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "kmnist": ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
}
_EMNIST_CLASSES = {
    "digits": DIGIT_CLASSES,
    "mnist": DIGIT_CLASSES,
    "letters": _UPPER,  # upper and lower case merged; file labels 1..26, shifted to 0..25
    "byclass": DIGIT_CLASSES + _UPPER + _LOWER,
    "bymerge": DIGIT_CLASSES + _UPPER + tuple("abdefghnqrt"),
    "balanced": DIGIT_CLASSES + _UPPER + tuple("abdefghnqrt"),
}

# Extra subdirectories searched under each root (the EMNIST zip unpacks into gzip/).
_SUBDIRS = {"emnist": ("", "gzip")}


def _find_file(directory: Path, base: str) -> Path | None:
    stem = base[:-3] if base.endswith(".gz") else base
    for candidate in (directory / stem, directory / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _find_idx_files(
    name: str, files: Mapping[str, str]
) -> tuple[dict[str, Path] | None, list[Path]]:
    """The first searched directory holding all ``files``, and the list of directories searched."""
    searched = []
    for root in data_search_path(name):
        for sub in _SUBDIRS.get(name, ("",)):
            directory = root / sub if sub else root
            searched.append(directory)
            found = {key: _find_file(directory, base) for key, base in files.items()}
            if all(found.values()):
                return found, searched
    return None, searched


def load_idx_dataset(
    name: str,
    *,
    files: Mapping[str, str] | None = None,
    download: bool = False,
    normalize: bool = True,
    transpose: bool = False,
    classes: Sequence[str] | None = None,
) -> Dataset:
    """Load an MNIST-family data set stored as four IDX files in the search path.

    The first directory of :func:`data_search_path` (``name``) that holds all four files is
    used. Each file may be raw or gzip-compressed, with or without a ``.gz`` suffix.

    Args:
        name: data set name, also the directory name searched for (e.g. ``"fashion-mnist"``).
        files: file names for the keys ``train_images``, ``train_labels``, ``test_images``,
            ``test_labels``; default the standard ``train-images-idx3-ubyte`` etc.
        download: if the files are not found, fetch them from the canonical URLs into
            ``~/.cache/refimpl/<name>`` (mnist, fashion-mnist, kmnist only), verifying checksums.
        normalize: return ``float32`` images in ``[0, 1]`` (pixel / 255); if False, the raw
            ``uint8`` pixels.
        transpose: swap rows and columns of every image (EMNIST stores images transposed).
        classes: class names in label order (used for ``Dataset.classes`` and to check the
            label range); default: known names for mnist/fashion-mnist/kmnist, else None.

    Returns:
        A :class:`Dataset` with ``x_*`` of shape ``(N, 1, rows, cols)`` (``float32`` or
        ``uint8``) and ``y_*`` ``int64`` of shape ``(N,)``.

    Raises:
        DatasetNotFoundError: the files are in no searched directory (and were not
            downloaded); the message names every directory searched and how to get the files.
        ValueError: a corrupt file, image and label counts that differ, or labels outside
            ``0..len(classes)-1``.
    """
    files = dict(_IDX_FILES if files is None else files)
    if set(files) != set(_IDX_FILES):
        raise ValueError(
            f"files must have exactly the keys {sorted(_IDX_FILES)}, got {sorted(files)}"
        )
    found, searched = _find_idx_files(name, files)
    note = ""
    if found is None and download:
        if name in IDX_DOWNLOADS:
            download_idx(name)
            found, searched = _find_idx_files(name, files)
        else:
            note = f" download=True is not available for {name!r}."
    if found is None:
        raise not_found(name, searched, [f + "[.gz]" for f in files.values()], note)

    def images(path: Path) -> np.ndarray:
        x = read_idx_images(path)
        if transpose:
            x = x.transpose(0, 2, 1)
        x = x[:, None, :, :]
        return x.astype(np.float32) / np.float32(255) if normalize else np.ascontiguousarray(x)

    def labels(path: Path, n_images: int) -> np.ndarray:
        y = read_idx_labels(path).astype(np.int64)
        if len(y) != n_images:
            raise ValueError(f"{path}: {len(y)} labels for {n_images} images")
        return y

    x_train = images(found["train_images"])
    y_train = labels(found["train_labels"], len(x_train))
    x_test = images(found["test_images"])
    y_test = labels(found["test_labels"], len(x_test))
    if classes is None:
        classes = _CLASSES.get(name)
    if classes is not None:
        classes = tuple(classes)
        check_labels(y_train, len(classes), str(found["train_labels"]))
        check_labels(y_test, len(classes), str(found["test_labels"]))
    source = str(found["train_images"].parent)
    return Dataset(x_train, y_train, x_test, y_test, name, classes, source)


def load_mnist(*, download: bool = False, normalize: bool = True) -> Dataset:
    """MNIST digits: 60,000 train / 10,000 test images ``(N, 1, 28, 28)``, 10 classes.

    See :func:`load_idx_dataset` for dtypes and errors.
    """
    return load_idx_dataset("mnist", download=download, normalize=normalize)


def load_fashion_mnist(*, download: bool = False, normalize: bool = True) -> Dataset:
    """Fashion-MNIST: 60,000 train / 10,000 test images ``(N, 1, 28, 28)``, 10 classes.

    Found e.g. in ``/usr/share/datasets/fashion-mnist`` (Debian: ``apt-get install
    dataset-fashion-mnist``). See :func:`load_idx_dataset` for dtypes and errors.
    """
    return load_idx_dataset("fashion-mnist", download=download, normalize=normalize)


def load_kmnist(*, download: bool = False, normalize: bool = True) -> Dataset:
    """Kuzushiji-MNIST: 60,000 train / 10,000 test images ``(N, 1, 28, 28)``, 10 classes.

    See :func:`load_idx_dataset` for dtypes and errors.
    """
    return load_idx_dataset("kmnist", download=download, normalize=normalize)


def load_emnist(split: str = "digits", *, normalize: bool = True) -> Dataset:
    """EMNIST split ``split`` (digits, letters, mnist, balanced, bymerge, byclass).

    Reads ``emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte[.gz]`` from
    ``<root>/emnist`` or ``<root>/emnist/gzip`` for each root of the search path, and
    transposes the images (EMNIST stores them column-major) so that they look like MNIST.
    For ``letters`` the files' labels 1..26 (A..Z, case merged) are shifted to 0..25.
    Images ``(N, 1, 28, 28)``; dtypes and errors as in :func:`load_idx_dataset`.
    No download is offered (the archive is about 0.5 GB).

    Raises:
        ValueError: unknown split (or a corrupt file).
        DatasetNotFoundError: the files are in no searched directory.
    """
    if split not in _EMNIST_CLASSES:
        raise ValueError(f"unknown EMNIST split {split!r}; known: {', '.join(_EMNIST_CLASSES)}")
    files = {
        "train_images": f"emnist-{split}-train-images-idx3-ubyte",
        "train_labels": f"emnist-{split}-train-labels-idx1-ubyte",
        "test_images": f"emnist-{split}-test-images-idx3-ubyte",
        "test_labels": f"emnist-{split}-test-labels-idx1-ubyte",
    }
    ds = load_idx_dataset("emnist", files=files, normalize=normalize, transpose=True)
    y_train, y_test = ds.y_train, ds.y_test
    if split == "letters":
        y_train, y_test = y_train - 1, y_test - 1
    classes = _EMNIST_CLASSES[split]
    check_labels(y_train, len(classes), f"{ds.source} (emnist-{split} train labels)")
    check_labels(y_test, len(classes), f"{ds.source} (emnist-{split} test labels)")
    return dataclasses.replace(
        ds, y_train=y_train, y_test=y_test, name=f"emnist-{split}", classes=classes
    )




#: the EMNIST splits :func:`load_emnist` reads
EMNIST_SPLITS = tuple(_EMNIST_CLASSES)
