"""The data-set container, the search path for real data sets, and the not-found error.

Real data sets are looked up in a search path (see :func:`data_search_path`)::

    $REFIMPL_DATA/<name>            if the environment variable is set
    ~/.cache/refimpl/<name>         where downloads are put
    /usr/share/datasets/<name>      system packages, e.g. Debian's dataset-fashion-mnist

A data set that is in none of them raises :class:`DatasetNotFoundError`, whose message
names every directory searched and says how to obtain the files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

#: System-wide data directory (Debian's ``dataset-*`` packages install here).
SYSTEM_DATA_DIR = Path("/usr/share/datasets")



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
    dirs.append(cache_dir(name))
    dirs.append(SYSTEM_DATA_DIR / name)
    return dirs


def cache_dir(name: str) -> Path:
    """``~/.cache/refimpl/<name>``: where downloads of the data set ``name`` go (not created here)."""
    return Path.home() / ".cache" / "refimpl" / name


_HOW_TO = {
    "fashion-mnist": (
        "On Debian/Ubuntu: `apt-get install dataset-fashion-mnist` (installs "
        "/usr/share/datasets/fashion-mnist). Or download the four *-ubyte.gz files from "
        "https://github.com/zalandoresearch/fashion-mnist and place them in "
        "$REFIMPL_DATA/fashion-mnist. Or, where online, run `refimpl data get fashion-mnist` "
        "(in Python: load_fashion_mnist(download=True))."
    ),
    "mnist": (
        "Download the four *-ubyte.gz files (e.g. from https://ossci-datasets.s3.amazonaws.com/mnist/) "
        "and place them in $REFIMPL_DATA/mnist. Or, where online, run `refimpl data get mnist` "
        "(in Python: load_mnist(download=True))."
    ),
    "kmnist": (
        "Download the four *-ubyte.gz files from http://codh.rois.ac.jp/kmnist/ and place them "
        "in $REFIMPL_DATA/kmnist. Or, where online, run `refimpl data get kmnist` "
        "(in Python: load_kmnist(download=True))."
    ),
    "emnist": (
        "Download gzip.zip from https://www.nist.gov/itl/products-and-services/emnist-dataset and "
        "unzip it into $REFIMPL_DATA/emnist (the files may stay in its gzip/ subdirectory). "
        "`refimpl data get` does not download EMNIST (the archive is about 0.5 GB)."
    ),
    "cifar-10": (
        "Download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
        "extract it into $REFIMPL_DATA/cifar-10. Or, where online, run `refimpl data get cifar-10` "
        "(in Python: load_cifar('cifar-10', download=True))."
    ),
    "cifar-100": (
        "Download cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
        "extract it into $REFIMPL_DATA/cifar-100. Or, where online, run `refimpl data get cifar-100` "
        "(in Python: load_cifar('cifar-100', download=True))."
    ),
}


def how_to(name: str) -> str:
    """How to obtain data set ``name`` (names ``refimpl data get`` where it downloads)."""
    if name.startswith("emnist"):
        name = "emnist"
    return _HOW_TO.get(
        name, f"Place the files in $REFIMPL_DATA/{name} or ~/.cache/refimpl/{name}."
    )


def get_command(name: str) -> str:
    """The shell command that fetches data set ``name`` (or explains how to obtain it)."""
    return f"refimpl data get {name}"


def not_found(
    name: str, searched: Sequence[Path], wanted: Sequence[str], note: str = ""
) -> DatasetNotFoundError:
    """The :class:`DatasetNotFoundError` for ``name``: the files ``wanted``, every folder ``searched``,
    and how to obtain the data (``refimpl data get NAME`` where a download exists)."""
    lines = [f"Data set {name!r} not found.{note}", "Looked for: " + ", ".join(wanted), "in:"]
    lines += [f"  {d}" for d in searched]
    if not os.environ.get("REFIMPL_DATA"):
        lines.append("($REFIMPL_DATA is not set; set it to add a directory to this list.)")
    lines.append("To obtain it: " + how_to(name))
    return DatasetNotFoundError("\n".join(lines), searched)




def check_labels(y: np.ndarray, n_classes: int, where: str) -> None:
    """Raise ``ValueError`` (naming ``where``) unless every label is in ``0..n_classes-1``."""
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"{where}: labels range over {y.min()}..{y.max()}, expected 0..{n_classes - 1}"
        )
