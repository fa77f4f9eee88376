"""Synthetic data sets that the documents define themselves.

The extremal-learning "goodness of health" toy (Patel & Rummel, Sec. 3.1, Eq. 3.1):
four inputs uniform on [−1, 1] and a known smooth target, so the maximizing input is known
analytically (Eq. 3.7).
"""
from __future__ import annotations

import numpy as np

from ..backend import as_generator


def g_true(x: np.ndarray) -> np.ndarray:
    """Eq. 3.1 without its noise term: ``1 − |x0| − x1² − x2 − exp(x3)``.

    Args:
        x: ``(..., 4)`` array of any float dtype.

    Returns:
        ``(...)`` array of the same dtype.

    Raises:
        ValueError: the last axis is not of length 4.
    """
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] != 4:
        raise ValueError(f"g_true takes x of shape (..., 4), got {x.shape}")
    return 1 - np.abs(x[..., 0]) - x[..., 1] ** 2 - x[..., 2] - np.exp(x[..., 3])


def health_data(rng: np.random.Generator | int, n: int = 1000,
                noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Sec. 3.1's data: ``n`` inputs uniform on [−1, 1]⁴ and ``y = g_true(x) + N(0, noise²)``;
    ``rng`` is a Generator or a seed.

    Returns:
        ``(x, y)``: ``float32`` arrays of shapes ``(n, 4)`` and ``(n, 1)``.

    Raises:
        ValueError: ``n < 1``, or ``noise`` negative or not finite.
    """
    if not (n >= 1 and 0 <= noise < np.inf):
        raise ValueError(f"health_data needs n >= 1 and a finite noise >= 0, got n={n}, noise={noise}")
    rng = as_generator(rng)
    x = rng.uniform(-1.0, 1.0, (n, 4))
    y = g_true(x) + rng.normal(0.0, noise, n)
    return x.astype(np.float32), y[:, None].astype(np.float32)
