"""A stand-in for CuPy on machines without a GPU, for tests of the device code paths.

:func:`install` puts a module named ``cupy`` into ``sys.modules`` (pytest's ``monkeypatch``
undoes it). Its arrays (:class:`ndarray`, whose type lives in module ``cupy``, so
``refimpl.backend.is_cupy`` recognises them) compute with NumPy underneath but behave like CuPy's
where it matters for refimpl's device rule:

* implicit conversion to NumPy fails (``np.asarray(a)`` raises ``TypeError``, as CuPy does);
* mixing them with NumPy arrays in an operation fails (CuPy: "Unsupported type");
* every read back to the host (``.get()``, ``float(a)``, ``int(a)``, ``bool(a)``, ``.item()``,
  ``.tolist()``) is counted in :data:`READS`, because on a GPU each one waits for the device.

Only what refimpl uses is provided; its random generator is NumPy's PCG64, not CuPy's, so
random draws differ from both NumPy's stream and CuPy's (like CuPy's do from NumPy's).
"""
from __future__ import annotations

import sys
import types

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

READS = {"count": 0}


def _reject_host(a):
    raise TypeError(f"Unsupported type {type(a)} (fake CuPy: a host array mixed into a device operation)")


def _unwrap(obj, allow_host=False):
    """Device arrays -> their NumPy data; host arrays rejected (unless ``allow_host``)."""
    if isinstance(obj, ndarray):
        return obj._a
    if isinstance(obj, np.ndarray):
        return obj if allow_host else _reject_host(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unwrap(o, allow_host) for o in obj)
    return obj


def _wrap(obj):
    if isinstance(obj, (np.ndarray, np.generic)) and not isinstance(obj, np.dtype):
        return ndarray(np.asarray(obj))
    if isinstance(obj, tuple):
        return tuple(_wrap(o) for o in obj)
    return obj


class ndarray(NDArrayOperatorsMixin):
    """A "device" array: NumPy data that refuses to leave implicitly."""
    __module__ = "cupy"

    def __init__(self, a: np.ndarray):
        self._a = a

    # metadata lives on the host in CuPy too: reading it never waits for the device
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    T = property(lambda self: ndarray(self._a.T))

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return f"fake_cupy.ndarray(shape={self.shape}, dtype={self.dtype})"

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        args = _unwrap(inputs)
        kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
        if out is not None:
            kwargs["out"] = _unwrap(tuple(out))
        result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        return _wrap(func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key, allow_host=True)])

    def __setitem__(self, key, value):
        self._a[_unwrap(key, allow_host=True)] = _unwrap(value)

    # reads back to the host: counted
    def get(self):
        READS["count"] += 1
        return self._a.copy()

    def item(self):
        READS["count"] += 1
        return self._a.item()

    def tolist(self):
        READS["count"] += 1
        return self._a.tolist()

    def __float__(self):
        READS["count"] += 1
        return float(self._a)

    def __int__(self):
        READS["count"] += 1
        return int(self._a)

    def __bool__(self):
        READS["count"] += 1
        return bool(self._a)

    def astype(self, dtype, copy=True):
        out = self._a.astype(dtype, copy=copy)
        return self if out is self._a else ndarray(out)


def _method(name):
    def method(self, *args, **kwargs):
        return _wrap(getattr(self._a, name)(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))
    method.__name__ = name
    return method


for _name in ("reshape", "transpose", "copy", "sum", "mean", "max", "min", "argmax", "argmin", "squeeze",
              "ravel", "any", "all", "std", "var", "prod", "swapaxes", "fill"):
    setattr(ndarray, _name, _method(_name))


def _function(f):
    def function(*args, **kwargs):
        return _wrap(f(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))
    function.__name__ = getattr(f, "__name__", "function")
    return function


def asarray(a, dtype=None):
    """Host data -> device (a copy, as a transfer is); device arrays stay (cast if asked)."""
    if isinstance(a, ndarray):
        return a if dtype is None else a.astype(dtype, copy=False)
    return ndarray(np.array(a, dtype=dtype))


class RandomState:
    """``cupy.random.RandomState`` as refimpl uses it (draws from NumPy's PCG64 here)."""

    def __init__(self, seed):
        self._rng = np.random.default_rng(seed)

    def standard_normal(self, size=None, dtype=float):
        return ndarray(self._rng.standard_normal(size, dtype=dtype))

    def random_sample(self, size=None, dtype=float):
        return ndarray(self._rng.random(size, dtype=dtype))


def make_module() -> types.ModuleType:
    """A fresh fake ``cupy`` module."""
    mod = types.ModuleType("cupy", "fake CuPy of refimpl's tests (tests/fake_cupy.py)")
    mod.__file__ = __file__
    mod.ndarray = ndarray
    mod.asarray = asarray
    mod.array = asarray
    mod.asnumpy = lambda a: a.get() if isinstance(a, ndarray) else np.asarray(a)
    mod.random = types.SimpleNamespace(RandomState=RandomState)
    mod.lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
        as_strided=lambda x, shape=None, strides=None: ndarray(
            np.lib.stride_tricks.as_strided(x._a, shape=shape, strides=strides))))
    mod.cuda = types.SimpleNamespace(is_available=lambda: True,
                                     Stream=types.SimpleNamespace(null=types.SimpleNamespace(synchronize=lambda: None)))

    def __getattr__(name):  # everything else: NumPy's function on the device data, or NumPy's constant/type
        f = getattr(np, name)
        if callable(f) and not isinstance(f, type):
            return _function(f)
        return f

    mod.__getattr__ = __getattr__
    return mod


def install(monkeypatch) -> types.ModuleType:
    """Make ``import cupy`` return a fresh fake module for the rest of the test; returns it."""
    mod = make_module()
    monkeypatch.setitem(sys.modules, "cupy", mod)
    READS["count"] = 0
    return mod
