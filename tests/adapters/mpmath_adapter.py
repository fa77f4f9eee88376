"""A case adapter for the interval kinds built on mpmath's interval arithmetic (``mpmath.iv``).

mpmath evaluates every interval operation with outward rounding at 113 bits; the adapter writes the
paper's computations with it — the Sec. 2.3 example with its adjoints by hand, the natural interval
forward sweep through a dense network and the reverse sweep of interval adjoints (Eq. 1) — and
rounds the resulting bounds outward to float64. So it checks refimpl's interval results against an
independent interval arithmetic: its enclosures must contain the cases' true values and agree with
ours to rounding level. Activations: sigmoid and linear (those of the interval cases).
"""
from __future__ import annotations

import contextlib

import numpy as np
from mpmath import iv
from mpmath.libmp import to_float

PREC = 113


@contextlib.contextmanager
def _precision():
    old = iv.prec
    iv.prec = PREC
    try:
        yield
    finally:
        iv.prec = old


def _iv(lo, hi=None):
    return iv.mpf([float(lo), float(lo if hi is None else hi)])


def _bounds(x):
    """(lo, hi) of an mpmath interval as float64, rounded outward (floor / ceiling)."""
    a, b = x._mpi_
    return to_float(a, rnd="f"), to_float(b, rnd="c")


def _arrays(xs):
    pairs = [_bounds(x) for x in xs]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def interval_sec23(x1, x2):
    with _precision():
        X1, X2 = _iv(*x1), _iv(*x2)
        U = X1 * X2
        U_bar = iv.cos(U)                      # adjoint of u = x1*x2 for the seed ȳ = 1: cos(U)·1
        return {"y": _bounds(iv.sin(U)), "x1_adjoint": _bounds(U_bar * X2), "x2_adjoint": _bounds(U_bar * X1)}


def _activation(name, Z):
    if name == "sigmoid":
        return [1 / (1 + iv.exp(-z)) for z in Z]
    if name == "linear":
        return list(Z)
    raise NotImplementedError(f"this adapter has no interval {name}")


def _softmax(Z):
    """s_i = 1/(1 + Σ_(j≠i) exp(z_j − z_i)) (the differences form the cases document)."""
    return [1 / (1 + sum(iv.exp(Z[j] - Z[i]) for j in range(len(Z)) if j != i)) for i in range(len(Z))]


def _forward(weights, biases, activations, lo, hi, output):
    V = [_iv(a, b) for a, b in zip(lo, hi)]
    values = [V]
    for n, (W, b, act) in enumerate(zip(weights, biases, activations)):
        Z = [b[j] + sum(V[i] * W[i, j] for i in range(W.shape[0])) for j in range(W.shape[1])]
        V = _activation(act, Z)
        if n < len(weights) - 1:
            values.append(V)
    softmax = output == "softmax" and activations[-1] == "linear"
    return values, (_softmax(V) if softmax else V), V, softmax


def interval_forward(weights, biases, activations, lo, hi, output):
    with _precision():
        values, Y, _, _ = _forward(weights, biases, activations, lo, hi, output)
        return {"values": [_arrays(v) for v in values], "output": _arrays(Y)}


def _sigmoid_derivative(S):
    """Range of s(1 − s) over the value enclosure S (0.25 if S contains 1/2)."""
    lo, hi = S.a, S.b
    fl, fh = lo * (1 - lo), hi * (1 - hi)
    top = iv.mpf(0.25) if (lo <= 0.5 and hi >= 0.5) else iv.mpf([max(fl.a, fh.a), max(fl.b, fh.b)])
    return iv.mpf([min(fl.a, fh.a), top.b])


def interval_significance(weights, biases, activations, lo, hi, output):
    with _precision():
        values, Y, last, softmax = _forward(weights, biases, activations, lo, hi, output)
        n_out = len(Y)
        adjoints = []
        for k in range(n_out):
            if softmax:   # x̄_i = S_i·(δ_ik − S_k) for the seed e_k
                bar = [Y[i] * ((1 if i == k else 0) - Y[k]) for i in range(n_out)]
            else:
                bar = [iv.mpf(1 if i == k else 0) for i in range(n_out)]
            layer_adj = []
            for n in range(len(weights) - 1, -1, -1):
                W, act = weights[n], activations[n]
                A = last if n == len(weights) - 1 else values[n + 1]
                if act == "sigmoid":
                    bar = [_sigmoid_derivative(a) * g for a, g in zip(A, bar)]
                elif act not in ("sigmoid", "linear"):
                    raise NotImplementedError(act)
                bar = [sum(bar[j] * W[i, j] for j in range(W.shape[1])) for i in range(W.shape[0])]
                layer_adj.append(bar)
            adjoints.append([_arrays(a) for a in reversed(layer_adj)])
        mags = [np.max([np.maximum(np.abs(a[0]), np.abs(a[1])) for a in (adj[l] for adj in adjoints)], axis=0)
                for l in range(len(values))]
        widths = [np.subtract(*_arrays(v)[::-1]) for v in values]
        return {"adjoints": adjoints, "adjoint_magnitude": mags, "significance": [w * m for w, m in zip(widths, mags)]}
