"""Golden cases of document ``thesis`` ch. 4–5 (Prellberg; ``refimpl.thesis``).

Every random draw an operator makes (crossover masks, mutation noise, the ε of σ self-adaptation,
parent indices) is an input of its case. The draws are taken from the same seeded NumPy stream the
library uses — replayed on a copy of the generator in the library's order — and the export checks
that the operator given those draws reproduces the library's output, so the cases stay honest if
the library's draw order ever changes (the export then fails instead of writing wrong cases).
"""
from __future__ import annotations

import copy

import numpy as np

from ..model import Dense, Sequential
from ..thesis import ea
from ..thesis import operators as ops
from ..thesis.population import evaluate_population
from . import Kind, make_case, unpack

_POP = ("weights (list over layers of (lambda, in, out)), biases (list of (lambda, out)), activations, sigma (lambda,), "
        "inherited (lambda,; NaN = none), x (B, in), y (B,), config, draws")
KINDS = {
    "uniform_crossover": Kind("uniform_crossover(x1, x2, mask) -> child", "child = where(mask, x1, x2) (Eq. 4.1)"),
    "arithmetic_crossover": Kind("arithmetic_crossover(x1, x2, w) -> child",
                                 "child = w*x1 + (1-w)*x2, w scalar or one per child (Eq. 4.2)"),
    "normal_mutation": Kind("normal_mutation(x, sigma, noise) -> z",
                            "z = x + sigma*noise, sigma scalar or one per individual (Eq. 4.3)"),
    "decayed_sigma": Kind("decayed_sigma(sigma0, generation, k) -> sigma", "sigma0 * 0.99^(generation/k) (Eq. 5.3)"),
    "self_adapt_sigma": Kind("self_adapt_sigma(sigma, tau, eps) -> sigma", "sigma * exp(tau*eps) (Eq. 5.4)"),
    "inherit_fitness": Kind("inherit_fitness(inherited, evaluated, alpha) -> fitness",
                            "(1-alpha)*inherited + alpha*evaluated; evaluated where inherited is NaN (Eq. 5.2)"),
    "truncation_selection": Kind("truncation_selection(fitness, n) -> indices",
                                 "the n highest fitness values, best first, ties by lower index, NaN worst (Sec. 4.5)"),
    "plus_selection": Kind("plus_selection(parent_fitness, offspring_fitness, mu) -> indices",
                           "(mu + lambda): truncation selection on concatenate(parents, offspring) (Sec. 4.5)"),
    "offspring_counts": Kind("offspring_counts(lam, p_elite, p_crossover, p_mutation) -> counts",
                             "[n_E, n_C, n_M]: largest-remainder apportionment of lam (sums to lam)"),
    "n_truncation": Kind("n_truncation(lam, rho) -> n", "floor(rho*lam) (Algorithm 2, line 6)"),
    "ea_generation": Kind(
        f"ea_generation({_POP}) -> {{loss, fitness, weights, biases, sigma, inherited}}",
        "one generation of Algorithm 2 (refimpl.thesis.ea.generation): loss = mean cross-entropy per individual; "
        "fitness u = inherit_fitness(inherited, -loss, alpha); order = truncation of u; T = order[:n_T]; elites = "
        "order[:n_E]; pairs = T[draws.pairs] swapped so the fitter parent is first; mutants = T[draws.mutants]; "
        "children = uniform crossover with draws.masks (or arithmetic, w = 1/2); mutated = parent + sigma_m * "
        "draws.noise (sigma_m = sigma[mutants], or under self-adaptation sigma[mutants]*exp(tau*draws.sigma_eps) "
        "carried to the next generation); new population = elites + children + mutated; sigma (elites': theirs; "
        "children: the mean of the parents' under self-adaptation, else the constant; mutants: sigma_m or its "
        "self-adapted value) and inherited (u[elites], mean u of the parents, u[mutants]) in the same order"),
}

_OPS = "refimpl.thesis.operators."


def _pop(rng, n=4, d=5):
    return np.round(rng.uniform(-1, 1, (n, d)), 3), np.round(rng.uniform(-1, 1, (n, d)), 3)


def _operator_cases():
    out = []
    rng0 = np.random.default_rng(70)
    x1, x2 = _pop(rng0)
    for name, p in (("uniform_crossover_half", 0.5), ("uniform_crossover_p03", 0.3)):
        rng = np.random.default_rng(71)
        mask = ops._mask(np, copy.deepcopy(rng), x1.shape, p)            # the draw the operator makes
        child = ops.uniform_crossover(x1, x2, rng, p=p)
        assert np.array_equal(child, np.where(mask, x1, x2)), "uniform_crossover's draw order changed"
        out.append(make_case(name, "uniform_crossover", "thesis Eq. 4.1", _OPS + "uniform_crossover",
                             {"x1": x1, "x2": x2, "mask": mask}, {"child": child},
                             reference={"p": p, "seed": 71}))
    for name, w in (("arithmetic_crossover_half", 0.5), ("arithmetic_crossover_per_child", np.array([0.0, 0.25, 0.6, 1.0]))):
        out.append(make_case(name, "arithmetic_crossover", "thesis Eq. 4.2", _OPS + "arithmetic_crossover",
                             {"x1": x1, "x2": x2, "w": w}, {"child": ops.arithmetic_crossover(x1, x2, w=w)}))
    for name, sigma in (("normal_mutation_scalar", 0.01), ("normal_mutation_per_individual", np.array([0.5, 0.01, 1e-3, 2.0]))):
        rng = np.random.default_rng(72)
        noise = copy.deepcopy(rng).standard_normal(x1.shape)
        z = ops.normal_mutation(x1, sigma, rng)
        assert np.array_equal(z, x1 + np.reshape(sigma, (-1, 1) if np.ndim(sigma) else ()) * noise)
        out.append(make_case(name, "normal_mutation", "thesis Eq. 4.3", _OPS + "normal_mutation",
                             {"x": x1, "sigma": sigma, "noise": noise}, {"z": z}))
    gens = np.array([0, 1, 50, 100, 1000, 12345])
    out.append(make_case("decayed_sigma", "decayed_sigma", "thesis Eq. 5.3", _OPS + "decayed_sigma",
                         {"sigma0": 1e-3, "generation": gens, "k": 100.0}, {"sigma": ops.decayed_sigma(1e-3, gens, 100.0)}))
    sig = np.array([1e-3, 2e-3, 5e-4, 1e-2])
    rng = np.random.default_rng(73)
    eps = copy.deepcopy(rng).standard_normal(sig.shape)
    out.append(make_case("self_adapt_sigma", "self_adapt_sigma", "thesis Eq. 5.4", _OPS + "self_adapt_sigma",
                         {"sigma": sig, "tau": 0.5, "eps": eps}, {"sigma": ops.self_adapt_sigma(sig, 0.5, rng)}))
    inh, ev = np.array([np.nan, -0.5, -1.25, 0.0]), np.array([-0.75, -0.25, -1.0, -2.0])
    out.append(make_case("inherit_fitness", "inherit_fitness", "thesis Eq. 5.2", _OPS + "inherit_fitness",
                         {"inherited": inh, "evaluated": ev, "alpha": 0.3},
                         {"fitness": ops.inherit_fitness(inh, ev, 0.3)}, description="NaN = no parent"))
    fit = np.array([-0.3, np.nan, -0.1, -0.3, -2.0, -0.1, 0.5])
    out.append(make_case("truncation_selection", "truncation_selection", "thesis Sec. 4.5", _OPS + "truncation_selection",
                         {"fitness": fit, "n": 5}, {"indices": ops.truncation_selection(fit, 5)},
                         description="ties keep the lower index first; NaN counts as worst"))
    pf, of = np.array([0.2, -0.1, 0.4]), np.array([0.4, 0.1, -0.5, 0.3])
    out.append(make_case("plus_selection", "plus_selection", "thesis Sec. 4.5, Algorithm 1 line 6", _OPS + "plus_selection",
                         {"parent_fitness": pf, "offspring_fitness": of, "mu": 3},
                         {"indices": ops.plus_selection(pf, of, 3)}, description="indices into parents + offspring"))
    for lam, shares in ((1000, (0.05, 0.5, 0.45)), (7, (0.1, 0.45, 0.45)), (10, (0.0, 0.75, 0.25))):
        out.append(make_case(f"offspring_counts_{lam}", "offspring_counts", "Algorithm 2 (Table 5.1 shares)",
                             _OPS + "offspring_counts", {"lam": lam, "p_elite": shares[0], "p_crossover": shares[1],
                                                         "p_mutation": shares[2]},
                             {"counts": np.array(ops.offspring_counts(lam, *shares))}))
    out.append(make_case("n_truncation", "n_truncation", "Algorithm 2, line 6", _OPS + "n_truncation",
                         {"lam": 7, "rho": 0.5}, {"n": ops.n_truncation(7, 0.5)}))
    return out


def _replay_draws(rng, cfg: ea.EAConfig, pop):
    """The draws :func:`refimpl.thesis.ea.generation` makes, in its order, from a copy of its generator."""
    rng = copy.deepcopy(rng)
    n_e, n_c, n_m = cfg.counts
    n_t = cfg.n_parents
    d = {"pairs": rng.integers(0, n_t, size=(n_c, 2)), "mutants": rng.integers(0, n_t, size=n_m)}
    shapes = [[(n_c,) + np.shape(p[k])[1:] for p in pop] for k in ("W", "b")]
    if cfg.crossover == "uniform":
        masks = [ops._mask(np, rng, s, cfg.crossover_rate) for pair in zip(*shapes) for s in pair]
        d["masks"] = {"weights": masks[0::2], "biases": masks[1::2]}
    d["sigma_eps"] = rng.standard_normal(n_m) if cfg.sigma_control == "self-adaptive" else None
    noise = [rng.standard_normal((n_m,) + np.shape(p[k])[1:]) for p in pop for k in ("W", "b")]
    d["noise"] = {"weights": noise[0::2], "biases": noise[1::2]}
    return d


def _generation_cases():
    out = []
    model = Sequential((3,), (Dense(4, "relu"), Dense(3, "linear")))
    specs = [("ea_generation_constant_uniform", ea.EAConfig(population_size=8, batch_size=5, p_elite=0.125,
                                                             p_crossover=0.5, p_mutation=0.375, sigma=0.05), None),
             ("ea_generation_selfadaptive_arithmetic",
              ea.EAConfig(population_size=8, batch_size=5, p_elite=0.25, p_crossover=0.25, p_mutation=0.5,
                          selection_proportion=0.75, fitness_inheritance=0.5, sigma=0.05,
                          sigma_control="self-adaptive", tau=0.2, crossover="arithmetic"),
              np.array([-1.2, -0.9, np.nan, -1.1, -1.0, -1.3, -0.95, -1.05]))]
    for i, (name, cfg, inherited) in enumerate(specs):
        rng = np.random.default_rng(80 + i)
        pop = model.init(rng, dtype=np.float64, population=cfg.population_size)
        x, y = np.round(rng.uniform(-1, 1, (cfg.batch_size, 3)), 3), rng.integers(0, 3, cfg.batch_size)
        sigma = np.full(cfg.population_size, cfg.sigma) if inherited is None else \
            np.round(cfg.sigma * np.exp(0.3 * rng.standard_normal(cfg.population_size)), 5)
        inherited = np.full(cfg.population_size, np.nan) if inherited is None else inherited
        state = ea.EAState(pop, sigma, inherited, 0, np.random.default_rng(90 + i))
        draws = _replay_draws(state.rng, cfg, pop)
        new, info = ea.generation(model, state, x, y, cfg, chunk_size=None)
        _check_replay(model, state, x, y, cfg, draws, info, new)
        before, after = unpack(model, pop), unpack(model, new.population)
        config = {k: v for k, v in cfg.__dict__.items() if k not in ("batch_size", "decay_k")}
        out.append(make_case(name, "ea_generation", "thesis Algorithm 2 (one generation), Eqs. 4.1-4.3, 5.2, 5.4",
                             "refimpl.thesis.ea.generation",
                             {"weights": before["weights"], "biases": before["biases"],
                              "activations": before["activations"], "sigma": sigma, "inherited": inherited,
                              "x": x, "y": y, "config": config, "draws": draws},
                             {"loss": info.loss, "fitness": info.fitness, "weights": after["weights"],
                              "biases": after["biases"], "sigma": new.sigma, "inherited": new.inherited},
                             description=f"lambda = 8: (n_E, n_C, n_M) = {cfg.counts}, n_T = {cfg.n_parents}; draws "
                                         f"replayed from np.random.default_rng({90 + i}) in the library's order",
                             reference={"seed": 90 + i, "counts": np.array(cfg.counts), "n_parents": cfg.n_parents}))
    return out


def generation_from_draws(model, pop, sigma, inherited, x, y, cfg: ea.EAConfig, draws: dict) -> dict:
    """Algorithm 2 for one generation with its random draws given (the ``draws`` of the cases): the
    reference the ``ea_generation`` cases are checked against at export. Returns the loss, the fitness
    and the new population (``population``), σ and inherited fitness."""
    lam = cfg.population_size
    n_e = cfg.counts[0]
    loss = evaluate_population(model, pop, x, y, chunk_size=None)
    u = ops.inherit_fitness(inherited, -loss, cfg.fitness_inheritance)
    order = ops.truncation_selection(u, lam)
    t = order[:cfg.n_parents]
    pairs = t[np.asarray(draws["pairs"])]
    swap = u[pairs[:, 1]] > u[pairs[:, 0]]
    pairs[swap] = pairs[swap][:, ::-1]
    mut = t[np.asarray(draws["mutants"])]
    s_m = sigma[mut]
    adaptive = cfg.sigma_control == "self-adaptive"
    s_next = s_m * np.exp(cfg.tau * np.asarray(draws["sigma_eps"])) if adaptive else s_m
    new_pop = []
    for li, p in enumerate(pop):
        layer = {}
        for key, group in (("W", "weights"), ("b", "biases")):
            a, b = p[key][pairs[:, 0]], p[key][pairs[:, 1]]
            child = np.where(draws["masks"][group][li], a, b) if cfg.crossover == "uniform" else 0.5 * a + 0.5 * b
            mutant = p[key][mut] + s_m.reshape((-1,) + (1,) * (a.ndim - 1)) * draws["noise"][group][li]
            layer[key] = np.concatenate([p[key][order[:n_e]], child, mutant])
        new_pop.append(layer)
    sigma_now = sigma if adaptive else np.full(lam, float(cfg.sigma))
    sig_c = 0.5 * (sigma_now[pairs[:, 0]] + sigma_now[pairs[:, 1]]) if adaptive else sigma_now[pairs[:, 0]]
    return {"loss": loss, "fitness": u, "population": new_pop,
            "sigma": np.concatenate([sigma_now[order[:n_e]], sig_c, s_next]),
            "inherited": np.concatenate([u[order[:n_e]], 0.5 * (u[pairs[:, 0]] + u[pairs[:, 1]]), u[mut]])}


def _check_replay(model, state, x, y, cfg, draws, info, new):
    """The library's generation must equal :func:`generation_from_draws` with the replayed draws."""
    ref = generation_from_draws(model, state.population, state.sigma, state.inherited, x, y, cfg, draws)
    same = all(np.array_equal(a[k], b[k]) for a, b in zip(ref["population"], new.population) for k in a)
    same &= np.array_equal(ref["sigma"], new.sigma) and np.array_equal(ref["fitness"], info.fitness)
    same &= np.array_equal(ref["inherited"], new.inherited, equal_nan=True)
    assert same, "refimpl.thesis.ea.generation no longer matches its draws (its draw order changed?)"


def cases() -> list[dict]:
    """Every thesis case."""
    return _operator_cases() + _generation_cases()
