"""Weight initializers: the Keras catalogue listed in Pan et al. (Sec. 5.1.1) and the thesis's.

Fan-in / fan-out: for a dense ``W: (in, out)`` fan_in = in and fan_out = out; for a kernel
``(C_out, C_in, kh, kw)`` fan_in = C_in·kh·kw and fan_out = C_out·kh·kw (the Keras convention).
A population axis is not part of the fan. Every initializer takes a ``np.random.Generator`` as its
only source of randomness. Re-exported by :mod:`refimpl.nn`.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

__all__ = ["INITIALIZERS", "fans", "get_initializer", "initialize", "truncated_normal", "unit_norm_normal"]

# --------------------------------------------------------------------------------------------
# Initializers (the Keras catalogue listed in Pan et al., Sec. 5.1.1)
# --------------------------------------------------------------------------------------------

_TRUNC_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape`` (see the module docstring for the convention).

    ``(n,)`` (a bias) gives (n, n); ``(in, out)`` gives (in, out); ``(C_out, C_in, kh, kw)``
    gives (C_in·kh·kw, C_out·kh·kw). Raises ``ValueError`` for other ranks.
    """
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 4:
        receptive = shape[2] * shape[3]
        return shape[1] * receptive, shape[0] * receptive
    raise ValueError(f"fans: expected a weight of rank 1, 2 or 4, got shape {shape}")


def truncated_normal(rng: np.random.Generator, shape, std: float = 1.0, *, bound: float = 2.0) -> np.ndarray:
    """N(0, std²) restricted to [-bound·std, bound·std] by redrawing the values outside.

    Args:
        rng: the generator the standard normal draws come from (redraws too, in order).
        shape: output shape. std: scale (> 0). bound: truncation point in units of std (> 0).

    Returns:
        ``float64`` array of ``shape``. The std of the result is ``std`` times that of a standard
        normal truncated at ±bound (``_TRUNC_STD`` for the default bound 2).

    Raises:
        ValueError: ``std`` or ``bound`` not positive.
    """
    if not (std > 0 and bound > 0):
        raise ValueError(f"truncated_normal needs std > 0 and bound > 0, got std={std}, bound={bound}")
    out = rng.standard_normal(shape)
    bad = np.abs(out) > bound
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > bound
    return out * std


def _zeros(rng, shape):
    return np.zeros(shape)


def _ones(rng, shape):
    return np.ones(shape)


def _constant(rng, shape, value: float = 0.0):
    return np.full(shape, float(value))


def _random_normal(rng, shape, mean: float = 0.0, stddev: float = 0.05):
    return mean + stddev * rng.standard_normal(shape)


def _random_uniform(rng, shape, minval: float = -0.05, maxval: float = 0.05):
    return rng.uniform(minval, maxval, size=shape)


def _truncated(rng, shape, mean: float = 0.0, stddev: float = 0.05):
    return mean + truncated_normal(rng, shape, stddev)


def unit_norm_normal(rng: np.random.Generator, shape, dtype=np.float32) -> np.ndarray:
    """N(0, 1) weights with every output unit's incoming vector scaled to unit L2 norm (the
    Atari agents' initialisation of thesis ch. 6, after Such et al.): a dense ``(in, out)`` is
    normalised over ``in``, a kernel ``(C_out, C_in, kh, kw)`` over ``(C_in, kh, kw)``.
    Drawn and normalised in float64, returned as ``dtype``. Not part of :data:`INITIALIZERS`
    (the Keras catalogue of the accountability document); ``ValueError`` for other ranks."""
    shape = tuple(shape)
    if len(shape) not in (2, 4):
        raise ValueError(f"unit_norm_normal: expected a dense (in, out) or kernel (C_out, C_in, kh, kw) "
                         f"shape, got {shape}")
    w = rng.standard_normal(shape)
    axes = 0 if len(shape) == 2 else (1, 2, 3)
    return (w / np.sqrt(np.sum(w * w, axis=axes, keepdims=True))).astype(dtype)


def _variance_scaling(scale: float, mode: str, distribution: str):
    def init(rng, shape):
        fan_in, fan_out = fans(shape)
        n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
        var = scale / max(1.0, n)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return rng.uniform(-limit, limit, size=shape)
        return truncated_normal(rng, shape, math.sqrt(var) / _TRUNC_STD)

    return init


#: name -> ``f(rng, shape, **kwargs) -> float64 array``. Variance-scaling members follow Keras:
#: glorot_* use 1/fan_avg, he_* 2/fan_in, lecun_* 1/fan_in; *_uniform draw U(-√(3v), √(3v)),
#: *_normal a normal truncated at 2σ, rescaled so that the variance is v.
INITIALIZERS: dict[str, Callable] = {
    "zeros": _zeros,
    "ones": _ones,
    "constant": _constant,
    "random_normal": _random_normal,
    "random_uniform": _random_uniform,
    "truncated_normal": _truncated,
    "glorot_uniform": _variance_scaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": _variance_scaling(1.0, "fan_avg", "normal"),
    "he_uniform": _variance_scaling(2.0, "fan_in", "uniform"),
    "he_normal": _variance_scaling(2.0, "fan_in", "normal"),
    "lecun_uniform": _variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_normal": _variance_scaling(1.0, "fan_in", "normal"),
}


def get_initializer(name: str) -> Callable:
    """The initializer called ``name`` (a key of :data:`INITIALIZERS`); ``ValueError`` if unknown."""
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown initializer {name!r}; known initializers: {', '.join(INITIALIZERS)}"
        ) from None


def initialize(name: str, rng: np.random.Generator, shape: tuple[int, ...], *,
               dtype=np.float32, population: int | None = None, **kwargs) -> np.ndarray:
    """Draw a weight of ``shape`` with the initializer ``name``.

    Parameters
    ----------
    name : key of :data:`INITIALIZERS` (e.g. ``"glorot_uniform"``).
    rng : ``np.random.Generator``; the only source of randomness.
    shape : the weight's shape, without population axis; fans come from it (:func:`fans`).
    dtype : result dtype (default float32).
    population : if given, draw ``population`` independent weights, shape ``(population, *shape)``.
    kwargs : the initializer's own arguments (``value``, ``mean``, ``stddev``, ``minval``, ``maxval``).

    Raises ``ValueError`` for an unknown name, ``TypeError`` if ``rng`` is not a Generator.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    init = get_initializer(name)
    if population is None:
        return np.asarray(init(rng, tuple(shape), **kwargs), dtype=dtype)
    return np.stack([init(rng, tuple(shape), **kwargs) for _ in range(population)]).astype(dtype)
