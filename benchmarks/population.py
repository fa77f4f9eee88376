"""Speed of the batched population evaluation of thesis Sec. 5.2.3 (refimpl.evolution).

For each (λ, batch) setting — by default the issue's λ = 1000 / batch 512 (Table 5.1, validation)
and λ = 2000 / batch 1024 (Table 5.1, test) with the 92,234-parameter network of Sec. 5.3.1 —
this script measures, side by side in one run on one device:

  * evaluation: the library's default ``evolution.evaluate_population`` (batched forward +
    cross-entropy of the whole population; on a CPU in cache-sized chunks of individuals, each
    chunk one batched pass, see ``evolution.default_chunk_size``) → generations per second of the
    evaluation alone; and the same with the whole population in one pass (``chunk_size=None``);
  * generation: a full generation of Algorithm 2 (evaluation, selection, crossover, mutation);
  * GEMM reference: the same matrix products alone (``matmul`` of (λ, B, in) by (λ, in, out) per
    layer, first layer with the shared pooled input broadcast exactly as in the EA, outputs
    preallocated), once as one product per layer for the whole population and once in the
    evaluation's chunks; the faster of the two is the machine's float32 batched-GEMM throughput
    at the same FLOPs, and t_GEMM / t_evaluation the share of it that the evaluation reaches
    (target ≥ 80 %);
  * Python loop: the same evaluation as a loop over the λ individuals (one forward each);
    reported as the speed-up of the default evaluation over it;
  * peak memory of one evaluation: tracemalloc peak of NumPy allocations on the CPU, the CuPy
    memory pool's size on the GPU.

Times are the best of ``--repeats`` rounds after one warm-up, the variants taking turns within
each round (other processes on a shared machine slow some runs; the best run is the least
disturbed). Nothing here is asserted; the numbers depend on the machine (BLAS threads, load).
Set the BLAS thread count explicitly (e.g. ``OPENBLAS_NUM_THREADS=2``); the header prints what
BLAS uses. ``--device gpu`` needs CuPy and a CUDA device and exits with an error message
otherwise.

    python benchmarks/population.py [--device cpu|gpu] [--repeats 5] [--chunk N]
                                  [--settings 1000x512 2000x1024]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc

import numpy as np

from refimpl.thesis import ea, operators, population
from threadpoolctl import threadpool_info

from refimpl import nn
from refimpl.backend import GPUUnavailableError, is_gpu_module, raw_module, to_device, tree_leaves
from refimpl.thesis.ea import EAConfig


def _sync(xp):
    if is_gpu_module(xp):
        xp.cuda.Stream.null.synchronize()


def _time_interleaved(fns: dict, xp, repeats: int) -> dict:
    """Best (minimum) wall time of each function over ``repeats`` rounds, the functions taking
    turns within each round after one warm-up call each, so that load from other processes
    affects all of them alike; the minimum is the least disturbed run."""
    times = {k: [] for k in fns}
    for fn in fns.values():
        fn()
        _sync(xp)
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            _sync(xp)
            times[k].append(time.perf_counter() - t)
    return {k: min(v) for k, v in times.items()}


def _peak_memory(fn, xp) -> float:
    """Peak bytes allocated while ``fn`` runs (see the module docstring)."""
    if is_gpu_module(xp):
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


def _gemms(xp, h0, weights, lam: int, batch: int, chunk: int):
    """The matrix products of the evaluation alone, ``chunk`` individuals per product, into
    preallocated outputs (inputs of the deeper layers: constant arrays of the right shape)."""
    acts = [h0] + [xp.ones((chunk, batch, w.shape[1]), dtype=xp.float32) for w in weights[1:]]
    outs = [xp.empty((chunk, batch, w.shape[2]), dtype=xp.float32) for w in weights]

    def run():
        for s in range(0, lam, chunk):
            n = min(chunk, lam - s)
            for a, w, o in zip(acts, weights, outs):
                xp.matmul(a if a.ndim == 2 else a[:n], w[s:s + n], out=o[:n])
    return run


def bench(lam: int, batch: int, device: str, repeats: int, chunk: int | None, seed: int = 0) -> dict:
    model = population.thesis_network()
    cfg = EAConfig.table_5_1("test").replace(population_size=lam, batch_size=batch)
    state = ea.init_ea(model, cfg, seed, device=device)
    pop = state.population
    rng = np.random.default_rng(seed + 1)
    x, y = to_device([rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)], device)
    xp = raw_module(*tree_leaves(pop))
    weights = [p["W"] for p in pop if "W" in p]
    flops = 2.0 * lam * batch * sum(w.shape[1] * w.shape[2] for w in weights)
    auto = population.default_chunk_size(model, lam, batch, xp)
    chunk = auto if chunk is None else chunk
    h0 = nn.max_pool2d(x, 2).reshape(batch, 196)  # the pooled input, shared by the population

    fns = {
        "gemm_full": _gemms(xp, h0, weights, lam, batch, lam),        # one product per layer
        "gemm_chunk": _gemms(xp, h0, weights, lam, batch, chunk),     # cache-sized products
        "eval_full": lambda: population.evaluate_population(model, pop, x, y, chunk_size=None),
        "eval": lambda: population.evaluate_population(model, pop, x, y, chunk_size=chunk),
    }
    t = _time_interleaved(fns, xp, repeats)

    def one_generation():
        ea.generation(model, ea.EAState(pop, state.sigma, state.inherited, 0, np.random.default_rng(2)),
                      x, y, cfg, chunk_size=chunk)

    def loop():
        for i in range(lam):
            nn.cross_entropy(model.apply(operators.individual(pop, i), x), y)
    t.update(_time_interleaved({"generation": one_generation, "loop": loop}, xp, max(1, repeats // 2)))
    t["gemm"] = min(t["gemm_full"], t["gemm_chunk"])  # the machine's best at these FLOPs
    peak = _peak_memory(lambda: population.evaluate_population(model, pop, x, y, chunk_size=chunk), xp)
    peak_full = _peak_memory(lambda: population.evaluate_population(model, pop, x, y, chunk_size=None), xp)
    return {"lambda": lam, "batch": batch, "chunk": chunk, "gflop": flops / 1e9, **t,
            "peak_gib": peak / 2**30, "peak_full_gib": peak_full / 2**30,
            "pop_gib": sum(a.nbytes for a in tree_leaves(pop)) / 2**30}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--chunk", type=int, default=None,
                   help="individuals per batched pass of the evaluation; default: the library's "
                        "default (evolution.default_chunk_size)")
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
    if args.chunk is not None and args.chunk < 1:
        p.error("--chunk must be >= 1")
    if args.device == "gpu":
        try:
            to_device([np.zeros(1)], "gpu")
        except GPUUnavailableError as e:
            sys.exit(f"error: --device gpu: {e}")
    blas = ", ".join(sorted({f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info()
                                    if i["user_api"] == "blas"})) or "unknown"
    print(f"device {args.device}, {os.cpu_count()} CPU cores visible, BLAS: {blas}, load average "
          f"{os.getloadavg()[0]:.1f}; network 196-256-128-64-10 (92,234 parameters), float32, "
          f"best of {args.repeats}")
    head = (f"{'λ':>5} {'B':>5} {'GFLOP':>6} {'chunk':>5} {'GEMM s':>7} {'GFLOP/s':>7} {'eval s':>7} "
            f"{'gen/s':>6} {'eval/GEMM':>9} {'1-pass s':>8} {'1-pass/GEMM':>11} {'full gen s':>10} "
            f"{'loop s':>7} {'speed-up':>8} {'peak GiB':>8} {'1-pass GiB':>10} {'pop GiB':>7}")
    print(head)
    for lam, batch in settings:
        r = bench(lam, batch, args.device, args.repeats, args.chunk)
        print(f"{lam:>5} {batch:>5} {r['gflop']:>6.1f} {r['chunk']:>5} {r['gemm']:>7.3f} "
              f"{r['gflop'] / r['gemm']:>7.1f} {r['eval']:>7.3f} {1 / r['eval']:>6.2f} "
              f"{r['gemm'] / r['eval']:>9.1%} {r['eval_full']:>8.3f} {r['gemm'] / r['eval_full']:>11.1%} "
              f"{r['generation']:>10.3f} {r['loop']:>7.3f} {r['loop'] / r['eval']:>7.2f}x "
              f"{r['peak_gib']:>8.3f} {r['peak_full_gib']:>10.2f} {r['pop_gib']:>7.2f}")
        print(f"{'':>11} GEMM alone: one product per layer {r['gemm_full']:.3f} s, in chunks of "
              f"{r['chunk']} {r['gemm_chunk']:.3f} s", flush=True)
    print("GEMM = the faster of the bare matrix products done one product per layer for the whole "
          "population or in chunks; eval = the library's default "
          "evaluation (evaluate_population, `chunk` individuals per batched pass); eval/GEMM = the "
          "share of the machine's batched-GEMM throughput it reaches (target >= 80 %); 1-pass = the "
          "same evaluation with the whole population in one pass (chunk_size=None); speed-up = Python "
          "loop over individuals / eval; peak = tracemalloc peak of one evaluation.")


if __name__ == "__main__":
    main()
