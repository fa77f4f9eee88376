"""Data sets: the embedded default (scikit-learn's digits), the documents' synthetic data, and
real data sets read from their standard file formats.

=================  ==========================================================================
``datasets``       :class:`Dataset`, :class:`DatasetNotFoundError`, the search path
``idx``            IDX files: MNIST, Fashion-MNIST, KMNIST, EMNIST
``cifar``          CIFAR-10/100 python pickle batches
``download``       checksum-verified, atomic downloads (only on request)
``embedded``       scikit-learn's 8x8 digits (always available)
``synthetic``      the extremal document's "goodness of health" toy (Sec. 3.1)
``splits``         seeded train/validation splits and subsets
=================  ==========================================================================

Real data sets are looked up in ``$REFIMPL_DATA/<name>``, ``~/.cache/refimpl/<name>`` and
``/usr/share/datasets/<name>``. Every loader returns a :class:`Dataset` whose images are
``(N, C, H, W)`` arrays, ``float32`` in ``[0, 1]`` by default, and whose labels are ``int64``
in ``0..n_classes-1``.
"""
from __future__ import annotations

from .cifar import load_cifar
from .datasets import Dataset, DatasetNotFoundError, data_search_path
from .embedded import load_digits
from .idx import (EMNIST_SPLITS, load_emnist, load_fashion_mnist, load_idx_dataset, load_kmnist, load_mnist,
                  read_idx, read_idx_images, read_idx_labels)
from .splits import balanced_subset, class_subset, flatten, one_hot, subsample, train_val_split
from .synthetic import g_true, health_data

__all__ = [
    "Dataset", "DatasetNotFoundError", "balanced_subset", "class_subset", "data_search_path", "flatten",
    "g_true", "health_data", "load_cifar", "load_dataset", "load_digits", "load_emnist", "load_fashion_mnist",
    "load_idx_dataset", "load_kmnist", "load_mnist", "one_hot", "read_idx", "read_idx_images",
    "read_idx_labels", "subsample", "train_val_split", "DATASETS",
]

_LOADERS = {
    "digits": load_digits,
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "kmnist": load_kmnist,
    **{f"emnist-{s}": (lambda s=s, **kw: load_emnist(s, **kw)) for s in EMNIST_SPLITS},
    "cifar-10": lambda **kw: load_cifar("cifar-10", **kw),
    "cifar-100": lambda **kw: load_cifar("cifar-100", **kw),
}

#: every name :func:`load_dataset` accepts
DATASETS = tuple(_LOADERS)


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
