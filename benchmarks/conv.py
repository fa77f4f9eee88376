"""conv2d forward + backward: refimpl (im2col + GEMM, autograd) vs. PyTorch CPU, side by side.

    python benchmarks/conv.py [--repeats 15] [--threads 1 2]

Input (128, 32, 16, 16), 64 filters 3×3, stride 1, 'same' padding, float32. refimpl runs its
training path (``refimpl.autodiff.value_and_grad`` of ``sum(g · conv2d(x, K, b))``, giving the
gradients of x and K); PyTorch runs ``conv2d(...).backward(g)``. For each ``--threads`` value
(BLAS and OpenMP threads pinned with threadpoolctl, and ``torch.set_num_threads``, the same for
both sides) the two are timed interleaved, ``--repeats`` rounds after one warm-up; the ratio
printed is the median of the per-round ratios refimpl/PyTorch with their range (target <= 1.5).

A breakdown line times, in the same rounds, the steps refimpl's conv2d performs, as plain NumPy
calls on the same shapes: the im2col copy, the forward GEMM, the output transpose + bias, the
output-gradient transpose, the dK GEMM, the input gradient (one GEMM per kernel offset and
the shifted additions: ``refimpl.nn._conv_input_grad``), and the rest of refimpl's time
(autodiff bookkeeping, the loss g·y, the bias gradient), which is the total minus the steps.
"GEMMs alone" (forward, dK, and the input gradient's products as one GEMM) is the floor this
approach cannot go below at this machine's OpenBLAS rate.
The load average is printed before and after.

With 2 threads on a machine loaded beyond its cores, a BLAS call that follows other work can
wait milliseconds for OpenBLAS's sleeping second thread (measured: ~8 ms per call at load 4.5 on
2 cores, 0.04 ms back to back). refimpl's input gradient makes kh·kw products per cache-sized
chunk of images (22 chunks here), so with 2 threads on such a machine its time can be dominated
by these waits (0.4-1.5 s instead of ~20 ms at load 4.5; PyTorch's own time also triples there).
On a quiet machine (load 0.6-1.2, three runs each) the ratio was 1.47, 1.49, 1.50 with 1 thread
and 0.96, 0.99, 1.07 with 2 threads.

Exits with status 1 and a message if refimpl's output or gradients differ from PyTorch's by
more than float32 tolerance (max abs difference > 1e-4 × max abs value).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from refimpl import nn
from refimpl.autodiff import value_and_grad

N, C, H, W, F, K = 128, 32, 16, 16, 64, 3
RTOL = 1e-4


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def interleaved(fns: dict, repeats: int) -> dict:
    """Seconds of each function in ``repeats`` rounds, one run of each in turn per round."""
    for f in fns.values():
        f()
    ts = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            ts[k].append(time.perf_counter() - t)
    return {k: np.asarray(v) for k, v in ts.items()}


def steps(x, k, b, g_out):
    """The steps of refimpl's conv2d forward + backward as separate plain-NumPy callables (the
    shapes and layouts ``nn.conv2d`` uses), to split its time; and the input gradient's products
    as one GEMM ``dL/dy · wᵀ`` (the same flops), for the GEMM floor."""
    st = (1, 1)
    cols = nn.im2col(x, K, K, st, "same")                                 # (N·H·W, 9·C)
    w = k.transpose(0, 2, 3, 1).reshape(F, K * K * C).T                   # (9·C, F), rows (m, q, c)
    y_rows = cols @ w
    gh = np.ascontiguousarray(g_out.transpose(0, 2, 3, 1)).reshape(-1, F)  # output gradient, NHWC rows
    return {
        "im2col": lambda: nn.im2col(x, K, K, st, "same"),
        "fwd GEMM": lambda: cols @ w,
        "out transpose+bias": lambda: y_rows.reshape(N, H, W, F).transpose(0, 3, 1, 2) + b[:, None, None],
        "grad transpose": lambda: np.ascontiguousarray(g_out.transpose(0, 2, 3, 1)).reshape(-1, F),
        "dK GEMM": lambda: cols.T @ gh,
        "dx (per-offset GEMMs + adds)": lambda: nn._conv_input_grad(gh, w, x.shape, K, K, st, "same"),
    }, {"dx as one GEMM": lambda: gh @ w.T}


def check(x, k, b, g_out, step, torch):
    """Exit 1 unless refimpl's y, dx, dK agree with PyTorch's within float32 tolerance."""
    xt = torch.from_numpy(x).requires_grad_()
    kt = torch.from_numpy(k).requires_grad_()
    yt = torch.nn.functional.conv2d(xt, kt, torch.from_numpy(b), padding=1)
    yt.backward(torch.from_numpy(g_out))
    grads = step({"x": x, "K": k})[1]
    worst = 0.0
    for name, got, want in (("y", nn.conv2d(x, k, b, padding="same"), yt.detach().numpy()),
                            ("dL/dx", grads["x"], xt.grad.numpy()), ("dL/dK", grads["K"], kt.grad.numpy())):
        if got.shape != want.shape or got.dtype != np.float32:
            sys.exit(f"error: refimpl {name} has shape {got.shape} {got.dtype}, PyTorch {want.shape} float32")
        rel = float(np.abs(got - want).max() / np.abs(want).max())
        worst = max(worst, rel)
        if not rel <= RTOL:
            sys.exit(f"error: refimpl and PyTorch differ in {name}: max |diff| / max |value| = {rel:.2e} > {RTOL:g}")
    return worst


def bench(threads, repeats, x, k, b, g_out, step, torch):
    torch.set_num_threads(threads)
    xt = torch.from_numpy(x).requires_grad_()
    kt = torch.from_numpy(k).requires_grad_()
    bt, gt = torch.from_numpy(b), torch.from_numpy(g_out)

    def torch_step():
        xt.grad = kt.grad = None
        torch.nn.functional.conv2d(xt, kt, bt, padding=1).backward(gt)

    parts, extra = steps(x, k, b, g_out)
    gemms = ("fwd GEMM", "dK GEMM", "dx as one GEMM")
    with threadpool_limits(threads):
        load0 = load()
        ts = interleaved({"refimpl": lambda: step({"x": x, "K": k}), "torch": torch_step, **parts, **extra}, repeats)
        load1 = load()
    ms = {key: 1e3 * float(np.median(v)) for key, v in ts.items()}
    r = ts["refimpl"] / ts["torch"]
    gemm_floor = sum(ts[g] for g in gemms)
    rest = ts["refimpl"] - sum(ts[p] for p in parts)
    print(f"\n{threads} thread(s), {repeats} interleaved rounds; load average {load0} -> {load1} (1/5/15 min, "
          f"{os.cpu_count()} cores)")
    print(f"  refimpl {ms['refimpl']:7.1f} ms   PyTorch {ms['torch']:7.1f} ms   (medians; best {1e3 * ts['refimpl'].min():.1f} "
          f"vs {1e3 * ts['torch'].min():.1f} ms)")
    print(f"  ratio refimpl/PyTorch: median {np.median(r):.2f} (range {r.min():.2f}-{r.max():.2f})  (target <= 1.5)")
    print("  breakdown (ms, medians): " + ", ".join(f"{p} {ms[p]:.1f}" for p in parts)
          + f", rest (autodiff, loss, bias grad) {1e3 * float(np.median(rest)):.1f}")
    fr = gemm_floor / ts["torch"]
    print(f"  GEMMs alone ({' + '.join(gemms)}): {1e3 * float(np.median(gemm_floor)):.1f} ms = {np.median(fr):.2f} "
          f"(range {fr.min():.2f}-{fr.max():.2f}) x PyTorch's total: the floor of the ratio; refimpl is "
          f"{np.median(ts['refimpl'] / gemm_floor):.2f} x its GEMMs")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to run (default 1 2)")
    args = p.parse_args(argv)
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        sys.exit("PyTorch is not installed (pip install torch): nothing to compare with")

    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    k = rng.standard_normal((F, C, K, K), dtype=np.float32) * 0.1
    b = rng.standard_normal(F, dtype=np.float32)
    g_out = rng.standard_normal((N, F, H, W), dtype=np.float32)
    # the library's training path: one reverse sweep giving the gradients of x and K
    step = value_and_grad(lambda q: np.sum(g_out * nn.conv2d(q["x"], q["K"], b, padding="same")))

    print(f"conv2d input {(N, C, H, W)}, {F} filters {K}x{K}, stride 1, same padding, float32")
    err = check(x, k, b, g_out, step, torch)
    print(f"refimpl vs PyTorch: max |diff| / max |value| over y, dL/dx, dL/dK = {err:.1e} (tolerance {RTOL:g})")
    for t in args.threads:
        bench(t, args.repeats, x, k, b, g_out, step, torch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
