"""Seconds per epoch training a 784-500-500-10 sigmoid MLP with Adam: refimpl vs. PyTorch CPU.

    python benchmarks/train_mlp.py [--epochs 4] [--threads N] [--n-train 60000]

Both run on the same data (Fashion-MNIST from the data search path, or random data of the
same shape when the files are absent, stated in the output), the same batch size (128), dtype
(float32), learning rate, and thread count, side by side in one run with their epochs
interleaved so that a change in machine load affects both. Prints the median seconds per
epoch for each and the median of the per-epoch ratios refimpl/PyTorch with their range
(target: <= 1.0), the load average, and a breakdown of one refimpl step (the step's matrix
products alone at the machine's GEMM rate, the forward pass, the optimizer, and the rest:
element-wise passes and autodiff bookkeeping). BLAS threads are also pinned with threadpoolctl.
Before timing, one Adam step from the same weights on the same batch is taken by both; the
script exits with status 1 and a message if their losses or updated weights differ (relative
1e-4), i.e. if the two sides do not compute the same thing. PyTorch is optional:
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
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS/OpenMP threads for both sides (default 1: on a shared, oversubscribed "
                        "machine two threads that wait for each other are slower and noisier)")
    p.add_argument("--n-train", type=int, default=60000, help="training examples per epoch")
    return p.parse_args()


args = _parse()
# thread counts must be fixed before NumPy's BLAS and PyTorch start their pools
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402

from threadpoolctl import threadpool_limits  # noqa: E402

from refimpl import data, nn  # noqa: E402
from refimpl.autodiff import value_and_grad  # noqa: E402
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


def check_same_step(x, y):
    """One Adam step of both sides from the same weights on the same batch: equal losses and
    updated weights (relative 1e-4), else exit 1."""
    import torch  # noqa: PLC0415

    model = mlp((1, 28, 28), [500, 500], 10, activation="sigmoid")
    params = model.init(0)
    xb, yb = x[:args.batch_size], y[:args.batch_size]
    r = fit(model, params, xb, yb, epochs=1, batch_size=args.batch_size, optimizer=Adam(1e-3),
            shuffle=False, progress=False)
    loss_ref = r.history["loss"][0]
    t = TorchRun(x, y)
    with torch.no_grad():
        for lin, p in zip([m for m in t.net if isinstance(m, torch.nn.Linear)], [p for p in params if "W" in p]):
            lin.weight.copy_(torch.from_numpy(p["W"].T.copy()))
            lin.bias.copy_(torch.from_numpy(p["b"]))
    loss_t = torch.nn.functional.cross_entropy(t.net(torch.from_numpy(xb)), torch.from_numpy(yb))
    t.opt.zero_grad()
    loss_t.backward()
    t.opt.step()
    ok = abs(float(loss_t.detach()) / loss_ref - 1) < 1e-4
    worst = 0.0
    for lin, p in zip([m for m in t.net if isinstance(m, torch.nn.Linear)], [p for p in r.params if "W" in p]):
        w = lin.weight.detach().numpy().T
        worst = max(worst, float(np.max(np.abs(w - p["W"]))))
    ok &= worst <= 1e-5  # the first Adam step moves each weight by about ±lr = 1e-3
    if not ok:
        sys.exit(f"error: refimpl and PyTorch compute different results for one Adam step "
                 f"(loss {loss_ref:.7g} vs {float(loss_t.detach()):.7g}, largest weight difference {worst:.3g})")
    print(f"check: one Adam step from the same weights agrees (loss {loss_ref:.6f} vs {float(loss_t.detach()):.6f}, "
          f"largest weight difference {worst:.2g})")


def breakdown(x, y, seconds_per_step):
    """Milliseconds of one refimpl step by part (see the module docstring)."""
    model = mlp((1, 28, 28), [500, 500], 10, activation="sigmoid")
    params = model.init(0)
    xb, yb = x[:args.batch_size], y[:args.batch_size].astype(np.int64)
    B = len(xb)
    dense = [p for p in params if "W" in p]
    h = [xb.reshape(B, -1)] + [np.ones((B, p["W"].shape[0]), np.float32) for p in dense[1:]]
    gs = [np.ones((B, p["W"].shape[1]), np.float32) for p in dense]

    def gemms():  # forward x·W, backward xᵀ·g (all layers) and g·Wᵀ (all but the first)
        for k, p in enumerate(dense):
            h[k] @ p["W"]
            h[k].T @ gs[k]
            if k:
                gs[k] @ p["W"].T

    opt = Adam(1e-3)
    state = opt.init(params)
    grads = [{k: np.full_like(v, 1e-3) for k, v in p.items()} for p in params]
    parts = {"GEMMs": (gemms, 0), "forward + loss": (lambda: nn.cross_entropy(model.apply(params, xb), yb), 0),
             "forward + backward": (lambda: value_and_grad(lambda p: nn.cross_entropy(model.apply(p, xb), yb))(params), 0),
             "Adam update": (lambda: opt.update(params, grads, state, inplace=True), 0)}
    times = {}
    for name, (f, _) in parts.items():
        f()
        ts = []
        for _ in range(20):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        times[name] = float(np.median(ts))
    flops = 2 * B * sum(p["W"].size for p in dense) * 3 - 2 * B * dense[0]["W"].size
    total = seconds_per_step
    return (f"breakdown of one refimpl step (ms): whole step {total * 1e3:.2f}; its GEMMs alone "
            f"{times['GEMMs'] * 1e3:.2f} ({flops / times['GEMMs'] / 1e9:.0f} GFLOP/s); forward + loss "
            f"{times['forward + loss'] * 1e3:.2f}; forward + backward {times['forward + backward'] * 1e3:.2f} "
            f"(of which element-wise passes and autodiff bookkeeping ≈ "
            f"{(times['forward + backward'] - times['GEMMs']) * 1e3:.2f}); Adam update {times['Adam update'] * 1e3:.2f}; "
            f"rest (batch gather, bookkeeping, and time lost to other processes over a whole epoch) "
            f"{(total - times['forward + backward'] - times['Adam update']) * 1e3:.2f}")


def main():
    with threadpool_limits(args.threads):
        return _main()


def _main():
    x, y, xt, yt, source = load()
    print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())} (1/5/15 min), {os.cpu_count()} CPU cores visible")
    print(f"data: {source}, {len(x)} training examples, batch {args.batch_size}, float32, "
          f"{args.threads} threads, {args.epochs} epochs each, interleaved (refimpl, PyTorch, refimpl, ...)")
    runs = {"refimpl": RefimplRun(x, y)}
    try:
        runs["PyTorch"] = TorchRun(x, y)
        check_same_step(x, y)
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
    steps = -(-len(x) // args.batch_size)
    print(breakdown(x, y, float(np.median(seconds["refimpl"])) / steps))
    print(f"load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
