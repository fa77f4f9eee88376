"""conv2d forward + backward: refimpl (im2col + GEMM, autograd) vs. PyTorch CPU.

    python benchmarks/conv.py [--repeats 20] [--threads N]

Input (128, 32, 16, 16), 64 filters 3×3, stride 1, 'same' padding, float32, the same thread
count for both, measured side by side in one run. Prints milliseconds per forward+backward
(median of ``--repeats``) and the ratio refimpl/PyTorch (target: <= 2.0). Also checks that
both compute the same output and gradients.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--repeats", type=int, default=20)
p.add_argument("--threads", type=int, default=os.cpu_count())
args = p.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402

from refimpl import nn  # noqa: E402
from refimpl.autodiff import value_and_grad  # noqa: E402

N, C, H, W, F, K = 128, 32, 16, 16, 64, 3


def median_ms(f):
    f()  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    k = rng.standard_normal((F, C, K, K), dtype=np.float32) * 0.1
    b = np.zeros(F, np.float32)
    g_out = rng.standard_normal((N, F, H, W), dtype=np.float32)

    # the library's training path: one reverse sweep giving the gradients of x and K
    step = value_and_grad(lambda p: np.sum(g_out * nn.conv2d(p["x"], p["K"], b, padding="same")))
    ref_ms = median_ms(lambda: step({"x": x, "K": k}))
    print(f"input {(N, C, H, W)}, {F} filters {K}x{K}, same padding, float32, {args.threads} threads")
    print(f"refimpl : {ref_ms:8.2f} ms per forward+backward (median of {args.repeats})")
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        print("PyTorch  : not installed (pip install torch==2.13.0) - no ratio")
        return 0
    torch.set_num_threads(args.threads)
    xt = torch.from_numpy(x).requires_grad_()
    kt = torch.from_numpy(k).requires_grad_()
    gt = torch.from_numpy(g_out)

    def torch_step():
        xt.grad = kt.grad = None
        torch.nn.functional.conv2d(xt, kt, torch.from_numpy(b), padding=1).backward(gt)

    tor_ms = median_ms(torch_step)
    grads = step({"x": x, "K": k})[1]
    gx, gk = grads["x"], grads["K"]
    torch_step()
    err = max(np.abs(gx - xt.grad.numpy()).max() / np.abs(gx).max(),
              np.abs(gk - kt.grad.numpy()).max() / np.abs(gk).max())
    print(f"PyTorch : {tor_ms:8.2f} ms per forward+backward (median of {args.repeats})")
    print(f"max relative gradient difference refimpl vs PyTorch: {err:.2e}")
    print(f"ratio refimpl/PyTorch = {ref_ms / tor_ms:.2f}  (target <= 2.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
