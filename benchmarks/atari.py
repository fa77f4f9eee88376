"""Speed of the thesis ch. 6 episode evaluation (refimpl.thesis.atari_env) against the raw emulator.

Measures, side by side in one run, agent steps per second of

  * raw: ``ale_py.AtariVectorEnv`` stepping uniformly random actions (no network, no seeded
    resets; game overs auto-reset inside ``step`` as in the GA), with the same number of
    environments and emulator threads;
  * GA evaluation with the small net (conv 16/32/32, dense 128) and with the Nature net of Sec. 6.3:
    the scheduler of the GA, every slot playing a *different* genome (as in a generation's
    offspring): on the CPU one grouped forward per group of slots (``AgentPolicy``), with
    ``--device gpu`` one population-batched forward (CuPy). The slots run in ``--groups`` vector
    envs (default: the ``Evaluator``'s, 2: one group's forward overlaps the other's emulation;
    1: serial) that share the ``--threads`` emulator threads.

The three are interleaved ``--reps`` times (raw, small, Nature, raw, ...) and each GA rate is
divided by the raw rate of its own repetition; the median ratio and its range are printed, with
the load average before and after (other processes on the machine skew every rate). Episodes
are capped at ``--steps`` agent steps, two per slot, each starting with a seeded reset (ALE
rebuilds the emulator on a seeded reset, ~0.1 s of one core, see ``atari_env``; the raw loop has
none).

``--steps`` defaults to 300 so that a run takes well under a minute: it is the worst case for
the seeded resets (one per 300 agent steps; the quick-scale chapter caps episodes at 200, the
paper's training episodes at 3,000, where a reset costs a tenth as much per step), so also
report ``--steps 3000``.

Per net, a line says where the main thread's wall time went: waiting for seeded resets (only
when no group could play), the policy (network forward), ``send``/``recv`` (waiting for the
emulators), and the scheduler's own Python; another gives the CPU time per agent step of all
threads together (process time) and the cores kept busy, for the GA and for the raw loop. The
CPU times set the floor of the ratio: with every core busy on both sides, GA rate / raw rate =
raw CPU per step / GA CPU per step. Targets of issue 13: the small net ≥ 50 % of the raw rate on
the CPU, ≥ 90 % with ``--device gpu``. Nothing here is asserted.

    python benchmarks/atari.py [--game frostbite] [--envs 8] [--threads 2] [--groups G] [--steps 300] [--reps 3] [--device cpu|gpu]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def raw_rate(game, envs, threads, steps):
    """(agent steps/s, CPU seconds per agent step, number of actions) of the raw vector env."""
    import ale_py
    env = ale_py.AtariVectorEnv(game, envs, num_threads=threads, reward_clipping=False, autoreset_mode="SameStep")
    env.reset()
    rng = np.random.default_rng(0)
    n = env.single_action_space.n
    for _ in range(10):                                  # warm-up
        env.step(rng.integers(0, n, envs))
    c, t = time.process_time(), time.perf_counter()
    for _ in range(2 * steps):                           # as many agent steps as the GA's 2 x envs x steps
        env.step(rng.integers(0, n, envs))
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    env.close()
    return 2 * steps * envs / dt, cpu / (2 * steps * envs), n


def ga_rate(game, envs, threads, groups, steps, net, n_actions, device):
    """(agent steps/s, main-thread wall-time shares, CPU seconds per agent step) for 2 x envs distinct genomes."""
    from refimpl.thesis import atari_env, atari_net
    spec = atari_net.NetSpec(n_actions, net)
    builder = atari_net.GenomeBuilder(spec, 0.005, cache_size=4 * envs)
    ev = atari_env.Evaluator(game, atari_env.AgentPolicy(spec, builder, device=device),
                             atari_env.EnvSettings(num_envs=envs, num_threads=threads), groups=groups)
    jobs = [(((1000 + i,),), i) for i in range(2 * envs)]   # two episodes per slot, all distinct genomes
    for g, _ in jobs:
        builder.build(g[0])
    c, t = time.process_time(), time.perf_counter()
    _, lengths = ev.evaluate(jobs, max_steps=steps)
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    ev.close()
    parts = {"reset wait": ev.reset_seconds, "forward": ev.act_seconds, "send/recv": ev.step_seconds}
    parts["python"] = dt - sum(parts.values())
    return lengths.sum() / dt, {k: v / dt for k, v in parts.items()}, cpu / lengths.sum()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--game", default="frostbite")
    p.add_argument("--envs", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--groups", type=int, default=None, help="vector envs the slots are split into "
                   "(default: the Evaluator's, 2; 1 = serial)")
    p.add_argument("--steps", type=int, default=300, help="agent-step cap of an episode (default 300: see above)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    args = p.parse_args(argv)
    if args.device == "gpu":
        from refimpl.backend import gpu_available
        if not gpu_available():
            print("error: --device gpu needs CuPy and a CUDA device; the GPU benchmark did not run", file=sys.stderr)
            return 2
    load0 = os.getloadavg()
    nets = ("small", "nature")
    raws, rates = [], {n: [] for n in nets}
    for _ in range(args.reps):
        raw, raw_cpu, n_actions = raw_rate(args.game, args.envs, args.threads, args.steps)
        raws.append((raw, raw_cpu))
        for net in nets:
            rates[net].append((*ga_rate(args.game, args.envs, args.threads, args.groups, args.steps, net,
                                        n_actions, args.device), raw))
    load1 = os.getloadavg()
    groups = args.groups or min(2, args.envs)
    print(f"{args.game}, {args.envs} envs in {groups} group(s), {args.threads} emulator threads, device "
          f"{args.device}, {args.reps} interleaved repetitions of {2 * args.envs} episodes capped at {args.steps} "
          f"steps; {os.cpu_count()} CPUs")
    print(f"load average (1/5/15 min) before {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, "
          f"after {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f}")
    raw_r = np.array([x[0] for x in raws])
    raw_c = np.median([x[1] for x in raws])
    print(f"raw AtariVectorEnv, random actions: median {np.median(raw_r):6.0f} agent steps/s "
          f"(range {raw_r.min():.0f}-{raw_r.max():.0f}; {4 * np.median(raw_r):.0f} frames/s); "
          f"CPU {1e3 * raw_c:.3f} ms per agent step, {np.median(raw_r) * raw_c:.2f} cores busy")
    for net in nets:
        r = np.array([x[0] for x in rates[net]])
        ratio = np.array([x[0] / x[3] for x in rates[net]])
        cpu = np.median([x[2] for x in rates[net]])
        share = {k: np.median([x[1][k] for x in rates[net]]) for k in rates[net][0][1]}
        target = ">= 90 %" if args.device == "gpu" else ">= 50 %" if net == "small" else "none"
        print(f"GA evaluation, {net:6s} net: median {np.median(r):6.0f} agent steps/s = {100 * np.median(ratio):5.1f} % "
              f"of raw (range {100 * ratio.min():.1f}-{100 * ratio.max():.1f} %; target {target})")
        print(f"  main thread's wall time: " + ", ".join(f"{k} {100 * v:4.1f} %" for k, v in share.items()))
        print(f"  CPU {1e3 * cpu:.3f} ms per agent step, {np.median(r) * cpu:.2f} cores busy; with all cores busy "
              f"on both sides the ratio would be {100 * raw_c / cpu:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
