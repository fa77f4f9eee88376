"""Thesis ch. 6: the ALE vector-environment scheduler (few agent steps; Frostbite)."""
import os
import sys
import threading

import numpy as np
import pytest

pytest.importorskip("ale_py")

from refimpl.thesis import atari_env as ae  # noqa: E402
from refimpl.thesis import atari_net as an  # noqa: E402


def gym_rollout(seed, actions, noops, max_steps):
    """Single-environment gymnasium rollout: FrostbiteNoFrameskip-v4 + AtariPreprocessing + frame
    stack, with ``noops`` raw NOOP frames and one raw FIRE frame after reset (the vector env's
    reset), unclipped rewards."""
    gym = pytest.importorskip("gymnasium")
    pytest.importorskip("cv2")
    import ale_py
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation
    gym.register_envs(ale_py)
    base = gym.make("FrostbiteNoFrameskip-v4")
    env = FrameStackObservation(AtariPreprocessing(base, noop_max=0, frame_skip=4, screen_size=84,
                                                   terminal_on_life_loss=False, grayscale_obs=True), 4)
    env.reset(seed=seed)
    for _ in range(noops):
        base.unwrapped.ale.act(0)
    base.unwrapped.ale.act(1)
    ret, obs_last = 0.0, None
    for t, a in enumerate(actions[:max_steps]):
        obs_last, r, term, trunc, _ = env.step(int(a))
        ret += r
        if term or trunc:
            return ret, t + 1, obs_last
    return ret, min(len(actions), max_steps), obs_last


def test_vector_env_matches_gymnasium_single_env():
    import ale_py
    seed, steps = 3, 150
    acts = np.random.default_rng(0).integers(0, 18, steps)
    env = ale_py.AtariVectorEnv("frostbite", 1, num_threads=1, reward_clipping=False, autoreset_mode="SameStep")
    _, info = env.reset(seed=np.array([seed]))
    noops = int(info["episode_frame_number"][0]) - 1        # 1-30 no-op frames, then one FIRE frame
    assert 1 <= noops <= 30
    ret, obs = 0.0, None
    for a in acts:
        obs, r, term, trunc, _ = env.step(np.array([a]))
        ret += float(r[0])
        assert not (term[0] or trunc[0])
    env.close()
    g_ret, g_len, g_obs = gym_rollout(seed, acts, noops, steps)
    assert g_len == steps and ret == g_ret
    assert np.array_equal(obs[0], np.asarray(g_obs))    # the same preprocessed 4x84x84 stack


def test_scheduler_returns_equal_gymnasium_rollouts_for_a_fixed_policy():
    """Jobs of a fixed open-loop policy (action a_t = rng(seed) draws) through the scheduler
    equal single-env gymnasium rollouts with the same seeds and caps."""
    import ale_py
    seeds, cap = [3, 8, 21], 600     # random play loses all lives in ~300 steps: the game-over path too
    spec = an.NetSpec(18, "small")
    ev = ae.Evaluator("frostbite", ae.AgentPolicy(spec, an.GenomeBuilder(spec, 0.005)), ae.EnvSettings(num_envs=2))
    rets, lens = ev.evaluate([(ae.RANDOM, s) for s in seeds], max_steps=cap)
    assert ev.steps == lens.sum()
    ev.close()
    for s, r, n in zip(seeds, rets, lens):
        env = ale_py.AtariVectorEnv("frostbite", 1, num_threads=1, reward_clipping=False, autoreset_mode="SameStep")
        _, info = env.reset(seed=np.array([s]))
        env.close()
        acts = np.random.default_rng(s).integers(18, size=cap)
        g_ret, g_len, _ = gym_rollout(s, acts, int(info["episode_frame_number"][0]) - 1, cap)
        assert (r, n) == (g_ret, g_len)
    assert (lens < cap).any()                 # at least one episode ended by game over


def test_same_genome_and_seed_same_return_in_any_slot_and_exact_step_count():
    spec = an.NetSpec(18, "small")
    ev = ae.Evaluator("Frostbite", ae.AgentPolicy(spec, an.GenomeBuilder(spec, 0.005)), ae.EnvSettings(num_envs=3))
    jobs = [(((1,),), 10), (ae.RANDOM, 10), (((2, 5),), 11), (ae.RANDOM, 12), (((1,),), 10)]
    r1, l1 = ev.evaluate(jobs, max_steps=60)
    r2, l2 = ev.evaluate(jobs[::-1], max_steps=60)
    assert np.array_equal(r1, r2[::-1]) and np.array_equal(l1, l2[::-1])
    assert r1[0] == r1[4] and l1[0] == l1[4]
    assert ev.steps == l1.sum() + l2.sum()                   # every agent step counted exactly once
    assert ev.frames == 4 * ev.steps
    assert (l1 <= 60).all()
    ev.close()


class ObsHashPolicy:
    """Actions from each slot's own observation and agent (a hash of the newest frame): any mix-up
    of slots, observations or agents between groups changes the play and the returns."""

    def act(self, agents, obs):
        h = obs[:, -1, ::4, ::4].astype(np.int64).sum(axis=(1, 2))
        return (h // 3 + 5 * np.array([a[0][-1] for a in agents])) % 18


def test_pipelined_groups_give_the_serial_results_and_count_every_step_once():
    """The slots split into groups (one vector env each, the actions of one group computed while
    the others emulate, seeded resets on a helper thread): every job's return and length equal
    the serial scheduler's (groups=1), whatever the grouping, and on_step sees each agent step once."""
    jobs = [(((1,),), 10), (ae.RANDOM, 10), (((2, 5),), 11), (ae.RANDOM, 12), (((1,),), 10),
            (((3,),), 13), (((2, 5),), 14)]
    results = []
    for envs, groups in [(3, 1), (3, 2), (4, 3), (2, 2)]:
        ev = ae.Evaluator("frostbite", ObsHashPolicy(), ae.EnvSettings(num_envs=envs), groups=groups)
        assert len(ev.groups) == groups
        seen = []
        r, n = ev.evaluate(jobs, max_steps=320, on_step=seen.append)
        assert ev.steps == n.sum() == sum(seen) and ev.episodes == len(jobs)
        ev.close()
        results.append((r, n))
    r, n = results[0]
    assert len(set(r)) >= 4 and (n < 320).any() and (n == 320).any()   # varied play; game over and cap
    assert r[0] == r[4] and n[0] == n[4]
    for r2, n2 in results[1:]:
        assert np.array_equal(r2, r) and np.array_equal(n2, n)


def thread_priority_can_be_lowered() -> bool:
    """Whether os.setpriority may give one thread of this process nice 19 (a sandbox may forbid it),
    and the process's threads can be listed (``/proc/self/task``)."""
    if not os.path.isdir("/proc/self/task"):
        return False
    ok = []

    def probe():
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
            ok.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == 19)
        except OSError:
            ok.append(False)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return ok[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are a Linux feature")
def test_emulator_threads_run_at_a_lower_priority_than_the_main_thread():
    """With several groups, the threads the vector envs start get nice 19 (the main thread's
    forward is the critical path) and the main thread keeps its own; one group, or
    emulator_nice=0, changes nothing; a priority above the main thread's is refused."""
    if not thread_priority_can_be_lowered():
        pytest.skip("this system does not let a process lower one of its threads' priority")
    main_nice = os.getpriority(os.PRIO_PROCESS, 0)
    ev = ae.Evaluator("frostbite", None, ae.EnvSettings(num_envs=4, num_threads=2))
    try:
        assert len(ev.emulator_tids) >= len(ev.groups) == 4
        assert all(os.getpriority(os.PRIO_PROCESS, t) == 19 for t in ev.emulator_tids)
        assert threading.get_native_id() not in ev.emulator_tids
        assert os.getpriority(os.PRIO_PROCESS, 0) == main_nice
        r, n = ev.evaluate([(ae.RANDOM, 5), (ae.RANDOM, 6)], max_steps=50)
        assert (n == 50).all()
    finally:
        ev.close()
    for kw in ({"groups": 1}, {"emulator_nice": 0}):
        ev = ae.Evaluator("frostbite", None, ae.EnvSettings(num_envs=2), **kw)
        assert ev.emulator_tids == []
        ev.close()
    with pytest.raises(ValueError, match="emulator_nice"):
        ae.Evaluator("frostbite", None, ae.EnvSettings(num_envs=2), emulator_nice=-1)


def test_bad_game_lists_available():
    with pytest.raises(ValueError, match="frostbite"):
        ae.check_game("Frostbyte")
    assert ae.check_game("Frostbite") == "frostbite"
    assert set(ae.THESIS_GAMES) <= set(ae.available_games())


@pytest.mark.slow
def test_ray_evaluation_equals_local():
    ray = pytest.importorskip("ray")
    spec = an.NetSpec(18, "small")
    settings = ae.EnvSettings(num_envs=2)
    jobs = [(((1,),), 10), (((2, 5),), 11), (ae.RANDOM, 12), (((1,),), 13)]
    local = ae.Evaluator("frostbite", ae.AgentPolicy(spec, an.GenomeBuilder(spec, 0.005)), settings)
    r_local, l_local = local.evaluate(jobs, max_steps=40)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        dist = ae.RayEvaluator("frostbite", spec, 0.005, settings, n_workers=2)
        r_dist, l_dist = dist.evaluate(jobs, max_steps=40)
        assert np.array_equal(r_local, r_dist) and np.array_equal(l_local, l_dist)
        assert dist.steps == l_local.sum()
    finally:
        ray.shutdown()


@pytest.mark.parametrize("in_flight", ["step", "reset"])
def test_an_interrupted_evaluation_leaves_the_scheduler_usable(in_flight):
    """An exception mid-call (here from on_step) leaves groups with a step (or a seeded reset) in
    flight; the next call drains it and gives the same returns and lengths (episodes to game over,
    so a stale step booked as the first one would show in the lengths).

    The interrupt is raised on the first step (after 36) at which another group has that work in
    flight, not at a fixed step: on a busy machine the first group can play its first steps alone
    while the others still wait for their seeded resets."""
    jobs = [(ae.RANDOM, 10 + i) for i in range(6)]
    ev = ae.Evaluator("frostbite", None, ae.EnvSettings(num_envs=4))
    ref = ev.evaluate(jobs, max_steps=None)
    calls = []

    def busy():
        if in_flight == "step":
            return any(g.sent for g in ev.groups)
        return any(g.pending is not None and not g.pending.done() for g in ev.groups)

    def interrupt(n):
        calls.append(n)
        if len(calls) > 36 and busy():
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ev.evaluate(jobs, max_steps=None, on_step=interrupt)
    left = [g.sent if in_flight == "step" else g.pending is not None for g in ev.groups]
    assert any(left)                        # the next call really has something to drain
    again = ev.evaluate(jobs, max_steps=None)
    ev.close()
    assert np.array_equal(ref[0], again[0]) and np.array_equal(ref[1], again[1])
