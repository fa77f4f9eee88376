"""Thesis ch. 6, Sec. 6.3: playing Atari episodes on ALE's C++ vector environment.

:class:`EnvSettings` is the DeepMind-style preprocessing of the author's code, done inside
``ale_py.AtariVectorEnv``: grayscale, 84×84, frame skip 4 with a max over the last two frames,
a stack of 4, 1–30 no-op frames at reset, one FIRE frame on reset, no sticky actions
(``repeat_action_probability`` 0; the text's "non-deterministic frame-skips" are 0.25, an option),
no life-loss terminal, and **unclipped rewards** (``AtariVectorEnv`` clips by default, which would
destroy the game scores used as fitness).

:class:`Evaluator` is the scheduler. It takes a list of jobs ``(agent, episode_seed)``, keeps them
in a queue, and runs them on S environment slots, split into groups of slots with one vector
environment each (up to eight by default). For a group it receives the group's step, accumulates the
unclipped rewards and agent steps, refills a slot whose episode ended (game over, or the
agent-step cap of training episodes: 3,000) with the next job through a seeded partial reset,
asks the :class:`AgentPolicy` for the active slots' actions (one grouped forward on the CPU, one
population-batched forward on a GPU) and sends them to the group's emulator threads, then turns
to the next group. On the CPU the main thread thus computes one group's forward while the other
group's emulators run, and the seeded resets (below) run on a helper thread while the other
groups play. Results come back in job order, so the same (agent, seed) gives the same return
whatever slot, group or timing it ran in (tested against the serial ``groups=1``).

Why every episode pays a seeded reset (ale-py 0.12, ``src/ale/vector/preprocessed_env.cpp``): a
seeded reset sets ALE's ``random_seed``, reseeds the slot's no-op generator (``std::mt19937``) and
reloads the ROM (``ALEInterface::loadROM``: a new console, whose emulator RNG has a fixed seed,
and a new ``StellaEnvironment``), then ``reset_game``, one FIRE frame and the no-op frames. The
start state is thus a function of the seed alone. The reload costs ~0.1 s of one core, ~80 % of
it in ``PhosphorBlend::makeAveragePalette`` (a colour table rebuilt on every load); the raw
emulator loop never pays it. An unseeded reset (``reset_game`` alone, ~5 ms) would draw the
no-op count from the slot's generator where the slot's previous episodes left it, and restarts
the emulator without reinitialising it (its RAM and RNG carry over), so an episode would depend
on what its slot played before; the scheduler does not use it. ``Evaluator.reset_seconds``,
``act_seconds`` and ``step_seconds`` say where the main thread's wall time went
(``benchmarks/atari.py``).

Budget accounting: every agent step of every job is counted once (``Evaluator.steps``), and the
emulator frames are 4× that (frame skip). Slots left idle at the end of a batch are stepped (with
NOOP) but not counted while their group still has a job; a group without jobs is not stepped.
"""
from __future__ import annotations

import os
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Callable, Sequence

import numpy as np

from . import atari_net

__all__ = ["THESIS_GAMES", "EnvSettings", "require_ale", "available_games", "check_game", "make_vector_env",
           "AgentPolicy", "Evaluator", "RayEvaluator", "RANDOM", "FINAL_SEED_BASE"]

#: the six games of Sec. 6.3 (ALE ROM ids); their ROMs ship inside the ale-py wheel
THESIS_GAMES = ("atlantis", "frostbite", "gravitar", "kangaroo", "seaquest", "venture")
#: an agent that plays uniformly random actions, drawn from a generator seeded by the episode seed
RANDOM = ("random",)
#: the final protocol's fixed episode seeds are FINAL_SEED_BASE + i (the author's code's choice)
FINAL_SEED_BASE = 666666


def require_ale():
    """The ``ale_py`` module, or an ``ImportError`` naming the package to install."""
    try:
        import ale_py
    except ImportError as e:  # pragma: no cover - ale-py is an install requirement
        raise ImportError("thesis ch. 6 needs ale-py and gymnasium[atari] (install requirements of refimpl: "
                          "pip install -e .  — or pip install 'gymnasium[atari]' ale-py)") from e
    return ale_py


def available_games() -> list[str]:
    """The ROM ids ale-py ships."""
    ale_py = require_ale()
    return sorted(ale_py.roms.get_all_rom_ids())


def check_game(name: str) -> str:
    """The ROM id for a game name (``"Frostbite"``, ``"frostbite"``); ``ValueError`` listing the
    thesis' games and all available ROMs if unknown."""
    rom = str(name).lower().replace("-", "_").replace(" ", "_")
    games = available_games()
    if rom not in games:
        raise ValueError(f"unknown Atari game {name!r}. The thesis' games: {', '.join(THESIS_GAMES)}. "
                         f"Available ROMs: {', '.join(games)}")
    return rom


@dataclass(frozen=True)
class EnvSettings:
    """Preprocessing and scheduling settings (defaults: the author's code, Sec. 6.3)."""
    noop_max: int = 30
    frameskip: int = 4
    stack: int = 4
    repeat_action_probability: float = 0.0
    fire_reset: bool = True
    episodic_life: bool = False
    num_envs: int = 8
    num_threads: int = 1

    def as_dict(self) -> dict:
        return asdict(self)


def make_vector_env(game: str, settings: EnvSettings, num_envs: int | None = None):
    """An ``ale_py.AtariVectorEnv`` with ``settings`` and ``reward_clipping=False``; all slots reset
    once without a seed, as ALE requires before any partial reset. That reset is cheap (a seeded
    one rebuilds the emulator, see :class:`Evaluator`) and its no-op draws are not reproducible,
    which does not matter: the scheduler reseeds each slot before using it."""
    ale_py = require_ale()
    n = settings.num_envs if num_envs is None else num_envs
    env = ale_py.AtariVectorEnv(
        check_game(game), n, num_threads=settings.num_threads, reward_clipping=False,
        autoreset_mode="SameStep", noop_max=settings.noop_max, frameskip=settings.frameskip,
        stack_num=settings.stack, maxpool=True, grayscale=True, img_height=84, img_width=84,
        repeat_action_probability=settings.repeat_action_probability, use_fire_reset=settings.fire_reset,
        episodic_life=settings.episodic_life, full_action_space=False)
    env.reset()
    return env


class AgentPolicy:
    """Greedy actions of agents on observation batches.

    An *agent* is a tuple of genomes (one genome: a single network; three: the ensemble of Sec.
    6.3, whose action values are averaged before the argmax), or :data:`RANDOM`.
    ``device="cpu"`` groups the slots by agent: the single-genome agents go through one
    :func:`atari_net.grouped_forward` (one pass through the network per distinct genome on all
    its slots: real batching when many episodes of one agent run, as in re-evaluations and the
    final protocol), bit-identical to one :func:`atari_net.forward` per
    genome; ensembles run :meth:`values`. ``device="gpu"`` runs one
    :func:`atari_net.population_forward` over all slots' genomes (CuPy).
    """

    def __init__(self, spec: atari_net.NetSpec, builder: atari_net.GenomeBuilder, *, device: str = "cpu"):
        if device not in ("cpu", "gpu"):
            raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
        if device == "gpu":
            from ..backend import _require_gpu
            _require_gpu()  # GPUUnavailableError now, not in the middle of a run
        self.spec, self.builder, self.device = spec, builder, device
        self._dev_cache: dict = {}
        self._inf_cache: OrderedDict = OrderedDict()  # genome -> atari_net.inference_weights (CPU)

    def _weights(self, genome):
        key = tuple(genome)
        w = self._inf_cache.get(key)
        if w is None:
            w = self._inf_cache[key] = atari_net.inference_weights(self.spec, self.builder.build(genome))
            while len(self._inf_cache) > max(64, self.builder.cache_size):
                self._inf_cache.popitem(last=False)
        else:
            self._inf_cache.move_to_end(key)
        return w

    def _theta(self, genome):
        theta = self.builder.build(genome)
        if self.device == "cpu":
            return theta
        key = tuple(genome)
        if key not in self._dev_cache:
            from ..backend import to_device
            if len(self._dev_cache) > 256:
                self._dev_cache.clear()
            self._dev_cache[key] = to_device(theta, "gpu")
        return self._dev_cache[key]

    def values(self, agent, obs) -> np.ndarray:
        """Mean action values ``(B, A)`` of the agent's genomes for ``obs (B, 4, 84, 84)``."""
        q = None
        for g in agent:
            v = atari_net.forward(self.spec, self._theta(g), obs)
            q = v if q is None else q + v
        q = q / np.float32(len(agent))
        return q.get() if hasattr(q, "get") else q

    def act(self, agents: Sequence[tuple], obs: np.ndarray) -> np.ndarray:
        """Actions ``(S,)`` for slots whose agents are ``agents`` (no RANDOM entries)."""
        actions = np.zeros(len(agents), np.int64)
        if self.device == "gpu" and all(len(a) == 1 for a in agents):
            import cupy as cp
            thetas = cp.stack([self._theta(a[0]) for a in agents])
            q = atari_net.population_forward(self.spec, thetas, cp.asarray(obs)[:, None])[:, 0]
            return cp.argmax(q, axis=1).get().astype(np.int64)
        groups: dict = {}
        for i, a in enumerate(agents):
            groups.setdefault(a, []).append(i)
        single = [a for a in groups if len(a) == 1]
        if self.device == "cpu" and single:
            order = np.concatenate([groups[a] for a in single])
            q = atari_net.grouped_forward(self.spec, [self._weights(a[0]) for a in single],
                                          [len(groups[a]) for a in single], obs[order])
            actions[order] = np.argmax(q, axis=1)
            groups = {a: idx for a, idx in groups.items() if len(a) != 1}
        for a, idx in groups.items():
            actions[idx] = np.argmax(self.values(a, obs[idx]), axis=1)
        return actions


def _thread_ids() -> set[int] | None:
    """The ids of this process's threads (Linux ``/proc``), or None where they cannot be listed."""
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except (OSError, ValueError):
        return None


def _lower_priority(tids: list[int], nice: int) -> list[int]:
    """Give the threads ``tids`` the nice value ``nice`` (Linux: nice is per thread, and a process
    may always lower its own threads' priority); returns the ids it could change."""
    done = []
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
            done.append(tid)
        except OSError:        # gone, or not allowed: the scheduling is only slower, never different
            pass
    return done


class _Group:
    """One ``AtariVectorEnv`` running the scheduler's slots ``slots`` (a contiguous block).

    ``obs (len(slots), 4, 84, 84)`` uint8 is the block's latest observation; ``sent`` says that
    actions are on the emulator threads (``send`` done, ``recv`` not yet); ``pending`` is the future
    of a seeded partial reset (waited for on a helper thread).
    """

    def __init__(self, env, slots: np.ndarray):
        self.env, self.slots = env, slots
        self.obs = None
        self.sent = False
        self.pending = None


class Evaluator:
    """Runs (agent, episode seed) jobs on ``AtariVectorEnv``\\ s and returns returns and lengths.

    The S slots (``settings.num_envs``) are split into ``groups`` contiguous blocks (default:
    min(8, S)), each its own ``AtariVectorEnv``; the ``settings.num_threads`` emulator threads are
    shared out among them, at least one each (so 8 groups run 8 emulator threads even when
    ``num_threads`` is 2: ``emulator_threads``). A group's cycle is serial (its forward on the
    main thread, then its slots one after another on its emulator thread), so small groups keep
    another group's emulation ready to overlap with each forward: with 2 groups of 4 slots on a
    2-core machine the main thread often waited for a group's four emulator steps.

    With more than one group the emulator threads also run at a lower priority than the main
    thread (``emulator_nice``, default 19; on Linux, where nice is per thread, the threads the
    vector envs start get it): the main thread's forward is the critical path, and at equal
    priority the kernel time-slices it with the runnable emulator threads. The emulators still
    take every cycle the main thread leaves. Measured on the 2-core test machine, side by side
    with the raw vector env (small net, 8 slots, 16 distinct genomes, load 1.5–2.5): 8 groups at
    nice 19 reached 50 % (44–56 %, 6 repetitions) of the raw rate with 3,000-step episodes and
    42 % (36–46 %, 3) with 300-step ones, against 44 % (41–51 %) and 34 % (31–37 %) with 4 groups
    at nice 0 — higher in each of the 9 paired repetitions. Either change alone gave less: 45 %
    with 3,000-step episodes for each; 34 % with 300-step ones for 8 groups at nice 0. The
    priority is relative to the other threads of the process's session where the kernel groups
    sessions (autogroup, the default of most distributions); elsewhere it also yields to other
    processes' work: pass ``emulator_nice=0`` there. With ``groups=1`` nothing is changed (no
    overlap to favour).

    The scheduler visits the groups in turn: it receives a group's step (``recv``), books rewards
    and steps, refills the slots whose episode ended, computes the group's actions on the main
    thread and sends them to its emulator threads (``send``); the other groups' emulators have
    been stepping meanwhile, so the network forward of one group overlaps the emulation of the
    others. A group's seeded partial reset is waited for on a helper thread
    (``AtariVectorEnv.reset`` releases the GIL; the ROM reload itself runs on the group's emulator
    threads) while the other groups play; the main thread waits only when no group can move. With
    ``groups=1`` everything is serial (forward, then step, then reset).

    Every slot's episode is a function of its job alone — a seeded reset, then the agent's
    actions on that slot's observations — so neither the grouping nor the order in which groups
    are visited changes any return or length (tested).

    ``steps`` counts every agent step taken by any job (the budget); ``frames`` = steps ×
    frame skip. ``evaluate`` results are in job order.

    Raises ``ValueError`` for an unknown game (listing the available ones), ``groups`` outside
    1..S, or ``emulator_nice`` outside 0..19 (a higher priority than the main thread's is refused).
    """

    def __init__(self, game: str, policy: AgentPolicy | None, settings: EnvSettings = EnvSettings(), *,
                 groups: int | None = None, emulator_nice: int = 19):
        self.game, self.policy, self.settings = check_game(game), policy, settings
        S = settings.num_envs
        G = min(8, S) if groups is None else int(groups)
        if not 1 <= G <= S:
            raise ValueError(f"groups must be in 1..num_envs={S}, got {groups}")
        if not 0 <= int(emulator_nice) <= 19:
            raise ValueError(f"emulator_nice must be in 0..19 (a lower priority only), got {emulator_nice}")
        threads = [max(1, len(t)) for t in np.array_split(np.arange(settings.num_threads), G)]
        before = _thread_ids()
        self.groups = [_Group(make_vector_env(self.game, replace(settings, num_envs=len(b), num_threads=t)), b)
                       for b, t in zip(np.array_split(np.arange(S), G), threads)]
        self.emulator_threads = sum(threads)
        #: the ids of the threads the vector envs started and the nice value they were given
        #: (empty where threads cannot be listed, or with one group / emulator_nice 0)
        self.emulator_tids: list[int] = []
        if G > 1 and emulator_nice > 0 and before is not None:
            self.emulator_tids = _lower_priority(sorted(_thread_ids() - before), int(emulator_nice))
        self.n_actions = int(self.groups[0].env.single_action_space.n)
        self._pool = None
        if G > 1:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(max_workers=G, thread_name_prefix="ale-reset")
        self.steps = 0
        self.episodes = 0
        # main-thread wall time (perf_counter seconds): waiting for seeded resets, in the policy,
        # and in send/recv (waiting for the emulators)
        self.reset_seconds = self.act_seconds = self.step_seconds = 0.0

    @property
    def frames(self) -> int:
        return self.steps * self.settings.frameskip

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for g in self.groups:
            g.env.close()

    def evaluate(self, jobs: Sequence[tuple], max_steps: int | None = 3000,
                 on_step: Callable[[int], None] | None = None, record: Callable | None = None):
        """Play every job ``(agent, seed)``; ``max_steps`` caps an episode's agent steps (None: until
        game over or ALE's own limit of 108,000 frames). Returns ``(returns float64 (J,), steps int (J,))``.

        ``on_step(n)`` is called after every group's vector step with the number of agent steps it
        counted; ``record(slot_obs)`` (optional) receives the observation of slot 0 after every step
        of its group (for the GIF).
        """
        from concurrent.futures import FIRST_COMPLETED, wait
        from threadpoolctl import threadpool_limits
        S = self.settings.num_envs
        J = len(jobs)
        returns, lengths = np.zeros(J), np.zeros(J, np.int64)
        queue = deque(range(J))
        slot_job = np.full(S, -1)
        agents = [tuple(job[0]) for job in jobs]
        rngs: dict[int, np.random.Generator] = {}

        def assign(g: _Group, local):
            """Next jobs onto the group's local slots ``local``; starts their seeded reset."""
            mask = np.zeros(len(g.slots), bool)
            seeds = []
            for i in local:
                s = g.slots[i]
                rngs.pop(s, None)
                if queue:
                    j = queue.popleft()
                    slot_job[s] = j
                    mask[i] = True
                    seeds.append(int(jobs[j][1]))
                    if agents[j] == RANDOM:
                        rngs[s] = np.random.default_rng(int(jobs[j][1]))
                else:
                    slot_job[s] = -1
            if mask.any():
                reset = partial(g.env.reset, seed=np.asarray(seeds, np.int64), options={"reset_mask": mask})
                if self._pool is None:                    # one group: nothing to overlap with
                    t0 = time.perf_counter()
                    g.obs = reset()[0]
                    self.reset_seconds += time.perf_counter() - t0
                else:
                    g.pending = self._pool.submit(reset)

        def play(g: _Group):
            """Actions for the group's active slots (main thread), sent to its emulator threads."""
            t0 = time.perf_counter()
            actions = np.zeros(len(g.slots), np.int64)
            net = []
            for i, s in enumerate(g.slots):
                j = slot_job[s]
                if j < 0:
                    continue
                if agents[j] == RANDOM:
                    actions[i] = rngs[s].integers(self.n_actions)
                else:
                    net.append(i)
            if net:
                actions[net] = self.policy.act([agents[slot_job[g.slots[i]]] for i in net], g.obs[net])
            t1 = time.perf_counter()
            g.env.send(actions)
            g.sent = True
            self.act_seconds += t1 - t0
            self.step_seconds += time.perf_counter() - t1

        def receive(g: _Group):
            """The group's step: book rewards and agent steps, refill the slots whose episode ended."""
            t0 = time.perf_counter()
            g.obs, r, term, trunc, _ = g.env.recv()
            self.step_seconds += time.perf_counter() - t0
            g.sent = False
            jidx = slot_job[g.slots]
            active = np.flatnonzero(jidx >= 0)
            jidx = jidx[active]
            returns[jidx] += r[active]
            lengths[jidx] += 1
            self.steps += len(active)
            if on_step is not None:
                on_step(len(active))
            if record is not None and g.slots[0] == 0 and slot_job[0] >= 0:
                record(g.obs[0])
            ended = term[active] | trunc[active]
            if max_steps is not None:
                ended |= lengths[jidx] >= max_steps
            if ended.any():
                self.episodes += int(ended.sum())
                assign(g, active[ended])

        for g in self.groups:
            if g.pending is not None:                     # left over by an interrupted call:
                g.pending.result()                        # finish it; every slot is reseeded below
                g.pending = None
            if g.sent:
                g.env.recv()
                g.sent = False
            assign(g, range(len(g.slots)))
        with threadpool_limits(1):
            while True:
                moved = False
                for g in self.groups:
                    if g.pending is not None:
                        if not g.pending.done():
                            continue
                        g.obs = g.pending.result()[0]
                        g.pending = None
                    if g.sent:
                        receive(g)
                        if g.pending is not None:
                            continue
                    if (slot_job[g.slots] >= 0).any():
                        play(g)
                        moved = True
                pending = [g.pending for g in self.groups if g.pending is not None]
                if not moved and not any(g.sent for g in self.groups):
                    if not pending:
                        break
                    t0 = time.perf_counter()
                    wait(pending, return_when=FIRST_COMPLETED)
                    self.reset_seconds += time.perf_counter() - t0
        return returns, lengths


# ------------------------------------------------------------------------------------------------
# Past one machine: Ray actors, each owning a vector environment (optional extra "distributed")
# ------------------------------------------------------------------------------------------------

class _Worker:
    """The body of a Ray actor: an :class:`Evaluator` with its own genome cache (``groups``: see
    :class:`Evaluator`; the returns do not depend on it)."""

    def __init__(self, game, net, n_actions, sigma, settings_dict, groups=None):
        spec = atari_net.NetSpec(n_actions, net)
        self.ev = Evaluator(game, AgentPolicy(spec, atari_net.GenomeBuilder(spec, sigma)), EnvSettings(**settings_dict),
                            groups=groups)

    def evaluate(self, jobs, max_steps):
        return self.ev.evaluate(jobs, max_steps=max_steps)


class RayEvaluator:
    """The :class:`Evaluator` interface on ``n_workers`` Ray actors (``pip install -e .[distributed]``).

    Jobs are (genome seed lists, episode seed): a few integers each, so only integers travel; every
    actor rebuilds θ from the seeds (Sec. 6.2) and returns (return, steps) per job. The jobs are
    split into contiguous chunks, one per actor, and the results come back in job order, equal to
    the local scheduler's for the same jobs. ``address=None`` starts or joins a local Ray;
    ``address="auto"`` joins the cluster this machine belongs to (``ray start --head`` on one node,
    ``ray start --address=HEAD:6379`` on the others) and ``"ray://HEAD:10001"`` connects a client.
    """

    def __init__(self, game: str, spec: atari_net.NetSpec, sigma: float, settings: EnvSettings = EnvSettings(), *,
                 n_workers: int = 2, address: str | None = None, num_cpus_per_worker: float = 1.0):
        try:
            import ray
        except ImportError as e:
            raise ImportError("--workers ray needs Ray: pip install -e '.[distributed]'") from e
        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        actor = ray.remote(num_cpus=num_cpus_per_worker)(_Worker)
        self.settings, self.sigma = settings, float(sigma)   # σ: the actors' genome decoder's
        self.game = check_game(game)
        # An actor with fewer than 2 CPUs has no second core to overlap a group's forward with the
        # others' emulation: one group (serial), instead of 8 emulator threads on 1 reserved CPU.
        groups = 1 if num_cpus_per_worker < 2 else None
        self.workers = [actor.remote(self.game, spec.net, spec.n_actions, sigma, settings.as_dict(), groups)
                        for _ in range(n_workers)]
        self.steps = 0
        self.episodes = 0

    @property
    def frames(self) -> int:
        return self.steps * self.settings.frameskip

    def evaluate(self, jobs, max_steps: int | None = 3000, on_step=None, record=None):
        jobs = [(tuple(tuple(int(s) for s in g) if g != RANDOM else g for g in agent)
                 if tuple(agent) != RANDOM else RANDOM, int(seed)) for agent, seed in jobs]
        chunks = np.array_split(np.arange(len(jobs)), len(self.workers))
        futures = [w.evaluate.remote([jobs[i] for i in c], max_steps)
                   for w, c in zip(self.workers, chunks) if len(c)]
        parts = self.ray.get(futures)
        returns = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
        lengths = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        self.steps += int(lengths.sum())
        self.episodes += len(jobs)
        if on_step is not None:
            on_step(int(lengths.sum()))
        return returns, lengths

    def close(self):
        for w in self.workers:
            self.ray.kill(w)
