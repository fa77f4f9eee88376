"""Accuracy of NumPy's elementary functions in float32 and float64, in ulps, against mpmath.

    python benchmarks/libm_accuracy.py [--n 1000000] [--seed 0]

The numbers behind the step counts of ``refimpl.interval.arithmetic`` (``_LIBM_STEPS``, module
docstring): for every function used there, ``--n`` arguments in each of several ranges (the
whole range of the dtype and the regions where the kernels are least accurate: near 0, near 1
for log, near multiples of π/2 for sin and cos, around 0.5 for tanh), the error of NumPy's
result in units in the last place of the *exact* value (ulp(y) = 2^(e − p + 1) for y in
[2^e, 2^(e+1)), p the dtype's precision; the subnormal spacing below).

The exact values come from x87 long double (glibc's ``expl``, ``logl``, ``sinl``, …: 11 more
bits than float64, so the measured float64 errors are good to ~0.002 ulp); the worst argument
of every function is recomputed with mpmath at 50 digits and both results are printed. The
maxima of a random search are lower bounds on the true maxima — hence the safety factor of the
step counts. The results depend on the CPU and NumPy build (float32 exp and log come from
NumPy's AVX-512 kernels where the CPU has them).
"""
from __future__ import annotations

import argparse
import time

import mpmath
import numpy as np
from scipy.special import expit

LD = np.longdouble


def ulp(y, dtype):
    """ulp of the (long double) values y in ``dtype``: 2^(e − p + 1), at least the subnormal spacing."""
    fi = np.finfo(dtype)
    _, e = np.frexp(np.abs(y).astype(LD))
    e = np.maximum(e.astype(np.int64) - (fi.nmant + 1), int(np.log2(fi.smallest_subnormal)))
    return np.ldexp(LD(1), e)


def _sigmoid(x):
    """σ as NumPy computes it in x's dtype: 1/(1 + e^−x)."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def _sigmoid_mp(x):
    return 1 / (1 + mpmath.exp(-x))


# name: (NumPy function, long double reference, mpmath)
FUNCTIONS = {
    "exp": (np.exp, np.exp, mpmath.exp),
    "log": (np.log, np.log, mpmath.log),
    "sqrt": (np.sqrt, np.sqrt, mpmath.sqrt),
    "sin": (np.sin, np.sin, mpmath.sin),
    "cos": (np.cos, np.cos, mpmath.cos),
    "tanh": (np.tanh, np.tanh, mpmath.tanh),
    "x**3": (lambda x: x ** 3, lambda x: x ** 3, lambda x: x ** 3),
    "sigmoid 1/(1+exp(-x))": (_sigmoid, _sigmoid, _sigmoid_mp),
    "scipy expit": (expit, _sigmoid, _sigmoid_mp),
}


def arguments(name, dtype, n, rng):
    """Arrays of n arguments each, in ``dtype``, for function ``name``."""
    f32 = dtype == np.float32
    lg = lambda a, b: np.exp(rng.uniform(np.log(a), np.log(b), n))   # noqa: E731
    sg = lambda v: v * rng.choice([-1.0, 1.0], n)                     # noqa: E731
    k = rng.integers(-3000, 3000, n)
    if name == "exp":
        xs = [rng.uniform(-104, 89, n) if f32 else rng.uniform(-745, 709, n),
              rng.uniform(-2, 2, n), sg(lg(1e-18, 1))]
    elif name == "log":
        xs = [lg(1e-38, 1e38) if f32 else lg(1e-300, 1e300), rng.uniform(0.5, 2, n),
              1 + sg(lg(1e-15, 0.1))]
    elif name == "sqrt":
        xs = [lg(1e-38, 1e38)]
    elif name in ("sin", "cos"):
        xs = [rng.uniform(-10, 10, n), rng.uniform(-1e4, 1e4, n), sg(lg(1e-12, 1e20)),
              k * (np.pi / 2) + sg(lg(1e-17, 1e-2))]
    elif name == "tanh":
        xs = [rng.uniform(-20, 20, n), rng.uniform(0.3, 0.7, n), sg(lg(1e-12, 3))]
    elif name == "x**3":
        xs = [sg(lg(1e-12, 1e12))]
    else:   # sigmoid, where e^−x does not overflow (beyond, 1/(1 + e^−x) is 0: all error)
        xs = [rng.uniform(-87, 30, n) if f32 else rng.uniform(-708, 40, n), rng.uniform(-12, 12, n),
              sg(lg(1e-12, 3))]
    return [x.astype(dtype) for x in xs]


def worst_error(name, dtype, n, rng):
    """(max ulp error from the long double reference, its argument, the same error from mpmath)."""
    f, f_ld, f_mp = FUNCTIONS[name]
    worst, arg = -1.0, None
    for x in arguments(name, dtype, n, rng):
        with np.errstate(all="ignore"):
            y = f(x)
            ref = f_ld(x.astype(LD))
        finite = np.isfinite(y) & (np.abs(ref) <= np.finfo(dtype).max)   # skip overflow
        err = np.where(finite, np.abs(y.astype(LD) - ref) / ulp(ref, dtype), 0)
        i = int(np.argmax(err))
        if err[i] > worst:
            worst, arg = float(err[i]), x[i]
    with mpmath.workdps(50):
        exact = f_mp(mpmath.mpf(float(arg)))
        y = f(np.array([arg]))[0]
        u = mpmath.mpf(float(ulp(np.array([LD(mpmath.nstr(exact, 30))]), dtype)[0]))
        err_mp = float(abs(mpmath.mpf(float(y)) - exact) / u)
    return worst, arg, err_mp


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=float, default=1e6, help="arguments per range")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print(f"NumPy {np.__version__}; max error in ulps of the exact value "
          f"({int(args.n)} arguments per range, several ranges per function)")
    for dtype in (np.float32, np.float64):
        for name in FUNCTIONS:
            t = time.perf_counter()
            w, arg, w_mp = worst_error(name, dtype, int(args.n), rng)
            print(f"  {np.dtype(dtype).name:8} {name:22} {w:6.3f} ulp  (mpmath: {w_mp:6.3f}, at x = {arg!r}; "
                  f"{time.perf_counter() - t:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
