"""Thesis ch. 7 (refimpl.thesis.nas_space, nas, nas_golden): search space, mutations, forced
novelty, weight inheritance (Eqs. 7.3–7.6), Algorithm 4 with niching and an epoch budget,
checkpoints and resumption. Tiny networks and a fake trainer keep these fast."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binomtest, chisquare

from refimpl import data
from refimpl.thesis import nas
from refimpl.thesis.nas_golden import check_golden_case, golden_cases
from refimpl.thesis.nas_space import (MUTATION_WEIGHTS, MUTATIONS, TENSORS, Block, Mutation,
                                     NoveltyExhaustedError, SearchSpace, apply_mutation, as_genotype,
                                     block_tensors, draw_mutation, inherit_weights, inheritance_plan,
                                     inherited_tensors, max_stride2_for, neighbours, novel_child,
                                     scaled_channels)

TINY = scaled_channels(16)            # (1, 2, 4, 6, 8, 12, 16)


def space(**kw):
    return SearchSpace((1, 8, 8), 10, **{"channels": TINY, **kw})


class FakeEvaluator:
    """No training: counts the epochs it is asked to train and returns random fitness values."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.epochs = 0
        self.calls = 0

    def train(self, model, params, state, epochs, seed):
        self.epochs += epochs
        self.calls += 1
        return params, state

    def fitness(self, model, params, state):
        return float(self.rng.random())


def random_weights(sp, g, seed=0):
    """Parameters and BN statistics that are all non-trivial (as after training)."""
    rng = np.random.default_rng(seed)
    params, state = sp.init_weights(g, rng)
    for p in params + state:
        for k in p:
            p[k] = (p[k] + rng.normal(0, 0.3, p[k].shape)).astype(np.float32)
            if k == "var":
                p[k] = np.abs(p[k]) + np.float32(0.5)
    return params, state


def random_genotype(sp, rng, steps=6):
    g, hist = sp.initial(rng), set()
    for _ in range(steps):
        hist.add(g)
        g, _ = novel_child(g, sp, hist, rng)
    return g


# --------------------------------------------------------------------------------------------
# Search space and mutations
# --------------------------------------------------------------------------------------------

def test_stride_limit_scales_with_the_input():
    assert [max_stride2_for(h) for h in (32, 28, 16, 14, 8, 7, 6, 4)] == [3, 3, 2, 2, 1, 1, 0, 0]
    assert SearchSpace((3, 32, 32), 10).max_stride2 == 3
    assert space().max_stride2 == 1


def test_scaled_channels():
    assert scaled_channels(4) == (4, 8, 16, 24, 32, 48, 64)
    with pytest.raises(ValueError, match="divisor"):
        scaled_channels(5)


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="channels is empty"):
        SearchSpace((1, 8, 8), 10, channels=())
    with pytest.raises(ValueError, match="odd"):
        SearchSpace((1, 8, 8), 10, kernels=(1, 2, 3))
    with pytest.raises(ValueError, match="stride limit"):
        SearchSpace((1, 8, 8), 10, max_stride2=-1)
    with pytest.raises(ValueError, match="at least e = 4"):
        nas.NASConfig(budget=3, epochs_per_eval=4)
    with pytest.raises(ValueError, match="epochs_per_eval"):
        nas.NASConfig(epochs_per_eval=0)
    with pytest.raises(ValueError, match="niching_rate"):
        nas.NASConfig(niching_rate=1.5)
    with pytest.raises(ValueError, match="checkpoints"):
        nas.NASConfig(budget=16, checkpoints=(32,))
    with pytest.raises(ValueError, match="reinit"):
        nas.NASConfig(reinit="sometimes")
    with pytest.raises(ValueError, match="not in the search space"):
        space().phenotype([(3, 3, 1)])
    with pytest.raises(ValueError, match="unknown arm"):
        nas.NASConfig.arm("baseline III")


def test_initial_solution_is_one_random_block_with_stride_one_and_glorot_weights():
    sp = space()
    for seed in range(20):
        g = sp.initial(seed)
        assert len(g) == 1 and g[0].stride == 1 and g[0].channels in sp.channels and g[0].kernel in sp.kernels
    params, state = sp.init_weights(((16, 5, 1),), 0)
    W = params[0]["W"]                                    # (16, 1, 5, 5): fan_in 25, fan_out 400
    assert np.abs(W).max() <= np.sqrt(6 / (25 + 400)) and np.abs(W).max() > 0.5 * np.sqrt(6 / 425)
    assert not params[0]["b"].any() and (params[1]["gamma"] == 1).all() and (state[1]["var"] == 1).all()


def test_phenotype_is_the_block_template_of_fig_7_1():
    sp = space()
    g = as_genotype([(4, 3, 1), (8, 5, 2)])
    m = sp.phenotype(g)
    kinds = [type(layer).__name__ for layer in m.layers]
    assert kinds == ["Conv2D", "BatchNorm", "Activation"] * 2 + ["GlobalAvgPool2D", "Dense"]
    assert m.layers[3].stride == 2 and m.layers[3].kernel_size == 5 and m.layers[3].use_bias
    assert m.shapes[-3] == (8, 4, 4) and m.output_shape == (10,)


def test_mutation_frequencies_follow_3_3_2_2_2_1():
    sp, rng = space(), np.random.default_rng(0)
    g = as_genotype([(4, 3, 1), (8, 3, 1)])
    kinds = [draw_mutation(g, sp, rng).kind for _ in range(6000)]
    counts = [kinds.count(k) for k in MUTATIONS]
    w = np.array(list(MUTATION_WEIGHTS.values()), float)
    assert chisquare(counts, 6000 * w / w.sum()).pvalue > 1e-3


def test_every_mutation_yields_a_valid_architecture_within_the_limits():
    sp, rng = space(), np.random.default_rng(1)
    x = np.random.default_rng(2).random((3, 1, 8, 8)).astype(np.float32)
    seen_kinds = set()
    for trial in range(40):
        g = random_genotype(sp, rng, steps=int(rng.integers(1, 8)))
        child, chain = novel_child(g, sp, {g}, rng)
        seen_kinds.add(chain[0].kind)
        assert sp.is_valid(child) and sum(b.stride > 1 for b in child) <= sp.max_stride2
        assert all(b.channels in sp.channels and b.kernel in sp.kernels for b in child)
        m = sp.phenotype(child)
        params, state = sp.init_weights(child, trial)
        assert m.apply(params, x, state).shape == (3, 10)
    assert seen_kinds == set(MUTATIONS)


def test_no_op_and_invalid_draws_are_identified():
    sp = space()
    top = as_genotype([(16, 3, 2)])
    assert apply_mutation(top, Mutation("add_channels", 0), sp) == top              # already the largest
    assert apply_mutation(top, Mutation("change_kernel", 0, value=3), sp) == top    # same value drawn
    assert not sp.is_valid(apply_mutation(top, Mutation("remove_block", 0), sp))    # no block left
    two = as_genotype([(4, 3, 2), (4, 3, 1)])
    assert not sp.is_valid(apply_mutation(two, Mutation("change_stride", 1, value=2), sp))  # stride limit
    assert apply_mutation(two, Mutation("add_channels", 1), sp)[1].channels == 6    # next value in C
    assert apply_mutation(two, Mutation("remove_channels", 0), sp)[0].channels == 2


# --------------------------------------------------------------------------------------------
# Forced novelty
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("novelty", ["redraw", "accumulate"])
def test_forced_novelty_never_returns_a_seen_architecture(novelty):
    sp, rng = space(), np.random.default_rng(3)
    g = as_genotype([(1, 1, 1)])            # a corner of the space: many no-op draws
    history = {g}
    n = len(neighbours(g, sp)) if novelty == "redraw" else 60
    for _ in range(n):
        child, chain = novel_child(g, sp, history, rng, novelty=novelty)
        assert child not in history and child != g and sp.is_valid(child)
        # the chain of mutations leads from the parent to the child
        h = g
        for m in chain:
            h = apply_mutation(h, m, sp)
        assert h == child
        if novelty == "redraw":
            assert len(chain) == 1
        history.add(child)
    if novelty == "redraw":                 # every neighbour seen: a clear error, not an endless loop
        with pytest.raises(NoveltyExhaustedError):
            novel_child(g, sp, history, rng)


def test_forced_novelty_raises_when_no_new_architecture_is_reachable():
    sp = SearchSpace((1, 8, 8), 10, channels=(4,), kernels=(1,), strides=(1,))
    g = as_genotype([(4, 1, 1)])
    assert neighbours(g, sp) == {as_genotype([(4, 1, 1), (4, 1, 1)])}
    with pytest.raises(NoveltyExhaustedError, match="every architecture one mutation away"):
        novel_child(g, sp, {g, as_genotype([(4, 1, 1), (4, 1, 1)])}, 0)
    with pytest.raises(NoveltyExhaustedError, match="after 5 mutation draws"):
        novel_child(g, sp, {g, as_genotype([(4, 1, 1)] * 2), as_genotype([(4, 1, 1)] * 3)}, 0,
                    novelty="accumulate", max_draws=5)


# --------------------------------------------------------------------------------------------
# Weight inheritance (Eqs. 7.3–7.6)
# --------------------------------------------------------------------------------------------

def test_golden_cases_hold():
    cases = golden_cases()
    assert cases == golden_cases()                      # deterministic
    json.dumps(cases)                                   # JSON values
    assert {c["equation"] for c in cases} >= {"Eq. 7.3", "Eq. 7.4", "Eq. 7.5", "Eq. 7.6"}
    for case in cases:
        assert check_golden_case(case) == [], case["name"]


def _check_inheritance(sp, g, m, reinit="equations", seed=0):
    params, state = random_weights(sp, g, seed)
    before = [{k: v.copy() for k, v in p.items()} for p in params]
    child, cp, cs = inherit_weights(g, params, state, m, sp, seed + 1, reinit=reinit)
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(before, params) for k in a)  # parent untouched
    mapping = inherited_tensors(inheritance_plan(g, m, sp, reinit=reinit))
    initial = {"b": 0, "gamma": 1, "beta": 0, "var": 1, "mean": 0}
    for j in range(len(child)):
        got = block_tensors(cp, cs, j)
        for t in TENSORS:
            src = mapping[f"block{j}.{t}"]
            if src is not None:              # kept bit for bit
                pj = int(src.split(".")[0][5:])
                want = block_tensors(params, state, pj)[t]
                assert got[t].dtype == want.dtype and np.array_equal(got[t], want), (m, f"block{j}.{t}")
                assert got[t] is not want                                  # a copy
            elif t == "k":                   # fresh Glorot-uniform draw
                bound = np.sqrt(6 / ((got[t].shape[1] + got[t].shape[0]) * got[t].shape[2] * got[t].shape[3]))
                assert np.abs(got[t]).max() <= bound + 1e-7
            else:
                assert (got[t] == initial[t]).all(), (m, f"block{j}.{t}")
    head_kept = mapping["head.W"] is not None
    assert head_kept == (np.array_equal(cp[-1]["W"], params[-1]["W"]) and np.array_equal(cp[-1]["b"], params[-1]["b"]))
    return child, cp, cs, mapping


@pytest.mark.parametrize("m, kept_everything_but", [
    (Mutation("change_stride", 0, value=2), set()),
    (Mutation("change_kernel", 1, value=5), {"block1.k"}),
    (Mutation("add_channels", 1), {f"block1.{t}" for t in TENSORS} | {"block2.k"}),
    (Mutation("remove_channels", 2), {f"block2.{t}" for t in TENSORS} | {"head.W", "head.b"}),
    (Mutation("add_block", 1, Block(4, 1, 1)), {f"block1.{t}" for t in TENSORS} | {"block2.k"}),
    (Mutation("remove_block", 0), {"block0.k"}),
])
def test_inheritance_keeps_exactly_the_tensors_of_the_equations(m, kept_everything_but):
    sp = space()
    g = as_genotype([(4, 3, 1), (8, 3, 1), (8, 3, 1)])
    child, cp, cs, mapping = _check_inheritance(sp, g, m)
    assert {k for k, v in mapping.items() if v is None} == kept_everything_but


def test_stride_change_keeps_all_weights_but_not_the_function():
    sp = space()
    g = as_genotype([(4, 3, 1), (8, 3, 1)])
    params, state = random_weights(sp, g)
    child, cp, cs = inherit_weights(g, params, state, Mutation("change_stride", 0, value=2), sp, 0)
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(params + state, cp + cs) for k in a)
    x = np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)
    assert not np.allclose(sp.phenotype(g).apply(params, x, state), sp.phenotype(child).apply(cp, x, cs))


@pytest.mark.parametrize("kind", MUTATIONS)
def test_mutations_are_not_function_preserving(kind):
    """Unlike the surgery document's modifications, no mutation keeps the network's outputs."""
    sp, rng = space(), np.random.default_rng(5)
    g = as_genotype([(4, 3, 1), (8, 3, 1), (6, 3, 1)])
    params, state = random_weights(sp, g)
    x = rng.random((4, 1, 8, 8)).astype(np.float32)
    y = sp.phenotype(g).apply(params, x, state)
    for _ in range(50):
        m = draw_mutation(g, sp, rng)
        if m.kind == kind and sp.is_valid(c := apply_mutation(g, m, sp)) and c != g:
            break
    child, cp, cs = inherit_weights(g, params, state, m, sp, 1)
    assert not np.allclose(y, sp.phenotype(child).apply(cp, x, cs), atol=1e-4)


def test_reinit_shape_keeps_the_next_kernel_when_its_shape_stays():
    sp = space()
    g = as_genotype([(8, 3, 1), (8, 3, 1), (4, 3, 1)])
    for m in (Mutation("add_block", 1, Block(8, 1, 1)), Mutation("remove_block", 1)):
        *_, eq = _check_inheritance(sp, g, m, "equations")
        *_, sh = _check_inheritance(sp, g, m, "shape")
        nxt = "block2.k" if m.kind == "add_block" else "block1.k"
        assert eq[nxt] is None and sh[nxt] is not None


def test_without_inheritance_every_tensor_is_fresh():
    sp = space()
    g = as_genotype([(4, 3, 1), (8, 3, 1)])
    params, state = random_weights(sp, g)
    child, cp, cs = inherit_weights(g, params, state, Mutation("change_stride", 1, value=2), sp, 7, inherit=False)
    fresh_p, fresh_s = sp.init_weights(child, 7)
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(cp + cs, fresh_p + fresh_s) for k in a)
    assert not np.array_equal(cp[0]["W"], params[0]["W"])


# --------------------------------------------------------------------------------------------
# Algorithm 4
# --------------------------------------------------------------------------------------------

def test_budget_counts_every_epoch_once_niching_included():
    sp = space()
    for e, n in ((4, 40), (3, 40)):
        ev = FakeEvaluator(0)
        cfg = nas.NASConfig(epochs_per_eval=e, budget=n, niching_rate=1.0, niching_depth=3, checkpoints=(n,))
        st = nas.run(sp, cfg, ev, 0)
        assert ev.epochs == st.epochs == e * (n // e) == sum(e for _ in st.log)
        assert ev.calls == st.n_evaluations == n // e
        assert [r["epoch"] for r in st.log] == list(range(e, n + 1, e))
        assert any(r["niching"] for r in st.log) and st.niche is None
    ev = FakeEvaluator(0)
    st = nas.run(sp, nas.NASConfig(epochs_per_eval=2, budget=10, train_initial=True, checkpoints=(10,)), ev, 0)
    assert ev.epochs == st.epochs == 10 and st.n_evaluations == 4        # the initial training counts too


def _niching_statistics(omega, k, runs=60, budget=30):
    sp = space()
    eligible = started = 0
    lengths = []
    for seed in range(runs):
        cfg = nas.NASConfig(epochs_per_eval=1, budget=budget, niching_rate=omega, niching_depth=k, checkpoints=())
        log = nas.run(sp, cfg, FakeEvaluator(seed), seed).log
        i = 0
        while i < len(log) - 1:                  # the last one cannot show whether it started a niche
            r = log[i]
            assert not r["niching"]
            j = i + 1
            while j < len(log) and log[j]["niching"]:
                j += 1
            if r["fitness"] <= r["base_fitness"]:
                eligible += 1
                started += j > i + 1
            else:
                assert j == i + 1                # only a child no better than its parent starts a niche
            if j > i + 1:
                lengths.append((j - i - 1, j == len(log)))
            i = j
    return eligible, started, lengths


@pytest.mark.parametrize("omega, k", [(0.1, 5), (0.5, 2)])
def test_niching_rate_and_depth_follow_omega_and_k(omega, k):
    eligible, started, lengths = _niching_statistics(omega, k)
    assert eligible > 500
    assert binomtest(started, eligible, omega).pvalue > 1e-3
    # every niching call runs exactly k evaluations (one level deep), unless the budget ends it
    assert all(n == k or (cut and n < k) for n, cut in lengths)


def test_recursive_algorithm_4_equals_the_resumable_state_machine():
    sp = space()
    cfg = nas.NASConfig(epochs_per_eval=1, budget=40, niching_rate=0.3, niching_depth=3, checkpoints=(10, 40))
    a = nas.run(sp, cfg, FakeEvaluator(1), 11)
    b = nas.evonas(sp, cfg, FakeEvaluator(1), 11)
    assert a.log == b.log and any(r["niching"] for r in a.log)
    assert a.parent.genotype == b.parent.genotype and a.parent.fitness == b.parent.fitness
    assert {c: s.fitness for c, s in a.checkpoints.items()} == {c: s.fitness for c, s in b.checkpoints.items()}


def test_acceptance_is_strict_and_checkpoints_hold_the_best_so_far():
    sp = space()
    cfg = nas.NASConfig(epochs_per_eval=2, budget=60, niching_rate=0.5, niching_depth=2, checkpoints=(10, 30, 60))
    st = nas.run(sp, cfg, FakeEvaluator(4), 4)
    first = st.log[0]["base_fitness"]
    for c, sol in st.checkpoints.items():
        assert sol.fitness == max([first] + [r["fitness"] for r in st.log if r["epoch"] <= c])
    assert st.parent is st.best                     # outside niching the parent is the best so far
    curve = nas.best_curve(st, cfg.budget)
    assert curve[0] == first and np.all(np.diff(curve) >= 0) and curve[-1] == st.best.fitness


@pytest.fixture(scope="module")
def tiny_digits():
    ds = data.load_digits(seed=0)
    return ds.x_train[:96], ds.y_train[:96], ds.x_train[96:160], ds.y_train[96:160]


def test_resume_equals_an_uninterrupted_run(tmp_path, tiny_digits):
    sp = SearchSpace((1, 8, 8), 10, channels=(2, 4), kernels=(1, 3))
    cfg = nas.NASConfig(epochs_per_eval=1, budget=7, niching_rate=1.0, niching_depth=2, checkpoints=(3, 7),
                        batch_size=32, lr=1e-2)
    ev = nas.FitEvaluator(*tiny_digits, batch_size=32, lr=1e-2)
    whole = nas.run(sp, cfg, ev, 5)
    path = tmp_path / "run.npz"
    part = nas.run(sp, cfg, ev, 5, checkpoint=path, max_evaluations=2)
    assert part.n_evaluations == 2 and part.niche is not None          # interrupted inside a niching call
    resumed = nas.run(sp, cfg, ev, 5, checkpoint=path)
    assert resumed.log == whole.log and resumed.epochs == whole.epochs == 7
    for a, b in ((resumed.parent, whole.parent), (resumed.checkpoints[3], whole.checkpoints[3])):
        assert a.genotype == b.genotype and a.fitness == b.fitness
        assert all(np.array_equal(x[k], y[k]) for x, y in zip(a.params + a.state, b.params + b.state) for k in x)
    assert resumed.history == whole.history
    with pytest.raises(ValueError, match="another configuration"):
        nas.run(sp, cfg.replace(budget=8), ev, 5, checkpoint=path)
    # the final training continues from the checkpoint with the lr schedule and improves the fit
    sol = whole.checkpoints[7]
    params, state = nas.final_training(sp, sol, *tiny_digits[:2], schedule=((2, 1e-2), (1, 1e-3)), batch_size=32)
    model = sp.phenotype(sol.genotype)
    from refimpl.train import evaluate
    assert evaluate(model, params, *tiny_digits[:2], state=state)["loss"] < \
        evaluate(model, sol.params, *tiny_digits[:2], state=sol.state)["loss"]


def test_an_evaluator_that_trains_otherwise_than_the_configuration_is_refused(tiny_digits):
    """NASConfig's batch size and learning rate describe the run; the evaluator is what trains:
    a mismatch is refused at the start and at every step instead of running silently."""
    sp = SearchSpace((1, 8, 8), 10, channels=(2, 4), kernels=(1, 3))
    cfg = nas.NASConfig(epochs_per_eval=1, budget=2, checkpoints=(2,), batch_size=32, lr=1e-2)
    st = nas.init_run(sp, cfg, nas.FitEvaluator(*tiny_digits, batch_size=32, lr=1e-2), 0)
    for bad in (nas.FitEvaluator(*tiny_digits, batch_size=512, lr=1e-2),
                nas.FitEvaluator(*tiny_digits, batch_size=32, lr=1e-3)):
        with pytest.raises(ValueError, match="batch_size|lr"):
            nas.init_run(sp, cfg, bad, 0)
        with pytest.raises(ValueError, match="the evaluator trains with"):
            nas.step(st, sp, cfg, bad)
