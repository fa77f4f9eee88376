"""Tests for refimpl.extremal (Patel & Rummel, Eqs. 2.3–2.8) and refimpl.milp (certified maximum)."""
import numpy as np
import pytest

from refimpl import extremal as ex
from refimpl.model import mlp
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
])
def test_bad_input_gives_clear_errors(bad, match):
    model = mlp(4, [8], 1)
    kw = dict(x_init=np.zeros(4), steps=3)
    kw.update(bad)
    with pytest.raises(ValueError, match=match):
        ex.extremize(model, model.init(0), kw.pop("x_init"), **kw)


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
