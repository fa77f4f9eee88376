"""Tests for refimpl.extremal (Patel & Rummel, Eqs. 2.3–2.8) and refimpl.milp (certified maximum)."""
import numpy as np
import pytest

from refimpl import extremal as ex
from refimpl.data import g_true
from refimpl.nn import truncated_normal
from refimpl.model import Conv2D, Dense, Flatten, Sequential, mlp
from refimpl.optim import SGD, Adam


# ------------------------------------------------------------------------------------------
# Losses at hand-computed points, every branch, continuity at the boundaries
# ------------------------------------------------------------------------------------------

def test_maximization_and_minimization_loss_eq_2_3():
    y = np.array([0.0, 2.0, -3.0])
    np.testing.assert_allclose(ex.maximization_loss(y, kappa=0.5), [1 / 0.5, 1 / 4.5, 1 / 9.5])
    np.testing.assert_allclose(ex.maximization_loss(y), [1.0, 1 / 5, 1 / 10])
    np.testing.assert_allclose(ex.minimization_loss(y), [0.0, 4.0, 9.0])


def test_positive_output_loss_eq_2_7_branches_and_continuity():
    # κ2 = 10, κ̂ = 1 (Eq. 3.4): y < 0 -> −10y + 1, y >= 0 -> 1/(y² + 1)
    y = np.array([-0.5, -2.0, 0.0, 2.0, 3.0])
    np.testing.assert_allclose(ex.positive_output_loss(y, 10, 1), [6.0, 21.0, 1.0, 1 / 5, 1 / 10])
    # κ̂ = 2: y >= 0 branch is 1/(y² + 1/2); both branches equal κ̂ at y = 0
    np.testing.assert_allclose(ex.positive_output_loss(np.array([-1.0, 1.0]), 3, 2), [5.0, 1 / 1.5])
    for k2, kh in [(10, 1), (3, 2), (0.5, 0.25)]:
        left = ex.positive_output_loss(np.array([-1e-9]), k2, kh)[0]
        right = ex.positive_output_loss(np.array([1e-9]), k2, kh)[0]
        assert left == pytest.approx(kh, abs=1e-7) and right == pytest.approx(kh, abs=1e-7)


def test_extrapolation_loss_eq_2_6_branches_and_continuity():
    mu, sigma = np.array([0.0, 1.0]), np.array([1.0, 0.5])     # window: [-2, 2] and [0, 2] at c = 2
    L = lambda x, **kw: ex.extrapolation_loss(np.array(x, float), mu, sigma, c=2, kappa1=0.5, **kw)
    assert L([-3.0, 1.0]) == pytest.approx(0.5 * 1.0)            # below: (x - μ + cσ)² = (−3 + 2)²
    assert L([0.0, 1.0]) == 0.0                                  # inside
    assert L([2.5, 2.5]) == pytest.approx(0.5 * (0.25 + 0.25))   # above: (x - μ - cσ)²
    assert L([-2.0, -1.0]) == pytest.approx(0.5 * 1.0)           # x1 below 0 by 1
    # exactly on the window edges the penalty is 0, and it rises continuously (quadratically)
    for edge in ([-2.0, 0.0], [2.0, 2.0]):
        assert L(edge) == 0.0
        for d in (1e-4, -1e-4):
            assert L(np.array(edge) + d) <= 0.5 * 2 * d ** 2 + 1e-15
    # batch: (B, m) -> (B,), and κ1 scales linearly
    xb = np.array([[-3.0, 1.0], [2.5, 2.5], [0.0, 1.0]])
    np.testing.assert_allclose(ex.extrapolation_loss(xb, mu, sigma, 2, 1.0), [1.0, 0.5, 0.0])
    # the authors' notebook variant drops the upper branch only
    assert L([2.5, 2.5], upper=False) == 0.0
    assert L([-3.0, 1.0], upper=False) == pytest.approx(0.5)


def test_positive_input_loss_eq_2_8():
    x = np.array([[-2.0, 3.0, -0.5], [1.0, 0.0, 2.0]])
    np.testing.assert_allclose(ex.positive_input_loss(x, kappa3=2.0), [5.0, 0.0])
    np.testing.assert_allclose(ex.positive_input_loss(x, 2.0, mask=[True, False, False]), [4.0, 0.0])
    assert ex.positive_input_loss(np.array([-1e-12, 0.0]), 1.0) == pytest.approx(1e-12)


def test_total_loss_eq_2_5_adds_the_terms():
    x, y = np.array([[3.0, -1.0]]), np.array([2.0])
    cons = [lambda x, y: ex.extrapolation_loss(x, [0, 0], [1, 1], 2, 1.0), lambda x, y: ex.positive_input_loss(x, 1.0)]
    got = ex.total_loss(x, y, lambda y: ex.maximization_loss(y, 1.0), cons)
    np.testing.assert_allclose(got, [1 / 5 + 1.0 + 1.0])


# ------------------------------------------------------------------------------------------
# extremize
# ------------------------------------------------------------------------------------------

def _bowl(params, x):
    """f(x) = 3 − ‖x − a‖², maximum 3 at a."""
    return 3.0 - ((x - params["a"]) ** 2).sum(axis=-1, keepdims=True)


def test_one_gradient_descent_step_is_eq_2_4_against_finite_differences():
    a = {"a": np.array([0.3, -0.2])}
    mu, sigma = np.zeros(2), np.full(2, 0.25)
    cons = [lambda x, y: ex.extrapolation_loss(x, mu, sigma, 2, 0.5)]
    loss = lambda x: ex.total_loss(x[None], _bowl(a, x[None])[:, 0], lambda y: ex.maximization_loss(y, 1.0), cons)[0]
    x0 = np.array([0.9, -0.7])                                    # outside the window: all terms active
    eps = 1e-6
    g = np.array([(loss(x0 + eps * e) - loss(x0 - eps * e)) / (2 * eps) for e in np.eye(2)])
    res = ex.extremize(_bowl, a, x0[None], objective="max", kappa=1.0, constraints=cons,
                       optimizer=SGD(lr=0.1), steps=1)
    np.testing.assert_allclose(res.x[0], x0 - 0.1 * g, rtol=1e-7, atol=1e-9)


def test_extremize_finds_the_maximum_from_many_starts():
    a = {"a": np.array([0.5, -1.0, 0.25])}
    x0 = np.random.default_rng(0).standard_normal((16, 3))
    res = ex.extremize(_bowl, a, x0, objective=lambda y: ex.positive_output_loss(y, 10, 1),
                       optimizer=Adam(lr=0.05), steps=3000)
    np.testing.assert_allclose(res.x, np.broadcast_to(a["a"], (16, 3)), atol=1e-2)
    np.testing.assert_allclose(res.y, 3.0, atol=1e-4)
    assert res.trajectory["x"].shape[1:] == (16, 3) and res.trajectory["step"][-1] == 3000
    assert res.trajectory["step"][0] == 0 and np.array_equal(res.trajectory["x"][0], x0)


def test_lbfgs_baseline_reaches_the_maximum_and_respects_bounds():
    a = {"a": np.array([0.5, -1.0, 0.25])}
    x0 = np.random.default_rng(0).standard_normal((5, 3))
    res = ex.extremize_lbfgs(_bowl, a, x0, objective=lambda y: ex.positive_output_loss(y, 10, 1))
    np.testing.assert_allclose(res.x, np.broadcast_to(a["a"], (5, 3)), atol=1e-4)
    lo, hi = np.full(3, -0.5), np.full(3, 0.4)                  # the box excludes a: optimum = clip(a)
    res = ex.extremize_lbfgs(_bowl, a, x0, objective=lambda y: -y, bounds=(lo, hi))
    np.testing.assert_allclose(res.x, np.broadcast_to(np.clip(a["a"], lo, hi), (5, 3)), atol=1e-6)
    np.testing.assert_allclose(res.y, _bowl(a, res.x)[:, 0])


def test_eq_2_3_maximization_rewards_large_negative_outputs_too():
    # [f² + κ]⁻¹ only sees f²: from a start where f < 0, it drives f to −∞ (the module notes)
    a = {"a": np.zeros(1)}
    res = ex.extremize(_bowl, a, np.array([[3.0]]), objective="max", optimizer=Adam(lr=0.05), steps=300)
    assert res.y[0] < -20


def test_minimization_drives_output_to_zero():
    lin = lambda p, x: x @ np.array([[1.0], [-2.0]]) + 5.0
    res = ex.extremize(lin, None, np.array([[1.0, 1.0]]), objective="min", optimizer=SGD(lr=0.02), steps=400)
    assert abs(res.y[0]) < 1e-6


def test_multistart_equals_separate_runs():
    model = mlp(3, [8, 8], 1)
    params = model.init(1)
    x0 = np.random.default_rng(2).standard_normal((4, 3))
    cons = [lambda x, y: ex.extrapolation_loss(x, np.zeros(3), np.ones(3), 1.0, 1.0)]
    kw = dict(objective=lambda y: ex.positive_output_loss(y, 10, 1), constraints=cons,
              optimizer=Adam(lr=0.01), steps=200)
    together = ex.extremize(model, params, x0, **kw)
    for b in range(4):
        alone = ex.extremize(model, params, x0[b], **kw)          # single start, no batch axis
        np.testing.assert_allclose(alone.x[0], together.x[b], rtol=1e-10, atol=1e-12)
    assert together.best == int(np.argmin(together.loss))


def test_bounds_project_onto_the_box_and_never_beat_a_grid():
    model = mlp(2, [16, 16], 1, kernel_init="glorot_uniform", bias_init="random_uniform")
    params = model.init(3, dtype=np.float64)
    lo, hi = np.array([-1.0, -0.5]), np.array([1.0, 0.5])
    res = ex.extremize(model, params, np.random.default_rng(0).uniform(-2, 2, (8, 2)),
                       objective=lambda y: ex.positive_output_loss(y, 10, 1), optimizer=Adam(lr=0.02),
                       steps=400, bounds=(lo, hi))
    assert np.all(res.trajectory["x"] >= lo) and np.all(res.trajectory["x"] <= hi)
    g = np.stack(np.meshgrid(np.linspace(-1, 1, 401), np.linspace(-0.5, 0.5, 201)), -1).reshape(-1, 2)
    grid_max = model.apply(params, g)[:, 0].max()
    assert res.y.max() <= grid_max + 0.01                     # grid spacing 5e-3 × Lipschitz


def test_classifier_output_index():
    model = mlp(4, [8], 3)
    params = model.init(0)
    x0 = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 4))
    with pytest.raises(ValueError, match="output_index"):
        ex.extremize(model, params, x0, steps=5)
    with pytest.raises(ValueError, match="output_index"):
        ex.extremize(model, params, x0, output_index=3, steps=5)
    res = ex.extremize(model, params, x0, output_index=2, steps=200, optimizer=Adam(lr=0.01),
                       objective=lambda y: ex.positive_output_loss(y, 10, 1),
                       constraints=[lambda x, y: ex.extrapolation_loss(x, np.zeros(4), np.ones(4), 1, 1)])
    start = model.apply(params, x0)[:, 2]
    assert np.all(res.y > start)
    np.testing.assert_allclose(res.y, model.apply(params, res.x)[:, 2])


@pytest.mark.parametrize("bad, match", [
    (dict(x_init=np.zeros(3)), "x_init must have shape"),
    (dict(x_init=np.zeros((2, 5))), "x_init must have shape"),
    (dict(x_init=np.zeros((2, 1, 4))), "x_init must have shape"),
    (dict(x_init=np.full(4, np.nan)), "NaN"),
    (dict(kappa=0.0), "kappa"),
    (dict(kappa=-1.0), "kappa"),
    (dict(steps=0), "steps"),
    (dict(objective="maximize"), "objective"),
    (dict(bounds=([0, 0], [1, 1, 1])), "bounds"),
    (dict(bounds=(1.0, 0.0)), "lo > hi"),
    (dict(bounds=(np.nan, 1.0)), "bounds contain NaN"),
    (dict(params="nan"), "parameter array contains NaN"),
])
@pytest.mark.parametrize("solver", ["extremize", "extremize_lbfgs"])
def test_bad_input_gives_clear_errors(bad, match, solver):
    model = mlp(4, [8], 1)
    params = model.init(0)
    kw = dict(x_init=np.zeros(4), steps=3) if solver == "extremize" else dict(x_init=np.zeros(4))
    kw.update(bad)
    if kw.pop("params", None) == "nan":          # the L-BFGS solver returned x = 0, y = NaN
        params[0]["W"][1, 2] = np.nan
    if solver == "extremize_lbfgs" and "steps" in bad:
        pytest.skip("extremize_lbfgs has no steps argument")
    with pytest.raises(ValueError, match=match):
        getattr(ex, solver)(model, params, kw.pop("x_init"), **kw)


def test_complex_start_is_refused():
    model = mlp(4, [8], 1)
    with pytest.raises(TypeError, match="complex"):
        ex.extremize(model, model.init(0), np.zeros(4) + 1j, steps=3)


def test_loss_parameter_errors():
    with pytest.raises(ValueError, match="kappa"):
        ex.maximization_loss(np.ones(2), kappa=0)
    with pytest.raises(ValueError, match="kappa2"):
        ex.positive_output_loss(np.ones(2), kappa2=0)
    with pytest.raises(ValueError, match="kappa_hat"):
        ex.positive_output_loss(np.ones(2), kappa_hat=-1)
    with pytest.raises(ValueError, match="kappa1"):
        ex.extrapolation_loss(np.ones((1, 2)), [0, 0], [1, 1], kappa1=-1)
    with pytest.raises(ValueError, match="features"):
        ex.extrapolation_loss(np.ones((1, 3)), [0, 0], [1, 1])
    with pytest.raises(ValueError, match="sigma"):
        ex.extrapolation_loss(np.ones((1, 2)), [0, 0], [1, -1])
    with pytest.raises(TypeError, match="model"):
        ex.extremize("not a model", None, np.zeros((1, 2)))


# ------------------------------------------------------------------------------------------
# MILP certification (refimpl.milp)
# ------------------------------------------------------------------------------------------

from scipy.optimize import linprog  # noqa: E402

from refimpl.extremal import milp  # noqa: E402


def _random_relu_net(n_in, hidden, seed, n_out=1):
    model = mlp(n_in, hidden, n_out, kernel_init="glorot_uniform", bias_init="random_normal")
    return model, model.init(seed, dtype=np.float64)


def _brute_force_max_2d(model, params, lo, hi, n=301):
    """Grid over the box, then the exact maximum inside every linear region the grid visits
    (one LP per activation pattern: the network is affine there)."""
    layers = milp.dense_relu_layers(model, params)
    g = np.stack(np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n)), -1).reshape(-1, 2)
    grid_max = milp.forward(layers, g)[:, 0].max()
    patterns, a = [], g
    for W, b, act in layers[:-1]:
        z = a @ W + b
        patterns.append(z > 0)
        a = np.maximum(z, 0)
    best = grid_max
    for pattern in np.unique(np.concatenate(patterns, axis=1), axis=0):
        A, c, A_ub, b_ub, k = np.eye(2), np.zeros(2), [], [], 0     # a = x A + c on this region
        for W, b, act in layers[:-1]:
            zA, zc = A @ W, c @ W + b
            on = pattern[k:k + W.shape[1]]
            k += W.shape[1]
            sgn = np.where(on, -1.0, 1.0)                            # on: z >= 0, off: z <= 0
            A_ub.append((zA * sgn).T), b_ub.append(-zc * sgn)
            A, c = zA * on, zc * on
        W, b, _ = layers[-1]
        res = linprog(-(A @ W[:, 0]), A_ub=np.concatenate(A_ub), b_ub=np.concatenate(b_ub),
                      bounds=list(zip(lo, hi)), method="highs")
        if res.status == 0:
            best = max(best, milp.forward(layers, res.x[None])[0, 0])
    return grid_max, best


def _tent_net(seed):
    """2 -> 10 -> 8 -> 1 ReLU net ≈ −|x0 − 0.3137| − |x1 + 0.2171| plus small random ripples, so the
    maximum sits at an interior kink (off any grid) rather than at a corner of the box."""
    model, params = _random_relu_net(2, [10, 8], seed)
    W1, b1 = params[0]["W"], params[0]["b"]
    W1[:, :4], b1[:4] = [[1, -1, 0, 0], [0, 0, 1, -1]], [-0.3137, 0.3137, 0.2171, -0.2171]
    params[1]["W"][:, 0], params[1]["b"][0] = np.r_[1, 1, 1, 1, np.zeros(6)], 0.0
    params[2]["W"][:, 0] = np.r_[-1.0, 0.1 * params[2]["W"][1:, 0]]
    return model, params


@pytest.mark.parametrize("net", ["tent0", "tent1", "random0", "random1", "random2"])
def test_milp_matches_brute_force_in_2d(net):
    seed = int(net[-1])
    if net.startswith("tent"):
        model, params = _tent_net(seed)
    else:
        model, params = _random_relu_net(2, [[8, 8], [12, 6], [10]][seed], seed)
    lo, hi = np.array([-1.0, -0.5]), np.array([1.5, 1.0])
    res = milp.maximize_relu_network(model, params, lo, hi)
    grid_max, exact = _brute_force_max_2d(model, params, lo, hi)
    assert res.status == 0
    assert res.value == pytest.approx(exact, abs=1e-6)
    assert res.bound == pytest.approx(exact, abs=1e-6)
    assert res.value >= grid_max - 1e-9
    assert np.all(res.x >= lo) and np.all(res.x <= hi)


@pytest.mark.parametrize("n_in, hidden, seed", [(3, [16, 8], 3), (4, [20, 10], 4), (5, [12, 12, 6], 5)])
def test_milp_bound_dominates_samples_and_extremal_learning(n_in, hidden, seed):
    model, params = _random_relu_net(n_in, hidden, seed)
    rng = np.random.default_rng(seed)
    lo, hi = -rng.uniform(0.5, 1.5, n_in), rng.uniform(0.5, 1.5, n_in)
    res = milp.maximize_relu_network(model, params, lo, hi)
    samples = rng.uniform(lo, hi, (20_000, n_in))
    f = model.apply(params, samples)[:, 0]
    assert res.status == 0
    assert res.bound >= f.max() - 1e-9 and res.value >= f.max() - 1e-9
    assert res.value == pytest.approx(float(model.apply(params, res.x[None])[0, 0]), abs=1e-12)
    assert res.objective == pytest.approx(res.value, abs=1e-6)
    # no extremal-learning result (projected onto the same box) exceeds the certified maximum
    el = ex.extremize(model, params, rng.uniform(lo, hi, (32, n_in)), optimizer=Adam(lr=0.01), steps=300,
                      objective=lambda y: ex.positive_output_loss(y, 10, 1), bounds=(lo, hi))
    assert el.trajectory["y"].max() <= res.bound + 1e-9
    # minimization is the mirror problem
    low = milp.maximize_relu_network(model, params, lo, hi, sense="min")
    assert low.bound <= f.min() + 1e-9 and low.value <= f.min() + 1e-9


def test_interval_and_tightened_bounds_enclose_sampled_preactivations():
    model, params = _random_relu_net(3, [10, 7, 5], 6)
    layers = milp.dense_relu_layers(model, params)
    lo, hi = np.array([-1.0, 0.0, -2.0]), np.array([0.5, 1.0, -1.0])
    interval = milp.interval_bounds(layers, lo, hi)
    tight = milp.tighten_bounds(layers, lo, hi)
    corners = np.array(np.meshgrid(*zip(lo, hi))).reshape(3, -1).T
    a = np.concatenate([corners, np.random.default_rng(0).uniform(lo, hi, (20_000, 3))])
    for (W, b, act), (l, u), (tl, tu) in zip(layers, interval, tight):
        z = a @ W + b
        assert np.all(z >= l) and np.all(z <= u)          # rigorous enclosure: no slack needed
        assert np.all(z >= tl - 1e-9) and np.all(z <= tu + 1e-9)
        assert np.all(tl >= l) and np.all(tu <= u)
        a = np.maximum(z, 0) if act == "relu" else z
    assert sum(np.sum(tu - tl) for tl, tu in tight[1:]) < sum(np.sum(u - l) for l, u in interval[1:])


def test_milp_with_and_without_tightening_agree():
    model, params = _random_relu_net(3, [12, 8], 8)
    lo, hi = -np.ones(3), np.ones(3)
    plain = milp.maximize_relu_network(model, params, lo, hi, tighten=False)
    tight = milp.maximize_relu_network(model, params, lo, hi, tighten=True)
    assert tight.value == pytest.approx(plain.value, abs=1e-7)
    assert tight.n_binary <= plain.n_binary


def test_milp_multi_output_and_errors():
    model, params = _random_relu_net(2, [6], 7, n_out=3)
    with pytest.raises(ValueError, match="output_index"):
        milp.maximize_relu_network(model, params, -1, 1)
    res = milp.maximize_relu_network(model, params, -1, 1, output_index=2)
    g = np.stack(np.meshgrid(np.linspace(-1, 1, 201), np.linspace(-1, 1, 201)), -1).reshape(-1, 2)
    assert res.bound >= model.apply(params, g)[:, 2].max() - 1e-9
    with pytest.raises(ValueError, match="lo <= hi"):
        milp.maximize_relu_network(model, params, 1, -1, output_index=0)
    with pytest.raises(ValueError, match="sense"):
        milp.maximize_relu_network(model, params, -1, 1, output_index=0, sense="maximum")
    sig = mlp(2, [4], 1, activation="sigmoid")
    with pytest.raises(ValueError, match="activation"):
        milp.maximize_relu_network(sig, sig.init(0), -1, 1)
    conv = Sequential((1, 4, 4), (Conv2D(2, 3, activation="relu"), Flatten(), Dense(1)))
    with pytest.raises(ValueError, match="Conv2D"):
        milp.maximize_relu_network(conv, conv.init(0), -1, 1)


# ------------------------------------------------------------------------------------------
# The chapter's seeded Sec. 3 run (acceptance: x̂ within 0.25 of x̂_true, g_true(x̂) within 0.2)
# ------------------------------------------------------------------------------------------

def test_sec3_single_start_lands_near_the_analytic_constrained_optimum():
    """The chapter's default run (seed 0, quick scale), single start, against Eq. 3.7.

    ŷ_true = 1 + 2σ2 − exp(−2σ3) is g_true (Eq. 3.1, no noise) at x̂_true = [0, 0, −2σ2, −2σ3].
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chapters"))
    import extremal_learning as chapter

    rng = np.random.default_rng(0)                 # the chapter's default --seed
    cfg = chapter.SCALES["quick"]
    x, y, mu, sigma, model, fitted = chapter.fit_health_network(rng, cfg)
    assert x.shape == (1000, 4) and np.all(np.abs(x) <= 1)
    np.testing.assert_allclose(sigma, 2 / np.sqrt(12), atol=0.03)      # uniform on [−1, 1]
    starts = truncated_normal(rng, (cfg["starts"], 4), bound=1.0)
    assert np.all(np.abs(starts) <= 1)
    L1, L2 = chapter.sec3_losses(mu, sigma)
    el = ex.extremize(model, fitted.params, starts[0], objective=L2, constraints=[L1],
                      optimizer=Adam(lr=cfg["el_lr"]), steps=cfg["el_steps"])
    x_true = np.array([0.0, 0.0, -2 * sigma[2], -2 * sigma[3]])
    y_true = 1 + 2 * sigma[2] - np.exp(-2 * sigma[3])
    assert g_true(x_true) == pytest.approx(y_true, abs=1e-12)
    print("x̂", el.x[0], "g_true(x̂)", g_true(el.x[0]), "ŷ_true", y_true)
    assert np.all(np.abs(el.x[0] - x_true) <= 0.25)
    assert abs(g_true(el.x[0]) - y_true) <= 0.2
