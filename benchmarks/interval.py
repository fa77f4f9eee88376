"""Speed of the interval forward + reverse sweep (document `interval`), measured side by side.

    python benchmarks/interval.py [--repeats 30] [--rounds 5] [--slice 16]

1. The interval forward sweep + one reverse sweep of interval adjoints of a 784-500-500-10
   sigmoid/softmax network on one input box (float64, outward rounding on) — the library's own
   sweeps, ``refimpl.interval.sweep.forward``/``reverse``, which ``significance.analyse`` calls
   (layers prepared once, |W| included, as analyse does per call) — against a float64
   forward + backward of the same network on one input sample, written in plain NumPy and
   computing the same adjoints (input and hidden nodes; target ratio ≤ 2.5). Also shown: the
   float backward that additionally forms the weight gradients (what training does), autograd's
   forward + backward, the sweep with outward rounding off, ``significance.analyse`` whole
   (|W|, forward, ten reverse sweeps) against a float forward + backward of all ten outputs,
   and the matrix-vector products alone: the interval sweep must stream both W and |W| in each
   direction, the float sweep only W, so their ratio (about 2) is the floor of the target ratio.
2. The same sweep against mpmath's interval arithmetic (``mpmath.iv``, 53-bit) on a slice of
   the network (784 inputs -> ``--slice`` sigmoid units -> sum), which is too slow to run whole;
   the speed-up is measured on the identical slice (target ≥ 1000×).

Timing is warm: in each of ``--rounds`` rounds every function runs ``--repeats`` times in a
row (after one warm-up run), and its time in that round is the median; so no function runs
with the caches the previous one left (a round-robin of single runs would make the interval
sweep, which streams W and |W|, find W alone in the cache). The rounds alternate the
functions, so load from other processes on a shared machine affects all of them alike; each
ratio is the median over the rounds of the per-round ratio, with its range (min–max). Only the
ratios are meaningful across machines. A breakdown line splits the interval sweep into its
matrix-vector products, the directed rounding (the sweep with minus without outward rounding)
and the rest (element-wise passes, activations, Python); a second one by size: the products,
the sweep's fixed cost (the same sweep through 8-unit layers: its NumPy calls and Python, which
do not shrink with the layers), and the element-wise work on the full-width vectors. Products
plus fixed cost is the floor of this sequence of NumPy calls (only fewer calls, or a compiled
kernel, would go below it). Two more lines: the products' memory traffic per sweep and the rate
it streams at (W and |W| are twice the float sweep's bytes and may not stay in the cache that
holds W), and the products of a sweep with |W| and the radii in float32 (not what refimpl does:
docs/interval.md, "Speed"), with what the 2.5x target would then leave for all element-wise work,
in units of one small NumPy call. mpmath runs in three rounds, each followed by the refimpl slice
(warm), and the speed-up is the median of the per-round ratios. BLAS threads are pinned with
threadpoolctl (``--threads``, default 1, the same for every side); the load average is
printed. The script exits with status 1 and a message if the float adjoint at the sample lies
outside the interval adjoint of the box (from the same sweeps), or the mpmath and refimpl
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
from refimpl.interval import stacked as st
from refimpl.interval import sweep
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


def warm_rounds(fns: dict, rounds, repeats):
    """Per function, its warm time (median of ``repeats`` consecutive runs after a warm-up) in
    each of ``rounds`` rounds; the functions take turns within a round."""
    ts = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            ts[k].append(median_time(f, repeats))
    return ts


def ratio(ts, num, den) -> str:
    """Median (min–max) over rounds of the per-round ratio ts[num][i] / ts[den][i]."""
    r = np.asarray(ts[num]) / np.asarray(ts[den])
    return f"{np.median(r):6.2f} ({r.min():.2f}–{r.max():.2f})"


def gemvs_only(Ws, absWs, x, interval):
    """Only the matrix-vector products of a sweep: float c·W forward and ḡ·Wᵀ backward; the
    interval sweep also needs r·|W| and r̄·|W|ᵀ (four passes over the weights instead of two).
    The same product shapes as the sweeps (row vector times matrix, transposed on the way back).
    The radius products run in |W|'s dtype (float32 |W|: what a float32-radius sweep would stream)."""
    c, r = x, x.astype(absWs[0].dtype)
    for W, A in zip(Ws, absWs):
        c, r = c @ W, (r @ A if interval else r)
    g, h = np.ones(Ws[-1].shape[1]), np.ones(Ws[-1].shape[1], absWs[0].dtype)
    for W, A in zip(Ws[::-1], absWs[::-1]):
        g, h = g @ W.T, (h @ A.T if interval else h)


def one_call(a, b):
    """One small NumPy operation (16 elements): the unit of a sweep's per-call cost."""
    return a + b


def network(seed=0):
    model = mlp((784,), [500, 500], 10, activation="sigmoid")
    params = model.init(seed, dtype=np.float64)
    return model, params


def interval_sweep(net, box, outward=True, seeds=np.eye(10)[:1]):
    """The library's sweeps, as ``significance.analyse`` runs them: forward over the box, then
    one reverse sweep (one row of seeds per output adjoint wanted)."""
    fwd = sweep.forward(net, st.stack(box.lo, box.hi), softmax=True, o=outward)
    return sweep.reverse(fwd, seeds)


def float_sweep(Ws, bs, x, weight_grads=False, seeds=None):
    """Plain NumPy forward + backward of d y_0/d(input, hidden nodes[, weights]); with
    ``seeds`` (k, 10), of every d(seed_k·y)/d(input, hidden nodes) at once (rows)."""
    acts = [x]
    v = x
    for k, (W, b) in enumerate(zip(Ws, bs)):
        z = v @ W + b
        v = expit(z) if k < len(Ws) - 1 else np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        acts.append(v)
    s = acts[-1]
    if seeds is None:
        g = s * (np.eye(len(s))[0] - s[0])      # d softmax_0 / dz
    else:
        g = s * (seeds - (seeds @ s)[:, None])  # rows: d(seed_k·softmax)/dz
    grads = []
    for k in range(len(Ws) - 1, -1, -1):
        if weight_grads:
            grads.append(np.outer(acts[k], g))
        g = g @ Ws[k].T                          # adjoint of layer k's input
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
    ap.add_argument("--repeats", type=int, default=30, help="consecutive runs per function and round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (the functions take turns)")
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
    absWs32 = [A.astype(np.float32) for A in absWs]     # the radius products of a float32-radius sweep
    small = np.ones(16)
    net = sweep.layers(Ws, bs, ["sigmoid", "sigmoid", "linear"])
    rng = np.random.default_rng(0)
    data = rng.random((100, 784))
    box = significance.input_box(data)
    x = data[0]
    eye = np.eye(10)
    # the same sweeps through 8-unit layers: what the sweeps' NumPy calls and Python cost whatever
    # the layer widths (their fixed cost; the arithmetic on 8 numbers is negligible)
    tiny_W = [W[:8, :8].copy() for W in Ws[:-1]] + [Ws[-1][:8].copy()]
    tiny_b = [b[:8].copy() for b in bs[:-1]] + [bs[-1].copy()]
    tiny_net = sweep.layers(tiny_W, tiny_b, ["sigmoid", "sigmoid", "linear"])
    tiny_box = Interval(box.lo[:8], box.hi[:8])

    ag = autograd.grad(lambda p, x: nn.softmax(model.apply(p, x[None]))[0, 0])
    rounds = warm_rounds({
        "iv": lambda: interval_sweep(net, box),
        "iv_off": lambda: interval_sweep(net, box, outward=False),
        "fl": lambda: float_sweep(Ws, bs, x),
        "flw": lambda: float_sweep(Ws, bs, x, weight_grads=True),
        "ag": lambda: ag(params, x),
        "gemv_iv": lambda: gemvs_only(Ws, absWs, x, True),
        "gemv_fl": lambda: gemvs_only(Ws, absWs, x, False),
        "gemv_iv32": lambda: gemvs_only(Ws, absWs32, x, True),
        "call": lambda: one_call(small, small),
        "iv_tiny": lambda: interval_sweep(tiny_net, tiny_box),
        "fl_tiny": lambda: float_sweep(tiny_W, tiny_b, x[:8]),
        "an": lambda: significance.analyse(model, params, box),
        "fl10": lambda: float_sweep(Ws, bs, x, seeds=eye)}, args.rounds, args.repeats)
    tm = {k: statistics.median(v) for k, v in rounds.items()}

    # sanity: the float adjoint at a point lies in the interval adjoint (the library's sweeps)
    xa = interval_sweep(net, box)[0][:, 0]
    g, _ = float_sweep(Ws, bs, x)
    if not np.all((xa[0] <= g) & (g <= xa[1])):
        sys.exit("error: the float adjoint at the sample lies outside the interval adjoint of the box "
                 "(the two sides compute different results)")

    print("784-500-500-10 sigmoid/softmax, float64, one box vs one sample (warm: median of "
          f"{args.repeats} consecutive runs, median over {args.rounds} rounds)")
    rows = [("interval fwd + 1 reverse sweep (outward rounding)", tm["iv"]),
            ("interval fwd + 1 reverse sweep (rounding off)", tm["iv_off"]),
            ("float fwd + bwd, node adjoints (NumPy)", tm["fl"]),
            ("float fwd + bwd, node adjoints + weight gradients (NumPy)", tm["flw"]),
            ("float fwd + bwd, weight gradients (autograd)", tm["ag"]),
            ("matrix-vector products alone: interval sweep (4 per layer)", tm["gemv_iv"]),
            ("matrix-vector products alone: float sweep (2 per layer)", tm["gemv_fl"]),
            ("interval sweep through 8-unit layers (its fixed cost: calls, Python)", tm["iv_tiny"]),
            ("float sweep through 8-unit layers", tm["fl_tiny"]),
            ("significance.analyse: |W|, fwd, reverse sweeps of all 10 outputs", tm["an"]),
            ("float fwd + bwd of all 10 outputs (NumPy, one GEMM per layer)", tm["fl10"])]
    for name, t in rows:
        print(f"  {name:<66} {t * 1e3:8.3f} ms")
    print(f"  ratio interval / float (same adjoints, NumPy):           {ratio(rounds, 'iv', 'fl')}  (target <= 2.5)")
    print(f"  ratio interval / float (with weight gradients, NumPy):   {ratio(rounds, 'iv', 'flw')}")
    print(f"  ratio interval / float (autograd):                       {ratio(rounds, 'iv', 'ag')}")
    print(f"  ratio interval (rounding off) / float (same adjoints):   {ratio(rounds, 'iv_off', 'fl')}")
    print(f"  ratio analyse / float, all 10 outputs:                   {ratio(rounds, 'an', 'fl10')}")
    print(f"  ratio of the matrix-vector products alone (warm floor):  {ratio(rounds, 'gemv_iv', 'gemv_fl')}")
    print(f"  floor of the target ratio (interval products / float sweep): {ratio(rounds, 'gemv_iv', 'fl')}; "
          f"interval sweep / that floor: {tm['iv'] / tm['gemv_iv']:.2f}")
    print(f"  breakdown of the interval sweep (medians): matrix-vector products {tm['gemv_iv'] * 1e3:.3f} ms, "
          f"directed rounding {(tm['iv'] - tm['iv_off']) * 1e3:.3f} ms, element-wise passes, activations and "
          f"Python {(tm['iv_off'] - tm['gemv_iv']) * 1e3:.3f} ms; float sweep: products {tm['gemv_fl'] * 1e3:.3f} ms, "
          f"the rest {(tm['fl'] - tm['gemv_fl']) * 1e3:.3f} ms")
    fixed = tm["gemv_iv"] + tm["iv_tiny"]
    print(f"  the same split by size: products {tm['gemv_iv'] * 1e3:.3f} ms + the sweep's fixed cost (8-unit layers) "
          f"{tm['iv_tiny'] * 1e3:.3f} ms + element-wise work on the 500-wide vectors "
          f"{(tm['iv'] - fixed) * 1e3:.3f} ms; products + fixed cost = {fixed / tm['fl']:.2f} x the float sweep, "
          f"the floor of this sweep's {len(net)}-layer sequence of NumPy calls (interval sweep / it: "
          f"{tm['iv'] / fixed:.2f})")
    mb_fl = 2 * sum(W.nbytes for W in Ws) / 1e6            # bytes streamed per sweep: W twice
    mb_iv = mb_fl + 2 * sum(A.nbytes for A in absWs) / 1e6  # W and |W| twice
    mb_iv32 = mb_fl + 2 * sum(A.nbytes for A in absWs32) / 1e6
    print(f"  products' memory traffic: float sweep {mb_fl:.1f} MB per sweep at {mb_fl / tm['gemv_fl'] / 1e3:.0f} GB/s, "
          f"interval sweep {mb_iv:.1f} MB at {mb_iv / tm['gemv_iv'] / 1e3:.0f} GB/s (its weights, W and |W|, are "
          f"twice the float sweep's; a lower rate means they no longer all stay in the cache)")
    budget = 2.5 * tm["fl"] - tm["gemv_iv32"]
    print(f"  with |W| and the radii in float32 (not done here): products {tm['gemv_iv32'] * 1e3:.3f} ms "
          f"({mb_iv32:.1f} MB), {ratio(rounds, 'gemv_iv32', 'fl')} x the float sweep; the 2.5x target would leave "
          f"{budget * 1e3:.3f} ms for all element-wise work = {budget / tm['call']:.0f} small NumPy calls at "
          f"{tm['call'] * 1e6:.2f} us each (the sweep's fixed cost alone takes as long as {tm['iv_tiny'] / tm['call']:.0f} of them)")

    k = args.slice
    W, b, absW = Ws[0][:, :k].copy(), bs[0][:k].copy(), absWs[0][:, :k].copy()
    mpmath.mp.prec = 53
    X = [mpmath.iv.mpf([float(lo), float(hi)]) for lo, hi in zip(box.lo, box.hi)]
    # interleaved: each round times mpmath once (~0.3 s) and refimpl warm, right after it
    t_mp, t_ours = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        ref = mpmath_slice(X, W, b)
        t_mp.append(time.perf_counter() - t0)
        t_ours.append(median_time(lambda: ours_slice(box, W, b, absW), args.repeats))
    speedups = np.asarray(t_mp) / np.asarray(t_ours)
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
    print(f"  mpmath.iv (53-bit):  {statistics.median(t_mp) * 1e3:10.1f} ms (median of 3 rounds)")
    print(f"  refimpl.interval:    {statistics.median(t_ours) * 1e3:10.3f} ms")
    print(f"  speed-up:            {np.median(speedups):10.0f}x ({speedups.min():.0f}–{speedups.max():.0f}, "
          f"median of the per-round ratios; target >= 1000x)")
    print(f"  enclosures overlap: {overlap}; median width ratio ours/mpmath {width_ratio:.3f}")
    full = statistics.median(t_mp) * 500 / k
    print(f"  (mpmath on the first layer alone, extrapolated linearly to 500 units: ~{full:.0f} s)")


if __name__ == "__main__":
    main()
