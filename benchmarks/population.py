"""Speed of the batched population evaluation of thesis Sec. 5.2.3 (refimpl.evolution).

For each (λ, batch) setting — by default the issue's λ = 1000 / batch 512 (Table 5.1, validation)
and λ = 2000 / batch 1024 (Table 5.1, test) with the 92,234-parameter network of Sec. 5.3.1 —
this script measures, side by side in one run on one device:

  * evaluation: one batched forward + cross-entropy of the whole population
    (``evolution.evaluate_population``) → generations per second of the evaluation alone;
  * generation: a full generation of Algorithm 2 (evaluation, selection, crossover, mutation);
  * GEMM reference: the same matrix products alone (``matmul`` of (λ, B, in) by (λ, in, out) per
    layer, first layer with the shared input broadcast exactly as in the EA), i.e. the machine's
    float32 batched-GEMM throughput at the same FLOPs; the ratio t_GEMM / t_evaluation is the
    share of that throughput the EA's evaluation reaches (target ≥ 80 %);
  * Python loop: the same evaluation as a loop over the λ individuals (one forward each);
    reported as the batched speed-up;
  * peak memory of one evaluation: tracemalloc peak of NumPy allocations on the CPU, the CuPy
    memory pool's size on the GPU.

Times are the median of ``--repeats`` runs after one warm-up. Nothing here is asserted; the
numbers depend on the machine (BLAS threads, other load). ``--device gpu`` needs CuPy and a
CUDA device and exits with an error message otherwise.

    python benchmarks/population.py [--device cpu|gpu] [--repeats 3] [--settings 1000x512 2000x1024]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc

import numpy as np

from refimpl import evolution as ev
from refimpl.backend import GPUUnavailableError, array_module, to_device, tree_leaves
from refimpl.evolution import EAConfig


def _sync(xp):
    if getattr(xp, "__name__", "") == "cupy":
        xp.cuda.Stream.null.synchronize()


def _timeit(fn, xp, repeats):
    fn()
    _sync(xp)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(xp)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _peak_memory(fn, xp) -> float:
    """Peak bytes allocated while ``fn`` runs (see the module docstring)."""
    if getattr(xp, "__name__", "") == "cupy":
        pool = xp.get_default_memory_pool()
        pool.free_all_blocks()
        before = pool.total_bytes()
        fn()
        _sync(xp)
        return float(pool.total_bytes() - before)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return float(peak - base)


def bench(lam: int, batch: int, device: str, repeats: int, chunk: int, seed: int = 0) -> dict:
    model = ev.thesis_network()
    cfg = EAConfig.table_5_1("test").replace(population_size=lam, batch_size=batch)
    state = ev.init_ea(model, cfg, seed, device=device)
    pop = state.population
    rng = np.random.default_rng(seed + 1)
    x, y = to_device([rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)], device)
    xp = array_module(*tree_leaves(pop))
    dims = [p["W"].shape[1:] for p in pop if "W" in p]
    flops = 2.0 * lam * batch * sum(i * o for i, o in dims)

    t_eval = _timeit(lambda: ev.evaluate_population(model, pop, x, y), xp, repeats)
    t_chunk = _timeit(lambda: ev.evaluate_population(model, pop, x, y, chunk_size=chunk), xp, repeats)

    def one_generation():
        ev.generation(model, ev.EAState(pop, state.sigma, state.inherited, 0, np.random.default_rng(2)), x, y, cfg)
    t_gen = _timeit(one_generation, xp, repeats)

    # the same matrix products alone: pooled input (B, 196) broadcast against (λ, 196, 256), then
    # (λ, B, in) @ (λ, in, out) for the deeper layers
    raw = xp if getattr(xp, "__name__", "") == "cupy" else np  # plain NumPy for matmul(out=...)
    from refimpl import nn
    pooled = nn.max_pool2d(x, 2).reshape(batch, 196)
    acts = [pooled] + [raw.ones((lam, batch, i), dtype=raw.float32) for i, _ in dims[1:]]
    outs = [raw.empty((lam, batch, o), dtype=raw.float32) for _, o in dims]
    weights = [p["W"] for p in pop if "W" in p]

    def gemms():
        for a, w, o in zip(acts, weights, outs):
            raw.matmul(a, w, out=o)
    t_gemm = _timeit(gemms, xp, repeats)
    del acts, outs

    def loop():
        for i in range(lam):
            nn.cross_entropy(model.apply(ev.individual(pop, i), x), y)
    t_loop = _timeit(loop, xp, max(1, repeats // 2))

    peak = _peak_memory(lambda: ev.evaluate_population(model, pop, x, y), xp)
    return {"lambda": lam, "batch": batch, "gflop": flops / 1e9, "t_eval": t_eval, "t_chunk": t_chunk, "t_gen": t_gen,
            "t_gemm": t_gemm, "t_loop": t_loop, "peak_gib": peak / 2**30,
            "pop_gib": sum(a.nbytes for a in tree_leaves(pop)) / 2**30}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--chunk", type=int, default=32,
                   help="also time the evaluation in chunks of this many individuals (each chunk one batched "
                        "pass; keeps activations in cache on a CPU), default 32")
    p.add_argument("--settings", nargs="+", default=["1000x512", "2000x1024"],
                   help="λxB pairs (default: the issue's 1000x512 and 2000x1024)")
    args = p.parse_args(argv)
    settings = []
    for s in args.settings:
        try:
            lam, batch = (int(v) for v in s.lower().split("x"))
        except ValueError:
            p.error(f"--settings entries look like 1000x512, got {s!r}")
        settings.append((lam, batch))
    if args.device == "gpu":
        try:
            to_device([np.zeros(1)], "gpu")
        except GPUUnavailableError as e:
            sys.exit(f"error: --device gpu: {e}")
    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS") or "default"
    print(f"device {args.device}, {os.cpu_count()} CPU cores visible, BLAS threads {threads}, "
          f"network 196-256-128-64-10 (92,234 parameters), float32, median of {args.repeats}")
    head = (f"{'λ':>5} {'B':>5} {'GFLOP':>7} {'eval s':>8} {'eval gen/s':>10} {'GEMM s':>8} "
            f"{'GEMM GFLOP/s':>12} {'eval/GEMM':>9} {'chunked s':>9} {'chk/GEMM':>8} {'full gen s':>10} {'loop s':>8} {'speed-up':>8} "
            f"{'peak GiB':>8} {'pop GiB':>7}")
    print(head)
    for lam, batch in settings:
        r = bench(lam, batch, args.device, args.repeats, args.chunk)
        print(f"{lam:>5} {batch:>5} {r['gflop']:>7.1f} {r['t_eval']:>8.3f} {1 / r['t_eval']:>10.3f} "
              f"{r['t_gemm']:>8.3f} {r['gflop'] / r['t_gemm']:>12.1f} {r['t_gemm'] / r['t_eval']:>9.1%} {r['t_chunk']:>9.3f} {r['t_gemm'] / r['t_chunk']:>8.1%} "
              f"{r['t_gen']:>10.3f} {r['t_loop']:>8.3f} {r['t_loop'] / r['t_eval']:>7.2f}x "
              f"{r['peak_gib']:>8.2f} {r['pop_gib']:>7.2f}", flush=True)
    print("eval/GEMM = time of the bare matrix products / time of the EA's batched evaluation "
          "(target >= 80 %); chunked: the same with --chunk individuals per pass; "
          "speed-up = Python loop over individuals / batched (one-pass) evaluation.")


if __name__ == "__main__":
    main()
