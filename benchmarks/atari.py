"""Speed of the thesis ch. 6 episode evaluation (refimpl.thesis.atari_env) against the raw emulator.

Measures, side by side in one run, agent steps per second of

  * raw: ``ale_py.AtariVectorEnv`` stepping uniformly random actions (no network, no seeded
    resets; game overs auto-reset inside ``step`` as in the GA), with the same number of
    environments and emulator threads;
  * GA evaluation with the small net (conv 16/32/32, dense 128) and with the Nature net of Sec. 6.3:
    the scheduler of the GA, every slot playing a *different* genome (as in a generation's
    offspring): on the CPU one grouped forward per group of slots (``AgentPolicy``), with
    ``--device gpu`` one population-batched forward (CuPy). The slots run in ``--groups`` vector
    envs (default: the ``Evaluator``'s, 8: one group's forward overlaps the others' emulation;
    1: serial) that share the ``--threads`` emulator threads, at least one each; the raw loop
    gets as many threads as the GA's emulators have in all (8 with the defaults), so that both
    sides run the same number of emulator threads. The GA's emulator threads run at nice
    ``--emulator-nice`` (default 19, the ``Evaluator``'s: below the main thread, whose forward is
    the critical path; 0 for equal priority, to compare).

The three are interleaved ``--reps`` times (raw, small, Nature, raw, ...) and each GA rate is
divided by the raw rate of its own repetition; the median ratio and its range are printed, with
the load average before and after (other processes on the machine skew every rate). Episodes
are capped at ``--steps`` agent steps, two per slot, each starting with a seeded reset (ALE
rebuilds the emulator on a seeded reset, ~0.1 s of one core, see ``atari_env``; the raw loop has
none).

``--steps`` defaults to 3,000, the GA's cap on training episodes (Sec. 6.3; Frostbite episodes
end earlier at game over, ~1,900 steps on average here): the workload of the GA's evaluation
(about 3 minutes with 3 repetitions). ``--steps 300`` (under a minute) is the worst case for the
seeded resets, one per 300 agent steps, each ~0.1 s of an emulator thread: on the 2-core test
machine that alone bounds any evaluator below ~50 % of the raw rate (the bound line), so report
it too.

Per net, a line says where the main thread's wall time went: waiting for seeded resets (only
when no group could play), the policy (network forward), ``send``/``recv`` (waiting for the
emulators), and the scheduler's own Python. On the CPU each repetition also times the units of
work alone (``unit_costs``: an emulator agent step on one thread, a seeded reset, a slot's
forward), and a last line per net gives the bound they set: with perfect overlap on P cores
(P = min(CPUs, emulator threads + 1)) the GA could reach P / (emulator + forward + reset / episode
length) agent steps/s, and how much of it the GA reached. Targets of issue 13: the small net ≥ 50 % of the raw rate on
the CPU, ≥ 90 % with ``--device gpu``. Nothing here is asserted.

    python benchmarks/atari.py [--game frostbite] [--envs 8] [--threads 2] [--groups G] [--steps 3000] [--reps 3] [--emulator-nice 19] [--device cpu|gpu]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def raw_rate(game, envs, threads, steps):
    """(agent steps/s, number of actions) of the raw vector env."""
    import ale_py
    env = ale_py.AtariVectorEnv(game, envs, num_threads=threads, reward_clipping=False, autoreset_mode="SameStep")
    env.reset()
    rng = np.random.default_rng(0)
    n = env.single_action_space.n
    for _ in range(10):                                  # warm-up
        env.step(rng.integers(0, n, envs))
    t = time.perf_counter()
    for _ in range(2 * steps):                           # as many agent steps as the GA's 2 x envs x steps
        env.step(rng.integers(0, n, envs))
    rate = 2 * steps * envs / (time.perf_counter() - t)
    env.close()
    return rate, n


def ga_rate(game, envs, threads, groups, steps, net, n_actions, device, nice):
    """(agent steps/s, main-thread wall-time shares, mean episode length) for 2 x envs distinct genomes."""
    from refimpl.thesis import atari_env, atari_net
    spec = atari_net.NetSpec(n_actions, net)
    builder = atari_net.GenomeBuilder(spec, 0.005, cache_size=4 * envs)
    ev = atari_env.Evaluator(game, atari_env.AgentPolicy(spec, builder, device=device),
                             atari_env.EnvSettings(num_envs=envs, num_threads=threads), groups=groups,
                             emulator_nice=nice)
    jobs = [(((1000 + i,),), i) for i in range(2 * envs)]   # two episodes per slot, all distinct genomes
    for g, _ in jobs:
        builder.build(g[0])
    t = time.perf_counter()
    _, lengths = ev.evaluate(jobs, max_steps=steps)
    dt = time.perf_counter() - t
    ev.close()
    parts = {"reset wait": ev.reset_seconds, "forward": ev.act_seconds, "send/recv": ev.step_seconds}
    parts["python"] = dt - sum(parts.values())
    return lengths.sum() / dt, {k: v / dt for k, v in parts.items()}, lengths.mean()


def unit_costs(game, envs, groups, n_actions, nets):
    """Seconds of one core per unit of the GA's work, each measured alone: an agent step of the
    emulator (``envs`` envs on 1 thread, random actions), a seeded reset of one env, and per net
    a slot's forward (``AgentPolicy.act`` on one group's slots, all distinct genomes, on real
    observations, BLAS on 1 thread as in the scheduler). With perfect overlap on P cores the GA
    could reach P / (emulator + forward + reset / episode length) agent steps/s."""
    import ale_py
    from threadpoolctl import threadpool_limits
    from refimpl.thesis import atari_env, atari_net
    env = ale_py.AtariVectorEnv(game, envs, num_threads=1, reward_clipping=False, autoreset_mode="SameStep")
    env.reset()
    rng = np.random.default_rng(1)
    for _ in range(10):
        obs, *_ = env.step(rng.integers(0, n_actions, envs))
    t = time.perf_counter()
    for _ in range(100):
        obs, *_ = env.step(rng.integers(0, n_actions, envs))
    costs = {"emulator": (time.perf_counter() - t) / (100 * envs)}
    env.close()
    one = ale_py.AtariVectorEnv(game, 1, num_threads=1, reward_clipping=False, autoreset_mode="SameStep")
    one.reset()
    t = time.perf_counter()
    for seed in range(3):
        one.reset(seed=np.array([seed]))
    costs["reset"] = (time.perf_counter() - t) / 3
    one.close()
    k = -(-envs // groups)                                     # slots of one group
    for net in nets:
        spec = atari_net.NetSpec(n_actions, net)
        policy = atari_env.AgentPolicy(spec, atari_net.GenomeBuilder(spec, 0.005, cache_size=2 * k))
        agents = [((2000 + i,),) for i in range(2 * k)]
        with threadpool_limits(1):
            for a in (agents[:k], agents[k:]):
                policy.act(a, obs[:k])
            t = time.perf_counter()
            for i in range(20):
                policy.act(agents[k * (i % 2):k * (i % 2) + k], obs[:k])
        costs[net] = (time.perf_counter() - t) / (20 * k)
    return costs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--game", default="frostbite")
    p.add_argument("--envs", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--groups", type=int, default=None, help="vector envs the slots are split into "
                   "(default: the Evaluator's, min(8, envs); 1 = serial)")
    p.add_argument("--steps", type=int, default=3000, help="agent-step cap of an episode (default 3000, the GA's "
                   "training cap; 300: the seeded resets' worst case, see above)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--emulator-nice", type=int, default=19, help="nice value of the GA's emulator threads "
                   "(default 19, the Evaluator's: below the main thread, whose forward is the critical path; "
                   "0: equal priority)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    args = p.parse_args(argv)
    if args.device == "gpu":
        from refimpl.backend import gpu_available
        if not gpu_available():
            print("error: --device gpu needs CuPy and a CUDA device; the GPU benchmark did not run", file=sys.stderr)
            return 2
    load0 = os.getloadavg()
    nets = ("small", "nature")
    raws, rates, costs = [], {n: [] for n in nets}, []
    groups = args.groups or min(8, args.envs)
    threads = max(args.threads, groups)                  # the GA's emulator threads in all (Evaluator)
    for _ in range(args.reps):
        raw, n_actions = raw_rate(args.game, args.envs, threads, args.steps)
        raws.append(raw)
        for net in nets:
            rates[net].append((*ga_rate(args.game, args.envs, args.threads, groups, args.steps, net,
                                        n_actions, args.device, args.emulator_nice), raw))
        if args.device == "cpu":
            costs.append(unit_costs(args.game, args.envs, groups, n_actions, nets))
    load1 = os.getloadavg()
    print(f"{args.game}, {args.envs} envs in {groups} group(s), {threads} emulator threads (nice "
          f"{args.emulator_nice if groups > 1 else 0}), device "
          f"{args.device}, {args.reps} interleaved repetitions of {2 * args.envs} episodes capped at {args.steps} "
          f"steps; {os.cpu_count()} CPUs")
    print(f"load average (1/5/15 min) before {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, "
          f"after {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f}")
    raws = np.array(raws)
    print(f"raw AtariVectorEnv, random actions: median {np.median(raws):6.0f} agent steps/s "
          f"(range {raws.min():.0f}-{raws.max():.0f}; {4 * np.median(raws):.0f} frames/s)")
    cost = {k: np.median([c[k] for c in costs]) for k in costs[0]} if costs else None
    cores = min(os.cpu_count() or 1, threads + 1)
    if cost:
        print(f"one core's time per unit, each alone: emulator {1e3 * cost['emulator']:.3f} ms per agent step, "
              f"seeded reset {1e3 * cost['reset']:.0f} ms, forward per slot " +
              ", ".join(f"{net} {1e3 * cost[net]:.3f} ms" for net in nets))
    for net in nets:
        r = np.array([x[0] for x in rates[net]])
        ratio = np.array([x[0] / x[3] for x in rates[net]])
        length = np.median([x[2] for x in rates[net]])
        share = {k: np.median([x[1][k] for x in rates[net]]) for k in rates[net][0][1]}
        target = ">= 90 %" if args.device == "gpu" else ">= 50 %" if net == "small" else "none"
        print(f"GA evaluation, {net:6s} net: median {np.median(r):6.0f} agent steps/s = {100 * np.median(ratio):5.1f} % "
              f"of raw (range {100 * ratio.min():.1f}-{100 * ratio.max():.1f} %; target {target})")
        print(f"  main thread's wall time: " + ", ".join(f"{k} {100 * v:4.1f} %" for k, v in share.items()))
        if cost:
            bound = cores / (cost["emulator"] + cost[net] + cost["reset"] / length)
            print(f"  bound with perfect overlap on {cores} cores (episodes of {length:.0f} steps): {bound:.0f} agent "
                  f"steps/s = {100 * bound / np.median(raws):.1f} % of raw; the GA reached "
                  f"{100 * np.median(r) / bound:.0f} % of it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
