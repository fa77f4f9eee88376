"""Seconds per epoch training a 784-500-500-10 sigmoid MLP with Adam: refimpl vs. PyTorch CPU.

    python benchmarks/train_mlp.py [--epochs 4] [--threads N] [--n-train 60000]

Both run on the same data (Fashion-MNIST from the data search path, or random data of the
same shape when the files are absent, stated in the output), the same batch size (128), dtype
(float32), learning rate, and thread count, side by side in one run with their epochs
interleaved so that a change in machine load affects both. Prints the median seconds per
epoch for each and the median per-epoch ratio refimpl/PyTorch (target: <= 1.0). PyTorch is optional:
``pip install torch==2.13.0``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def _parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=4)
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


class RefimplRun:
    """refimpl: one epoch of ``fit`` per call, continuing the shuffling stream and Adam state."""

    def __init__(self, x, y):
        self.x, self.y = x, y
        self.model = mlp((1, 28, 28), [500, 500], 10, activation="sigmoid")
        self.params, self.opt_state = self.model.init(0), None
        self.rng = np.random.default_rng(0)

    def epoch(self):
        t0 = time.perf_counter()
        r = fit(self.model, self.params, self.x, self.y, epochs=1, batch_size=args.batch_size,
                optimizer=Adam(1e-3), seed=self.rng, opt_state=self.opt_state, progress=False)
        self.params, self.opt_state = r.params, r.opt_state
        return time.perf_counter() - t0

    def accuracy(self, xt, yt):
        return evaluate(self.model, self.params, xt, yt)["accuracy"]


class TorchRun:
    """PyTorch CPU: the same network, data, batch size, dtype, optimizer and thread count."""

    def __init__(self, x, y):
        import torch  # noqa: PLC0415

        self.torch = torch
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        nn_ = torch.nn
        self.net = nn_.Sequential(nn_.Flatten(), nn_.Linear(784, 500), nn_.Sigmoid(),
                                  nn_.Linear(500, 500), nn_.Sigmoid(), nn_.Linear(500, 10))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.rng = np.random.default_rng(0)

    def epoch(self):
        t0 = time.perf_counter()
        order = self.torch.from_numpy(self.rng.permutation(len(self.x)))
        for i in range(0, len(self.x), args.batch_size):
            idx = order[i:i + args.batch_size]
            loss = self.torch.nn.functional.cross_entropy(self.net(self.x[idx]), self.y[idx])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        return time.perf_counter() - t0

    def accuracy(self, xt, yt):
        with self.torch.no_grad():
            return float((self.net(self.torch.from_numpy(xt)).argmax(1).numpy() == yt).mean())


def main():
    x, y, xt, yt, source = load()
    print(f"data: {source}, {len(x)} training examples, batch {args.batch_size}, float32, "
          f"{args.threads} threads, {args.epochs} epochs each, interleaved (refimpl, PyTorch, refimpl, ...)")
    runs = {"refimpl": RefimplRun(x, y)}
    try:
        runs["PyTorch"] = TorchRun(x, y)
    except ImportError:
        print("PyTorch  : not installed (pip install torch==2.13.0) - no ratio")
    seconds = {name: [] for name in runs}
    for _ in range(args.epochs):  # alternate epochs so that machine load affects both alike
        for name, run in runs.items():
            seconds[name].append(run.epoch())
    for name, run in runs.items():
        s = seconds[name]
        print(f"{name:8s}: {np.median(s):6.2f} s/epoch (median; all {[round(v, 2) for v in s]}), "
              f"test accuracy {run.accuracy(xt, yt):.4f}")
    if "PyTorch" in runs:
        ratios = [a / b for a, b in zip(seconds["refimpl"], seconds["PyTorch"])]
        print(f"ratio refimpl/PyTorch = {np.median(ratios):.2f} (median of per-epoch pairs; "
              f"range {min(ratios):.2f}-{max(ratios):.2f}; target <= 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
