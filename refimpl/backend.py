"""Array-module switch between NumPy (traced by autograd) and CuPy, plus pytree helpers.

Code that must run on both the CPU and a GPU obtains its array module from its
arguments, never from a global::

    xp = array_module(W, x)      # cupy for CuPy arrays, autograd.numpy otherwise
    y = xp.tanh(x @ W)

On the CPU this returns ``autograd.numpy``, a thin wrapper of NumPy that autograd can
trace, so the identical function is differentiable on the CPU and runs unchanged on
CuPy arrays on a GPU (where it is used for forward-only population evaluation).

Parameters are plain pytrees: nested lists, tuples and dicts whose leaves are arrays.
:func:`tree_map` and :func:`tree_leaves` walk them.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import autograd.numpy as anp
import numpy as np

__all__ = [
    "GPUUnavailableError",
    "array_module",
    "as_generator",
    "asnumpy",
    "cupy_or_none",
    "raw_module",
    "gpu_available",
    "is_cupy",
    "is_gpu_module",
    "to_device",
    "tree_leaves",
    "tree_map",
]


class GPUUnavailableError(RuntimeError):
    """Raised when the GPU backend is requested but CuPy or a usable CUDA device is missing."""


def cupy_or_none():
    """Return the ``cupy`` module if it can be imported, else ``None`` (never raises)."""
    try:
        import cupy  # noqa: PLC0415
    except Exception:  # ImportError, or a broken CUDA install raising at import
        return None
    return cupy


def is_cupy(a: Any) -> bool:
    """True if ``a`` is a CuPy ndarray. Does not import CuPy when it is not already loaded."""
    return type(a).__module__.startswith("cupy")


def is_gpu_module(xp: Any) -> bool:
    """True if ``xp`` is the ``cupy`` module, i.e. the module :func:`array_module` or
    :func:`raw_module` returns for CuPy arrays; False for ``numpy``, ``autograd.numpy`` and
    anything else (never raises).

    This is the one backend test of the library: code that must do something different on the
    GPU (draw with CuPy's generator, skip host-only shortcuts, evaluate all individuals at once)
    asks ``is_gpu_module(xp)``. It does not import CuPy: if ``cupy`` has not been imported, no
    CuPy array exists and the answer is False.
    """
    cp = sys.modules.get("cupy")
    return cp is not None and xp is cp


def array_module(*arrays: Any):
    """The array module to compute with for ``arrays``.

    Returns ``cupy`` if any argument is a CuPy array, else ``autograd.numpy`` (so autograd can
    trace the computation). Non-array arguments (Python scalars, ``None``, autograd boxes of
    NumPy arrays) count as NumPy. Pytrees are not searched: pass the arrays themselves.
    """
    for a in arrays:
        if is_cupy(a):
            import cupy  # noqa: PLC0415  (already imported: a CuPy array exists)

            return cupy
    return anp


def raw_module(*arrays: Any):
    """``numpy`` or ``cupy`` itself (not the autograd wrapper), for code that is never traced:
    in-place updates (``out=``), strided views, and the insides of custom autograd primitives."""
    xp = array_module(*arrays)
    return np if xp is anp else xp


def gpu_available() -> bool:
    """True if CuPy imports *and* a CUDA device can actually allocate memory.

    ``import cupy`` succeeds on machines without a GPU; the first allocation then raises
    ``CUDARuntimeError`` and ``cupy.cuda.is_available()`` is False. Both are checked here.
    """
    cp = cupy_or_none()
    if cp is None:
        return False
    try:
        if not cp.cuda.is_available():
            return False
        cp.zeros(1)  # the first allocation is where a missing driver/device shows up
    except Exception:
        return False
    return True


def _require_gpu():
    cp = cupy_or_none()
    if cp is None:
        raise GPUUnavailableError(
            "device='gpu' needs CuPy, which is not installed. Install the extra with "
            "`pip install -e .[gpu]` (cupy-cuda12x) on a machine with an NVIDIA GPU, or use device='cpu'."
        )
    if not gpu_available():
        raise GPUUnavailableError(
            "device='gpu' was requested and CuPy imports, but no usable CUDA device was found "
            "(cupy.cuda.is_available() is False or the first allocation failed). Use device='cpu'."
        )
    return cp


def tree_map(f: Callable, tree: Any, *rest: Any) -> Any:
    """Apply ``f`` to every leaf of ``tree`` (and the matching leaves of ``rest``).

    Lists, tuples and dicts are containers; everything else is a leaf. The structure of
    ``tree`` is preserved (a list stays a list). Raises ``ValueError`` if the structures of
    ``tree`` and ``rest`` differ.
    """
    if isinstance(tree, dict):
        for r in rest:
            if not isinstance(r, dict) or r.keys() != tree.keys():
                raise ValueError("tree_map: pytrees have different dict keys")
        return {k: tree_map(f, tree[k], *(r[k] for r in rest)) for k in tree}
    if isinstance(tree, (list, tuple)):
        for r in rest:
            if not isinstance(r, (list, tuple)) or len(r) != len(tree):
                raise ValueError("tree_map: pytrees have different list lengths")
        out = [tree_map(f, t, *(r[i] for r in rest)) for i, t in enumerate(tree)]
        return type(tree)(out) if isinstance(tree, tuple) else out
    return f(tree, *rest)


def tree_leaves(tree: Any) -> list:
    """All leaves of a pytree, in the traversal order of :func:`tree_map`."""
    leaves: list = []
    tree_map(leaves.append, tree)
    return leaves


def asnumpy(tree: Any) -> Any:
    """Copy every CuPy leaf of a pytree to a NumPy array; NumPy leaves are returned as they are."""
    return tree_map(lambda a: a.get() if is_cupy(a) else a, tree)


def to_device(tree: Any, device: str) -> Any:
    """Move every array leaf of a pytree to ``device``.

    Parameters
    ----------
    tree : pytree of arrays (NumPy or CuPy), dtypes preserved.
    device : ``"cpu"`` (NumPy) or ``"gpu"`` (CuPy).

    Raises
    ------
    ValueError
        for any other device name.
    GPUUnavailableError
        for ``"gpu"`` when CuPy is not installed or no CUDA device is usable.
    """
    if device == "cpu":
        return asnumpy(tree)
    if device == "gpu":
        cp = _require_gpu()
        return tree_map(lambda a: cp.asarray(a) if isinstance(a, np.ndarray) else a, tree)
    raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")


def as_generator(seed: Any) -> np.random.Generator:
    """A ``np.random.Generator`` from a seed: the generator itself if one is given (not copied, so
    draws advance the caller's stream), else ``np.random.default_rng(seed)``.

    Every function of the library that draws random numbers takes a seed or a Generator and
    passes it through here, so equal seeds give equal results.

    Raises:
        TypeError: ``seed`` is not ``None``, a non-negative int, a sequence of them, a
            ``SeedSequence``/``BitGenerator`` or a ``Generator``.
        ValueError: a negative seed.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, float, str, bytes)):
        raise TypeError(f"seed must be a non-negative int or a numpy.random.Generator, got {seed!r}")
    try:
        return np.random.default_rng(seed)
    except TypeError as exc:
        raise TypeError(f"seed must be a non-negative int or a numpy.random.Generator, got "
                        f"{type(seed).__name__}") from exc
    except ValueError as exc:
        raise ValueError(f"seed must be non-negative, got {seed!r}") from exc

