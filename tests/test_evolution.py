"""Population EA of thesis ch. 4–5: operators, selection, bookkeeping of Algorithm 2, batching."""

import numpy as np
import pytest

from refimpl.thesis import ea, operators, population
from refimpl.backend import GPUUnavailableError, gpu_available, tree_leaves
from refimpl.thesis.ea import EAConfig
from refimpl.model import mlp

Z = 5.0  # statistical tolerance of every sampling test: 5 standard errors (two-sided p ≈ 6e-7)


def _pop(rng, n, shapes=((30, 20), (20,)), dtype=np.float64):
    return [{"W": rng.standard_normal((n,) + shapes[0]).astype(dtype),
             "b": rng.standard_normal((n,) + shapes[1]).astype(dtype)}]


# ---------------------------------------------------------------------------------------------
# Variation operators (Eqs. 4.1–4.3)
# ---------------------------------------------------------------------------------------------

def test_uniform_crossover_takes_every_gene_from_one_parent_with_probability_p():
    rng = np.random.default_rng(0)
    n = 40
    x1 = [{"W": np.abs(rng.standard_normal((n, 50, 50))) + 1.0, "b": np.full((n, 50), 3.0)}]
    x2 = [{"W": -np.abs(rng.standard_normal((n, 50, 50))) - 1.0, "b": np.full((n, 50), -3.0)}]
    for p in (0.5, 0.2):
        z = operators.uniform_crossover(x1, x2, np.random.default_rng(1), p=p)
        from1 = [np.asarray(c) == a for c, a in zip(tree_leaves(z), tree_leaves(x1))]
        from2 = [np.asarray(c) == b for c, b in zip(tree_leaves(z), tree_leaves(x2))]
        for f1, f2 in zip(from1, from2):
            assert np.all(f1 ^ f2)  # every gene is exactly one parent's gene
        k = sum(int(f.sum()) for f in from1)
        m = sum(f.size for f in from1)
        assert abs(k / m - p) < Z * np.sqrt(p * (1 - p) / m)
    assert all(np.array_equal(c, a) for c, a in zip(tree_leaves(operators.uniform_crossover(x1, x2, rng, p=1.0)),
                                                     tree_leaves(x1)))


def test_uniform_crossover_keeps_shapes_dtypes_and_rejects_mismatch():
    rng = np.random.default_rng(0)
    x1, x2 = _pop(rng, 4, dtype=np.float32), _pop(rng, 4, dtype=np.float32)
    z = operators.uniform_crossover(x1, x2, rng)
    assert [a.shape for a in tree_leaves(z)] == [a.shape for a in tree_leaves(x1)]
    assert all(a.dtype == np.float32 for a in tree_leaves(z))
    with pytest.raises(ValueError, match="equal size"):
        operators.uniform_crossover(x1, _pop(rng, 5), rng)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        operators.uniform_crossover(x1, x2, rng, p=1.5)
    with pytest.raises(TypeError, match="Generator"):
        operators.uniform_crossover(x1, x2, 0)


def test_arithmetic_crossover_is_the_weighted_mean():
    rng = np.random.default_rng(2)
    x1, x2 = _pop(rng, 6), _pop(rng, 6)
    z = operators.arithmetic_crossover(x1, x2)
    for c, a, b in zip(tree_leaves(z), tree_leaves(x1), tree_leaves(x2)):
        np.testing.assert_allclose(c, (a + b) / 2, rtol=1e-15, atol=0)
    w = np.linspace(0, 1, 6)  # one weight per child
    z = operators.arithmetic_crossover(x1, x2, w=w)
    for c, a, b in zip(tree_leaves(z), tree_leaves(x1), tree_leaves(x2)):
        ww = w.reshape((6,) + (1,) * (a.ndim - 1))
        np.testing.assert_allclose(c, ww * a + (1 - ww) * b, rtol=1e-14, atol=1e-15)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        operators.arithmetic_crossover(x1, x2, w=1.2)
    with pytest.raises(ValueError, match="shape"):
        operators.arithmetic_crossover(x1, x2, w=np.ones(3) / 2)


def test_normal_mutation_noise_has_the_requested_sigma_per_individual():
    rng = np.random.default_rng(3)
    n, d = 4, 200 * 250  # 50,000 genes per individual
    x = [{"W": rng.standard_normal((n, 200, 250)).astype(np.float32)}]
    sigma = np.array([1e-3, 1e-2, 0.1, 2.0])
    z = operators.normal_mutation(x, sigma, np.random.default_rng(4))
    assert z[0]["W"].dtype == np.float32
    eps = (z[0]["W"].astype(np.float64) - x[0]["W"]).reshape(n, d)
    sd = eps.std(axis=1)
    # sample std of d normals: standard error ≈ σ/sqrt(2d) (0.32 % here); float32 rounding of
    # x + σε adds at most ~1e-7·|x| per gene, negligible against σ ≥ 1e-3.
    np.testing.assert_array_less(np.abs(sd / sigma - 1), Z / np.sqrt(2 * d))
    np.testing.assert_array_less(np.abs(eps.mean(axis=1)), Z * sigma / np.sqrt(d))
    # a scalar σ mutates everybody with the same strength
    z = operators.normal_mutation(x, 0.5, np.random.default_rng(5))
    sd = (z[0]["W"].astype(np.float64) - x[0]["W"]).reshape(n, d).std(axis=1)
    np.testing.assert_array_less(np.abs(sd / 0.5 - 1), Z / np.sqrt(2 * d))


@pytest.mark.parametrize("bad", [0.0, -1e-3, np.nan, np.inf, np.array([1e-3, 0.0])])
def test_mutation_rejects_non_positive_sigma(bad):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="sigma"):
        operators.normal_mutation(_pop(rng, 2), bad, rng)


def test_mutation_rejects_sigma_of_wrong_length():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="entries"):
        operators.normal_mutation(_pop(rng, 3), np.ones(2), rng)


def test_self_adaptation_follows_eq_5_4():
    sigma = np.geomspace(1e-4, 1e-1, 8)
    tau = 0.3
    new = operators.self_adapt_sigma(sigma, tau, np.random.default_rng(7))
    expected = sigma * np.exp(tau * np.random.default_rng(7).standard_normal(8))  # same stream
    np.testing.assert_allclose(new, expected, rtol=1e-15)
    # distribution: log(σ'/σ)/τ ~ N(0, 1)
    n = 20000
    s = np.full(n, 1e-3)
    r = np.log(operators.self_adapt_sigma(s, tau, np.random.default_rng(8)) / s) / tau
    assert abs(r.mean()) < Z / np.sqrt(n) and abs(r.std() - 1) < Z / np.sqrt(2 * n)
    with pytest.raises(ValueError, match="tau"):
        operators.self_adapt_sigma(sigma, 0.0, np.random.default_rng(0))


def test_decayed_sigma_follows_eq_5_3():
    assert operators.decayed_sigma(1e-3, 0, 100) == 1e-3
    assert operators.decayed_sigma(1e-3, 100, 100) == pytest.approx(0.99e-3, rel=1e-14)
    i = np.arange(0, 1000, 7)
    np.testing.assert_allclose(operators.decayed_sigma(2e-2, i, 50), 2e-2 * np.exp(i / 50 * np.log(0.99)), rtol=1e-12)
    with pytest.raises(ValueError):
        operators.decayed_sigma(1e-3, 5, 0)
    with pytest.raises(ValueError):
        operators.decayed_sigma(0.0, 5, 10)


def test_fitness_inheritance_eq_5_2():
    inh = np.array([np.nan, -1.0, -2.0])
    ev_ = np.array([-0.5, -0.5, -0.5])
    np.testing.assert_allclose(operators.inherit_fitness(inh, ev_, 0.25), [-0.5, 0.75 * -1 + 0.25 * -0.5,
                                                                   0.75 * -2 + 0.25 * -0.5])
    np.testing.assert_array_equal(operators.inherit_fitness(inh, ev_, 1.0), ev_)
    with pytest.raises(ValueError, match="alpha"):
        operators.inherit_fitness(inh, ev_, 1.5)


# ---------------------------------------------------------------------------------------------
# Selection and counts
# ---------------------------------------------------------------------------------------------

def test_truncation_plus_and_comma_selection():
    u = np.array([0.1, 0.9, np.nan, 0.5, 0.9])
    np.testing.assert_array_equal(operators.truncation_selection(u, 3), [1, 4, 3])  # stable ties, NaN worst
    np.testing.assert_array_equal(operators.comma_selection(u, 2), [1, 4])
    parents, offspring = np.array([0.3, 0.8]), np.array([0.8, 0.2, 0.5])
    np.testing.assert_array_equal(operators.plus_selection(parents, offspring, 3), [1, 2, 4])  # parent wins tie
    with pytest.raises(ValueError, match="cannot select"):
        operators.truncation_selection(u, 0)
    with pytest.raises(ValueError, match="cannot select"):
        operators.truncation_selection(u, 6)


@pytest.mark.parametrize("lam", [1, 2, 3, 7, 10, 33, 100, 999, 1000, 2000])
@pytest.mark.parametrize("shares", [(0.05, 0.5, 0.45), (0.05, 0.75, 0.2), (0.0, 1.0, 0.0),
                                    (0.1, 0.0, 0.9), (1 / 3, 1 / 3, 1 / 3)])
def test_offspring_counts_are_exact(lam, shares):
    counts = operators.offspring_counts(lam, *shares)
    assert sum(counts) == lam
    for c, p in zip(counts, shares):
        assert np.floor(lam * p + 1e-9) <= c <= np.ceil(lam * p - 1e-9)
        assert p > 0 or c == 0


def test_table_5_1_counts():
    assert EAConfig.table_5_1("validation").counts == (50, 500, 450)
    assert EAConfig.table_5_1("test").counts == (100, 1500, 400)
    assert EAConfig.table_5_1("test").n_parents == 1000
    assert operators.n_truncation(100, 0.29) == 29  # no float truncation surprises (0.29·100 = 28.999…)


@pytest.mark.parametrize("change, match", [
    (dict(p_elite=0.1, p_crossover=0.5, p_mutation=0.5), "sum to 1"),
    (dict(p_elite=-0.1, p_crossover=0.6, p_mutation=0.5), r"\[0, 1\]"),
    (dict(population_size=10, selection_proportion=0.05), "< 1"),
    (dict(selection_proportion=0.0), "rho"),
    (dict(selection_proportion=1.5), "rho"),
    (dict(sigma=0.0), "sigma"),
    (dict(sigma=-1e-3), "sigma"),
    (dict(population_size=0), "λ"),
    (dict(population_size=2.5), "λ"),
    (dict(batch_size=0), "batch_size"),
    (dict(fitness_inheritance=1.1), "alpha"),
    (dict(sigma_control="cosine"), "sigma_control"),
    (dict(crossover="one-point"), "crossover"),
    (dict(tau=0.0), "tau"),
    (dict(decay_k=-1.0), "decay_k"),
])
def test_invalid_hyperparameters_raise_clear_errors(change, match):
    with pytest.raises(ValueError, match=match):
        EAConfig(**change)


# ---------------------------------------------------------------------------------------------
# Batched population forward (Sec. 5.2.3) and the Sec. 5.3.1 network
# ---------------------------------------------------------------------------------------------

def test_thesis_network_has_92234_parameters():
    m = population.thesis_network()
    assert m.count_params() == 92234
    assert m.shapes[2] == (196,)
    assert [layer.units for layer in m.layers[2:]] == [256, 128, 64, 10]


def test_batched_population_forward_equals_separate_forwards():
    m = population.thesis_network()
    P = 6
    pop = m.init(np.random.default_rng(0), population=P)
    x = np.random.default_rng(1).random((32, 1, 28, 28), dtype=np.float32)
    y = np.random.default_rng(2).integers(0, 10, 32)
    out = m.apply(pop, x)
    assert out.shape == (P, 32, 10) and out.dtype == np.float32
    for k in range(P):
        np.testing.assert_allclose(out[k], m.apply(operators.individual(pop, k), x), rtol=1e-5, atol=1e-6)
    from refimpl import nn
    single = [float(nn.cross_entropy(m.apply(operators.individual(pop, k), x), y)) for k in range(P)]
    # evaluate_population: batched passes of `chunk_size` individuals (in-place bias and ReLU)
    for chunk in ("auto", None, 1, 4, 6, 100):
        np.testing.assert_allclose(population.evaluate_population(m, pop, x, y, chunk_size=chunk), single, rtol=1e-5)


def test_evaluate_population_other_layers_and_bad_input():
    from refimpl import nn
    from refimpl.model import Activation, Dense, Flatten, Sequential
    m = Sequential((3, 4), (Flatten(), Dense(7, "tanh", bias_init="random_normal"), Dense(5, use_bias=False),
                            Activation("relu"), Dense(4, "relu", bias_init="random_normal")))
    pop = m.init(np.random.default_rng(3), population=5, dtype=np.float64)
    x = np.random.default_rng(4).standard_normal((9, 3, 4))
    y = np.random.default_rng(5).integers(0, 4, 9)
    single = [float(nn.cross_entropy(m.apply(operators.individual(pop, k), x), y)) for k in range(5)]
    for chunk in ("auto", None, 2):
        np.testing.assert_allclose(population.evaluate_population(m, pop, x, y, chunk_size=chunk), single, rtol=1e-12)
    for bad in (0, -1, 2.5, "all"):
        with pytest.raises(ValueError, match="chunk_size"):
            population.evaluate_population(m, pop, x, y, chunk_size=bad)
    with pytest.raises(ValueError, match="shared"):
        population.evaluate_population(m, pop, x[None].repeat(5, 0), y)


def test_default_chunk_size_bounds_cpu_activation_memory(monkeypatch):
    m = population.thesis_network()
    per_individual = 512 * 4 * (256 + 128 + 64 + 10)
    c = population.default_chunk_size(m, 1000, 512)
    assert c * per_individual <= population.CPU_ACTIVATION_BUDGET < (c + 1) * per_individual
    assert population.default_chunk_size(m, 3, 512) == 3                 # never more than λ
    assert population.default_chunk_size(m, 1000, 10**6) == 1            # at least one individual
    import sys
    import types
    fake_cupy = types.ModuleType("cupy")  # is_gpu_module(xp) is "xp is the imported cupy module"
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    assert population.default_chunk_size(m, 1000, 512, fake_cupy) == 1000       # the GPU: all at once


def test_population_model_must_be_dense_only():
    from refimpl.model import cnn
    with pytest.raises(ValueError, match="MLPs.*Conv2D"):
        ea.init_ea(cnn((1, 8, 8), [4], 10), EAConfig(population_size=4, batch_size=2), 0)


# ---------------------------------------------------------------------------------------------
# One generation of Algorithm 2: exact bookkeeping
# ---------------------------------------------------------------------------------------------

def _setup(cfg, seed=0):
    m = mlp(6, [5], 3)
    state = ea.init_ea(m, cfg, seed, dtype=np.float64)
    data = np.random.default_rng(seed + 100)
    # distinct values for every gene of every individual (the zero biases would coincide)
    state.population = [{k: data.standard_normal(a.shape) for k, a in d.items()} for d in state.population]
    x = data.standard_normal((cfg.batch_size, 6))
    y = data.integers(0, 3, cfg.batch_size)
    return m, state, x, y


def _flat(pop):
    return np.concatenate([a.reshape(a.shape[0], -1) for a in tree_leaves(pop)], axis=1)


@pytest.mark.parametrize("block", [None, 3])   # None: one block; 3: variation in blocks of 3 individuals
@pytest.mark.parametrize("control", ["constant", "self-adaptive"])
def test_generation_elites_crossover_children_and_mutants(control, block, monkeypatch):
    if block is not None:
        monkeypatch.setattr(ea, "variation_block_size", lambda pop, xp: block)
    cfg = EAConfig(population_size=40, batch_size=16, p_elite=0.1, p_crossover=0.5, p_mutation=0.4,
                   selection_proportion=0.25, sigma=1e-4, sigma_control=control, tau=0.2)
    m, state, x, y = _setup(cfg)
    state.sigma = np.geomspace(1e-5, 1e-3, 40)  # distinct σ-genes to trace under self-adaptation
    new, info = ea.generation(m, state, x, y, cfg)
    n_e, n_c, n_m = cfg.counts
    assert (n_e, n_c, n_m) == (4, 20, 16)
    old, cur = _flat(info.evaluated), _flat(new.population)
    order = np.argsort(-info.fitness, kind="stable")
    top_t = order[:cfg.n_parents]
    np.testing.assert_allclose(info.fitness, -population.evaluate_population(m, info.evaluated, x, y))
    # elites: the n_E best, unchanged, σ unchanged
    np.testing.assert_array_equal(cur[:n_e], old[order[:n_e]])
    np.testing.assert_array_equal(new.sigma[:n_e], state.sigma[order[:n_e]] if control != "constant"
                                  else np.full(n_e, cfg.sigma))
    # crossover children: every gene from one of two parents in T; σ = mean of theirs
    for k in range(n_e, n_e + n_c):
        match = cur[k][None, :] == old[top_t]          # (|T|, d)
        parents = top_t[np.argsort(-match.sum(axis=1))[:2]]
        assert np.all(match[np.isin(top_t, parents)].any(axis=0))  # two parents in T explain every gene
        if control == "self-adaptive":
            s = state.sigma
            assert any(np.isclose(new.sigma[k], 0.5 * (s[a] + s[b]), rtol=1e-12)
                       for a in parents for b in parents)
    # mutants: a parent from T plus σ_parent·ε; under self-adaptation σ' = σ·exp(τε)
    for k in range(n_e + n_c, cfg.population_size):
        dist = np.abs(old[top_t] - cur[k]).max(axis=1)
        parent = top_t[np.argmin(dist)]
        step = cur[k] - old[parent]
        sig_parent = state.sigma[parent] if control != "constant" else cfg.sigma
        assert 0 < np.abs(step).max() < 6 * sig_parent        # a small step of size ~σ_parent
        assert np.sort(dist)[1] > 1e3 * sig_parent              # unambiguous parent
        if control == "self-adaptive":
            z = np.log(new.sigma[k] / sig_parent) / cfg.tau
            assert 0 < abs(z) < 6                               # log-normal step, never zero
    assert new.generation == 1
    np.testing.assert_allclose(new.inherited[:n_e], info.fitness[order[:n_e]])


def test_fitness_inheritance_in_generation_uses_parent_fitness():
    cfg = EAConfig(population_size=20, batch_size=8, p_elite=0.5, p_crossover=0.0, p_mutation=0.5,
                   fitness_inheritance=0.3)
    m, state, x, y = _setup(cfg)
    s1, i1 = ea.generation(m, state, x, y, cfg)
    assert np.all(np.isnan(state.inherited))
    np.testing.assert_allclose(i1.fitness, -i1.loss)  # initial population: nothing inherited
    s2, i2 = ea.generation(m, s1, x, y, cfg)
    np.testing.assert_allclose(i2.fitness, 0.7 * s1.inherited + 0.3 * -i2.loss)


def test_same_seed_reproduces_a_run_bit_for_bit_and_checkpoint_resumes(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((200, 1, 4, 4), dtype=np.float32)
    y = rng.integers(0, 3, 200)
    m = population.thesis_network((1, 4, 4), pool=1, hidden=(8,), n_out=3)
    cfg = EAConfig(population_size=12, batch_size=16, sigma=1e-2, sigma_control="self-adaptive",
                   crossover="arithmetic", fitness_inheritance=0.5)
    kw = dict(generations=25, seed=7, x_val=x[:50], y_val=y[:50], record_every=5)
    a = ea.evolve(m, x, y, cfg, **kw)
    b = ea.evolve(m, x, y, cfg, **kw)
    for u, v in zip(tree_leaves(a.state.population) + [a.state.sigma], tree_leaves(b.state.population) + [b.state.sigma]):
        assert np.array_equal(u, v)
    hist = {k: v for k, v in a.history.items() if k != "seconds"}
    assert hist == {k: v for k, v in b.history.items() if k != "seconds"}
    c = ea.evolve(m, x, y, cfg, **{**kw, "seed": 8})
    assert not np.array_equal(tree_leaves(a.state.population)[0], tree_leaves(c.state.population)[0])
    # interrupted after 10 generations, then resumed from the checkpoint: identical result
    ck = tmp_path / "ea.npz"
    ea.evolve(m, x, y, cfg, **{**kw, "generations": 10}, checkpoint=ck, checkpoint_every=10)
    d = ea.evolve(m, x, y, cfg, **kw, checkpoint=ck, checkpoint_every=10)
    for u, v in zip(tree_leaves(a.state.population), tree_leaves(d.state.population)):
        assert np.array_equal(u, v)
    assert d.history["val_accuracy"] == a.history["val_accuracy"]
    with pytest.raises(ValueError, match="different EAConfig"):
        ea.evolve(m, x, y, cfg.replace(sigma=0.5), **kw, checkpoint=ck)


def test_evolve_rejects_bad_data():
    m = mlp(4, [3], 2)
    cfg = EAConfig(population_size=4, batch_size=8)
    with pytest.raises(ValueError, match="batch_size"):
        ea.evolve(m, np.zeros((5, 4), np.float32), np.zeros(5, int), cfg, generations=1)
    with pytest.raises(ValueError, match="x_train"):
        ea.evolve(m, np.zeros((20, 5), np.float32), np.zeros(20, int), cfg, generations=1)


@pytest.mark.skipif(gpu_available(), reason="a GPU is available here")
def test_gpu_request_fails_clearly_without_a_gpu():
    with pytest.raises(GPUUnavailableError):
        ea.init_ea(mlp(4, [3], 2), EAConfig(population_size=4, batch_size=2), 0, device="gpu")


def test_quick_scale_ea_reaches_90_percent_on_digits():
    """Acceptance: the chapter's quick final setting (Table 5.1 test shares, λ 100, batch 128,
    σ 0.03, 600 generations, the 64-32-16-10 network) on digits; ~10 s on one core."""
    from refimpl.data import load_digits, train_val_split
    from refimpl.train import evaluate
    ds = load_digits(seed=0)
    x_tr, y_tr, x_val, y_val = train_val_split(ds.x_train, ds.y_train, 0.25, seed=0)
    mean = x_tr.mean(axis=0, keepdims=True)
    m = population.thesis_network((1, 8, 8), pool=1, hidden=(32, 16))
    cfg = EAConfig.table_5_1("test").replace(population_size=100, batch_size=128, sigma=0.03)
    r = ea.evolve(m, x_tr - mean, y_tr, cfg, generations=600, seed=1, x_val=x_val - mean, y_val=y_val,
                  record_every=600)
    acc = evaluate(m, r.best_params, ds.x_test - mean, ds.y_test)["accuracy"]
    print(f"digits test accuracy {acc:.4f}")
    assert acc >= 0.90, f"test accuracy {acc:.4f} < 0.90"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_operators_write_the_same_numbers_into_out(dtype):
    rng = np.random.default_rng(5)
    x1, x2 = _pop(rng, 6, dtype=dtype), _pop(rng, 6, dtype=dtype)
    for p in (0.5, 0.3):
        z = operators.uniform_crossover(x1, x2, np.random.default_rng(1), p=p)
        out = [{k: np.empty_like(v) for k, v in d.items()} for d in x1]
        operators.uniform_crossover(x1, x2, np.random.default_rng(1), p=p, out=out)
        inplace = [{k: v.copy() for k, v in d.items()} for d in x2]  # out may be x2 itself
        operators.uniform_crossover(x1, inplace, np.random.default_rng(1), p=p, out=inplace)
        for a, b, c in zip(tree_leaves(z), tree_leaves(out), tree_leaves(inplace)):
            assert np.array_equal(a, b) and np.array_equal(a, c) and b.dtype == dtype
    z = operators.normal_mutation(x1, np.linspace(0.1, 1, 6), np.random.default_rng(2))
    out = [{k: np.empty_like(v) for k, v in d.items()} for d in x1]
    operators.normal_mutation(x1, np.linspace(0.1, 1, 6), np.random.default_rng(2), out=out)
    assert all(np.array_equal(a, b) for a, b in zip(tree_leaves(z), tree_leaves(out)))
    z = operators.arithmetic_crossover(x1, x2, w=np.linspace(0, 1, 6))
    operators.arithmetic_crossover(x1, x2, w=np.linspace(0, 1, 6), out=out)
    assert all(np.array_equal(a, b) for a, b in zip(tree_leaves(z), tree_leaves(out)))
    for idx in (np.array([3, 0, 3]), np.array([-1, -6, 5])):  # negative indices count from the end
        taken = operators.take(x1, idx, out=[{k: np.empty((3,) + v.shape[1:], dtype) for k, v in d.items()}
                                             for d in x1])
        assert all(np.array_equal(a, b[idx]) for a, b in zip(tree_leaves(taken), tree_leaves(x1)))
    for bad in (np.array([0, 6, 1]), np.array([-7, 0, 1])):  # outside [-6, 6): an error, not a wrap-around
        with pytest.raises(IndexError, match="indices must lie in"):
            operators.take(x1, bad, out=[{k: np.empty((3,) + v.shape[1:], dtype) for k, v in d.items()} for d in x1])


def test_evolve_refuses_nan_inputs_and_float_labels():
    m = mlp((4,), [3], 2)
    x = np.random.default_rng(0).random((16, 4)).astype(np.float32)
    y = np.arange(16) % 2
    cfg = EAConfig(population_size=4, batch_size=8)
    x_nan = x.copy()
    x_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="x_train contains NaN"):
        ea.evolve(m, x_nan, y, cfg, generations=1, progress=False)
    with pytest.raises(ValueError, match="x_val contains NaN"):
        ea.evolve(m, x, y, cfg, generations=1, x_val=x_nan, y_val=y, progress=False)
    with pytest.raises(TypeError, match="integer class indices"):
        ea.evolve(m, x, y + 0.5, cfg, generations=1, progress=False)


def _nearest(rows, v):
    """Index (into ``rows``) of the row nearest to ``v`` in the max norm."""
    return int(np.argmin(np.abs(rows - v).max(axis=1)))


def test_generation_decay_and_arithmetic_crossover():
    """Eq. 5.3 inside a generation: the mutants step with σ_t = 0.99^(t/k)·σ_0 at the state's
    generation t; arithmetic crossover (Eq. 4.2, w = ½): every child is the mean of two parents in T."""
    cfg = EAConfig(population_size=40, batch_size=16, p_elite=0.1, p_crossover=0.5, p_mutation=0.4,
                   selection_proportion=0.25, sigma=1e-3, sigma_control="decay", decay_k=1.0,
                   crossover="arithmetic")
    m, state, x, y = _setup(cfg)
    state.generation = 100
    new, info = ea.generation(m, state, x, y, cfg)
    old, cur = _flat(info.evaluated), _flat(new.population)
    top = old[np.argsort(-info.fitness, kind="stable")[:cfg.n_parents]]
    n_e, n_c, _ = cfg.counts
    means = 0.5 * (top[:, None] + top[None, :])                        # (|T|, |T|, d)
    for k in range(n_e, n_e + n_c):
        assert np.isclose(means, cur[k], rtol=0, atol=1e-12).all(axis=-1).any()
    steps = np.concatenate([cur[k] - top[_nearest(top, cur[k])] for k in range(n_e + n_c, 40)])
    assert np.std(steps) == pytest.approx(1e-3 * 0.99 ** 100, rel=0.1)  # 3.66e-4; σ_0 would be 1e-3


@pytest.mark.parametrize("order", ["lagged", "first"])
@pytest.mark.parametrize("crossover", ["uniform", "arithmetic"])
def test_self_adaptation_order_and_the_codes_sigma_crossover(order, crossover):
    """``sigma_order``: a mutant steps with its parent's σ ("lagged", Eq. 5.4's indices) or with its
    own new σ' = σ·exp(τε) ("first", classic ES). ``sigma_crossover="operator"`` (the code): a
    child's σ is crossed like its weights — one parent's σ (uniform) or their mean (arithmetic)."""
    cfg = EAConfig(population_size=40, batch_size=16, p_elite=0.1, p_crossover=0.5, p_mutation=0.4,
                   selection_proportion=0.25, sigma=1e-4, sigma_control="self-adaptive", tau=1.0,
                   sigma_order=order, sigma_crossover="operator", crossover=crossover)
    m, state, x, y = _setup(cfg)
    state.sigma = np.geomspace(1e-5, 1e-3, 40)
    new, info = ea.generation(m, state, x, y, cfg)
    old, cur = _flat(info.evaluated), _flat(new.population)
    top_t = np.argsort(-info.fitness, kind="stable")[:cfg.n_parents]
    s_t = state.sigma[top_t]
    n_e, n_c, _ = cfg.counts
    allowed = s_t if crossover == "uniform" else 0.5 * (s_t[:, None] + s_t[None, :]).ravel()
    for k in range(n_e, n_e + n_c):
        assert np.isclose(allowed, new.sigma[k], rtol=1e-12).any()
    normalised = []
    for k in range(n_e + n_c, 40):
        j = _nearest(old[top_t], cur[k])
        used = new.sigma[k] if order == "first" else s_t[j]
        normalised.append((cur[k] - old[top_t[j]]) / used)
    assert np.std(np.concatenate(normalised)) == pytest.approx(1.0, rel=0.1)


def test_crossover_pairs_are_ordered_fitter_first():
    """With crossover_rate 1 a uniform-crossover child is its first parent; Algorithm 2 orders each
    pair fitter-first, so children copy the better of two parents drawn from T: mean rank 2.85 of
    |T| = 10 (without the ordering 4.5; the standard error here is about 0.25)."""
    cfg = EAConfig(population_size=100, batch_size=16, p_elite=0.1, p_crossover=0.9, p_mutation=0.0,
                   selection_proportion=0.1, crossover_rate=1.0)
    m, state, x, y = _setup(cfg)
    new, info = ea.generation(m, state, x, y, cfg)
    old, cur = _flat(info.evaluated), _flat(new.population)
    top_t = np.argsort(-info.fitness, kind="stable")[:cfg.n_parents]
    n_e, n_c, _ = cfg.counts
    ranks = [_nearest(old[top_t], cur[k]) for k in range(n_e, n_e + n_c)]
    assert all(np.array_equal(cur[k], old[top_t[r]]) for k, r in zip(range(n_e, n_e + n_c), ranks))
    assert np.mean(ranks) < 3.7
