"""Interval adjoint significance analysis and pruning (document `interval`, Secs. 3.1–3.3)."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest

from refimpl import nn
from refimpl.interval import significance as sg
from refimpl.interval import Interval
from refimpl.model import Conv2D, Dense, Flatten, Sequential, mlp


def small_net(seed=0, act="sigmoid", input_shape=(1, 2, 3), hidden=(5, 4), n_out=3):
    model = mlp(input_shape, list(hidden), n_out, activation=act)
    params = model.init(seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    for p in params:
        if "b" in p:
            p["b"] = rng.normal(0, 0.5, p["b"].shape)
    return model, params


def test_input_box_is_per_feature_min_max():
    x = np.array([[[0.0, 2.0]], [[1.0, -1.0]], [[0.5, 3.0]]])
    box = sg.input_box(x)
    np.testing.assert_array_equal(box.lo, [[0.0, -1.0]])
    np.testing.assert_array_equal(box.hi, [[1.0, 3.0]])
    with pytest.raises(ValueError, match="NaN"):
        sg.input_box(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="N >= 1"):
        sg.input_box(np.zeros((0, 3)))


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "linear"])
def test_analysis_encloses_sampled_values_and_gradients(act):
    """Every hidden value and every gradient ∂Y_k/∂V at sampled inputs lies in the analysis'
    intervals, so max|∇| bounds the sampled gradients; significance is Eq. 1."""
    model, params = small_net(3, act)
    rng = np.random.default_rng(0)
    x = rng.random((400, 1, 2, 3))
    res = sg.analyse(model, params, sg.input_box(x), outputs="each")
    W = [params[i]["W"] for i in (1, 2, 3)]
    b = [params[i]["b"] for i in (1, 2, 3)]
    f = nn.get_activation(act)

    def from_layer(v, l, k):   # Y_k (softmax output) as a function of analysed layer l's value
        for i in range(l, 3):
            z = v @ W[i] + b[i]
            v = f(z) if i < 2 else nn.softmax(z)
        return v[..., k]

    v = x.reshape(400, -1)
    for l in range(3):
        assert res.values[l].contains(v).all()
        grads = np.max([np.abs(autograd.grad(lambda u: anp.sum(from_layer(u, l, k)))(v))
                        for k in range(3)], axis=0)     # max_k |∂Y_k/∂V| at each sample
        assert np.all(grads <= res.adjoint_magnitude[l] * (1 + 1e-12) + 1e-15)
        np.testing.assert_array_equal(res.significance[l], res.values[l].width * res.adjoint_magnitude[l])
        if l < 2:
            v = f(v @ W[l] + b[l])


def test_each_and_all_agree_for_one_output():
    model, params = small_net(1, "tanh", n_out=1)
    box = sg.input_box(np.random.default_rng(2).random((50, 1, 2, 3)))
    a = sg.analyse(model, params, box, outputs="each", output="model")
    b = sg.analyse(model, params, box, outputs="all", output="model")
    for s, t in zip(a.significance, b.significance):
        np.testing.assert_array_equal(s, t)


def test_each_is_max_over_outputs_of_single_output_seeds():
    model, params = small_net(4, "sigmoid")
    box = sg.input_box(np.random.default_rng(5).random((50, 1, 2, 3)))
    res = sg.analyse(model, params, box, outputs="each")
    values, Y = sg.interval_forward(model, params, box)
    per_k = []
    for k in range(3):
        Y.backward(np.eye(3)[k])
        per_k.append([v.adjoint.magnitude for v in values])
    for l in range(3):
        np.testing.assert_array_equal(res.adjoint_magnitude[l], np.max([m[l] for m in per_k], axis=0))


def _apply(pruned, x):
    return pruned.model.apply(pruned.params, pruned.inputs(x))


def test_removing_width_zero_nodes_leaves_outputs_unchanged():
    """A constant input feature and a hidden node with zero incoming weights have intervals of
    width 0; removing them with the bias update of Sec. 3.3 preserves the function."""
    model, params = small_net(6, "sigmoid")
    params[2]["W"][:, 1] = 0.0                         # hidden-2 node 1 is constant σ(b_1)
    rng = np.random.default_rng(1)
    x = rng.random((300, 1, 2, 3))
    x[:, 0, 1, 2] = 0.7                                # input feature 5 is constant
    box = sg.input_box(x, outward=False)
    res = sg.analyse(model, params, box)
    assert res.values[0].width[5] == 0 and res.values[2].width[1] == 0
    assert res.significance[0][5] == 0 and res.significance[2][1] == 0
    pruned = sg.remove_nodes(model, params, {0: [5], 2: [1]}, res.midpoints)
    assert pruned.sizes == [5, 5, 3]
    assert pruned.model.input_shape == (5,) and not isinstance(pruned.model.layers[0], Flatten)
    np.testing.assert_allclose(_apply(pruned, x), model.apply(params, x), rtol=1e-13, atol=1e-15)
    # with outward rounding the widths are a few ulps and the nodes still rank first
    res_o = sg.analyse(model, params, sg.input_box(x))
    assert res_o.ranking(0)[0] == 5 and res_o.ranking(2)[0] == 1
    assert res_o.significance[2][1] < 1e-14


def test_bias_update_is_exact_at_the_midpoint():
    """Removing nodes is exact for inputs where the removed features sit at their midpoints."""
    model, params = small_net(7, "tanh")
    rng = np.random.default_rng(3)
    x = rng.random((200, 1, 2, 3))
    res = sg.analyse(model, params, sg.input_box(x))
    removed = [0, 2, 3]
    pruned = sg.remove_nodes(model, params, {0: removed}, res.midpoints)
    xm = x.reshape(200, -1).copy()
    xm[:, removed] = res.midpoints[0][removed]
    xm = xm.reshape(x.shape)
    np.testing.assert_allclose(_apply(pruned, xm), model.apply(params, xm), rtol=1e-13, atol=1e-15)
    # without the bias update the outputs would differ
    assert not np.allclose(model.apply(params, x), _apply(pruned, x))


def test_removing_a_whole_layer_gives_the_constant_network():
    model, params = small_net(8, "sigmoid")
    x = np.random.default_rng(4).random((100, 1, 2, 3))
    res = sg.analyse(model, params, sg.input_box(x))
    pruned = sg.prune(model, params, res.significance, res.midpoints, layers=1, fraction=1.0)
    assert pruned.sizes[1] == 1
    out = _apply(pruned, x)
    np.testing.assert_allclose(out, np.broadcast_to(out[0], out.shape), rtol=1e-14)
    # equals the network with every hidden-1 node replaced by its midpoint
    W2, b2, W3, b3 = params[2]["W"], params[2]["b"], params[3]["W"], params[3]["b"]
    h1 = res.midpoints[1]
    np.testing.assert_allclose(out[0], nn.sigmoid(h1 @ W2 + b2) @ W3 + b3, rtol=1e-13)


def test_prune_fractions_rankings_and_baselines():
    model, params = mlp((6,), [10, 8], 3, activation="sigmoid"), None
    params = model.init(0, dtype=np.float64)
    x = np.random.default_rng(0).random((80, 6))
    res = sg.analyse(model, params, sg.input_box(x))
    p = sg.prune(model, params, res.significance, res.midpoints, layers="hidden", fraction=0.5)
    assert p.sizes == [6, 5, 4] and p.model.output_shape == (3,)
    np.testing.assert_array_equal(p.kept[1], np.sort(res.ranking(1)[5:]))
    assert p.model.count_params() == 6 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3
    mag = sg.magnitude_scores(model, params)
    np.testing.assert_allclose(mag[1], np.abs(params[1]["W"]).sum(axis=1))
    np.testing.assert_array_equal(sg.random_scores(model, 3)[2], sg.random_scores(model, 3)[2])
    q = sg.prune(model, params, mag, res.midpoints, layers="input", fraction=0.34)
    assert q.sizes == [4, 10, 8] and q.inputs(x).shape == (80, 4)
    assert sg.n_removed(500, 0.25) == 125
    with pytest.raises(ValueError, match="fraction"):
        sg.prune(model, params, mag, res.midpoints, layers=1, fraction=1.5)
    with pytest.raises(ValueError, match="cannot be pruned"):
        sg.prune(model, params, mag, res.midpoints, layers=3, fraction=0.5)


def test_bad_models_and_inputs_raise():
    cnn = Sequential((1, 4, 4), (Conv2D(2), Flatten(), Dense(3)))
    with pytest.raises(ValueError, match="layer 0 is Conv2D"):
        sg.analyse(cnn, cnn.init(0), Interval(np.zeros((1, 4, 4)), np.ones((1, 4, 4))))
    model, params = small_net(0)
    with pytest.raises(ValueError, match="does not match the model input shape"):
        sg.analyse(model, params, Interval(np.zeros(7), np.ones(7)))
    bad = [dict(p) for p in params]
    bad[1]["W"] = bad[1]["W"][:, :4]
    with pytest.raises(ValueError, match=r"params\[1\]\['W'\]"):
        sg.analyse(model, bad, Interval(np.zeros(6), np.ones(6)))
    with pytest.raises(TypeError, match="Interval"):
        sg.analyse(model, params, np.zeros(6))
    with pytest.raises(ValueError, match="outputs"):
        sg.analyse(model, params, Interval(np.zeros(6), np.ones(6)), outputs="sum")
    with pytest.raises(ValueError, match="repeated"):
        sg.remove_nodes(model, params, {1: [0, 0]}, [np.zeros(6), np.zeros(5), np.zeros(4)])
    with pytest.raises(ValueError, match="per-example shape"):
        sg.remove_nodes(model, params, {0: [0]}, [np.zeros(6), np.zeros(5), np.zeros(4)]).inputs(np.zeros((2, 6)))
    mids = [np.zeros(6), np.zeros(5), np.zeros(4)]
    with pytest.raises(ValueError, match="integers"):                  # 0.7 and 1.9 were read as 0 and 1
        sg.remove_nodes(model, params, {1: [0.7, 1.9]}, mids)
    for bad_mid in (np.nan, np.inf):
        m = [np.zeros(6), np.full(5, bad_mid), np.zeros(4)]
        with pytest.raises(ValueError, match="finite"):                 # the biases became NaN / ±∞
            sg.remove_nodes(model, params, {1: [2]}, m)
    with pytest.raises(ValueError, match=r"scores\[1\] has shape \(2,\), but layer 1 has 5 nodes"):
        sg.prune(model, params, [np.ones(6), np.ones(2), np.ones(4)], mids, layers=1, fraction=1.0)


def test_complex_data_or_weights_are_refused():
    model, params = small_net(0)
    with pytest.raises(TypeError, match="complex"):                     # the imaginary part was dropped
        sg.input_box(np.zeros((3, 6)) + 1j)
    bad = [dict(p) for p in params]
    bad[1]["W"] = bad[1]["W"] + 0j
    with pytest.raises(TypeError, match="complex"):
        sg.analyse(model, bad, Interval(np.zeros(6), np.ones(6)))


def test_n_removed_refuses_a_negative_count():
    assert sg.n_removed(5, 0.5) == 2 and sg.n_removed(0, 1.0) == 0
    with pytest.raises(ValueError, match="n must be"):                   # was: -2
        sg.n_removed(-5, 0.5)
