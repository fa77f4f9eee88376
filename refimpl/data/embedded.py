"""The embedded default data set: scikit-learn's 8x8 digits (always installed, no files needed)."""
from __future__ import annotations

import numpy as np

from .datasets import Dataset

#: class names of every digits data set
DIGIT_CLASSES = tuple(str(i) for i in range(10))



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
    return Dataset(x_train, y_train, x_test, y_test, "digits", DIGIT_CLASSES,
                   "sklearn.datasets.load_digits")


