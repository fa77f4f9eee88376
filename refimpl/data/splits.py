"""Splits and subsets of arrays and data sets, all seeded (equal seeds give equal results)."""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from ..backend import as_generator
from .datasets import Dataset, check_labels


def _check_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"x and y have different lengths: {len(x)} and {len(y)}")
    return x, y


def _random_state(seed) -> int:
    """scikit-learn takes an int seed: a Generator contributes one draw, so it still advances."""
    return int(as_generator(seed).integers(2**32))


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
    """Seeded random split into training and validation parts (scikit-learn's ``train_test_split``).

    ``round(val_fraction * N)`` examples go to validation. With ``stratify=True`` each class
    contributes in proportion to its size.

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
    x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=n_val, random_state=_random_state(seed),
                                                stratify=y if stratify else None)
    return x_tr, y_tr, x_val, y_val


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
    check_labels(y, n_classes, "one_hot")
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
    rng = as_generator(seed)
    idx = np.sort(np.concatenate(
        [rng.choice(np.flatnonzero(y == c), n_per_class, replace=False) for c in labels]
    ))
    return x[idx], y[idx]


def subsample(
    ds: Dataset, n_train: int, n_test: int, *, seed: int | np.random.Generator
) -> Dataset:
    """A smaller :class:`Dataset`: ``n_train`` / ``n_test`` examples drawn without replacement.

    Classes are represented as evenly as their sizes allow (equal counts, within one, when
    every class has enough examples) — balanced, unlike scikit-learn's stratified sampling,
    which keeps the classes' proportions. The chapter scripts use this for quick-scale runs on
    e.g. a Fashion-MNIST subset. Same name, classes and source; arrays in original order.

    Raises:
        ValueError: more examples requested than the split holds.
    """
    rng = as_generator(seed)
    tr = _stratified_indices(ds.y_train, n_train, rng)
    te = _stratified_indices(ds.y_test, n_test, rng)
    return dataclasses.replace(
        ds,
        x_train=ds.x_train[tr], y_train=ds.y_train[tr],
        x_test=ds.x_test[te], y_test=ds.y_test[te],
    )
