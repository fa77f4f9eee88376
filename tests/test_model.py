"""Sequential model descriptions: shapes, editing, serialisation, population forward."""
import numpy as np
import pytest
from autograd import grad

from refimpl import nn
from refimpl.model import (AvgPool2D, BatchNorm, Conv2D, Dense, Flatten, GlobalAvgPool2D, MaxPool2D,
                           Sequential, cnn, layer_from_dict, mlp)


def test_mlp_shapes_and_parameter_count():
    m = mlp((1, 28, 28), [500, 500], 10, activation="sigmoid")
    assert isinstance(m.layers[0], Flatten)
    assert m.shapes == [(1, 28, 28), (784,), (500,), (500,), (10,)]
    assert m.count_params() == 784 * 500 + 500 + 500 * 500 + 500 + 500 * 10 + 10
    p = m.init(0)
    assert [sorted(d) for d in p] == [[], ["W", "b"], ["W", "b"], ["W", "b"]]
    assert p[1]["W"].shape == (784, 500) and p[1]["W"].dtype == np.float32


def test_forward_equals_hand_written_composition():
    m = mlp(4, [3], 2, activation="tanh")
    p = m.init(np.random.default_rng(1), dtype=np.float64)
    x = np.random.default_rng(2).standard_normal((5, 4))
    expected = np.tanh(x @ p[0]["W"] + p[0]["b"]) @ p[1]["W"] + p[1]["b"]
    np.testing.assert_allclose(m.apply(p, x), expected, rtol=1e-12)


def test_editing_returns_new_checked_models():
    m = mlp(8, [16, 16], 3)
    wider = m.replace(1, Dense(32, "relu"))
    assert wider.shapes[2] == (32,) and m.shapes[2] == (16,)   # the original is untouched
    deeper = m.insert(1, Dense(16, "linear"))
    assert len(deeper.layers) == 4 and deeper.weight_layers() == [0, 1, 2, 3]
    assert len(m.remove(1).layers) == 2
    with pytest.raises(ValueError, match="layer 0 .*Conv2D"):
        Sequential((8,), (Conv2D(4),))
    with pytest.raises(ValueError, match="insert Flatten"):
        Sequential((1, 8, 8), (Dense(4),))


def test_cnn_with_batchnorm_trains_state_and_round_trips():
    m = cnn((1, 8, 8), [4, 8], 10, hidden=[16])
    assert m.output_shape == (10,)
    p, s = m.init(0), m.init_state()
    x = np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32)
    y, s2 = m.apply_with_state(p, x, s, training=True)
    assert y.shape == (6, 10)
    assert not np.allclose(s2[1]["mean"], s[1]["mean"])          # running statistics moved
    assert Sequential.from_dict(m.to_dict()) == m
    assert layer_from_dict({"type": "MaxPool2D", "size": 3}) == MaxPool2D(3)
    g = grad(lambda q: nn.cross_entropy(m.apply_with_state(q, x, s, training=True)[0], np.arange(6)))(p)
    assert g[0]["W"].shape == p[0]["W"].shape
    with pytest.raises(ValueError, match="needs its state"):
        m.apply(p, x)


def test_pool_layers_and_global_pool_shapes():
    m = Sequential((3, 9, 9), (AvgPool2D(3), MaxPool2D(2, 1, "same"), GlobalAvgPool2D(), BatchNorm()))
    assert m.shapes == [(3, 9, 9), (3, 3, 3), (3, 3, 3), (3,), (3,)]


def test_population_forward_equals_separate_networks():
    m = mlp((1, 8, 8), [32, 16], 10)
    P = 4
    pop = m.init(np.random.default_rng(3), population=P)
    x = np.random.default_rng(4).random((7, 1, 8, 8), dtype=np.float32)
    out = m.apply(pop, x)
    assert out.shape == (P, 7, 10)
    for i in range(P):
        single = [{k: v[i] for k, v in layer.items()} for layer in pop]
        np.testing.assert_allclose(out[i], m.apply(single, x), rtol=1e-5, atol=1e-6)


def test_bad_input():
    m = mlp(4, [3], 2)
    p = m.init(0)
    with pytest.raises(ValueError, match=r"does not end in the model's input shape \(4,\)"):
        m.apply(p, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="params has 1 entries"):
        m.apply(p[:1], np.zeros((2, 4)))
    with pytest.raises(ValueError, match="unknown initializer"):
        Dense(3, kernel_init="xavier")
    with pytest.raises(ValueError, match="positive int"):
        Dense(0)
    with pytest.raises(ValueError, match="unknown layer type"):
        layer_from_dict({"type": "LSTM"})
