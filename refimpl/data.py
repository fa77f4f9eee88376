"""Data sets: the embedded default (scikit-learn's digits) and real data sets read from
their standard file formats (IDX for the MNIST family, the python pickle batches for CIFAR).

Real data sets are looked up in a search path (see :func:`data_search_path`)::

    $REFIMPL_DATA/<name>            if the environment variable is set
    ~/.cache/refimpl/<name>         where download=True puts files
    /usr/share/datasets/<name>      system packages, e.g. Debian's dataset-fashion-mnist

A data set that is in none of them raises :class:`DatasetNotFoundError`, whose message
names every directory searched and says how to obtain the files. ``download=True``
fetches the files from their canonical URLs into ``~/.cache/refimpl/<name>`` and checks
each against a checksum recorded in this module before it is used.

Every loader returns a :class:`Dataset` whose images are ``(N, C, H, W)`` arrays,
``float32`` scaled to ``[0, 1]`` by default, and whose labels are ``int64`` in
``0..n_classes-1``. The helpers at the end (:func:`train_val_split`, :func:`subsample`,
:func:`class_subset`, ...) draw all their randomness from ``np.random.default_rng(seed)``.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

__all__ = [
    "Dataset",
    "DatasetNotFoundError",
    "balanced_subset",
    "class_subset",
    "data_search_path",
    "flatten",
    "load_cifar",
    "load_dataset",
    "load_digits",
    "load_emnist",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_kmnist",
    "load_mnist",
    "one_hot",
    "read_idx",
    "read_idx_images",
    "read_idx_labels",
    "subsample",
    "train_val_split",
]

#: System-wide data directory (Debian's ``dataset-*`` packages install here).
SYSTEM_DATA_DIR = Path("/usr/share/datasets")


# --------------------------------------------------------------------------------------
# Dataset container and errors
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled train/test split.

    Attributes:
        x_train, x_test: images ``(N, C, H, W)``, ``float32`` in ``[0, 1]`` (``uint8`` when
            a loader is called with ``normalize=False``).
        y_train, y_test: labels ``(N,)``, ``int64`` in ``0..n_classes-1``.
        name: short name of the data set, e.g. ``"fashion-mnist"``.
        classes: class names in label order, or ``None`` when unknown.
        source: where the data were read from (a directory, or a description).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    classes: tuple[str, ...] | None = None
    source: str = ""

    @property
    def n_classes(self) -> int:
        """Number of classes: ``len(classes)``, or ``max label + 1`` when classes is None."""
        if self.classes is not None:
            return len(self.classes)
        return int(max(self.y_train.max(initial=-1), self.y_test.max(initial=-1))) + 1

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={self.x_train.shape} {self.x_train.dtype}, "
            f"test={self.x_test.shape} {self.x_test.dtype}, n_classes={self.n_classes}, "
            f"source={self.source!r})"
        )


class DatasetNotFoundError(FileNotFoundError):
    """A data set's files are in none of the searched directories (or could not be downloaded).

    The message names every directory searched and how to obtain the files; the
    directories are also in the attribute ``searched`` (a list of paths).
    """

    def __init__(self, message: str, searched: Sequence[Path] = ()):
        super().__init__(message)
        self.searched = list(searched)


def data_search_path(name: str) -> list[Path]:
    """Directories searched for the data set ``name``, in order of preference.

    Returns ``[$REFIMPL_DATA/<name>, ~/.cache/refimpl/<name>, /usr/share/datasets/<name>]``;
    the first entry only when the environment variable ``REFIMPL_DATA`` is set and non-empty.
    The directories need not exist.
    """
    dirs = []
    env = os.environ.get("REFIMPL_DATA")
    if env:
        dirs.append(Path(env).expanduser() / name)
    dirs.append(_cache_dir(name))
    dirs.append(SYSTEM_DATA_DIR / name)
    return dirs


def _cache_dir(name: str) -> Path:
    return Path.home() / ".cache" / "refimpl" / name


_HOW_TO = {
    "fashion-mnist": (
        "On Debian/Ubuntu: `apt-get install dataset-fashion-mnist` (installs "
        "/usr/share/datasets/fashion-mnist). Or download the four *-ubyte.gz files from "
        "https://github.com/zalandoresearch/fashion-mnist and place them in "
        "$REFIMPL_DATA/fashion-mnist. Or, where online, call with download=True."
    ),
    "mnist": (
        "Download the four *-ubyte.gz files (e.g. from https://ossci-datasets.s3.amazonaws.com/mnist/) "
        "and place them in $REFIMPL_DATA/mnist. Or, where online, call with download=True."
    ),
    "kmnist": (
        "Download the four *-ubyte.gz files from http://codh.rois.ac.jp/kmnist/ and place them "
        "in $REFIMPL_DATA/kmnist. Or, where online, call with download=True."
    ),
    "emnist": (
        "Download gzip.zip from https://www.nist.gov/itl/products-and-services/emnist-dataset and "
        "unzip it into $REFIMPL_DATA/emnist (the files may stay in its gzip/ subdirectory). "
        "download=True is not supported for EMNIST (the archive is about 0.5 GB)."
    ),
    "cifar-10": (
        "Download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
        "extract it into $REFIMPL_DATA/cifar-10. Or, where online, call with download=True."
    ),
    "cifar-100": (
        "Download cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
        "extract it into $REFIMPL_DATA/cifar-100. Or, where online, call with download=True."
    ),
}


def _how_to(name: str) -> str:
    return _HOW_TO.get(
        name, f"Place the files in $REFIMPL_DATA/{name} or ~/.cache/refimpl/{name}."
    )


def _not_found(
    name: str, searched: Sequence[Path], wanted: Sequence[str], note: str = ""
) -> DatasetNotFoundError:
    lines = [f"Data set {name!r} not found.{note}", "Looked for: " + ", ".join(wanted), "in:"]
    lines += [f"  {d}" for d in searched]
    if not os.environ.get("REFIMPL_DATA"):
        lines.append("($REFIMPL_DATA is not set; set it to add a directory to this list.)")
    lines.append("To obtain it: " + _how_to(name))
    return DatasetNotFoundError("\n".join(lines), searched)


# --------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------------------

# Checksums of the files as served, (algorithm, hex digest). MNIST: the SHA-256 sums used by
# TensorFlow/torchvision. Fashion-MNIST and KMNIST publish MD5 sums only (Fashion-MNIST's
# README, torchvision's KMNIST); the .gz files of Debian's dataset-fashion-mnist are
# recompressed, so their hashes differ from the canonical downloads and are not used here.
_IDX_DOWNLOADS: dict[str, tuple[str, dict[str, tuple[str, str] | None]]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train-images-idx3-ubyte.gz": ("sha256", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            "train-labels-idx1-ubyte.gz": ("sha256", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            "t10k-images-idx3-ubyte.gz": ("sha256", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            "t10k-labels-idx1-ubyte.gz": ("sha256", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        },
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": ("md5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            "train-labels-idx1-ubyte.gz": ("md5", "25c81989df183df01b3e8a0aad5dffbe"),
            "t10k-images-idx3-ubyte.gz": ("md5", "bef4ecab320f06d8554ea6380940ec79"),
            "t10k-labels-idx1-ubyte.gz": ("md5", "bb300cfdad3c16e7a12a480ee83cd310"),
        },
    ),
    "kmnist": (
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        {
            "train-images-idx3-ubyte.gz": ("md5", "bdb82020997e1d708af4cf47b453dcf7"),
            "train-labels-idx1-ubyte.gz": ("md5", "e144d726b3acfaa3e44228e80efcd344"),
            "t10k-images-idx3-ubyte.gz": ("md5", "5c965bf0a639b31b8f53240b1b52f4d7"),
            "t10k-labels-idx1-ubyte.gz": ("md5", "7320c461ea6c1c855c0b718fb2a4b134"),
        },
    ),
}


def _download(url: str, dest: Path, checksum: tuple[str, str] | None, name: str) -> None:
    """Fetch ``url`` to ``dest`` through a temporary file, verify it, then rename it into place.

    Nothing is left at ``dest`` (or beside it) unless the whole file arrived and matched.
    Raises DatasetNotFoundError when the transfer fails, ValueError on a checksum mismatch.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    tmp = Path(tmp_name)
    digest = hashlib.new(checksum[0] if checksum else "sha256")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    while chunk := response.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
            except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
                raise DatasetNotFoundError(
                    f"Download of {url} failed (no network?): {exc}\n"
                    f"To obtain {name!r} without a download: {_how_to(name)}",
                    [dest.parent],
                ) from exc
        if checksum is None:
            warnings.warn(
                f"no checksum is recorded for {url}; the download was not verified",
                stacklevel=3,
            )
        elif digest.hexdigest() != checksum[1]:
            raise ValueError(
                f"Download of {url} is corrupt: {checksum[0]} {digest.hexdigest()}, "
                f"expected {checksum[1]}; the file was not kept"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _download_idx(name: str) -> Path:
    """Download the four IDX files of ``name`` into ``~/.cache/refimpl/<name>``."""
    base, files = _IDX_DOWNLOADS[name]
    dest_dir = _cache_dir(name)
    created = not dest_dir.exists()
    try:
        for filename, checksum in files.items():
            if not (dest_dir / filename).exists():
                _download(base + filename, dest_dir / filename, checksum, name)
    finally:
        if created:  # remove a directory we created and left empty
            try:
                dest_dir.rmdir()
            except OSError:
                pass
    return dest_dir


# --------------------------------------------------------------------------------------
# MNIST family
# --------------------------------------------------------------------------------------

_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_DIGITS = tuple(str(i) for i in range(10))
_UPPER = tuple(chr(c) for c in range(ord("A"), ord("Z") + 1))
_LOWER = tuple(chr(c) for c in range(ord("a"), ord("z") + 1))
_CLASSES = {
    "mnist": _DIGITS,
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "kmnist": ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
}
_EMNIST_CLASSES = {
    "digits": _DIGITS,
    "mnist": _DIGITS,
    "letters": _UPPER,  # upper and lower case merged; file labels 1..26, shifted to 0..25
    "byclass": _DIGITS + _UPPER + _LOWER,
    "bymerge": _DIGITS + _UPPER + tuple("abdefghnqrt"),
    "balanced": _DIGITS + _UPPER + tuple("abdefghnqrt"),
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


def _check_labels(y: np.ndarray, n_classes: int, where: str) -> None:
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"{where}: labels range over {y.min()}..{y.max()}, expected 0..{n_classes - 1}"
        )


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
        if name in _IDX_DOWNLOADS:
            _download_idx(name)
            found, searched = _find_idx_files(name, files)
        else:
            note = f" download=True is not available for {name!r}."
    if found is None:
        raise _not_found(name, searched, [f + "[.gz]" for f in files.values()], note)

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
        _check_labels(y_train, len(classes), str(found["train_labels"]))
        _check_labels(y_test, len(classes), str(found["test_labels"]))
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
    _check_labels(y_train, len(classes), f"{ds.source} (emnist-{split} train labels)")
    _check_labels(y_test, len(classes), f"{ds.source} (emnist-{split} test labels)")
    return dataclasses.replace(
        ds, y_train=y_train, y_test=y_test, name=f"emnist-{split}", classes=classes
    )


# --------------------------------------------------------------------------------------
# scikit-learn digits (the embedded default)
# --------------------------------------------------------------------------------------


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits (1,797 images, 10 classes), always available.

    Pixels (0..16) are divided by 16. The train/test split is stratified by class and
    seeded (``sklearn.model_selection.train_test_split(stratify=y, random_state=seed)``);
    equal seeds give equal splits.

    Returns:
        A :class:`Dataset` with ``x_*`` ``float32`` ``(N, 1, 8, 8)`` in ``[0, 1]`` and
        ``y_*`` ``int64`` ``(N,)``; 1,347 / 450 examples at the default ``test_fraction``.

    Raises:
        ValueError: ``test_fraction`` not in (0, 1).
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    bunch = sk_load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return Dataset(x_train, y_train, x_test, y_test, "digits", _DIGITS,
                   "sklearn.datasets.load_digits")


# --------------------------------------------------------------------------------------
# CIFAR (python pickle batches)
# --------------------------------------------------------------------------------------

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
    _check_labels(labels, n_classes, str(path))
    return data.reshape(-1, 3, 32, 32), labels


def _download_cifar(name: str) -> None:
    """Fetch and unpack the CIFAR archive into ``~/.cache/refimpl/<name>``."""
    spec = _CIFAR[name]
    dest_dir = _cache_dir(name)
    archive = dest_dir / spec["url"].rsplit("/", 1)[1]
    created = not dest_dir.exists()
    try:
        _download(spec["url"], archive, spec["checksum"], name)
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

    def find() -> tuple[Path | None, list[Path]]:
        searched = []
        for root in data_search_path(name):
            for directory in (root, root / spec["subdir"]):
                searched.append(directory)
                if all((directory / f).is_file() for f in wanted):
                    return directory, searched
        return None, searched

    directory, searched = find()
    if directory is None and download:
        _download_cifar(name)
        directory, searched = find()
    if directory is None:
        raise _not_found(name, searched, wanted)

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


# --------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------

_LOADERS = {
    "digits": load_digits,
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "kmnist": load_kmnist,
    **{f"emnist-{s}": (lambda s=s, **kw: load_emnist(s, **kw)) for s in _EMNIST_CLASSES},
    "cifar-10": lambda **kw: load_cifar("cifar-10", **kw),
    "cifar-100": lambda **kw: load_cifar("cifar-100", **kw),
}


def load_dataset(name: str, **kw) -> Dataset:
    """Load a data set by name, passing ``kw`` to its loader.

    Names: ``digits``, ``mnist``, ``fashion-mnist``, ``kmnist``, ``emnist-<split>``
    (digits, letters, mnist, balanced, bymerge, byclass), ``cifar-10``, ``cifar-100``.

    Raises:
        ValueError: unknown name (the message lists the known names).
        DatasetNotFoundError: as raised by the loader.
    """
    if name not in _LOADERS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(_LOADERS)}")
    return _LOADERS[name](**kw)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _check_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"x and y have different lengths: {len(x)} and {len(y)}")
    return x, y


def _balanced_counts(sizes: np.ndarray, n: int) -> np.ndarray:
    """Split n over classes of the given sizes as evenly as their sizes allow."""
    counts = np.zeros(len(sizes), dtype=np.int64)
    remaining = n
    order = np.argsort(sizes, kind="stable")
    for i, c in enumerate(order):  # smallest classes first; what they lack goes to the rest
        counts[c] = min(sizes[c], remaining // (len(sizes) - i))
        remaining -= counts[c]
    return counts


def _stratified_indices(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of n examples, as class-balanced as the class sizes allow."""
    labels, sizes = np.unique(y, return_counts=True)
    if not 0 <= n <= len(y):
        raise ValueError(f"cannot draw {n} examples from {len(y)}")
    counts = _balanced_counts(sizes, n)
    picks = [rng.choice(np.flatnonzero(y == c), k, replace=False) for c, k in zip(labels, counts)]
    return np.sort(np.concatenate(picks)) if picks else np.zeros(0, dtype=np.int64)


def train_val_split(
    x: np.ndarray,
    y: np.ndarray,
    val_fraction: float = 0.1,
    *,
    seed: int | np.random.Generator,
    stratify: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random split into training and validation parts.

    ``round(val_fraction * N)`` examples go to validation. With ``stratify=True`` each class
    contributes in proportion to its size (largest remainders get the rounding).

    Args:
        x: ``(N, ...)`` examples; y: ``(N,)`` labels.
        val_fraction: in (0, 1); both parts must end up non-empty.
        seed: seed or ``np.random.Generator``; equal seeds give equal splits.

    Returns:
        ``(x_train, y_train, x_val, y_val)``; disjoint, together a permutation of the input.

    Raises:
        ValueError: lengths differ, ``y`` not 1-D, or a fraction leaving a part empty.
    """
    x, y = _check_xy(x, y)
    n_val = int(round(val_fraction * len(y)))
    if not 0.0 < val_fraction < 1.0 or not 0 < n_val < len(y):
        raise ValueError(f"val_fraction={val_fraction} leaves an empty part of {len(y)} examples")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    if stratify:
        perm = perm[np.argsort(y[perm], kind="stable")]  # grouped by class, random within
        labels, sizes = np.unique(y, return_counts=True)
        exact = sizes * n_val / len(y)
        counts = np.floor(exact).astype(np.int64)
        extra = np.argsort(-(exact - counts), kind="stable")[: n_val - counts.sum()]
        counts[extra] += 1
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        val = np.concatenate([perm[s: s + k] for s, k in zip(starts, counts)])
        is_val = np.zeros(len(y), dtype=bool)
        is_val[val] = True
        val, train = rng.permutation(val), rng.permutation(np.flatnonzero(~is_val))
    else:
        val, train = perm[:n_val], perm[n_val:]
    return x[train], y[train], x[val], y[val]


def flatten(x: np.ndarray) -> np.ndarray:
    """Reshape ``(N, d1, d2, ...)`` to ``(N, d1*d2*...)`` (a view where possible).

    Raises ValueError for a 0-d input.
    """
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("flatten needs an array with a leading batch dimension")
    return x.reshape(len(x), -1)


def one_hot(y: np.ndarray, n_classes: int, dtype=np.float32) -> np.ndarray:
    """One-hot encoding ``(N, n_classes)`` of integer labels ``y`` ``(N,)``.

    Raises:
        ValueError: ``y`` not 1-D integers, or a label outside ``0..n_classes-1``.
    """
    y = np.asarray(y)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.size == 0):
        raise ValueError(f"y must be a 1-D integer array, got {y.dtype} {y.shape}")
    _check_labels(y, n_classes, "one_hot")
    out = np.zeros((len(y), n_classes), dtype=dtype)
    out[np.arange(len(y)), y.astype(np.intp)] = 1
    return out


def class_subset(
    x: np.ndarray, y: np.ndarray, classes: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the examples of the listed classes, relabelled ``classes[i] -> i``.

    Example: ``class_subset(x, y, [7, 3])`` keeps sevens (new label 0) and threes (label 1),
    in their original order. Returns ``(x_sub, y_sub)`` with ``y_sub`` ``int64``.

    Raises:
        ValueError: repeated classes, a class with no examples, or x/y lengths differ.
    """
    x, y = _check_xy(x, y)
    classes = list(classes)
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must not repeat: {classes}")
    missing = [c for c in classes if not np.any(y == c)]
    if missing:
        raise ValueError(f"classes without examples: {missing}")
    keep = np.isin(y, classes)
    new_label = {c: i for i, c in enumerate(classes)}
    y_sub = np.array([new_label[v] for v in y[keep].tolist()], dtype=np.int64)
    return x[keep], y_sub


def balanced_subset(
    x: np.ndarray, y: np.ndarray, n_per_class: int, *, seed: int | np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_per_class`` examples of every class present in ``y`` (without replacement).

    Returns ``(x_sub, y_sub)`` in the original order; seeded, so equal seeds give equal subsets.

    Raises:
        ValueError: a class has fewer than ``n_per_class`` examples, or x/y lengths differ.
    """
    x, y = _check_xy(x, y)
    labels, sizes = np.unique(y, return_counts=True)
    short = labels[sizes < n_per_class]
    if len(short):
        raise ValueError(f"classes {short.tolist()} have fewer than {n_per_class} examples")
    rng = np.random.default_rng(seed)
    idx = np.sort(np.concatenate(
        [rng.choice(np.flatnonzero(y == c), n_per_class, replace=False) for c in labels]
    ))
    return x[idx], y[idx]


def subsample(
    ds: Dataset, n_train: int, n_test: int, *, seed: int | np.random.Generator
) -> Dataset:
    """A smaller :class:`Dataset`: ``n_train`` / ``n_test`` examples drawn without replacement.

    Classes are represented as evenly as their sizes allow (equal counts, within one, when
    every class has enough examples). The chapter scripts use this for quick-scale runs on
    e.g. a Fashion-MNIST subset. Same name, classes and source; arrays in original order.

    Raises:
        ValueError: more examples requested than the split holds.
    """
    rng = np.random.default_rng(seed)
    tr = _stratified_indices(ds.y_train, n_train, rng)
    te = _stratified_indices(ds.y_test, n_test, rng)
    return dataclasses.replace(
        ds,
        x_train=ds.x_train[tr], y_train=ds.y_train[tr],
        x_test=ds.x_test[te], y_test=ds.y_test[te],
    )
