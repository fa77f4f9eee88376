"""Interval arithmetic on NumPy arrays with reverse-mode interval adjoints.

Document ``interval`` (Afghan & Naumann, ICCS 2020), Sec. 2.3. An :class:`Interval` holds
two arrays of equal shape, ``lo`` and ``hi`` (float64 by default), and stands for the box
``{x : lo <= x <= hi}``. Every operation returns an enclosure of the exact range of the
operation over the box (Moore's fundamental theorem of interval arithmetic)::

    X1, X2 = Interval(0.5, 1.5), Interval(-0.5, 0.5)
    Y = sin(X1 * X2)          # ⊇ [-0.6816, 0.6816]
    Y.backward()              # reverse sweep: interval adjoints
    X1.adjoint, X2.adjoint    # ⊇ [-0.5, 0.5] and [0.3658, 1.5]   (the paper's example)

Rounding. With ``outward=True`` (the default) every computed bound is moved one unit in
the last place outward (``np.nextafter``) after each correctly rounded operation (+, −, ×, ÷,
sqrt: IEEE 754, in every dtype), and reductions (sums, matrix products) additionally widen by
the standard a-priori error bound ``γ_n·Σ|terms|`` with ``γ_n = n·u/(1 − n·u)`` (Higham,
*Accuracy and Stability*, Eq. 3.5), so the enclosures hold in floating point for any summation
order (barring underflow to subnormals). Two hot paths avoid the per-element ``np.nextafter``
(several times slower than a multiplication on the short vectors of a network sweep) without
giving up rigour: the point-matrix product folds its two final directed roundings into the
a-priori bound of its radius (two more u in γ, proof in :func:`_matmul_point_raw`), and the
chains of nonnegative quantities in exp and σ step outward by adding k to the bit patterns
(exactly k ulps, the same bounds as k calls of ``np.nextafter``; :func:`_up_pos`).
``outward=False`` computes the same formulas in plain round-to-nearest — fine for teaching and
for reading the numbers, not rigorous.

Elementary functions (exp, log, sin, cos, tanh, integer powers; σ is built from exp) are not
correctly rounded by NumPy, and their accuracy depends on the platform. They are always
evaluated in float64, whatever the interval's dtype:

* float64: each libm result is moved ``_LIBM_STEPS[f]`` ulps outward. If a result ŷ errs by at
  most E ulps of the exact y, the floats between ŷ and y are at least ulp(y)/2 apart, so 2E
  steps outward from ŷ pass y. Largest errors of NumPy 2.4's float64 functions found on this
  machine (x86-64 with AVX-512; 10^7 random arguments in each of 1–4 ranges per function, the
  whole range and the hard regions; long double reference, worst cases confirmed with mpmath
  at 50 digits), in ulps of the exact value: exp 0.73, log 0.63, sin 0.52, cos 0.56, tanh 1.19,
  x**n 0.71 (sqrt 0.50: correctly rounded). The steps (4; 6 for tanh) cover 2 (3) ulps: a
  safety factor ≥ 2.5 over every measured maximum. This is the one assumption measured rather
  than proved: the float64 enclosures are rigorous when the platform's float64 exp, log, sin,
  cos and pow err by less than 2 ulps and tanh by less than 3. σ(x) = 1/(1 + e^−x) adds none:
  its bounds are assembled from exp's by directed operations (:func:`_sigmoid_bound`; the plain
  float64 formula errs by up to 2.39 ulps, scipy's expit by 2.46).
* float32 (and float16): the platform's float32 libm is never used. NumPy's AVX-512 float32
  kernels err by up to exp 2.54, log 3.77, sin 1.48, cos 1.47, tanh 1.37, x**n 0.99 ulps (σ
  from them: 3.68) on this machine — more than the one ulp once assumed here, and enclosures
  missed the exact value. Instead the float32 bounds convert exactly to float64, the float64
  enclosure is computed as above, and its bounds are rounded outward to float32 (round to
  nearest, then one step back out where the conversion moved a bound inward: an exact directed
  rounding, :func:`_to_dtype`). So the float32 enclosure contains the float64 one: rigorous
  under the same float64 assumption alone, and for a point at most two float32 ulps wide.

The measurements are reproduced by ``benchmarks/libm_accuracy.py``; the enclosures are checked
against mpmath on 10^6 float32 and 10^5 float64 random boxes per function by
``tests/test_interval_rigour.py``. Only float16, float32 and float64 intervals are allowed
(``TypeError`` otherwise: long double would need its own measurements).

Adjoints (Sec. 2.3). Each operation records its inputs and a rule for its local derivative on
a tape (the graph of :class:`Interval` nodes, processed in reverse creation order).
``y.backward(seed)`` propagates interval adjoints from ``y`` to every input and intermediate
that ``y`` depends on; each node then carries ``node.adjoint``, itself an :class:`Interval`
that encloses ``∂(seed·y)/∂node`` for every point of the input box. Adjoints are computed
with the same interval arithmetic, untaped.

Matrix products. ``Interval @ ndarray`` (and ``ndarray @ Interval``) use the midpoint–radius
form: with ``X = <c, r>``, ``X·W ⊆ <c·W, r·|W|>`` — exact for a point matrix W (no
overestimation), two GEMMs. ``Interval @ Interval`` uses Rump's midpoint–radius product
(Rump 1999, "Fast and parallel interval arithmetic", BIT 39): ``<mA, rA>·<mB, rB> ⊆
<mA·mB, |mA|·rB + rA·(|mB| + rB)>``, three GEMMs, whose radius overestimates the exact
interval matrix product's radius by at most a factor 1.5.

Division by an interval that contains 0 returns the whole real line ``[-inf, inf]`` (the
convex hull of the extended-real quotient); ``sqrt`` and ``log`` are evaluated on the
intersection of the box with their domain (IEEE 1788 convention) and raise ``ValueError``
when that intersection is empty.
"""
from __future__ import annotations

import functools
import itertools
import numbers
from typing import Callable

import numpy as np

__all__ = ["Interval", "interval", "point", "hull", "exp", "log", "sqrt", "sin", "cos", "tanh",
           "sigmoid", "relu", "absolute", "maximum", "minimum", "matmul", "softmax",
           "log_softmax", "ACTIVATIONS", "get_activation"]

_ids = itertools.count()   # creation order: parents are always older than their children


# ---------------------------------------------------------------------------------------
# Rounded primitives on (lo, hi) arrays. ``o`` switches outward rounding.
# ---------------------------------------------------------------------------------------

def quiet():
    """NumPy's floating-point warnings off (overflow, invalid operation, division by zero).
    Unbounded and huge bounds make ∞ − ∞, ∞·0 and overflows on purpose; every operation here
    turns them into sound bounds itself (∓∞, or 0 for ∞·0), and the tests check that no taped
    operation or sweep returns NaN for such boxes. Entering the context costs ~2 µs."""
    return np.errstate(invalid="ignore", over="ignore", divide="ignore")


def _quiet(f):
    """``f`` run inside :func:`quiet`: for the primitives that do arithmetic on bounds."""
    @functools.wraps(f)
    def run_quietly(*args, **kwargs):
        with quiet():
            return f(*args, **kwargs)
    return run_quietly


def _dn(x, o, k=1):
    if o:
        for _ in range(k):
            x = np.nextafter(x, -np.inf)
    return x


def _up(x, o, k=1):
    if o:
        for _ in range(k):
            x = np.nextafter(x, np.inf)
    return x


# Outward steps for quantities known to be ≥ 0 (the exp and σ chains, σ's derivative): for
# floats x ≥ +0 the IEEE 754 bit patterns, read as integers, are ordered like the numbers and
# consecutive floats have consecutive patterns (subnormals, the normal range and +inf alike),
# so the k-th float above x is the pattern plus k and the k-th below it the pattern minus k:
# one integer addition gives exactly what k calls of np.nextafter give (several times slower on
# short arrays), with the ends clamped: above the largest float comes +inf; below +0 we stop at
# +0 where np.nextafter would go on to −kη (also a lower bound of the nonnegative quantity
# stepped; every caller clips its lower bounds at 0 anyway, so the results are the same).
_INT = {np.dtype(f): np.dtype(f"i{np.dtype(f).itemsize}") for f in (np.float16, np.float32, np.float64)}
_INF_BITS = {f: np.array(np.inf, f).view(i)[()] for f, i in _INT.items()}


def _up_pos(x, o, k=1):
    """succ^k(x), the k-th float above x, for an array x ≥ 0 (−0 counts as +0; +inf stays +inf;
    NaN becomes +inf): the same as ``_up(x, o, k)`` there, by integer steps (see above)."""
    if not o:
        return x
    x = np.abs(x)                              # −0 → +0 (x ≥ 0 otherwise unchanged)
    bits = x.view(_INT[x.dtype]) + k
    return np.minimum(bits, _INF_BITS[x.dtype]).view(x.dtype)


def _dn_pos(x, o, k=1):
    """max(pred^k(x), +0), the k-th float below x but not below 0, for an array x ≥ 0 whose exact
    value is known to be ≥ 0 (pred^k(+inf) = pred^(k−1)(largest float), as ``np.nextafter``)."""
    if not o:
        return x
    x = np.abs(x)
    bits = x.view(_INT[x.dtype]) - k
    return np.maximum(bits, 0).view(x.dtype)


# ulps by which a float64 libm result is moved outward: 2E steps cover an error of E ulps of the
# exact value; measured maxima (module docstring, benchmarks/libm_accuracy.py): exp 0.73,
# log 0.63, sin 0.52, cos 0.56, pow 0.71, tanh 1.19 ulps.
_LIBM_STEPS = {"exp": 4, "log": 4, "sin": 4, "cos": 4, "pow": 4, "tanh": 6}


def _f64(x):
    """The bounds as float64 (exact for float16/32/64; no copy for float64)."""
    return np.asarray(x, dtype=np.float64)


def _to_dtype(lo, hi, dtype, o):
    """Float64 bounds rounded outward to ``dtype``: the conversion rounds to nearest, and a bound
    it moved inward is stepped one ulp back out — the largest ``dtype`` number ≤ lo and the
    smallest ≥ hi (exact directed rounding; overflow gives ±inf or ±max). No-op for float64."""
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return lo, hi
    with np.errstate(over="ignore"):
        l, h = lo.astype(dtype), hi.astype(dtype)
        if o:
            l = np.where(l > lo, np.nextafter(l, dtype.type(-np.inf)), l)
            h = np.where(h < hi, np.nextafter(h, dtype.type(np.inf)), h)
    return l, h


def _gamma(n: int, dtype) -> float:
    """γ_n = n·u/(1 − n·u): bound on the relative error of an n-term floating-point sum."""
    u = np.finfo(dtype).eps / 2
    nu = (n + 2) * u   # two extra terms absorb the rounding of the bound itself
    if nu >= 0.25:   # (the folded bounds below also use γ ≤ 1/3)
        raise ValueError(f"reduction of {n} terms is too long for a rigorous error bound in {np.dtype(dtype)}")
    return nu / (1 - nu)


@_quiet
def _mul(al, ah, bl, bh, o):
    """Interval product by the four-product rule; 0·inf counts as 0 (fmin/fmax skip NaN)."""
    p1, p2, p3, p4 = al * bl, al * bh, ah * bl, ah * bh
    lo = np.fmin(np.fmin(p1, p2), np.fmin(p3, p4))
    hi = np.fmax(np.fmax(p1, p2), np.fmax(p3, p4))
    lo, hi = _nan_to(lo, 0.0), _nan_to(hi, 0.0)
    return _dn(lo, o), _up(hi, o)


@_quiet
def _mul_point(al, ah, c, o):
    """[al, ah]·c for a point array c."""
    p, q = al * c, ah * c
    return _dn(np.minimum(p, q), o), _up(np.maximum(p, q), o)


@_quiet
def _add(al, ah, bl, bh, o):
    return _dn(al + bl, o), _up(ah + bh, o)


@_quiet
def _sum(lo, hi, axis, keepdims, o):
    """Rigorous interval sum along ``axis`` (any summation order)."""
    slo, shi = np.sum(lo, axis=axis, keepdims=keepdims), np.sum(hi, axis=axis, keepdims=keepdims)
    if not o:
        return slo, shi
    n = lo.size // max(slo.size, 1) if lo.size else 0
    g = _gamma(n, lo.dtype)
    elo = _up(g * np.sum(np.abs(lo), axis=axis, keepdims=keepdims), o)
    ehi = _up(g * np.sum(np.abs(hi), axis=axis, keepdims=keepdims), o)
    return _nan_to(_dn(slo - elo, o), -np.inf), _nan_to(_up(shi + ehi, o), np.inf)


def _nan_to(x, v):
    return np.where(np.isnan(x), v, x)


@_quiet
def _mid_rad(lo, hi, o):
    """Midpoint c and radius r with [lo, hi] ⊆ [c − r, c + r]."""
    c = 0.5 * lo + 0.5 * hi   # no overflow for huge bounds
    if not o:
        return c, 0.5 * (hi - lo)
    return c, _up(np.maximum(c - lo, hi - c), o)


@_quiet
def _matmul_point_raw(lo, hi, W, absW, o, left):
    """[lo, hi] @ W (left=True) or W @ [lo, hi] (left=False) in midpoint–radius form: two GEMMs,
    <c, r>·W ⊆ <c·W, r·|W|>. Entries that come out NaN (∞·0 or ∞ − ∞ from unbounded
    intervals, or NaN in W) are left to the caller.

    With rounding (Rump 1999, BIT 39, Sec. 2, with a-priori bounds as in Higham, *Accuracy and
    Stability*, Eq. 3.5), no directed rounding per element: the computed bounds are
    lo = fl(mid − ρ), hi = fl(mid + ρ) with mid = fl(c·W) and
    ρ = fl(fl(fl(r + fl(g·|c|))·|W|)·fl(1 + 3g)), g = γ_{n+4} = (n+4)u/(1 − (n+4)u), u the unit
    roundoff, n the inner dimension, r = fl(max(c − lo, hi − c)). Claim: lo ≤ min and
    hi ≥ max of x·W over the box, barring underflow. Proof (all quantities in the ρ chain are
    ≥ 0, so each rounding loses at most a factor 1 − u, the GEMM at most 1 − γ_n):
    the box lies in <c, r'> with r' ≤ r/(1 − u); |mid − c·W| ≤ γ_n·|c|·|W|, so
    |mid| ≤ (1 + γ_n)|c||W|; the final fl(mid ∓ ρ) errs by at most u·(|mid| + ρ). Hence it
    suffices that ρ(1 − u) ≥ r|W|/(1 − u) + (γ_n + u(1 + γ_n))|c||W|. The chain gives
    ρ ≥ (1 − u)^4 (1 − γ_n)(1 + 3g)(r + g|c|)|W|. For the r-term, (1 − u)^6 (1 − γ_n)(1 + 3g)
    ≥ (1 − 6u)(1 + 2g − 3g²) ≥ 1 because g ≥ (n + 4)u ≥ 5u and g ≤ 1/3. For the |c|-term,
    (1 − u)^5 (1 − γ_n)(1 + 3g)·g ≥ g − 5ug ≥ γ_n + 4u − 5u/3 ≥ γ_n + u + uγ_n, using
    γ_{m+1} ≥ γ_m + u; the rounding of the constants g and 1 + 3g (relative ≤ u) is absorbed by
    the margins (u·(4 − 5/3 − 1 − 1/3) = u for the |c|-term, O(g) for the r-term). So the two
    final subtractions need no np.nextafter: they are covered by the two extra u in γ_{n+4}.
    """
    c = 0.5 * lo + 0.5 * hi                # no overflow for huge bounds
    r = np.maximum(c - lo, hi - c)         # [lo, hi] ⊆ [c − r, c + r] up to the rounding of r
    mm = (lambda a, B: a @ B) if left else (lambda a, B: B @ a)
    mid = mm(c, W)
    if not o:
        rad = mm(r, absW)
        return mid - rad, mid + rad
    n = W.shape[0] if left else W.shape[-1]
    g = _gamma(n + 2, lo.dtype)            # γ_{n+4}: _gamma(m) is γ_{m+2}
    rad = mm(r + g * np.abs(c), absW) * (1 + 3 * g)
    return mid - rad, mid + rad


def _any_unsound(lo, hi) -> bool:
    """True if lo holds a NaN or +∞, or hi a NaN or −∞: two reductions instead of several passes
    and any() on short arrays. max and min propagate NaN (and warn of nothing), and a NaN
    compares false; no ``np.errstate`` (it costs more than the reductions on short arrays)."""
    if lo.size == 0:
        return False
    return not (np.maximum.reduce(lo, axis=None) < np.inf and np.minimum.reduce(hi, axis=None) > -np.inf)


def _whole_line_where_unsound(lo, hi):
    """Bounds a midpoint–radius product cannot vouch for -> the whole line on that side (sound:
    it encloses anything): NaN (from ∞·0 or ∞ − ∞) -> [−∞, ∞]; a lower bound +∞ -> −∞ and an
    upper bound −∞ -> +∞. Those come from a midpoint that overflowed: the exact value is a
    finite real number, and a float sum that overflowed (partial sums may cancel) bounds it on
    neither side."""
    if _any_unsound(lo, hi):
        with np.errstate(invalid="ignore"):
            lo = np.where(np.isnan(lo) | (lo == np.inf), -np.inf, lo)
            hi = np.where(np.isnan(hi) | (hi == -np.inf), np.inf, hi)
    return lo, hi


@_quiet
def _matmul_ii_raw(al, ah, bl, bh, o):
    """Rump's midpoint–radius product of two interval matrices: three GEMMs."""
    mA, rA = _mid_rad(al, ah, o)
    mB, rB = _mid_rad(bl, bh, o)
    mid = mA @ mB
    aA, aB = np.abs(mA), np.abs(mB)
    if not o:
        rad = aA @ rB + rA @ (aB + rB)
        return mid - rad, mid + rad
    g = _gamma(al.shape[-1], al.dtype)
    t1 = aA @ _up(rB + _up(g * aB, o), o)
    t2 = rA @ _up(aB + rB, o)
    rad = _up(_up(_up(t1 + t2, o) * (1 + 2 * g), o), o)
    lo, hi = _whole_line_where_unsound(mid - rad, mid + rad)   # before _dn: _dn(+∞) is the largest float
    return _dn(lo, o), _up(hi, o)


def _unbroadcast(lo, hi, shape, o):
    """Sum an adjoint of a broadcast result back to the operand's ``shape``."""
    if lo.shape == tuple(shape):
        return lo, hi
    nlead = lo.ndim - len(shape)
    axes = tuple(range(nlead)) + tuple(i + nlead for i, s in enumerate(shape)
                                       if s == 1 and lo.shape[i + nlead] != 1)
    lo, hi = _sum(lo, hi, axes, True, o)
    return lo.reshape(shape), hi.reshape(shape)


# ---------------------------------------------------------------------------------------
# The Interval type
# ---------------------------------------------------------------------------------------

class Interval:
    """An array of closed intervals ``[lo, hi]`` with a tape for reverse-mode adjoints.

    Parameters
    ----------
    lo, hi : array-likes broadcastable to one shape (``hi`` defaults to ``lo``: a degenerate,
        i.e. point, interval). Stored as ``dtype``: float64 (the default), float32 or float16;
        the elementary functions compute in float64 for every dtype (module docstring).
    outward : round every computed bound one ulp outward (default ``True``; see the module
        docstring). Results of an operation round outward if any interval operand does.

    Raises ``ValueError`` if a bound is NaN, a lower bound +∞ or an upper bound −∞ (such an
    interval holds no real number), if ``lo > hi`` anywhere (naming the first such index), or if
    ``lo`` and ``hi`` cannot be broadcast together; ``TypeError`` for complex bounds or any other
    ``dtype`` (integers, long double). Point operands of the arithmetic must be real and finite
    (``ValueError`` / ``TypeError``), and so must :meth:`backward`'s seed.

    Attributes: ``lo``, ``hi`` (ndarrays), ``outward``, ``adjoint`` (an :class:`Interval`
    after :meth:`backward`, else ``None``).
    """

    __array_ufunc__ = None        # ``ndarray + Interval`` defers to Interval.__radd__ etc.
    __slots__ = ("lo", "hi", "outward", "adjoint", "_parents", "_id", "__weakref__")

    def __init__(self, lo, hi=None, *, outward: bool = True, dtype=np.float64):
        dtype = np.dtype(dtype)
        if dtype not in (np.float16, np.float32, np.float64):
            raise TypeError(f"Interval dtype must be a floating type: float16, float32 or float64, got {dtype}")
        if np.iscomplexobj(lo) or np.iscomplexobj(hi):
            raise TypeError("interval bounds must be real (a complex bound's imaginary part would be dropped)")
        lo = np.asarray(lo, dtype=dtype)
        hi = lo if hi is None else np.asarray(hi, dtype=dtype)
        try:
            lo, hi = np.broadcast_arrays(lo, hi)
        except ValueError:
            raise ValueError(f"lower bounds of shape {lo.shape} and upper bounds of shape "
                             f"{hi.shape} do not broadcast to one shape") from None
        if np.isnan(lo).any() or np.isnan(hi).any():
            raise ValueError(f"interval bounds must not be NaN ({int(np.isnan(lo).sum() + np.isnan(hi).sum())} NaN bounds)")
        if (lo == np.inf).any() or (hi == -np.inf).any():
            raise ValueError("an interval is a set of real numbers: a lower bound of +inf or an upper "
                             "bound of -inf encloses none")
        bad = lo > hi
        if bad.any():
            i = tuple(int(k) for k in np.argwhere(bad)[0])
            raise ValueError(f"lower bound exceeds upper bound at {int(bad.sum())} entries, "
                             f"first at index {i}: [{lo[i]}, {hi[i]}]")
        self.lo, self.hi = np.array(lo), np.array(hi)
        self.outward = bool(outward)
        self.adjoint = None
        self._parents = ()
        self._id = next(_ids)

    @classmethod
    def _result(cls, lo, hi, outward, parents=()) -> "Interval":
        """An operation's result (no validation: the operations keep lo <= hi)."""
        self = cls.__new__(cls)
        self.lo, self.hi, self.outward = np.asarray(lo), np.asarray(hi), outward
        self.adjoint, self._parents, self._id = None, tuple(parents), next(_ids)
        return self

    # ---- description -------------------------------------------------------------------
    shape = property(lambda self: self.lo.shape, doc="shape of the interval array")
    ndim = property(lambda self: self.lo.ndim)
    size = property(lambda self: self.lo.size)
    dtype = property(lambda self: self.lo.dtype)

    def __len__(self):
        return len(self.lo)

    def __repr__(self):
        if self.size <= 6:
            body = ", ".join(f"[{a:.6g}, {b:.6g}]" for a, b in zip(self.lo.ravel(), self.hi.ravel()))
            return f"Interval({body}; shape={self.shape})"
        return f"Interval(shape={self.shape}, dtype={self.dtype}, width in [{self.width.min():.3g}, {self.width.max():.3g}])"

    @property
    def width(self) -> np.ndarray:
        """w[X] = hi − lo (Sec. 3.1), elementwise."""
        return self.hi - self.lo

    @property
    def midpoint(self) -> np.ndarray:
        """(lo + hi)/2, elementwise (the value the bias update of Sec. 3.3 uses)."""
        return 0.5 * self.lo + 0.5 * self.hi

    @property
    def radius(self) -> np.ndarray:
        """(hi − lo)/2, elementwise."""
        return 0.5 * (self.hi - self.lo)

    @property
    def magnitude(self) -> np.ndarray:
        """mag X = max |x| over X = max(|lo|, |hi|): the 'max|∇|' of Eq. 1 for an adjoint."""
        return np.maximum(np.abs(self.lo), np.abs(self.hi))

    def contains(self, x) -> np.ndarray:
        """Elementwise ``lo <= x <= hi`` for an array ``x`` (or ``X ⊆ self`` for an Interval)."""
        if isinstance(x, Interval):
            return (self.lo <= x.lo) & (x.hi <= self.hi)
        x = np.asarray(x)
        return (self.lo <= x) & (x <= self.hi)

    def detach(self) -> "Interval":
        """The same bounds as a new leaf (no tape history)."""
        return Interval._result(self.lo, self.hi, self.outward)

    # ---- taping helpers -----------------------------------------------------------------
    def _o(self, other=None):
        return self.outward or (isinstance(other, Interval) and other.outward)

    @staticmethod
    def _coerce(x, dtype):
        """A point operand as an array (no adjoint); Intervals pass through."""
        if isinstance(x, Interval):
            return x
        if isinstance(x, (numbers.Number, np.ndarray, np.generic, list, tuple)):
            if np.iscomplexobj(x):
                raise TypeError("point operand is complex; real operands only")
            a = np.asarray(x, dtype=dtype)
            if not np.isfinite(a).all():
                raise ValueError("point operand contains NaN or ±inf (not a real number: use an "
                                 "Interval with an infinite bound for an unbounded operand)")
            return a
        return NotImplemented

    # ---- arithmetic ---------------------------------------------------------------------
    def __neg__(self):
        return Interval._result(-self.hi, -self.lo, self.outward,
                                [(self, lambda gl, gh: (-gh, -gl))])

    def __pos__(self):
        return self

    def __add__(self, other):
        other = self._coerce(other, self.dtype)
        if other is NotImplemented:
            return other
        o = self._o(other)
        if isinstance(other, Interval):
            lo, hi = _add(self.lo, self.hi, other.lo, other.hi, o)
            return Interval._result(lo, hi, o, [
                (self, lambda gl, gh: _unbroadcast(gl, gh, self.shape, o)),
                (other, lambda gl, gh: _unbroadcast(gl, gh, other.shape, o))])
        lo, hi = _add(self.lo, self.hi, other, other, o)
        return Interval._result(lo, hi, o, [(self, lambda gl, gh: _unbroadcast(gl, gh, self.shape, o))])

    __radd__ = __add__

    def __sub__(self, other):
        other = self._coerce(other, self.dtype)
        if other is NotImplemented:
            return other
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        other = self._coerce(other, self.dtype)
        if other is NotImplemented:
            return other
        o = self._o(other)
        if isinstance(other, Interval):
            lo, hi = _mul(self.lo, self.hi, other.lo, other.hi, o)
            return Interval._result(lo, hi, o, [
                (self, lambda gl, gh: _unbroadcast(*_mul(gl, gh, other.lo, other.hi, o), self.shape, o)),
                (other, lambda gl, gh: _unbroadcast(*_mul(gl, gh, self.lo, self.hi, o), other.shape, o))])
        lo, hi = _mul_point(self.lo, self.hi, other, o)
        return Interval._result(lo, hi, o, [
            (self, lambda gl, gh: _unbroadcast(*_mul_point(gl, gh, other, o), self.shape, o))])

    __rmul__ = __mul__

    @_quiet
    def reciprocal(self) -> "Interval":
        """1/X; the whole real line where X contains 0 (see the module docstring)."""
        o = self.outward
        zero = (self.lo <= 0) & (self.hi >= 0)
        lo = np.where(zero, -np.inf, _dn(1.0 / np.where(zero, 1.0, self.hi), o))
        hi = np.where(zero, np.inf, _up(1.0 / np.where(zero, 1.0, self.lo), o))
        lo, hi = lo.astype(self.dtype), hi.astype(self.dtype)

        def back(gl, gh):  # d(1/x)/dx = −1/x² = −(1/x)²
            sl, sh = _sqr(lo, hi, o)
            return _mul(gl, gh, -sh, -sl, o)
        return Interval._result(lo, hi, o, [(self, back)])

    def __truediv__(self, other):
        other = self._coerce(other, self.dtype)
        if other is NotImplemented:
            return other
        if isinstance(other, Interval):
            return self * other.reciprocal()
        o = self.outward
        return self * Interval._result(*_point_recip(other, o), o)

    def __rtruediv__(self, other):
        other = self._coerce(other, self.dtype)
        if other is NotImplemented:
            return other
        return self.reciprocal() * other

    @_quiet
    def __pow__(self, n):
        """X**n for an integer n (negative n: 1/X**|n|). Tight for even n over boxes containing 0.

        The end powers come from NumPy's float64 pow, moved ``_LIBM_STEPS["pow"]`` ulps outward
        (measured error ≤ 0.71 ulp), and are rounded outward to the interval's dtype: rigorous
        in float16/32/64 under the module docstring's float64 assumption."""
        if not isinstance(n, (numbers.Integral, np.integer)):
            raise TypeError(f"Interval ** n needs an integer n, got {n!r}; use exp(n*log(X)) for real powers")
        n = int(n)
        if n < 0:
            return (self ** (-n)).reciprocal()
        if n == 0:
            return Interval._result(np.ones_like(self.lo), np.ones_like(self.hi), self.outward,
                                    [(self, lambda gl, gh: (np.zeros_like(gl), np.zeros_like(gh)))])
        if n == 1:
            return self
        o, k = self.outward, _LIBM_STEPS["pow"]
        a, b = _f64(self.lo) ** n, _f64(self.hi) ** n
        if n % 2:
            lo, hi = _dn(a, o, k), _up(b, o, k)
        else:
            lo = np.where((self.lo <= 0) & (self.hi >= 0), 0.0, np.minimum(a, b))
            lo, hi = np.maximum(_dn(lo, o, k), 0.0), _up(np.maximum(a, b), o, k)
        lo, hi = _to_dtype(lo, hi, self.dtype, o)

        def back(gl, gh):  # n·x^(n−1)
            dl, dh = (self ** (n - 1)).detach()._bounds()
            return _mul(gl, gh, *_mul_point(dl, dh, float(n), o), o)
        return Interval._result(lo, hi, o, [(self, back)])

    def _bounds(self):
        return self.lo, self.hi

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    # comparisons would be ambiguous for intervals: refuse them loudly
    def __bool__(self):
        raise TypeError("the truth value of an Interval is ambiguous; compare .lo/.hi explicitly")

    # ---- shape operations ---------------------------------------------------------------
    def __getitem__(self, index):
        lo, hi = self.lo[index], self.hi[index]
        shape, dtype, o = self.shape, self.dtype, self.outward
        basic = _is_basic_index(index)

        def back(gl, gh):
            al, ah = np.zeros(shape, dtype), np.zeros(shape, dtype)
            if basic:              # each entry selected at most once: exact
                al[index], ah[index] = gl, gh
                return al, ah
            np.add.at(al, index, gl)   # repeated indices add up in round-to-nearest
            np.add.at(ah, index, gh)
            return _dn(al, o), _up(ah, o)
        return Interval._result(lo, hi, o, [(self, back)])

    def reshape(self, *shape) -> "Interval":
        """The same intervals in a new shape (like ``ndarray.reshape``)."""
        old = self.shape
        return Interval._result(self.lo.reshape(*shape), self.hi.reshape(*shape), self.outward,
                                [(self, lambda gl, gh: (gl.reshape(old), gh.reshape(old)))])

    def transpose(self, *axes) -> "Interval":
        """Permute the axes (like ``ndarray.transpose``)."""
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else (axes or None)
        inv = None if axes is None else tuple(np.argsort(axes))
        return Interval._result(self.lo.transpose(axes), self.hi.transpose(axes), self.outward,
                                [(self, lambda gl, gh: (gl.transpose(inv), gh.transpose(inv)))])

    T = property(lambda self: self.transpose(), doc="transpose of the interval array")

    # ---- reductions --------------------------------------------------------------------
    def sum(self, axis=None, keepdims: bool = False) -> "Interval":
        """Σ over ``axis`` (all axes by default), with the rigorous rounding bound."""
        o, shape = self.outward, self.shape
        lo, hi = _sum(self.lo, self.hi, axis, keepdims, o)

        def back(gl, gh):
            if not keepdims and axis is not None:
                ax = (axis,) if np.isscalar(axis) else axis
                gl, gh = np.expand_dims(gl, ax), np.expand_dims(gh, ax)
            return np.broadcast_to(gl, shape).copy(), np.broadcast_to(gh, shape).copy()
        return Interval._result(lo, hi, o, [(self, back)])

    def mean(self, axis=None, keepdims: bool = False) -> "Interval":
        """Mean over ``axis`` = sum / count."""
        n = self.size if axis is None else int(np.prod([self.shape[a] for a in np.atleast_1d(axis)]))
        return self.sum(axis, keepdims) / float(n)

    def max(self, axis=None, keepdims: bool = False) -> "Interval":
        """max over ``axis``: [max lo, max hi] (exact). Adjoint: [0, 1]·ȳ to every element that can be the maximum."""
        return _reduce_extreme(self, axis, keepdims, largest=True)

    def min(self, axis=None, keepdims: bool = False) -> "Interval":
        """min over ``axis``: [min lo, min hi] (exact)."""
        return _reduce_extreme(self, axis, keepdims, largest=False)

    # ---- elementwise functions as methods ------------------------------------------------
    def exp(self):
        return exp(self)

    def log(self):
        return log(self)

    def sqrt(self):
        return sqrt(self)

    def sin(self):
        return sin(self)

    def cos(self):
        return cos(self)

    def tanh(self):
        return tanh(self)

    def sigmoid(self):
        return sigmoid(self)

    def relu(self):
        return relu(self)

    def __abs__(self):
        return absolute(self)

    # ---- the reverse sweep ----------------------------------------------------------------
    def backward(self, seed=None) -> None:
        """Propagate interval adjoints from this node to every node it depends on (Sec. 2.3).

        ``seed`` is the adjoint of this node: ``None`` for ones (ȳ = 1 for every entry), an
        array, or an :class:`Interval` of this node's shape. Afterwards every node on the tape
        reached from here has ``node.adjoint``, an :class:`Interval` enclosing
        ``∂(Σ seed·y)/∂node`` over the box; earlier adjoints of those nodes are overwritten.
        Raises ``ValueError`` if the seed's shape differs from this node's.
        """
        if seed is None:
            sl = sh = np.ones(self.shape, self.dtype)
        elif isinstance(seed, Interval):
            sl, sh = seed.lo, seed.hi
        else:
            if np.iscomplexobj(seed):
                raise TypeError("the seed is complex; real seeds only")
            sl = sh = np.asarray(seed, self.dtype)
            if not np.isfinite(sl).all():
                raise ValueError("the seed contains NaN or ±inf (a NaN seed gave an adjoint of 0)")
        if sl.shape != self.shape:
            raise ValueError(f"seed of shape {sl.shape} does not match the output shape {self.shape}")
        # the tape: every node reachable from here, processed youngest first
        nodes, stack, seen = [], [self], {id(self)}
        while stack:
            v = stack.pop()
            nodes.append(v)
            for p, _ in v._parents:
                if id(p) not in seen:
                    seen.add(id(p))
                    stack.append(p)
        nodes.sort(key=lambda v: v._id, reverse=True)
        adj = {id(self): (sl, sh)}
        for v in nodes:
            g = adj.get(id(v))
            if g is None:   # the output does not depend on v through any recorded path
                g = (np.zeros(v.shape, v.dtype),) * 2
                adj[id(v)] = g
            for p, rule in v._parents:
                cl, ch = rule(*g)
                if id(p) in adj:
                    al, ah = adj[id(p)]
                    adj[id(p)] = _add(al, ah, cl, ch, p.outward or v.outward)
                else:
                    adj[id(p)] = (cl, ch)
        for v in nodes:
            al, ah = adj[id(v)]
            v.adjoint = Interval._result(np.asarray(al, v.dtype), np.asarray(ah, v.dtype), v.outward)


def _is_basic_index(index) -> bool:
    """True for ints, slices, Ellipsis and None (no fancy indexing: no repeated entries)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (numbers.Integral, slice, type(None), type(Ellipsis))) for i in items)


def _sqr(lo, hi, o):
    a, b = lo * lo, hi * hi
    low = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(a, b))
    return _dn(low, o), _up(np.maximum(a, b), o)


def _point_recip(c, o):
    with np.errstate(divide="ignore"):
        r = 1.0 / c
    zero = c == 0
    return np.where(zero, -np.inf, _dn(r, o)), np.where(zero, np.inf, _up(r, o))


def _reduce_extreme(x: Interval, axis, keepdims, largest: bool) -> Interval:
    red = np.max if largest else np.min
    lo, hi = red(x.lo, axis=axis, keepdims=keepdims), red(x.hi, axis=axis, keepdims=keepdims)
    # elements that can attain the extreme for some point of the box
    if largest:
        cand = x.hi >= np.max(x.lo, axis=axis, keepdims=True)
    else:
        cand = x.lo <= np.min(x.hi, axis=axis, keepdims=True)
    unique = np.sum(cand, axis=axis, keepdims=True) == 1
    dlo = np.where(cand & unique, 1.0, 0.0)
    dhi = np.where(cand, 1.0, 0.0)
    shape = x.shape

    def back(gl, gh):
        if not keepdims and axis is not None:
            gl, gh = np.expand_dims(gl, axis), np.expand_dims(gh, axis)
        gl, gh = np.broadcast_to(gl, shape), np.broadcast_to(gh, shape)
        return _mul(gl, gh, dlo, dhi, x.outward)
    return Interval._result(lo, hi, x.outward, [(x, back)])


# ---------------------------------------------------------------------------------------
# Elementwise functions. Each: value enclosure + derivative enclosure for the adjoint.
# ---------------------------------------------------------------------------------------

def _unary(x: Interval, lo, hi, dlo_dhi: Callable[[], tuple]) -> Interval:
    """Record y = f(x) with y ∈ [lo, hi]; ``dlo_dhi()`` gives an enclosure of f' over x."""
    o = x.outward

    def back(gl, gh):
        dl, dh = dlo_dhi()
        return _mul(gl, gh, dl, dh, o)
    return Interval._result(lo, hi, o, [(x, back)])


def _as_interval(x) -> Interval:
    if isinstance(x, Interval):
        return x
    raise TypeError(f"expected an Interval, got {type(x).__name__}; wrap points with point(x)")


def exp(x: Interval) -> Interval:
    """e^X (monotone), same shape and dtype as X. Adjoint: e^X·ȳ.

    Bounds: NumPy's float64 exp of the float64 ends, moved ``_LIBM_STEPS["exp"]`` ulps outward
    (measured error ≤ 0.73 ulp; the lower bound clipped at 0), then rounded outward to X's dtype.
    Rigorous in float16/32/64 under the module docstring's float64 assumption."""
    x = _as_interval(x)
    o, k = x.outward, _LIBM_STEPS["exp"]
    with np.errstate(over="ignore"):
        ylo, yhi = np.exp(_f64(x.lo)), np.exp(_f64(x.hi))      # ≥ 0, +inf on overflow
    lo, hi = _dn_pos(ylo, o, k), _up_pos(yhi, o, k)
    lo, hi = _to_dtype(lo, hi, x.dtype, o)
    return _unary(x, lo, hi, lambda: (lo, hi))


def log(x: Interval) -> Interval:
    """ln X on X ∩ [0, ∞) (monotone; ln 0 = −∞), same shape and dtype as X; ``ValueError`` if X
    lies below 0. Adjoint: ȳ/X.

    Bounds: NumPy's float64 log, moved ``_LIBM_STEPS["log"]`` ulps outward (measured error
    ≤ 0.63 ulp), then rounded outward to X's dtype. Rigorous in float16/32/64 under the module
    docstring's float64 assumption."""
    x = _as_interval(x)
    if np.any(x.hi < 0):
        raise ValueError("log of an interval that lies entirely below 0")
    o, k = x.outward, _LIBM_STEPS["log"]
    xl = np.maximum(x.lo, 0.0)
    with np.errstate(divide="ignore"):
        lo, hi = _dn(np.log(_f64(xl)), o, k), _up(np.log(_f64(x.hi)), o, k)
    lo, hi = _to_dtype(lo, hi, x.dtype, o)
    xx = Interval._result(xl, x.hi, o)
    return _unary(x, lo, hi, lambda: xx.reciprocal()._bounds())


def sqrt(x: Interval) -> Interval:
    """√X on X ∩ [0, ∞) (monotone), same shape and dtype as X; ``ValueError`` below 0. Adjoint:
    ȳ/(2√X). IEEE sqrt is correctly rounded in every dtype, so one ulp outward is rigorous
    without any assumption (computed in X's dtype)."""
    x = _as_interval(x)
    if np.any(x.hi < 0):
        raise ValueError("sqrt of an interval that lies entirely below 0")
    o = x.outward
    lo, hi = np.maximum(_dn(np.sqrt(np.maximum(x.lo, 0.0)), o), 0.0), _up(np.sqrt(x.hi), o)
    return _unary(x, lo, hi, lambda: (Interval._result(lo, hi, o) * 2.0).reciprocal()._bounds())


def _has_extremum(lo, hi, phase, o):
    """Does [lo, hi] contain phase + 2πk for some integer k? (conservative when rounding)."""
    two_pi = 2 * np.pi
    slack = 8 * np.finfo(lo.dtype).eps * (1 + np.abs(lo) + np.abs(hi)) if o else 0.0
    k = np.ceil((lo - slack - phase) / two_pi)
    return phase + two_pi * k <= hi + slack


@_quiet
def _periodic(x: Interval, f, phase_max, phase_min, steps):
    """Bounds on f(X) for f = sin or cos, in X's dtype: the end values (NumPy's float64 f, moved
    ``steps`` ulps outward), widened to ±1 where X may contain a maximum (phase_max + 2πk) or a
    minimum (phase_min + 2πk) or is 2π wide; computed in float64, rounded outward to X's dtype."""
    xl, xh = _f64(x.lo), _f64(x.hi)
    lo_e, hi_e = f(xl), f(xh)
    lo, hi = np.minimum(lo_e, hi_e), np.maximum(lo_e, hi_e)
    o = x.outward
    wide = ~np.isfinite(xl) | ~np.isfinite(xh) | (xh - xl >= 2 * np.pi)
    hi = np.where(wide | _has_extremum(xl, xh, phase_max, o), 1.0, _up(hi, o, steps))
    lo = np.where(wide | _has_extremum(xl, xh, phase_min, o), -1.0, _dn(lo, o, steps))
    return _to_dtype(np.clip(lo, -1.0, 1.0), np.clip(hi, -1.0, 1.0), x.dtype, o)


def sin(x: Interval) -> Interval:
    """sin X, same shape and dtype as X: end values, widened to ±1 where X contains π/2 + 2πk
    (max) or −π/2 + 2πk (min). Adjoint: cos X·ȳ.

    Bounds: NumPy's float64 sin (and cos for the adjoint), moved ``_LIBM_STEPS`` ulps outward
    (measured errors ≤ 0.52 and 0.56 ulp), then rounded outward to X's dtype. Rigorous in
    float16/32/64 under the module docstring's float64 assumption."""
    x = _as_interval(x)
    lo, hi = _periodic(x, np.sin, np.pi / 2, -np.pi / 2, _LIBM_STEPS["sin"])
    return _unary(x, lo, hi, lambda: _periodic(x, np.cos, 0.0, np.pi, _LIBM_STEPS["cos"]))


def cos(x: Interval) -> Interval:
    """cos X, same shape and dtype as X: end values, widened to ±1 where X contains 2πk (max) or
    π + 2πk (min). Adjoint: −sin X·ȳ. Bounds as for :func:`sin`."""
    x = _as_interval(x)
    lo, hi = _periodic(x, np.cos, 0.0, np.pi, _LIBM_STEPS["cos"])

    def d():
        sl, sh = _periodic(x, np.sin, np.pi / 2, -np.pi / 2, _LIBM_STEPS["sin"])
        return -sh, -sl
    return _unary(x, lo, hi, d)


def tanh(x: Interval) -> Interval:
    """tanh X (monotone, clipped to [−1, 1]), same shape and dtype as X. Adjoint: (1 − tanh² X)·ȳ.

    Bounds: NumPy's float64 tanh, moved ``_LIBM_STEPS["tanh"]`` = 6 ulps outward (measured error
    ≤ 1.19 ulp: NumPy's float64 tanh is not within one ulp), then rounded outward to X's dtype.
    Rigorous in float16/32/64 under the module docstring's float64 assumption."""
    x = _as_interval(x)
    o, k = x.outward, _LIBM_STEPS["tanh"]
    lo = np.maximum(_dn(np.tanh(_f64(x.lo)), o, k), -1.0)
    hi = np.minimum(_up(np.tanh(_f64(x.hi)), o, k), 1.0)
    lo, hi = _to_dtype(lo, hi, x.dtype, o)

    def d():
        sl, sh = _sqr(lo, hi, o)
        return np.maximum(_dn(1.0 - sh, o), 0.0), np.minimum(_up(1.0 - sl, o), 1.0)
    return _unary(x, lo, hi, d)


def _sigmoid_bound(v, o, upper: bool):
    """A lower (``upper=False``) or upper bound on σ(v) = 1/(1 + e^−v), float64 ``v`` → float64.

    σ = 1/(1 + t) falls as t = e^−v > 0 grows, and every step works on positive numbers, so there
    is no cancellation — unlike 0.5·(tanh(v/2) + 1), whose absolute error of ~1e-17 is
    arbitrarily many ulps for v ≲ −2 (σ(−40) ≈ 4e-18 came out as 0). The upper bound takes t's
    lower bound (libm exp − ``_LIBM_STEPS["exp"]`` ulps, as in :func:`exp`), rounds 1 + t down
    and the quotient up; the lower bound the reverse. Hence rigorous under exp's assumption
    alone. For v < −709.78, e^−v overflows to ∞ and the bounds become [0, 1/max ≈ 5.6e-309]
    (valid, not tight: σ(v) is subnormal there). With ``o`` false: the plain formula (measured
    error ≤ 2.39 ulps where e^−v does not overflow)."""
    with np.errstate(over="ignore"):
        t = np.exp(-v)
    if not o:
        return 1.0 / (1.0 + t)
    k = _LIBM_STEPS["exp"]
    # every quantity here is ≥ 0: the outward steps are _up_pos/_dn_pos, exactly np.nextafter's
    if upper:
        return _up_pos(1.0 / _dn_pos(1.0 + _dn_pos(t, o, k), o), o)
    return _dn_pos(1.0 / _up_pos(1.0 + _up_pos(t, o, k), o), o)


def sigmoid(x: Interval) -> Interval:
    """σ(X) = 1/(1 + e^−X) (monotone, clipped to [0, 1]), same shape and dtype as X; bounds from
    :func:`_sigmoid_bound` in float64, rounded outward to X's dtype: rigorous in float16/32/64
    under the module docstring's float64 assumption on exp.
    Adjoint: σ(X)(1 − σ(X))·ȳ, evaluated as the range of s(1 − s) over s ∈ σ(X) (tight:
    s(1 − s) peaks at s = 1/2)."""
    x = _as_interval(x)
    o = x.outward
    lo = np.maximum(_sigmoid_bound(_f64(x.lo), o, upper=False), 0.0)
    hi = np.minimum(_sigmoid_bound(_f64(x.hi), o, upper=True), 1.0)
    lo, hi = _to_dtype(lo, hi, x.dtype, o)

    def d():
        fl, fh = lo * (1 - lo), hi * (1 - hi)
        dl = np.minimum(fl, fh)
        dh = np.where((lo <= 0.5) & (hi >= 0.5), 0.25, np.maximum(fl, fh))
        return np.maximum(_dn_pos(dl, o, 2), 0.0), _up_pos(dh, o, 2)   # dl, dh ≥ 0
    return _unary(x, lo, hi, d)


def relu(x: Interval) -> Interval:
    """max(X, 0) (exact). Adjoint: ȳ where X > 0, 0 where X < 0, [0, 1]·ȳ where X ∋ 0."""
    x = _as_interval(x)
    lo, hi = np.maximum(x.lo, 0.0), np.maximum(x.hi, 0.0)
    return _unary(x, lo, hi, lambda: (np.where(x.lo > 0, 1.0, 0.0), np.where(x.hi >= 0, 1.0, 0.0)))


def absolute(x: Interval) -> Interval:
    """|X| (exact). Adjoint: sign(X)·ȳ, with [−1, 1] where X ∋ 0."""
    x = _as_interval(x)
    a, b = np.abs(x.lo), np.abs(x.hi)
    lo = np.where((x.lo <= 0) & (x.hi >= 0), 0.0, np.minimum(a, b))
    return _unary(x, lo, np.maximum(a, b), lambda: (np.where(x.lo > 0, 1.0, -1.0),
                                                   np.where(x.hi < 0, -1.0, 1.0)))


def _extreme2(a, b, largest: bool) -> Interval:
    a = _as_interval(a) if isinstance(a, Interval) else point(a)
    b = _as_interval(b) if isinstance(b, Interval) else point(b)
    f = np.maximum if largest else np.minimum
    o = a.outward or b.outward
    lo, hi = f(a.lo, b.lo), f(a.hi, b.hi)
    if largest:
        a_only, b_only = a.lo > b.hi, b.lo > a.hi
    else:
        a_only, b_only = a.hi < b.lo, b.hi < a.lo
    # ∂/∂a ∈ {1} where only a can be the result, {0} where only b can, [0, 1] otherwise
    da = (np.where(a_only, 1.0, 0.0), np.where(b_only, 0.0, 1.0))
    db = (np.where(b_only, 1.0, 0.0), np.where(a_only, 0.0, 1.0))
    return Interval._result(lo, hi, o, [
        (a, lambda gl, gh: _unbroadcast(*_mul(gl, gh, *np.broadcast_arrays(*da), o), a.shape, o)),
        (b, lambda gl, gh: _unbroadcast(*_mul(gl, gh, *np.broadcast_arrays(*db), o), b.shape, o))])


def maximum(a, b) -> Interval:
    """Elementwise max(A, B) = [max(a.lo, b.lo), max(a.hi, b.hi)] (exact)."""
    return _extreme2(a, b, True)


def minimum(a, b) -> Interval:
    """Elementwise min(A, B) = [min(a.lo, b.lo), min(a.hi, b.hi)] (exact)."""
    return _extreme2(a, b, False)


# ---------------------------------------------------------------------------------------
# Matrix products
# ---------------------------------------------------------------------------------------

def matmul(a, b, *, abs_point=None) -> Interval:
    """Interval matrix product ``a @ b`` with at least one Interval operand.

    * ``Interval (..., n) @ ndarray (n, m)`` or ``ndarray (m, n) @ Interval (n,) / (n, k)``:
      midpoint–radius form ``<c, r>·W = <c·W, r·|W|>``, exact for a point W, two GEMMs.
      ``abs_point`` may pass a precomputed ``|W|`` (saves one pass over W in hot loops).
    * ``Interval @ Interval`` (both 1-D or 2-D): Rump's midpoint–radius product, three GEMMs,
      radius at most 1.5× that of the exact interval product.

    Adjoints: ``Ā = ȳ·Bᵀ``, ``B̄ = Aᵀ·ȳ`` in the same arithmetic. Raises ``ValueError`` on
    mismatched inner dimensions and ``TypeError`` for non-array operands.
    """
    if isinstance(a, Interval) and isinstance(b, Interval):
        if a.ndim not in (1, 2) or b.ndim not in (1, 2) or a.shape[-1] != b.shape[0]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned")
        o = a.outward or b.outward
        lo, hi = _matmul_ii_raw(a.lo, a.hi, b.lo, b.hi, o)

        def back_a(gl, gh):
            bt = (b.lo.T, b.hi.T) if b.ndim == 2 else (b.lo[None, :], b.hi[None, :])
            g = (gl, gh) if b.ndim == 2 else (gl[..., None], gh[..., None])
            return _matmul_ii_raw(*g, *bt, o)

        def back_b(gl, gh):
            at = (a.lo.T, a.hi.T) if a.ndim == 2 else (a.lo[:, None], a.hi[:, None])
            g = (gl, gh) if a.ndim == 2 else (gl[None, ...], gh[None, ...])
            rl, rh = _matmul_ii_raw(*at, *g, o)
            return (rl, rh) if b.ndim == 2 else (rl.reshape(b.shape), rh.reshape(b.shape))
        return Interval._result(lo, hi, o, [(a, back_a), (b, back_b)])
    if isinstance(a, Interval):
        x, W, left = a, b, True
    elif isinstance(b, Interval):
        x, W, left = b, a, False
    else:
        raise TypeError("matmul needs at least one Interval operand")
    if isinstance(W, (list, tuple)):
        W = np.asarray(W, dtype=x.dtype)
    if not isinstance(W, np.ndarray):
        raise TypeError(f"matmul: cannot multiply an Interval by {type(W).__name__}")
    if W.ndim != 2:
        raise ValueError(f"matmul: the point operand must be a 2-D matrix, got shape {W.shape}")
    if left and x.shape[-1] != W.shape[0]:
        raise ValueError(f"matmul: Interval of shape {x.shape} @ matrix of shape {W.shape}: "
                         f"inner dimensions {x.shape[-1]} and {W.shape[0]} differ")
    if not left and (x.ndim not in (1, 2) or x.shape[0] != W.shape[1]):
        raise ValueError(f"matmul: matrix of shape {W.shape} @ Interval of shape {x.shape}: "
                         f"inner dimensions {W.shape[1]} and {x.shape[0]} differ")
    W = W.astype(x.dtype, copy=False)
    absW = np.abs(W) if abs_point is None else abs_point
    o = x.outward
    lo, hi = _matmul_point_raw(x.lo, x.hi, W, absW, o, left)
    if _any_unsound(lo, hi) and np.isnan(W).any():   # W is scanned only then
        raise ValueError("matmul: the point matrix contains NaN")
    lo, hi = _whole_line_where_unsound(lo, hi)

    def rule(gl, gh):
        return _whole_line_where_unsound(*_matmul_point_raw(gl, gh, W.T, absW.T, o, left))
    return Interval._result(lo, hi, o, [(x, rule)])


# ---------------------------------------------------------------------------------------
# Construction helpers and network activations
# ---------------------------------------------------------------------------------------

def interval(lo, hi=None, **kw) -> Interval:
    """Shorthand for :class:`Interval` ``(lo, hi, **kw)``."""
    return Interval(lo, hi, **kw)


def point(x, **kw) -> Interval:
    """The degenerate interval [x, x] (a point, as the paper treats trained weights, Sec. 3.2)."""
    return Interval(x, x, **kw)


def hull(points, axis: int = 0, **kw) -> Interval:
    """The smallest box containing ``points`` along ``axis``: [min, max] per entry (Sec. 3.2)."""
    points = np.asarray(points)
    if points.shape[axis] == 0:
        raise ValueError("hull of an empty set of points")
    return Interval(points.min(axis=axis), points.max(axis=axis), **kw)


def _pairwise_exp_sum(x: Interval) -> Interval:
    """S_i = Σ_{j≠i} exp(x_j − x_i) over the last axis (the diagonal term is exactly 1 and left out)."""
    c = x.shape[-1]
    d = x.reshape(x.shape[:-1] + (1, c)) - x.reshape(x.shape[:-1] + (c, 1))   # d[..., i, j] = x_j − x_i
    off = 1.0 - np.eye(c, dtype=x.dtype)
    return (exp(d) * off).sum(axis=-1)


def _check_last_axis(x, axis, name):
    if not isinstance(x, Interval):
        raise TypeError(f"{name} expects an Interval, got {type(x).__name__}")
    if axis not in (-1, x.ndim - 1):
        raise ValueError(f"interval {name} supports the last axis only")


def softmax(x: Interval, axis: int = -1) -> Interval:
    """softmax over the last axis, one taped primitive.

    Value: s_i = 1/(1 + Σ_{j≠i} e^{x_j − x_i}), written with differences so the common shift
    cancels exactly (much tighter than e^{x_i}/Σ_j e^{x_j} in interval arithmetic; O(C²) work),
    intersected with [0, 1]. Adjoint: the Jacobian diag(s) − s·sᵀ evaluated over the value
    enclosure S, x̄ = S ⊙ (ȳ − Σ_k S_k ȳ_k). Differentiating the difference formula step by
    step would also be sound, but multiplies e^{x_j − x_i} (huge over wide boxes) by s² (tiny
    there) without knowing they are linked, and the adjoints explode; |J| ≤ 1 here.
    """
    _check_last_axis(x, axis, "softmax")
    o = x.outward
    s = (_pairwise_exp_sum(x.detach()) + 1.0).reciprocal()
    lo, hi = np.clip(s.lo, 0.0, 1.0), np.clip(s.hi, 0.0, 1.0)

    def back(gl, gh):
        tl, th = _sum(*_mul(lo, hi, gl, gh, o), -1, True, o)
        return _mul(lo, hi, *_add(gl, gh, -th, -tl, o), o)
    return Interval._result(lo, hi, o, [(x, back)])


def log_softmax(x: Interval, axis: int = -1) -> Interval:
    """log softmax over the last axis, one taped primitive: value −log(1 + Σ_{j≠i} e^{x_j − x_i}),
    adjoint x̄ = ȳ − S·Σ_k ȳ_k with S the softmax enclosure (Jacobian I − 1·sᵀ)."""
    _check_last_axis(x, axis, "log_softmax")
    o = x.outward
    t = _pairwise_exp_sum(x.detach()) + 1.0
    v = -log(t)
    s = t.reciprocal()
    slo, shi = np.clip(s.lo, 0.0, 1.0), np.clip(s.hi, 0.0, 1.0)
    lo, hi = v.lo, np.minimum(v.hi, 0.0)

    def back(gl, gh):
        ql, qh = _mul(slo, shi, *_sum(gl, gh, -1, True, o), o)
        return _add(gl, gh, -qh, -ql, o)
    return Interval._result(lo, hi, o, [(x, back)])


def _linear(x):
    return x


ACTIVATIONS: dict[str, Callable[[Interval], Interval]] = {
    "linear": _linear, "relu": relu, "sigmoid": sigmoid, "tanh": tanh,
    "softmax": softmax, "log_softmax": log_softmax,
}
"""Interval versions of every activation in ``refimpl.nn.ACTIVATIONS``."""


def get_activation(name: str) -> Callable[[Interval], Interval]:
    """The interval version of activation ``name``; ``ValueError`` if there is none."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"no interval version of activation {name!r}; known: {', '.join(ACTIVATIONS)}") from None
