"""Fused interval forward and reverse sweeps through a dense network.

Document ``interval`` (Afghan & Naumann, ICCS 2020), Sec. 3.2: "one interval forward sweep of
the trained network ..., then a reverse sweep of interval adjoints", for networks of Dense
layers ``v ↦ act(v·W + b)`` with point weights. :func:`forward` and :func:`reverse` are plain
loops over the layers on stacked bounds (``(2, ...)``: lower bounds, upper bounds; see
:mod:`refimpl.interval.stacked`), with no tape and no Python object per operation, and
:func:`reverse` takes several seeds at once (one row each), so the adjoints of all outputs
of Eq. 1 come from one sweep. Every row (seed, or box of a batch) gets its own matrix–vector
product, so the bounds of a row are those of a sweep of that row alone. :func:`taped` records
the same steps as :class:`~refimpl.interval.Interval` nodes (for ``interval_forward``): the
tape and the fused sweeps give the same enclosures, bit for bit.

One Dense layer (:func:`affine`): ``<c, r>·W + b ⊆ <c·W + b, r·|W|>`` (midpoint–radius,
exact for point W and b), rounded as ``arithmetic._matmul_point_raw`` with the bias as an
(n+1)-th term of the product: x·W + b = [x, 1]·[W; b]. The computed midpoint
fl(fl(c·W) + b) is one order of evaluating that (n+1)-term product, and the radius
fl(fl(fl(s·|W|) + fl(g·|b|))·fl(1 + 3g)), s = fl(r + fl(g·|c|)), is the radius formula there
for the point 1 (its r = 0, |c| = 1, so its s-entry is g exactly): so that proof holds
verbatim with n + 1 for n, ``g = γ_{n+5}``, and the bias needs no rounding of its own. The
reverse step is the same product with Wᵀ and no bias (``g = γ_{m+4}``, as the tape's
``matmul``). Bounds that come out NaN (∞ − ∞, ∞·0 from unbounded boxes), and those of a
midpoint that overflowed (a lower bound +∞, an upper bound −∞), become ∓∞, as in ``matmul``;
a NaN weight or bias is reported then (``ValueError``).

Activations (:data:`ACTIVATIONS`): σ and softmax on stacked bounds (``stacked``), ReLU and
linear exactly; the others (tanh, log_softmax) through the taped primitive of
``arithmetic`` (same bounds, one call each). The derivative products use
``stacked.mul_nonneg`` (every derivative enclosure here is ≥ 0).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import arithmetic as ia
from . import stacked as st
from .arithmetic import Interval, _any_unsound, _gamma, _whole_line_where_unsound, quiet

__all__ = ["DenseLayer", "layers", "affine", "forward", "reverse", "taped", "ACTIVATIONS"]

_gamma_cached = functools.lru_cache(maxsize=None)(_gamma)


@dataclass(frozen=True)
class DenseLayer:
    """One layer ``act(v·W + b)`` prepared for the sweeps: ``W`` (n, m) and ``absW`` = |W| in the
    sweep's dtype, ``b`` (m,) or ``None``, ``gb`` = fl(γ_{n+5}·|b|) (the bias' share of the
    radius, :func:`affine`) and the activation's name."""
    W: np.ndarray
    absW: np.ndarray
    b: np.ndarray | None
    gb: np.ndarray | None
    activation: str


def layers(weights, biases, activations, dtype=np.float64) -> list[DenseLayer]:
    """Prepare the layers: weights ``(n_l, n_{l+1})``, biases ``(n_{l+1},)`` or ``None``, names of
    :data:`ACTIVATIONS`, all converted to ``dtype`` (float16/32/64) once — |W| is one pass over W.
    Raises ``ValueError`` for an unknown activation, misaligned shapes or weights or biases that
    are NaN or ±inf in ``dtype`` (one reduction over |W|), ``TypeError`` for complex ones."""
    out = []
    n = None
    for W, b, act in zip(weights, biases, activations):
        if np.iscomplexobj(W) or np.iscomplexobj(b):
            raise TypeError("the weights and biases must be real, got complex ones")
        W = np.asarray(W, dtype=dtype)
        if W.ndim != 2 or (n is not None and W.shape[0] != n):
            raise ValueError(f"weights of shape {W.shape} do not follow a layer of {n} units")
        n = W.shape[1]
        if act not in ACTIVATIONS:
            raise ValueError(f"no interval version of activation {act!r}; known: {', '.join(ACTIVATIONS)}")
        gb = None
        if b is not None:
            b = np.asarray(b, dtype=dtype)
            if b.shape != (n,):
                raise ValueError(f"bias of shape {b.shape} for a layer of {n} units")
            gb = _gamma(W.shape[0] + 3, dtype) * np.abs(b)
        absW = np.abs(W)
        if (absW.size and not np.isfinite(absW.max())) or (b is not None and not np.isfinite(b).all()):
            raise ValueError(f"layer {len(out)}: the weights or biases contain NaN or ±inf "
                             f"(in {np.dtype(dtype).name})")
        out.append(DenseLayer(W, absW, b, gb, act))
    return out


# ---------------------------------------------------------------------------------------
# One affine step, forward (v·W + b) or reverse (ḡ·Wᵀ)
# ---------------------------------------------------------------------------------------

def _rows(x, M):
    """x @ M with every row of x its own matrix–vector product (``x[..., None, :] @ M``), so that
    a row's bounds do not depend on the other rows: a batch of seeds gives bit for bit what one
    seed at a time gives (a GEMM may sum in another order than a GEMV)."""
    if x.ndim == 1:
        return x @ M
    return (x[..., None, :] @ M)[..., 0, :]


def affine(B, W, absW, b=None, gb=None, o: bool = True) -> np.ndarray:
    """Stacked bounds B ``(2, ..., n)`` times the point matrix W ``(n, m)``, plus the point bias
    b ``(m,)`` if given -> stacked ``(2, ..., m)``; rigorous for any summation order (module
    docstring; ``gb`` = fl(γ_{n+5}·|b|) from :func:`layers`). Bounds it cannot vouch for (NaN,
    or an overflowed midpoint: a lower bound +∞, an upper bound −∞) become ∓∞ there, as in
    ``matmul``. Raises ``ValueError`` if W or b contains NaN (checked only in that case)."""
    lo, hi = B[0], B[1]
    c = 0.5 * lo + 0.5 * hi                   # no overflow for huge bounds
    r = np.maximum(c - lo, hi - c)
    mid = _rows(c, W)
    if b is not None:
        mid += b
    if o:
        g = _gamma_cached(W.shape[0] + (3 if b is not None else 2), lo.dtype)   # γ_{n+5} / γ_{n+4}
        rad = _rows(r + g * np.abs(c), absW)
        if b is not None:
            rad += gb
        rad *= 1 + 3 * g
    else:
        rad = _rows(r, absW)
    out = np.empty((2,) + mid.shape, mid.dtype)
    np.subtract(mid, rad, out=out[0])
    np.add(mid, rad, out=out[1])
    if _any_unsound(out[0], out[1]):
        if np.isnan(W).any() or (b is not None and np.isnan(b).any()):
            raise ValueError("the weights or biases contain NaN")
        out = st.stack(*_whole_line_where_unsound(out[0], out[1]))
    return out


# ---------------------------------------------------------------------------------------
# Activations: value and reverse step on stacked bounds
# ---------------------------------------------------------------------------------------

def _linear(Z, o):
    return Z, lambda G: G


def _relu(Z, o):
    # derivative: 1 where Z > 0, 0 where Z < 0, [0, 1] where Z ∋ 0 (as arithmetic.relu)
    D = np.stack((Z[0] > 0, Z[1] >= 0)).astype(Z.dtype)
    return np.maximum(Z, 0.0), lambda G: st.mul_nonneg(G, D, o)


def _sigmoid(Z, o):
    S = st.sigmoid_value(Z, o)
    return S, lambda G: st.mul_nonneg(G, st.sigmoid_derivative(S, o), o)


def _softmax(Z, o):
    S = st.softmax_value(Z, o)
    return S, lambda G: st.softmax_adjoint(S, G, o)


def _via_tape(f):
    """An activation of ``arithmetic`` (taped) as a stacked step: its value, and its recorded
    reverse rule applied to the stacked adjoints (rows of seeds broadcast through it)."""
    def step(Z, o):
        y = f(Interval._result(Z[0], Z[1], o))
        rule = y._parents[0][1]
        return st.stack(y.lo, y.hi), lambda G: st.stack(*rule(G[0], G[1]))
    return step


ACTIVATIONS: dict[str, Callable] = {
    "linear": _linear, "relu": _relu, "sigmoid": _sigmoid, "softmax": _softmax,
    "tanh": _via_tape(ia.tanh), "log_softmax": _via_tape(ia.log_softmax),
}
"""Stacked steps ``(Z, o) -> (value, reverse)`` for every activation of
:data:`refimpl.interval.ACTIVATIONS`; ``reverse(G)`` maps the adjoint of the value to that of Z."""


# ---------------------------------------------------------------------------------------
# The sweeps
# ---------------------------------------------------------------------------------------

@dataclass
class Forward:
    """Result of :func:`forward`: ``values[l]``, the stacked value of layer l (0 = the input,
    l ≥ 1 = the output of Dense layer l after its activation), the stacked ``output`` (the last
    value, or its softmax), and the reverse steps for :func:`reverse`."""
    values: list[np.ndarray]
    output: np.ndarray
    steps: list[tuple]
    outward: bool


def forward(net: list[DenseLayer], X, *, softmax: bool = False, o: bool = True) -> Forward:
    """Interval forward sweep (Sec. 3.2): stacked input bounds X ``(2, ..., n_0)`` through every
    layer, then a softmax over the last axis if ``softmax``. Runs in X's dtype (prepare the
    layers in it); ``o``: outward rounding."""
    values, steps = [X], []
    V = X
    with quiet():                   # ∞ − ∞ and overflow are handled (module docstring), not errors
        for L in net:
            Z = affine(V, L.W, L.absW, L.b, L.gb, o)
            V, back = ACTIVATIONS[L.activation](Z, o)
            values.append(V)
            steps.append((L, back))
        if softmax:
            V, back = _softmax(V, o)
            steps.append((None, back))
    return Forward(values, V, steps, o)


def reverse(fwd: Forward, seeds) -> list[np.ndarray]:
    """Reverse sweep of interval adjoints (Sec. 3.2) for a batch of k seeds at once.

    ``seeds``: point seeds ``(k, ..., n_out)`` (one reverse sweep per row, e.g.
    ``np.eye(n_out)`` for every output Y_k) or stacked interval seeds ``(2, k, ..., n_out)``;
    ``...`` is the batch axis of boxes, if the forward sweep had one. Returns the stacked
    adjoints ``(2, k, ..., n_l)`` of ``fwd.values[l]`` for the input and every hidden layer
    (l = 0 .. len(net) − 1), in the forward sweep's dtype. Raises ``ValueError`` if the seeds'
    shape does not match the output's.
    """
    o = fwd.outward
    Y = fwd.output
    G = np.asarray(seeds, dtype=Y.dtype)
    if G.ndim == Y.ndim:                           # point seeds: lo = hi
        G = np.stack((G, G))
    if G.ndim != Y.ndim + 1 or G.shape[0] != 2 or G.shape[2:] != Y.shape[1:]:
        raise ValueError(f"seeds of shape {np.shape(seeds)} do not match the output of shape {Y.shape[1:]}")
    adjoints = []
    with quiet():
        for L, back in reversed(fwd.steps):
            G = back(G)                            # through the activation (or the softmax)
            if L is not None:
                G = affine(G, L.W.T, L.absW.T, None, None, o)
                adjoints.append(G)
    return adjoints[::-1]


# ---------------------------------------------------------------------------------------
# The same steps on the tape
# ---------------------------------------------------------------------------------------

def taped(net: list[DenseLayer], x: Interval, *, softmax: bool = False) -> tuple[list[Interval], Interval]:
    """:func:`forward` recorded on the tape: returns ``(values, Y)`` like
    :func:`refimpl.interval.interval_forward` (``values[0]`` is ``x``, then every layer but the
    last), each an :class:`Interval` node whose ``backward`` runs the reverse steps of
    :func:`reverse` (one seed: the same bounds)."""
    o = x.outward
    v, values = x, [x]

    def node(B, parent, rule):
        return Interval._result(B[0], B[1], o, [(parent, lambda gl, gh: tuple(rule(st.stack(gl, gh))))])

    for L in net:
        Z = affine(st.stack(v.lo, v.hi), L.W, L.absW, L.b, L.gb, o)
        z = node(Z, v, lambda G, L=L: affine(G, L.W.T, L.absW.T, None, None, o))
        V, back = ACTIVATIONS[L.activation](Z, o)
        v = node(V, z, back)
        values.append(v)
    if softmax:
        V, back = _softmax(st.stack(v.lo, v.hi), o)
        v = node(V, v, back)
    return values[:-1], v
