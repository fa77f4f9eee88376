"""Which data sets refimpl knows, where each is searched, whether it is present, how to get it.

The basis of ``refimpl data`` (list) and ``refimpl data get NAME`` (download with checksum
verification, the loaders' ``download=True`` path).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cifar import _CIFAR, _download_cifar, find_cifar
from .datasets import DatasetNotFoundError, data_search_path, how_to
from .download import IDX_DOWNLOADS, download_idx
from .idx import _IDX_FILES, EMNIST_SPLITS, _find_idx_files

__all__ = ["DataStatus", "status", "catalog", "get", "UNSUPPORTED"]

#: data sets the documents use for which refimpl has no loader (the chapters report them as skipped)
UNSUPPORTED = {
    "mnist-rot": "MNIST_ROT (Larochelle et al. 2007; interval document): no loader in refimpl.data",
    "svhn": "SVHN (surgery document): no loader in refimpl.data",
    "eurosat": "EuroSAT (surgery document): no loader in refimpl.data",
}


@dataclass(frozen=True)
class DataStatus:
    """A data set's state on this machine."""
    name: str
    found: Path | None          #: the directory it is read from (None: absent)
    searched: tuple[Path, ...]  #: every directory searched, in order
    how_to: str                 #: how to obtain it
    downloadable: bool          #: ``refimpl data get`` can download it
    note: str = ""              #: e.g. "embedded", "generated"

    @property
    def present(self) -> bool:
        return self.found is not None or self.note in ("embedded", "generated")


def _emnist_files(split: str) -> dict[str, str]:
    return {"train_images": f"emnist-{split}-train-images-idx3-ubyte",
            "train_labels": f"emnist-{split}-train-labels-idx1-ubyte",
            "test_images": f"emnist-{split}-test-images-idx3-ubyte",
            "test_labels": f"emnist-{split}-test-labels-idx1-ubyte"}


def status(name: str) -> DataStatus:
    """Look for data set ``name`` without loading it. ``ValueError`` for an unknown name."""
    if name == "digits":
        return DataStatus(name, None, (), "embedded in scikit-learn; always available", False, "embedded")
    if name == "health":
        return DataStatus(name, None, (), "generated from a seed (extremal document, Sec. 3.1)", False, "generated")
    if name in UNSUPPORTED:
        return DataStatus(name, None, (), UNSUPPORTED[name], False, "unsupported")
    if name in ("mnist", "fashion-mnist", "kmnist"):
        found, searched = _find_idx_files(name, _IDX_FILES)
        return DataStatus(name, None if found is None else found["train_images"].parent, tuple(searched),
                          how_to(name), name in IDX_DOWNLOADS)
    if name.startswith("emnist-") and name[len("emnist-"):] in EMNIST_SPLITS:
        found, searched = _find_idx_files("emnist", _emnist_files(name[len("emnist-"):]))
        return DataStatus(name, None if found is None else found["train_images"].parent, tuple(searched),
                          how_to("emnist"), False)
    if name in _CIFAR:
        found, searched = find_cifar(name)
        return DataStatus(name, found, tuple(searched), how_to(name), True)
    raise ValueError(f"unknown data set {name!r}; known: {', '.join(names())}")


def names() -> list[str]:
    """The data sets listed by ``refimpl data``, in order (``status`` also knows every other
    ``emnist-<split>``: they share the files' folder with ``emnist-digits``)."""
    return ["digits", "health", "mnist", "fashion-mnist", "kmnist", "emnist-digits"] + list(_CIFAR) + list(UNSUPPORTED)


def catalog() -> list[DataStatus]:
    """:func:`status` of every known data set."""
    return [status(n) for n in names()]


def get(name: str) -> Path:
    """Download data set ``name`` into ``~/.cache/refimpl/<name>`` (checksums verified, files
    written atomically) unless it is already present; returns its directory.

    Raises:
        ValueError: unknown name, a name that cannot be downloaded (the message says how to
            obtain it), or a download whose checksum does not match.
        DatasetNotFoundError: the download failed (e.g. offline).
    """
    st = status(name)
    if st.found is not None:
        return st.found
    if st.note in ("embedded", "generated"):
        raise ValueError(f"{name} needs no download ({st.how_to})")
    if not st.downloadable:
        raise ValueError(f"{name} cannot be downloaded by refimpl: {st.how_to}")
    if name in IDX_DOWNLOADS:
        download_idx(name)
    else:
        _download_cifar(name)
    st = status(name)
    if st.found is None:  # pragma: no cover - the download put the files elsewhere
        raise DatasetNotFoundError(f"{name}: downloaded, but not found in {data_search_path(name)}", st.searched)
    return st.found
