"""Every batched path of refimpl, run on a device and on NumPy with the same inputs, compared.

Shared by ``test_gpu.py`` (real CuPy on a CUDA device) and ``test_fake_device.py`` (the CuPy
stand-in of ``fake_cupy.py`` on the CPU). Each ``check_*`` function takes the device's array
module (``cupy`` as imported, real or fake), moves host inputs there with
``refimpl.backend.to_device(..., "gpu")``, and asserts that

* the results stay on the device (``is_cupy``) where the function returns arrays, and
* they equal the NumPy results within the tolerance below.

Tolerance (float32 computations): ``RTOL = 1e-5`` relative, ``ATOL = 1e-5`` absolute. The two
backends use different matrix-product kernels (summation order) and a different sigmoid formula
(``refimpl.nn.sigmoid``); both round at about 1e-7 per operation in float32. Random draws differ
between backends by design (``refimpl.thesis.operators``), so the EA generation is compared on
everything that does not depend on them (losses, fitness, selection, elites, parent choice) and
on the statistics of what does (crossover masks, mutation noise).
"""
from __future__ import annotations

import numpy as np
import pytest

from refimpl import nn
from refimpl.backend import asnumpy, is_cupy, to_device, tree_leaves
from refimpl.extremal import learning as ext
from refimpl.model import (Activation, AvgPool2D, BatchNorm, Conv2D, Dense, GlobalAvgPool2D, MaxPool2D, Sequential,
                           mlp)
from refimpl.optim import SGD, Adam, Adamax, AdamW
from refimpl.thesis import ea, population
from refimpl.train import evaluate, predict

RTOL, ATOL = 1e-5, 1e-5


def dev(tree):
    return to_device(tree, "gpu")


def close(device_result, host_result, rtol=RTOL, atol=ATOL):
    """``device_result`` is on the device and equals ``host_result`` within the tolerance."""
    for d, h in zip(tree_leaves(device_result), tree_leaves(host_result)):
        assert is_cupy(d), f"result left the device: {type(d)}"
        assert d.shape == np.shape(h) and d.dtype == np.asarray(h).dtype, (d.shape, d.dtype, np.shape(h))
        np.testing.assert_allclose(asnumpy(d), h, rtol=rtol, atol=atol)


def check_losses(cp):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 32, 10)).astype(np.float32)       # a population of 3
    labels = rng.integers(0, 10, 32)
    labels[0] = 9
    pred2, target2 = rng.standard_normal((3, 32, 4)).astype(np.float32), rng.standard_normal((32, 4)).astype(np.float32)
    logit1, y01 = rng.standard_normal((3, 32)).astype(np.float32), rng.integers(0, 2, 32)
    d_logits, d_labels, d_pred2, d_target2, d_logit1, d_y01 = dev([logits, labels, pred2, target2, logit1, y01])
    close(nn.cross_entropy(d_logits, d_labels), nn.cross_entropy(logits, labels))
    close(nn.cross_entropy(d_logits[0], labels), nn.cross_entropy(logits[0], labels))  # host labels: copied
    close(nn.accuracy(d_logits, d_labels), nn.accuracy(logits, labels))
    close(nn.mse(d_pred2, d_target2), nn.mse(pred2, target2))
    close(nn.mse(d_pred2, target2), nn.mse(pred2, target2))                              # host target: copied
    close(nn.mse(d_logit1[0], d_logit1[1]), nn.mse(logit1[0], logit1[1]))
    close(nn.weighted_binary_cross_entropy(d_logit1, d_y01, 2.5), nn.weighted_binary_cross_entropy(logit1, y01, 2.5))
    close(nn.softmax(d_logits), nn.softmax(logits))
    close(nn.sigmoid(d_logits), nn.sigmoid(logits))
    nn.check_labels(d_labels, 10)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 9\)"):
        nn.check_labels(d_labels, 9)
    with pytest.raises(ValueError, match="one per example"):
        nn.cross_entropy(d_logits, d_labels[:5])


def check_dense_population_forward(cp):
    rng = np.random.default_rng(1)
    x = rng.random((20, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 10, 20)
    for model in (population.thesis_network((1, 8, 8), pool=2, hidden=(16, 8), n_out=10),
                  mlp((1, 8, 8), [12], 10, activation="sigmoid")):
        pop = model.init(0, population=6)
        d_pop, d_x, d_y = dev([pop, x, y])
        close(model.apply(d_pop, d_x), model.apply(pop, x))
        host = population.evaluate_population(model, pop, x, y)
        for chunk in ("auto", None, 4):
            np.testing.assert_allclose(population.evaluate_population(model, d_pop, d_x, d_y, chunk_size=chunk),
                                       host, rtol=RTOL, atol=ATOL)


def _conv_model():
    # 9x9 -> conv stride 2 -> 5x5 -> avg pool "same" -> 3x3 -> conv 2 valid -> 2x2 -> max pool "same" -> 1x1
    return Sequential((3, 9, 9), (Conv2D(4, 3, stride=2, use_bias=False), BatchNorm(), Activation("relu"),
                                  AvgPool2D(2, padding="same"), Conv2D(5, 2, padding="valid", activation="sigmoid"),
                                  MaxPool2D(2, padding="same"), GlobalAvgPool2D(), Dense(7)))


def check_conv_forward(cp):
    model = _conv_model()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 3, 9, 9)).astype(np.float32)
    params, state = model.init(0), model.init_state()
    d_params, d_x = dev([params, x])
    d_state = model.init_state(like=d_params)
    assert is_cupy(d_state[1]["mean"]) and is_cupy(d_state[1]["var"])
    for training in (True, False):
        host_out, host_state = model.apply_with_state(params, x, state, training=training)
        for s in (d_state, state):                  # state made on the device, or host state (copied)
            out, new_state = model.apply_with_state(d_params, d_x, s, training=training)
            close(out, host_out)
            close(new_state[1], host_state[1])


def check_batch_norm(cp):
    rng = np.random.default_rng(3)
    for shape in ((16, 4), (8, 4, 3, 3)):
        x = rng.standard_normal(shape).astype(np.float32)
        gamma, beta = rng.random(4, dtype=np.float32) + 0.5, rng.standard_normal(4).astype(np.float32)
        mean, var = rng.standard_normal(4).astype(np.float32), rng.random(4, dtype=np.float32) + 0.5
        d_x, d_gamma, d_beta = dev([x, gamma, beta])
        for training in (True, False):
            host = nn.batch_norm(x, gamma, beta, mean, var, training=training)
            close(nn.batch_norm(d_x, d_gamma, d_beta, mean, var, training=training), host)       # host statistics
            close(nn.batch_norm(d_x, d_gamma, d_beta, *dev([mean, var]), training=training), host)


def check_train_evaluate(cp):
    rng = np.random.default_rng(4)
    x = rng.random((300, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 10, 300)
    m = mlp((1, 8, 8), [32], 10, activation="sigmoid")
    params = m.init(0)
    d_params, d_x, d_y = dev([params, x, y])
    host = evaluate(m, params, x, y, batch_size=64)
    got = evaluate(m, d_params, d_x, d_y, batch_size=64)
    assert got.keys() == host.keys() == {"loss", "accuracy"}
    assert got["loss"] == pytest.approx(host["loss"], rel=RTOL)
    assert got["accuracy"] == pytest.approx(host["accuracy"], abs=1 / 300 + 1e-12)  # a near-tie may flip
    close(predict(m, d_params, d_x, batch_size=64), predict(m, params, x, batch_size=64))
    with pytest.raises(ValueError, match="labels must lie"):
        evaluate(m, d_params, d_x, dev(np.full(300, 10)))
    # regression targets (mse), and a BatchNorm CNN with its state on the device
    r = mlp((1, 8, 8), [8], 2)
    t = rng.standard_normal((300, 2)).astype(np.float32)
    rp = r.init(1)
    host = evaluate(r, rp, x, t, loss="mse")
    got = evaluate(r, dev(rp), d_x, dev(t), loss="mse")
    assert "accuracy" not in got and got["loss"] == pytest.approx(host["loss"], rel=RTOL)
    c = _conv_model()
    xc = rng.standard_normal((40, 3, 9, 9)).astype(np.float32)
    yc = rng.integers(0, 7, 40)
    cpar = c.init(2)
    d_cpar = dev(cpar)
    host = evaluate(c, cpar, xc, yc, state=c.init_state(), batch_size=16)
    got = evaluate(c, d_cpar, dev(xc), dev(yc), state=c.init_state(like=d_cpar), batch_size=16)
    assert got["loss"] == pytest.approx(host["loss"], rel=RTOL)


def _flat(pop):
    return np.concatenate([asnumpy(a).reshape(a.shape[0], -1) for a in tree_leaves(pop)], axis=1)


def check_ea_generation(cp):
    m = population.thesis_network((1, 6, 6), pool=1, hidden=(16,), n_out=5)
    cfg = ea.EAConfig(population_size=30, batch_size=64, p_elite=0.1, p_crossover=0.5, p_mutation=0.4,
                      selection_proportion=0.3, sigma=1e-2)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 5, 64)
    host_state = ea.init_ea(m, cfg, 11)
    dev_state = ea.init_ea(m, cfg, 11, device="gpu")
    np.testing.assert_array_equal(_flat(dev_state.population), _flat(host_state.population))
    h_new, h_info = ea.generation(m, host_state, x, y, cfg)
    d_new, d_info = ea.generation(m, dev_state, *dev([x, y]), cfg)
    assert all(is_cupy(a) for a in tree_leaves(d_new.population))
    np.testing.assert_allclose(d_info.loss, h_info.loss, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(d_info.fitness, h_info.fitness, rtol=RTOL, atol=ATOL)
    gaps = np.diff(np.sort(h_info.fitness))
    assert gaps.min() > 10 * ATOL, "test setup: fitness values too close to compare selections"
    assert d_info.best == h_info.best
    n_e, n_c, n_m = cfg.counts
    old, h_cur, d_cur = _flat(h_info.evaluated), _flat(h_new.population), _flat(d_new.population)
    np.testing.assert_array_equal(d_cur[:n_e], h_cur[:n_e])                         # elites: copied
    np.testing.assert_allclose(d_new.inherited, h_new.inherited, rtol=RTOL, atol=ATOL)  # same parents chosen
    np.testing.assert_array_equal(d_new.sigma, h_new.sigma)
    # crossover children: every gene from one of the same two parents as the host's child
    # (parent choice is drawn on the host before any device draw), about half from each
    order = np.argsort(-h_info.fitness, kind="stable")
    parents_t = old[order[:cfg.n_parents]]
    from_a = []
    for k in range(n_e, n_e + n_c):
        h_match = h_cur[k][None, :] == parents_t
        a, b = parents_t[np.argsort(-h_match.sum(axis=1), kind="stable")[:2]]
        if h_match.sum(axis=1).max() == h_cur.shape[1]:
            continue                                    # both parents were the same individual
        assert np.all((d_cur[k] == a) | (d_cur[k] == b)), "a child gene comes from neither parent"
        differ = a != b
        from_a.append(d_cur[k][differ] == a[differ])
    share = np.concatenate(from_a).mean()
    assert abs(share - 0.5) < 0.05, share
    # mutants: the host's parent + σ·ε with ε ~ N(0, 1) (5 standard errors)
    eps = []
    for k in range(n_e + n_c, cfg.population_size):
        parent = parents_t[np.argmin(np.abs(parents_t - h_cur[k]).max(axis=1))]
        eps.append((d_cur[k] - parent) / cfg.sigma)
    eps = np.concatenate(eps)
    assert abs(eps.mean()) < 5 / np.sqrt(eps.size) and abs(eps.std() - 1) < 5 / np.sqrt(2 * eps.size)


def check_evolve(cp):
    m = population.thesis_network((1, 6, 6), pool=1, hidden=(8,), n_out=4)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((200, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 4, 200)
    cfg = ea.EAConfig(population_size=10, batch_size=32, sigma=1e-2)
    r = ea.evolve(m, x, y, cfg, generations=3, seed=0, x_val=x[:50], y_val=y[:50], record_every=1, device="gpu")
    assert not any(is_cupy(a) for a in tree_leaves(r.best_params))          # returned on the host
    assert all(is_cupy(a) for a in tree_leaves(r.state.population))        # the run stayed on the device
    assert len(r.history["val_accuracy"]) == 3 and all(0 <= a <= 1 for a in r.history["val_accuracy"])
    host_acc = evaluate(m, r.best_params, x[:50], y[:50])["accuracy"]
    assert r.history["val_accuracy"][-1] == pytest.approx(host_acc, abs=1 / 50 + 1e-12)
    with pytest.raises(ValueError, match="labels must lie"):
        ea.evolve(m, x, np.full(200, 4), cfg, generations=1, device="gpu")


def check_extremal(cp):
    rng = np.random.default_rng(7)
    model = mlp(3, [8], 1, activation="tanh")
    params = model.init(0, dtype=np.float64)
    x = rng.standard_normal((5, 3))
    mu, sigma, mask = np.array([0.1, -0.2, 0.3]), np.array([0.5, 1.0, 0.2]), np.array([True, False, True])
    d_params, d_x = dev([params, x])
    y = ext.network_output(model, params, x)
    d_y = ext.network_output(model, d_params, d_x)
    close(d_y, y)
    close(ext.maximization_loss(d_y, 0.5), ext.maximization_loss(y, 0.5))
    close(ext.minimization_loss(d_y), ext.minimization_loss(y))
    close(ext.positive_output_loss(d_y, 10, 1), ext.positive_output_loss(y, 10, 1))
    for upper in (True, False):
        close(ext.extrapolation_loss(d_x, mu, sigma, 1.0, 0.5, upper=upper),             # host μ, σ: copied
              ext.extrapolation_loss(x, mu, sigma, 1.0, 0.5, upper=upper))
    close(ext.extrapolation_loss(d_x, *dev([mu, sigma])), ext.extrapolation_loss(x, mu, sigma))
    close(ext.positive_input_loss(d_x, 2.0, mask), ext.positive_input_loss(x, 2.0, mask))
    constraints = [lambda x_, y_: ext.extrapolation_loss(x_, mu, sigma), lambda x_, y_: ext.positive_input_loss(x_)]
    close(ext.total_loss(d_x, d_y, ext.maximization_loss, constraints),
          ext.total_loss(x, y, ext.maximization_loss, constraints))
    with pytest.raises(TypeError, match="NumPy arrays only"):
        ext.extremize(model, d_params, x, steps=2)


def check_optimizers(cp):
    rng = np.random.default_rng(8)
    params = [{"W": rng.standard_normal((4, 3)).astype(np.float32), "b": np.zeros(3, np.float32)}, {}]
    grads = [[{"W": rng.standard_normal((4, 3)).astype(np.float32), "b": rng.standard_normal(3).astype(np.float32)}, {}]
             for _ in range(3)]
    for opt in (SGD(0.1, momentum=0.9, nesterov=True), Adam(0.01), AdamW(0.01), Adamax(0.01)):
        for inplace in (False, True):
            hp, hs = [{k: v.copy() for k, v in d.items()} for d in params], opt.init(params)
            dp = dev(params)
            ds = opt.init(dp)
            for g in grads:
                hp, hs = opt.update(hp, g, hs, inplace=inplace)
                dp, ds = opt.update(dp, dev(g), ds, inplace=inplace)
            close(dp, hp, rtol=1e-6, atol=1e-7)


CASES = [check_losses, check_dense_population_forward, check_conv_forward, check_batch_norm, check_train_evaluate,
         check_ea_generation, check_evolve, check_extremal, check_optimizers]
