"""Optimizers: one step against the update formulas; convergence on a quadratic."""
import numpy as np
import pytest

from refimpl.backend import tree_leaves
from refimpl.optim import SGD, Adam, Adamax, AdamW, get_optimizer


def test_first_steps_match_formulas():
    p = {"w": np.array([1.0, -2.0])}
    g = {"w": np.array([0.5, 0.25])}
    lr = 0.1
    # SGD (Eq. 2.8)
    np.testing.assert_allclose(SGD(lr).update(p, g, SGD(lr).init(p))[0]["w"], p["w"] - lr * g["w"])
    # momentum: two steps with the same gradient -> v2 = mu*g + g
    opt = SGD(lr, momentum=0.9)
    q, s = opt.update(p, g, opt.init(p))
    q, s = opt.update(q, g, s)
    np.testing.assert_allclose(q["w"], p["w"] - lr * g["w"] - lr * 1.9 * g["w"])
    # Adam: after one step, m̂ = g, v̂ = g², so the step is lr·g/(|g| + eps')
    q, s = Adam(lr).update(p, g, Adam(lr).init(p))
    np.testing.assert_allclose(q["w"], p["w"] - lr * np.sign(g["w"]), rtol=1e-6)
    # AdamW: decay applied to the parameters before the Adam step
    q, _ = AdamW(lr, weight_decay=0.1).update(p, g, AdamW(lr).init(p))
    np.testing.assert_allclose(q["w"], p["w"] * (1 - lr * 0.1) - lr * np.sign(g["w"]), rtol=1e-6)
    # Adamax: u = |g|, m̂ = g -> step lr·sign(g)
    q, s = Adamax(lr).update(p, g, Adamax(lr).init(p))
    np.testing.assert_allclose(q["w"], p["w"] - lr * np.sign(g["w"]), rtol=1e-6)
    assert s["step"] == 1


@pytest.mark.parametrize("opt", [SGD(0.1), SGD(0.05, momentum=0.9, nesterov=True), Adam(0.1),
                                 AdamW(0.1, weight_decay=0.0), Adamax(0.1)])
def test_converges_on_quadratic_and_keeps_dtype(opt):
    target = np.array([3.0, -1.0, 0.5], dtype=np.float32)
    params = [{"w": np.zeros(3, np.float32)}]
    state = opt.init(params)
    for _ in range(500):
        grads = [{"w": 2 * (params[0]["w"] - target)}]
        params, state = opt.update(params, grads, state)
    assert params[0]["w"].dtype == np.float32
    np.testing.assert_allclose(params[0]["w"], target, atol=1e-2)


def test_pure_updates_do_not_mutate_inputs():
    p = {"w": np.ones(2)}
    opt = Adam()
    state = opt.init(p)
    opt.update(p, {"w": np.ones(2)}, state)
    np.testing.assert_array_equal(p["w"], 1)
    np.testing.assert_array_equal(state["m"]["w"], 0)


def test_invalid_hyperparameters():
    with pytest.raises(ValueError, match="lr must be > 0"):
        Adam(lr=0)
    for lr in (float("inf"), float("nan")):                   # SGD(lr=inf) was accepted
        with pytest.raises(ValueError, match="lr must be > 0 and finite"):
            SGD(lr=lr)
    with pytest.raises(ValueError, match=r"beta1 must lie in \[0, 1\)"):
        Adam(beta1=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        AdamW(weight_decay=-1)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        get_optimizer("rmsprop")
    assert get_optimizer("AdamW", lr=0.01) == AdamW(lr=0.01)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt", [SGD(0.1), SGD(0.1, momentum=0.9), SGD(0.1, momentum=0.9, nesterov=True),
                                 Adam(0.01), AdamW(0.01), Adamax(0.01)])
def test_inplace_update_equals_pure_update(opt, dtype):
    """The in-place path (fit) and the pure path (the equations as written) agree bit for bit."""
    rng = np.random.default_rng(0)
    params = [{"W": rng.standard_normal((3, 2)).astype(dtype), "b": np.zeros(2, dtype)}, {}]
    state = opt.init(params)
    for _ in range(3):
        grads = [{"W": rng.standard_normal((3, 2)).astype(dtype),
                  "b": rng.standard_normal(2).astype(dtype)}, {}]
        pure, pure_state = opt.update(params, grads, state)
        W_before = params[0]["W"].copy()
        inplace, state = opt.update(params, grads, state, inplace=True)
        assert inplace[0]["W"] is params[0]["W"]                      # the same buffers ...
        assert not np.array_equal(params[0]["W"], W_before)           # ... overwritten
        np.testing.assert_array_equal(inplace[0]["W"], pure[0]["W"])  # with the same numbers
        np.testing.assert_array_equal(inplace[0]["b"], pure[0]["b"])
        assert inplace[0]["W"].dtype == pure[0]["W"].dtype == dtype
        for k in set(state) - {"step"}:
            if state[k] is not None:
                for a, b in zip(tree_leaves(state[k]), tree_leaves(pure_state[k])):
                    np.testing.assert_array_equal(a, b)
        assert state["step"] == pure_state["step"]
        params = inplace
