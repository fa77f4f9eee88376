"""Seconds per epoch training a 784-500-500-10 sigmoid MLP with Adam: refimpl vs. PyTorch CPU.

    python benchmarks/train_mlp.py [--epochs 2] [--threads N] [--n-train 60000]

Both run on the same data (Fashion-MNIST from the data search path, or random data of the
same shape when the files are absent, stated in the output), the same batch size (128), dtype
(float32), learning rate, and thread count, side by side in one run. Prints seconds per epoch
for each and the ratio refimpl/PyTorch (target: <= 1.0). PyTorch is optional:
``pip install torch==2.13.0``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def _parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--n-train", type=int, default=60000, help="training examples per epoch")
    return p.parse_args()


args = _parse()
# thread counts must be fixed before NumPy's BLAS and PyTorch start their pools
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402

from refimpl import data  # noqa: E402
from refimpl.model import mlp  # noqa: E402
from refimpl.optim import Adam  # noqa: E402
from refimpl.train import evaluate, fit  # noqa: E402


def load():
    try:
        ds = data.load_fashion_mnist()
        return ds.x_train[:args.n_train], ds.y_train[:args.n_train], ds.x_test, ds.y_test, "Fashion-MNIST"
    except data.DatasetNotFoundError:
        rng = np.random.default_rng(0)
        x = rng.random((args.n_train, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, args.n_train)
        return x, y, x[:1000], y[:1000], "random data (Fashion-MNIST files not found)"


def bench_refimpl(x, y, xt, yt):
    model = mlp((1, 28, 28), [500, 500], 10, activation="sigmoid")
    r = fit(model, model.init(0), x, y, epochs=args.epochs, batch_size=args.batch_size,
            optimizer=Adam(1e-3), progress=False)
    return r.history["seconds"], evaluate(model, r.params, xt, yt)["accuracy"]


def bench_torch(x, y, xt, yt):
    import torch  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 500), torch.nn.Sigmoid(),
                              torch.nn.Linear(500, 500), torch.nn.Sigmoid(), torch.nn.Linear(500, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    rng = np.random.default_rng(0)
    seconds = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(x)))
        for i in range(0, len(x), args.batch_size):
            idx = order[i:i + args.batch_size]
            loss = torch.nn.functional.cross_entropy(net(xs[idx]), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - t0)
    with torch.no_grad():
        acc = (net(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean()
    return seconds, float(acc)


def main():
    x, y, xt, yt, source = load()
    print(f"data: {source}, {len(x)} training examples, batch {args.batch_size}, float32, "
          f"{args.threads} threads, {args.epochs} epochs")
    ref_s, ref_acc = bench_refimpl(x, y, xt, yt)
    ref = min(ref_s)
    print(f"refimpl : {ref:7.2f} s/epoch (best of {len(ref_s)}; all {[round(s, 2) for s in ref_s]}), "
          f"test accuracy {ref_acc:.4f}")
    try:
        import torch  # noqa: F401, PLC0415
    except ImportError:
        print("PyTorch  : not installed (pip install torch==2.13.0) - no ratio")
        return 0
    tor_s, tor_acc = bench_torch(x, y, xt, yt)
    tor = min(tor_s)
    print(f"PyTorch : {tor:7.2f} s/epoch (best of {len(tor_s)}; all {[round(s, 2) for s in tor_s]}), "
          f"test accuracy {tor_acc:.4f}")
    print(f"ratio refimpl/PyTorch = {ref / tor:.2f}  (target <= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
