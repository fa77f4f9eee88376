"""Rounded primitives on *stacked* interval bounds, for the network sweeps.

Document ``interval`` (Afghan & Naumann, ICCS 2020), Secs. 2.3 and 3.2. A stacked array ``B``
of shape ``(2, ...)`` holds lower bounds in ``B[0]`` and upper bounds in ``B[1]``; every
function here treats both rows in one NumPy call, which halves the number of calls of a sweep
whose vectors are short (a few hundred entries: there the per-call cost, not the arithmetic,
dominates). Used by :mod:`refimpl.interval.sweep` (the fused dense-network sweeps) and by
:func:`refimpl.interval.softmax`.

Outward rounding without ``np.nextafter`` (several times slower than an addition):

* :func:`outward`, for bounds of any sign: ``x ∓ fl(φ|x| + η)`` with ``φ = u(1 + 2u)`` and ``η``
  the smallest positive subnormal. Rump, Zimmermann, Boldo and Melquiond (2009), *Computing
  predecessor and successor in rounding to nearest*, BIT 49: 419–431, prove
  ``fl(x − e) ≤ pred(x)`` and ``fl(x + e) ≥ succ(x)`` for every finite x (no overflow), with
  equality outside a tiny range near the underflow threshold: for normal numbers this *is*
  ``np.nextafter``, bit for bit (``tests/test_interval_sweep.py`` checks both claims).
* :func:`step_pos`, for bounds known to be ≥ 0: k ulps by integer steps on the bit patterns,
  exactly what k calls of ``np.nextafter`` give (see ``arithmetic._up_pos``).
* Sums carry the a-priori bound γ_n (Higham, *Accuracy and Stability*, Eq. 3.5) and fold the
  rounding of the bound itself into γ (proof in :func:`sum_last`).

Every function takes ``o`` (outward rounding on) and computes the plain round-to-nearest formula
when it is false. Shapes are ``(2, ...)`` throughout; dtypes float16/32/64, kept.
"""
from __future__ import annotations

import functools

import numpy as np

from .arithmetic import _INF_BITS, _INT, _LIBM_STEPS, _f64, _gamma, _to_dtype


@functools.lru_cache(maxsize=None)
def pair(a: float, b: float, dtype, ndim: int) -> np.ndarray:
    """The stacked constant ``[a, b]`` of ``dtype``, shaped ``(2, 1, ..., 1)`` to broadcast
    against a stacked array of ``ndim`` dimensions (cached: read-only)."""
    p = np.array([a, b], dtype=dtype).reshape((2,) + (1,) * (ndim - 1))
    p.flags.writeable = False
    return p


@functools.lru_cache(maxsize=None)
def _phi_eta(dtype):
    f = np.finfo(dtype)
    u = float(f.eps) / 2
    return u * (1 + 2 * u), float(f.smallest_subnormal)


def stack(lo, hi) -> np.ndarray:
    """``(lo, hi)`` as one stacked array ``(2, ...)``."""
    return np.stack((lo, hi))


def outward(B, o: bool = True) -> np.ndarray:
    """B[0] moved down and B[1] up by at least one ulp: ``B ∓ fl(φ|B| + η)`` (Rump et al. 2009,
    module docstring); the same as ``np.nextafter`` toward ∓∞ for normal numbers, wider by at
    most one ulp below 2^-1021 (float64). An infinite bound stays infinite in its own direction
    (−∞ below, +∞ above); one pointing the other way (+∞ below, −∞ above: only an overflowed,
    degenerate interval) becomes NaN, which the callers turn into the whole line."""
    if not o:
        return B
    phi, eta = _phi_eta(B.dtype)
    return B + (np.abs(B) * pair(-phi, phi, B.dtype, B.ndim) + pair(-eta, eta, B.dtype, B.ndim))


def step_pos(B, k0: int, k1: int, o: bool = True) -> np.ndarray:
    """For B ≥ 0 (+0, not −0; no NaN): row 0 moved k0 floats and row 1 k1 floats (negative: down)
    by integer steps on the bit patterns, clamped to [+0, +∞] — for each row the same as
    ``arithmetic._up_pos``/``_dn_pos``, i.e. as that many calls of ``np.nextafter``."""
    if not o:
        return B
    it = _INT[B.dtype]
    bits = B.view(it) + pair(k0, k1, it, B.ndim)
    if min(k0, k1) < 0:
        np.maximum(bits, 0, out=bits)
    if max(k0, k1) > 0:
        np.minimum(bits, _INF_BITS[B.dtype], out=bits)
    return bits.view(B.dtype)


def nan_to(B, v0: float, v1: float) -> np.ndarray:
    """NaN in row 0 -> v0, in row 1 -> v1 (a copy where there is a NaN, else ``B`` itself)."""
    nan = np.isnan(B)
    if not nan.any():
        return B
    return np.where(nan, pair(v0, v1, B.dtype, B.ndim), B)


def mul_nonneg(G, D, o: bool = True) -> np.ndarray:
    """The interval product G·D for D ⊆ [0, ∞) (an activation's derivative, softmax values):
    ``[min(gl·dl, gl·dh), max(gh·dh, gh·dl)]``, rounded outward.

    ``G`` is ``(2, ..., n)``, ``D`` ``(2, ..., n)`` with the same or fewer middle axes (the
    extra ones of G, e.g. a seed axis, come first). For D ≥ 0 these two products
    are the smallest and largest of the four-product rule (``arithmetic._mul``), and rounding
    to nearest is monotone, so the rounded values are the same; 0·∞ counts as 0, as there.
    """
    if D.ndim < G.ndim:                      # a seed axis in G: D broadcasts over it
        D = D.reshape(D.shape[:1] + (1,) * (G.ndim - D.ndim) + D.shape[1:])
    P, Q = G * D, G * D[::-1]                 # [gl·dl, gh·dh], [gl·dh, gh·dl]
    np.fmin(P[0], Q[0], out=P[0])             # fmin/fmax skip a NaN (0·∞) as arithmetic._mul
    np.fmax(P[1], Q[1], out=P[1])
    if P.dtype != G.dtype:
        P = P.astype(G.dtype)
    return outward(nan_to(P, 0.0, 0.0), o)


def sum_last(P, o: bool = True) -> np.ndarray:
    """Interval sum over the last axis of a stacked ``(2, ..., n)`` -> ``(2, ...)``, for any
    summation order: ``[fl(Σ lo − fl(g·Σ|lo|)), fl(Σ hi + fl(g·Σ|hi|))]`` with
    ``g = γ_{n+4}`` (``_gamma(n + 2)``), NaN bounds (∞ − ∞) widened to ∓∞.

    Proof (lower bound; the upper one is symmetric). Let x = Σ p_i, a = Σ|p_i|, γ = γ_{n−1}.
    Any order of summation gives |Σ̃ − x| ≤ γa and Ã ≥ (1 − γ)a (Higham, Eq. 3.5), so
    e = fl(gÃ) ≥ g(1 − γ)(1 − u)a, and fl(Σ̃ − e) ≤ Σ̃ − e + u(|Σ̃| + e)
    ≤ x + γa + u(1 + γ)a − (1 − u)e. This is ≤ x when g(1 − γ)(1 − u)² ≥ γ + u + uγ; with
    g = γ_{n+4} ≥ γ + 5u that holds whenever (γ + 5u)(γ + 2u) + uγ ≤ 4u, i.e. for n²u ≤ 1
    (n ≤ 10^8 in float64, 4096 in float32, 45 in float16; ``ValueError`` beyond). Barring
    underflow, as every a-priori bound here.
    """
    s = P.sum(axis=-1)
    if not o:
        return s
    n = P.shape[-1]
    u = float(np.finfo(P.dtype).eps) / 2
    if n * n * u > 1:
        raise ValueError(f"sum of {n} terms is too long for the folded rounding bound in {P.dtype}")
    g = _gamma(n + 2, P.dtype)
    e = np.abs(P).sum(axis=-1) * pair(-g, g, P.dtype, s.ndim)
    return nan_to(s + e, -np.inf, np.inf)


# ---------------------------------------------------------------------------------------
# σ on stacked bounds (the same chain as arithmetic._sigmoid_bound, both rows in one pass)
# ---------------------------------------------------------------------------------------

def sigmoid_value(Z, o: bool = True) -> np.ndarray:
    """σ(Z) = 1/(1 + e^−Z) for stacked bounds Z (monotone), computed in float64 and rounded
    outward to Z's dtype; bit for bit ``arithmetic.sigmoid``'s bounds. Row 0 (lower bound):
    t = e^−lo stepped 4 ulps up, 1 + t up, the quotient down; row 1 the reverse (see
    ``arithmetic._sigmoid_bound``: rigorous under the float64 exp assumption alone)."""
    dtype = Z.dtype
    with np.errstate(over="ignore"):
        t = np.exp(-_f64(Z))
    if not o:
        S = 1.0 / (1.0 + t)
    else:
        k = _LIBM_STEPS["exp"]
        den = step_pos(1.0 + step_pos(t, k, -k), 1, -1)
        S = step_pos(1.0 / den, -1, 1)
    S = np.minimum(S, 1.0)                        # row 0 ≤ 1 and both ≥ 0 already
    if dtype != np.float64:
        S = np.stack(_to_dtype(S[0], S[1], dtype, o))
    return S


def sigmoid_derivative(S, o: bool = True) -> np.ndarray:
    """Enclosure of σ'(z) = s(1 − s) over s ∈ S (stacked, S ⊆ [0, 1]): the range of s(1 − s),
    which peaks at s = 1/2; each bound stepped 2 ulps outward, as ``arithmetic.sigmoid``."""
    F = S * (1 - S)
    D = np.empty_like(F)
    np.minimum(F[0], F[1], out=D[0])
    np.maximum(F[0], F[1], out=D[1])
    np.copyto(D[1], 0.25, where=(S[0] <= 0.5) & (S[1] >= 0.5))
    return step_pos(D, -2, 2, o)


# ---------------------------------------------------------------------------------------
# softmax on stacked bounds
# ---------------------------------------------------------------------------------------

def softmax_value(X, o: bool = True) -> np.ndarray:
    """softmax over the last axis of stacked bounds X ``(2, ..., C)``:
    s_i = 1/(1 + T_i), T_i = Σ_{j≠i} e^{x_j − x_i} (the common shift cancels exactly).

    Bounds: the differences lo_j − hi_i and hi_j − lo_i rounded outward (:func:`outward`),
    e^· in float64 stepped ``_LIBM_STEPS["exp"]`` ulps outward (measured error ≤ 0.73 ulp),
    the diagonal set to 0 (exactly: the term is left out), the sum T bounded by
    Σ̃·(1 ∓ 3γ) with γ = γ_{C+2} (nonnegative terms: the exact sum lies in
    [Σ̃/(1 + γ_{C−1}), Σ̃/(1 − γ_{C−1})], and the constants and the product lose at most two
    more u, covered since γ ≥ 3u; an overflowed lower bound is replaced by the largest float),
    then 1 + T and the quotient stepped one ulp outward each, the result clipped to [0, 1] and
    rounded outward to X's dtype. Rigorous under the float64 exp assumption of
    ``arithmetic``. O(C²) work.
    """
    dtype = X.dtype
    Xf = _f64(X)
    A = Xf[:, ..., None, :] - Xf[::-1, ..., :, None]       # [lo_j − hi_i, hi_j − lo_i]
    C = X.shape[-1]
    with np.errstate(over="ignore", invalid="ignore"):
        E = np.exp(outward(A, o))
    k = _LIBM_STEPS["exp"]
    E = step_pos(nan_to(E, 0.0, np.inf), -k, k, o)
    E.reshape(E.shape[:-2] + (C * C,))[..., ::C + 1] = 0.0     # leave out j = i
    T = E.sum(axis=-1)
    if o:
        g = _gamma(C, np.float64)
        T = T * pair(1 - 3 * g, 1 + 3 * g, np.float64, T.ndim)
        np.minimum(T[0], np.finfo(np.float64).max, out=T[0])
    # s = 1/(1 + T): its lower bound comes from T's upper bound and vice versa
    den = step_pos(1.0 + T[::-1], 1, -1, o)
    S = np.minimum(step_pos(1.0 / den, -1, 1, o), 1.0)
    if dtype != np.float64:
        S = np.stack(_to_dtype(S[0], S[1], dtype, o))
    return S


def softmax_adjoint(S, G, o: bool = True) -> np.ndarray:
    """x̄ = S ⊙ (ȳ − Σ_k S_k ȳ_k) for softmax values S ``(2, C)`` and stacked adjoints G
    ``(2, ..., C)`` of the output: the Jacobian diag(s) − s·sᵀ evaluated over the value
    enclosure (|J| ≤ 1; see :func:`refimpl.interval.softmax`)."""
    T = sum_last(mul_nonneg(G, S, o), o)                    # Σ_k S_k ȳ_k, (2, ...)
    Q = outward(G - T[::-1][..., None], o)                  # ȳ − T: [gl − T_hi, gh − T_lo]
    return mul_nonneg(Q, S, o)
