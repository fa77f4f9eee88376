"""Per-leaf reverse sweep: the same numbers as autograd.value_and_grad, without container overhead."""
import autograd
import numpy as np
import pytest

from refimpl import nn
from refimpl.autodiff import value_and_grad
from refimpl.backend import tree_leaves
from refimpl.model import cnn, mlp


@pytest.mark.parametrize("make", [lambda: mlp((1, 8, 8), [32, 16], 10, activation="sigmoid"),
                                  lambda: cnn((1, 8, 8), [4], 10, hidden=[8])])
def test_equals_autograd_bit_for_bit(make):
    model = make()
    params, state = model.init(0), model.init_state()
    rng = np.random.default_rng(1)
    x = rng.random((16, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 10, 16)

    def loss(p):
        return nn.cross_entropy(model.apply(p, x, state, training=True), y)

    v_ref, g_ref = autograd.value_and_grad(loss)(params)
    v, g = value_and_grad(loss)(params)
    assert v == v_ref
    assert len(tree_leaves(g)) == len(tree_leaves(params))
    for a, b in zip(tree_leaves(g), tree_leaves(g_ref)):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_extra_arguments_unused_leaves_and_errors():
    params = {"a": np.array([1.0, 2.0]), "unused": np.ones(3)}
    v, g = value_and_grad(lambda p, k: k * np.sum(p["a"] ** 2))(params, 3.0)
    assert v == 15.0
    np.testing.assert_array_equal(g["a"], [6.0, 12.0])
    np.testing.assert_array_equal(g["unused"], np.zeros(3))
    v, g = value_and_grad(lambda p: np.float64(2.0))(params)       # constant function
    assert v == 2.0 and not np.any(g["a"])
    with pytest.raises(TypeError, match="scalar-valued"):
        value_and_grad(lambda p: p["a"] * 2)(params)


def test_has_aux_returns_the_auxiliary_results_detached_and_the_same_gradient():
    model = cnn((1, 8, 8), [4], 10)
    params, state = model.init(0), model.init_state()
    rng = np.random.default_rng(2)
    x, y = rng.random((16, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, 16)

    def loss_and_aux(p):
        out, new_state = model.apply_with_state(p, x, state, training=True)
        return nn.cross_entropy(out, y), (out, new_state)

    (v, (out, new_state)), g = value_and_grad(loss_and_aux, has_aux=True)(params)
    v_ref, g_ref = value_and_grad(lambda p: loss_and_aux(p)[0])(params)
    assert v == v_ref
    for a, b in zip(tree_leaves(g), tree_leaves(g_ref)):
        np.testing.assert_array_equal(a, b)
    assert type(out) is np.ndarray and out.shape == (16, 10)                 # not an autograd box
    np.testing.assert_array_equal(out, model.apply_with_state(params, x, state, training=True)[0])
    assert all(type(a) is np.ndarray for a in tree_leaves(new_state))
    (v, aux), g = value_and_grad(lambda p: (np.float64(1.0), {"k": 3}), has_aux=True)(params)
    assert v == 1.0 and aux == {"k": 3} and not np.any(tree_leaves(g)[0])  # constant value: zero gradient
