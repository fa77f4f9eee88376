"""Speed of the batched population evaluation and of a whole EA generation (thesis Sec. 5.2.3).

For each (λ, batch) setting — by default the issue's λ = 1000 / batch 512 (Table 5.1, validation)
and λ = 2000 / batch 1024 (Table 5.1, test) with the 92,234-parameter network of Sec. 5.3.1 —
this script measures, side by side in one run on one device, in interleaved rounds (each round
runs every variant once, so load from other processes hits them alike):

  * GEMM reference: the evaluation's matrix products alone (``matmul`` of (λ, B, in) by
    (λ, in, out) per layer, first layer with the shared pooled input broadcast exactly as in the
    EA, outputs preallocated), once as one product per layer for the whole population and once
    in the evaluation's chunks; the faster of the two is the machine's float32 batched-GEMM
    throughput at the same FLOPs;
  * evaluation: the library's default ``evaluate_population`` (cache-sized chunks of individuals
    on a CPU, see ``population.default_chunk_size``) and the same in one pass (``chunk_size=None``);
    eval/GEMM = t_GEMM / t_eval, the share of the GEMM throughput it reaches (target ≥ 80 %);
  * generation: a full generation of Algorithm 2 (evaluation, selection, crossover, mutation),
    written into recycled arrays as ``ea.evolve`` does (``out=`` of ``ea.generation``);
    gen/eval = t_generation / t_eval (target ≤ 1.3);
  * Python loop (once, at the end): the same evaluation as a loop over the λ individuals.

Ratios are the median over rounds of the per-round ratio, with their range (min–max); times are
the best round. A breakdown of one generation follows (evaluation; copies of elites and
parents; crossover = mask draw + selection; mutation = noise draw + scale + add; the rest:
selection, the new population's allocation and page faults, bookkeeping), with the random draws
alone timed on the same numbers of genes. The script exits with status 1 and a message if the
default evaluation, the one-pass evaluation and the Python loop disagree (float32: relative
1e-4), or if a generation's elites are not bit-exact copies of the best individuals.

BLAS threads are pinned with threadpoolctl (``--threads``, default 1: on a shared, oversubscribed
machine two OpenBLAS threads that wait for each other are slower than one and very noisy).
``--device gpu`` needs CuPy and a CUDA device and exits with an error message otherwise.

    python benchmarks/population.py [--device cpu|gpu] [--repeats 5] [--threads 1] [--chunk N]
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
from threadpoolctl import threadpool_info, threadpool_limits

from refimpl import nn
from refimpl.backend import GPUUnavailableError, is_gpu_module, raw_module, to_device, tree_leaves, tree_map
from refimpl.thesis.ea import EAConfig


def _sync(xp):
    if is_gpu_module(xp):
        xp.cuda.Stream.null.synchronize()


def _time_interleaved(fns: dict, xp, repeats: int) -> dict:
    """Wall times of each function in ``repeats`` rounds (lists, round by round), the functions
    taking turns within each round after one warm-up call each, so that load from other
    processes affects all of them alike."""
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
    return times


def _ratio(num, den) -> tuple[float, float, float]:
    """Median, min and max over rounds of the per-round ratio num[i] / den[i]."""
    r = np.asarray(num) / np.asarray(den)
    return float(np.median(r)), float(r.min()), float(r.max())


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


def _breakdown(model, state, x, y, cfg, chunk, xp, spare) -> dict:
    """Seconds spent in the parts of one generation: the functions ``ea.generation`` calls are
    wrapped with timers for one call (the library code is unchanged); the draws alone are
    timed on the same numbers of genes."""
    parts = {"evaluation": 0.0, "copies (take)": 0.0, "crossover": 0.0, "mutation": 0.0}
    names = {"evaluate_population": "evaluation", "take": "copies (take)", "uniform_crossover": "crossover",
             "arithmetic_crossover": "crossover", "normal_mutation": "mutation"}
    saved = {n: getattr(ea, n) for n in names}

    def timed(fn, part):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            r = fn(*args, **kwargs)
            _sync(xp)
            parts[part] += time.perf_counter() - t
            return r
        return wrapper
    try:
        for n, part in names.items():
            setattr(ea, n, timed(saved[n], part))
        t = time.perf_counter()
        ea.generation(model, ea.EAState(state.population, state.sigma, state.inherited, 0, np.random.default_rng(3)),
                      x, y, cfg, chunk_size=chunk, out=spare)
        _sync(xp)
        total = time.perf_counter() - t
    finally:
        for n, fn in saved.items():
            setattr(ea, n, fn)
    parts["rest"] = total - sum(parts.values())
    parts["total"] = total
    # the random draws alone, on the numbers of genes one generation draws
    n_e, n_c, n_m = cfg.counts
    genes = sum(int(np.prod(a.shape[1:])) for a in tree_leaves(state.population))
    rng = np.random.default_rng(4)
    if not is_gpu_module(xp):
        buf = np.empty(n_m * genes, dtype=np.float32)
        t = time.perf_counter()
        rng.standard_normal(dtype=np.float32, out=buf)
        parts["  of which noise draw"] = time.perf_counter() - t
        t = time.perf_counter()
        rng.integers(0, 256, size=(n_c * genes + 7) // 8, dtype=np.uint8)
        parts["  of which mask bytes"] = time.perf_counter() - t
        del buf
    return parts


def _check(name, ok, detail):
    if not ok:
        sys.exit(f"error: {name}: the two sides compute different results ({detail})")


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

    spare = tree_map(xp.zeros_like, pop)  # the recycled arrays evolve() writes each generation into

    def one_generation():
        return ea.generation(model, ea.EAState(pop, state.sigma, state.inherited, 0, np.random.default_rng(2)),
                             x, y, cfg, chunk_size=chunk, out=spare)

    fns = {
        "gemm_full": _gemms(xp, h0, weights, lam, batch, lam),        # one product per layer
        "gemm_chunk": _gemms(xp, h0, weights, lam, batch, chunk),     # cache-sized products
        "eval_full": lambda: population.evaluate_population(model, pop, x, y, chunk_size=None),
        "eval": lambda: population.evaluate_population(model, pop, x, y, chunk_size=chunk),
        "generation": one_generation,
    }
    rounds = _time_interleaved(fns, xp, repeats)
    rounds["gemm"] = list(np.minimum(rounds["gemm_full"], rounds["gemm_chunk"]))  # the machine's best
    t = {k: min(v) for k, v in rounds.items()}
    r = {"eval/gemm": _ratio(rounds["gemm"], rounds["eval"]),
         "1pass/gemm": _ratio(rounds["gemm"], rounds["eval_full"]),
         "gen/eval": _ratio(rounds["generation"], rounds["eval"]),
         "gen/gemm": _ratio(rounds["gemm"], rounds["generation"])}

    # the two sides must compute the same losses / a faithful generation
    loss = population.evaluate_population(model, pop, x, y, chunk_size=chunk)
    loss_full = population.evaluate_population(model, pop, x, y, chunk_size=None)
    t0 = time.perf_counter()
    loss_loop = np.array([float(nn.cross_entropy(model.apply(operators.individual(pop, i), x), y)) for i in range(lam)])
    t["loop"] = time.perf_counter() - t0
    _check("chunked vs one-pass evaluation", np.allclose(loss, loss_full, rtol=1e-4, atol=0),
           f"max rel. difference {np.max(np.abs(loss / loss_full - 1)):.2e}")
    _check("batched evaluation vs Python loop", np.allclose(loss, loss_loop, rtol=1e-4, atol=0),
           f"max rel. difference {np.max(np.abs(loss / loss_loop - 1)):.2e}")
    new, info = one_generation()
    n_e = cfg.counts[0]
    for a_new, a_old in zip(tree_leaves(new.population), tree_leaves(pop)):
        _check("generation elites vs best individuals",
               bool(xp.all(a_new[:n_e] == a_old[xp.asarray(np.argsort(-info.fitness, kind="stable")[:n_e])])),
               "an elite differs from its original")
    breakdown = _breakdown(model, state, x, y, cfg, chunk, xp, spare)
    peak = _peak_memory(lambda: population.evaluate_population(model, pop, x, y, chunk_size=chunk), xp)
    return {"lambda": lam, "batch": batch, "chunk": chunk, "gflop": flops / 1e9, **t, "ratios": r,
            "breakdown": breakdown, "peak_gib": peak / 2**30,
            "pop_gib": sum(a.nbytes for a in tree_leaves(pop)) / 2**30}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (threadpoolctl), default 1")
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
    with threadpool_limits(args.threads, user_api="blas"):
        blas = ", ".join(sorted({f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info()
                                        if i["user_api"] == "blas"})) or "unknown"
        print(f"device {args.device}, {os.cpu_count()} CPU cores visible, BLAS: {blas}, load average "
              f"{' '.join(f'{v:.1f}' for v in os.getloadavg())} (1/5/15 min); network 196-256-128-64-10 "
              f"(92,234 parameters), float32, {args.repeats} interleaved rounds")
        for lam, batch in settings:
            r = bench(lam, batch, args.device, args.repeats, args.chunk)
            q = r["ratios"]

            def rr(k, pct=False):
                m, lo, hi = q[k]
                return f"{m:.1%} ({lo:.1%}–{hi:.1%})" if pct else f"{m:.2f} ({lo:.2f}–{hi:.2f})"
            print(f"λ {lam}, B {batch}: {r['gflop']:.1f} GFLOP, chunk {r['chunk']}; best round: GEMM "
                  f"{r['gemm']:.3f} s ({r['gflop'] / r['gemm']:.1f} GFLOP/s; one product per layer "
                  f"{r['gemm_full']:.3f} s, in chunks {r['gemm_chunk']:.3f} s), eval {r['eval']:.3f} s, "
                  f"1-pass {r['eval_full']:.3f} s, generation {r['generation']:.3f} s, loop {r['loop']:.3f} s")
            print(f"    eval/GEMM {rr('eval/gemm', True)} [target >= 80 %]; 1-pass/GEMM {rr('1pass/gemm', True)}; "
                  f"generation/eval {rr('gen/eval')} [target <= 1.3]; generation reaches {rr('gen/gemm', True)} "
                  f"of the GEMM rate; {1 / r['eval']:.2f} evaluations/s, {1 / r['generation']:.2f} generations/s; "
                  f"loop/eval {r['loop'] / r['eval']:.1f}x; peak {r['peak_gib']:.3f} GiB (population "
                  f"{r['pop_gib']:.2f} GiB)")
            print("    breakdown of one generation: " + ", ".join(f"{k} {v:.3f} s" for k, v in r["breakdown"].items()),
                  flush=True)
        print(f"load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())}. Ratios: median of the "
              "per-round ratios (min–max); the sides agree (losses and elites checked).")


if __name__ == "__main__":
    main()
