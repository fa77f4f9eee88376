"""Speed of the interval forward + reverse sweep (document `interval`), measured side by side.

    python benchmarks/interval.py [--repeats 30] [--slice 16]

1. The interval forward sweep + one reverse sweep of interval adjoints of a 784-500-500-10
   sigmoid network on one input box (float64, outward rounding on), against a float64
   forward + backward of the same network on one input sample, written in plain NumPy and
   computing the same adjoints (input and hidden nodes; target ratio ≤ 2.5). Also shown: the
   float backward that additionally forms the weight gradients (what training does), autograd's
   forward + backward, the sweep with outward rounding off, ``significance.analyse`` (ten
   reverse sweeps, one per output, |W| recomputed), and the matrix-vector products alone: the
   interval sweep must stream both W and |W| in each direction, the float sweep only W, so
   for one sample (memory-bound GEMVs) their ratio, about 2, is the floor of the target ratio.
2. The same sweep against mpmath's interval arithmetic (``mpmath.iv``, 53-bit) on a slice of
   the network (784 inputs -> ``--slice`` sigmoid units -> sum), which is too slow to run whole;
   the speed-up is measured on the identical slice (target ≥ 1000×).

Timings are the median of ``--repeats`` runs (after one warm-up), the sweeps of part 1 timed
round-robin; each ratio of part 1 is the median of the per-round ratios, with their range
(min–max) over the rounds; only the ratios are meaningful across machines. A breakdown line
splits the interval sweep into its matrix-vector products, the directed rounding (the sweep
with minus without outward rounding) and the rest (element-wise passes, activations, the tape).
BLAS threads are pinned with threadpoolctl (``--threads``, default 1, the same for every side);
the load average is printed. The script exits with status 1 and a message if the float
adjoint at the sample lies outside the interval adjoint of the box, or the mpmath and refimpl
enclosures of the slice do not overlap (the two sides would compute different things).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import autograd
import mpmath
import numpy as np
from scipy.special import expit
from threadpoolctl import threadpool_limits

from refimpl import interval as ia
from refimpl import nn
from refimpl.interval import significance
from refimpl.interval import Interval
from refimpl.model import mlp


def median_time(f, repeats):
    f()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def round_robin(fns: dict, repeats):
    """Run times of each function in ``repeats`` rounds (lists, round by round), timed
    round-robin (one run of each in turn), so load from other processes on a shared machine
    affects all of them alike."""
    for f in fns.values():
        f()
    ts = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            ts[k].append(time.perf_counter() - t)
    return ts


def ratio(ts, num, den) -> str:
    """Median (min–max) over rounds of the per-round ratio ts[num][i] / ts[den][i], and the
    ratio of the best (least disturbed) times: sub-millisecond runs on a loaded machine are
    often preempted, which makes single rounds' ratios scatter widely."""
    r = np.asarray(ts[num]) / np.asarray(ts[den])
    return f"{np.median(r):6.2f} ({r.min():.2f}–{r.max():.2f}); best times {min(ts[num]) / min(ts[den]):.2f}"


def gemvs_only(Ws, absWs, x, interval):
    """Only the matrix-vector products of a sweep: float c·W forward and W·ḡ backward; the
    interval sweep also needs r·|W| and |W|·r̄ (four passes over the weights instead of two)."""
    c, r = x, x
    for W, A in zip(Ws, absWs):
        c, r = np.tanh(c @ W), (np.tanh(r @ A) if interval else None)
    g, h = np.ones(Ws[-1].shape[1]), np.ones(Ws[-1].shape[1])
    for W, A in zip(Ws[::-1], absWs[::-1]):
        g, h = W @ g, (A @ h if interval else None)


def network(seed=0):
    model = mlp((784,), [500, 500], 10, activation="sigmoid")
    params = model.init(seed, dtype=np.float64)
    return model, params


def interval_sweep(Ws, absWs, bs, box, outward=True):
    """Forward sweep (two GEMMs per layer) and one reverse sweep (two GEMMs per layer)."""
    x = Interval(box.lo, box.hi, outward=outward)
    v = x
    hidden = []
    for k, (W, aW, b) in enumerate(zip(Ws, absWs, bs)):
        z = ia.matmul(v, W, abs_point=aW) + b
        v = ia.sigmoid(z) if k < len(Ws) - 1 else ia.softmax(z)
        hidden.append(v)
    v.backward(np.eye(v.shape[0])[0])
    return x.adjoint, [h.adjoint for h in hidden[:-1]]


def float_sweep(Ws, bs, x, weight_grads=False):
    """Plain NumPy forward + backward of d y_0/d(input, hidden nodes[, weights])."""
    acts = [x]
    v = x
    for k, (W, b) in enumerate(zip(Ws, bs)):
        z = v @ W + b
        v = expit(z) if k < len(Ws) - 1 else np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        acts.append(v)
    s = acts[-1]
    g = s * (np.eye(len(s))[0] - s[0])          # d softmax_0 / dz
    grads = []
    for k in range(len(Ws) - 1, -1, -1):
        if weight_grads:
            grads.append(np.outer(acts[k], g))
        g = Ws[k] @ g                            # adjoint of layer k's input
        if k > 0:
            g = g * acts[k] * (1 - acts[k])      # through the sigmoid
    return g, grads


def mpmath_slice(X, W, b):
    """784 -> k sigmoid units -> sum, forward and reverse, in mpmath.iv (53-bit)."""
    iv = mpmath.iv
    n, k = W.shape
    z = []
    for j in range(k):
        acc = iv.mpf(b[j])
        for i in range(n):
            acc += X[i] * W[i, j]
        z.append(acc)
    s = [1 / (1 + iv.exp(-zj)) for zj in z]
    zbar = [sj * (1 - sj) for sj in s]           # ȳ = 1 for the sum output
    return [sum((zbar[j] * W[i, j] for j in range(k)), iv.mpf(0)) for i in range(n)]


def ours_slice(box, W, b, absW):
    x = Interval(box.lo, box.hi)
    y = ia.sigmoid(ia.matmul(x, W, abs_point=absW) + b).sum()
    y.backward()
    return x.adjoint


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--slice", type=int, default=16, help="hidden units in the mpmath slice")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (threadpoolctl), default 1")
    args = ap.parse_args(argv)
    with threadpool_limits(args.threads, user_api="blas"):
        run(args)


def run(args):
    print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())} (1/5/15 min), "
          f"{os.cpu_count()} CPU cores visible, BLAS threads {args.threads}")

    model, params = network()
    Ws = [p["W"] for p in params]
    bs = [p["b"] for p in params]
    absWs = [np.abs(W) for W in Ws]
    rng = np.random.default_rng(0)
    data = rng.random((100, 784))
    box = significance.input_box(data)
    x = data[0]

    ag = autograd.grad(lambda p, x: nn.softmax(model.apply(p, x[None]))[0, 0])
    rounds = round_robin({
        "iv": lambda: interval_sweep(Ws, absWs, bs, box),
        "iv_off": lambda: interval_sweep(Ws, absWs, bs, box, outward=False),
        "fl": lambda: float_sweep(Ws, bs, x),
        "flw": lambda: float_sweep(Ws, bs, x, weight_grads=True),
        "ag": lambda: ag(params, x),
        "gemv_iv": lambda: gemvs_only(Ws, absWs, x, True),
        "gemv_fl": lambda: gemvs_only(Ws, absWs, x, False)}, args.repeats)
    tm = {k: statistics.median(v) for k, v in rounds.items()}
    t_iv, t_iv_off, t_fl, t_flw, t_ag = tm["iv"], tm["iv_off"], tm["fl"], tm["flw"], tm["ag"]
    t_an = median_time(lambda: significance.analyse(model, params, box), max(3, args.repeats // 5))

    # sanity: the float adjoint at a point lies in the interval adjoint
    xa, _ = interval_sweep(Ws, absWs, bs, box)
    g, _ = float_sweep(Ws, bs, x)
    if not xa.contains(g).all():
        sys.exit("error: the float adjoint at the sample lies outside the interval adjoint of the box "
                 "(the two sides compute different results)")

    print("784-500-500-10 sigmoid/softmax, float64, one box vs one sample (median of "
          f"{args.repeats} round-robin runs)")
    rows = [("interval fwd + 1 reverse sweep (outward rounding)", t_iv),
            ("interval fwd + 1 reverse sweep (rounding off)", t_iv_off),
            ("float fwd + bwd, node adjoints (NumPy)", t_fl),
            ("float fwd + bwd, node adjoints + weight gradients (NumPy)", t_flw),
            ("float fwd + bwd, weight gradients (autograd)", t_ag),
            ("matrix-vector products alone: interval sweep (4 per layer)", tm["gemv_iv"]),
            ("matrix-vector products alone: float sweep (2 per layer)", tm["gemv_fl"]),
            ("significance.analyse: fwd + 10 reverse sweeps, |W| recomputed", t_an)]
    for name, t in rows:
        print(f"  {name:<66} {t * 1e3:8.3f} ms")
    print(f"  ratio interval / float (same adjoints, NumPy):           {ratio(rounds, 'iv', 'fl')}  (target <= 2.5)")
    print(f"  ratio interval / float (with weight gradients, NumPy):   {ratio(rounds, 'iv', 'flw')}")
    print(f"  ratio interval / float (autograd):                       {ratio(rounds, 'iv', 'ag')}")
    print(f"  ratio interval (rounding off) / float (same adjoints):   {ratio(rounds, 'iv_off', 'fl')}")
    print(f"  ratio of the matrix-vector products alone (the floor):  {ratio(rounds, 'gemv_iv', 'gemv_fl')}")
    b = {k: min(v) for k, v in rounds.items()}
    print(f"  interval sweep / its floor (the float sweep × the GEMV ratio), best times: "
          f"{b['iv'] * b['gemv_fl'] / (b['fl'] * b['gemv_iv']):.2f}")
    print(f"  breakdown of the interval sweep (best times): matrix-vector products {b['gemv_iv'] * 1e3:.3f} ms, "
          f"directed rounding {(b['iv'] - b['iv_off']) * 1e3:.3f} ms, element-wise passes, activations and tape "
          f"{(b['iv_off'] - b['gemv_iv']) * 1e3:.3f} ms; float sweep: products {b['gemv_fl'] * 1e3:.3f} ms, "
          f"the rest {(b['fl'] - b['gemv_fl']) * 1e3:.3f} ms")

    k = args.slice
    W, b, absW = Ws[0][:, :k].copy(), bs[0][:k].copy(), absWs[0][:, :k].copy()
    mpmath.mp.prec = 53
    X = [mpmath.iv.mpf([float(lo), float(hi)]) for lo, hi in zip(box.lo, box.hi)]
    t0 = time.perf_counter()
    ref = mpmath_slice(X, W, b)
    t_mp = time.perf_counter() - t0
    t_ours = median_time(lambda: ours_slice(box, W, b, absW), args.repeats)
    ours = ours_slice(box, W, b, absW)
    # both are enclosures of the same adjoints; ours uses midpoint–radius products, mpmath the
    # naive sum, so their widths differ slightly; check they overlap and compare widths
    ref_lo = np.array([float(r.a) for r in ref])
    ref_hi = np.array([float(r.b) for r in ref])
    width_ratio = np.median((ours.hi - ours.lo) / np.maximum(ref_hi - ref_lo, 1e-300))
    overlap = bool(np.all((ours.lo <= ref_hi) & (ref_lo <= ours.hi)))
    if not overlap:
        sys.exit("error: the refimpl and mpmath enclosures of the slice's adjoints do not overlap "
                 "(the two sides compute different results)")
    print(f"\nslice 784 -> {k} sigmoid -> sum, forward + reverse, one box")
    print(f"  mpmath.iv (53-bit):  {t_mp * 1e3:10.1f} ms")
    print(f"  refimpl.interval:    {t_ours * 1e3:10.3f} ms")
    print(f"  speed-up:            {t_mp / t_ours:10.0f}x  (target >= 1000x)")
    print(f"  enclosures overlap: {overlap}; median width ratio ours/mpmath {width_ratio:.3f}")
    full = t_mp * 500 / k
    print(f"  (mpmath on the first layer alone, extrapolated linearly to 500 units: ~{full:.0f} s)")


if __name__ == "__main__":
    main()
