"""Thesis ch. 8: the NES operators (Eqs. 8.15–8.44), the routed multi-task network, Monte Carlo SGD
(Eq. 8.20) and Algorithm 6 (refimpl.thesis.nes, .routed, .lws)."""
from __future__ import annotations

import sys
from pathlib import Path

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from refimpl import nn
from refimpl.backend import tree_leaves, tree_map
from refimpl.model import Activation, BatchNorm, Conv2D, Dense, Flatten, MaxPool2D, Sequential
from refimpl.thesis import lws, nes, routed

CLASSES = (4, 3, 2)


def _data(rng, n=16, classes=CLASSES, shape=(1, 8, 8)):
    xs = [rng.random((n,) + shape, dtype=np.float32) for _ in classes]
    ys = [rng.integers(0, c, n) for c in classes]
    return xs, ys


def _net(sharing="learned", k=3):
    return lws.dkl_convnet(CLASSES, sharing, n_modules=k, input_shape=(1, 8, 8), channels=4, units=6)


def _max_abs(a, b):
    return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v)))) for u, v in zip(tree_leaves(a), tree_leaves(b)))


# --------------------------------------------------------------------------------------------
# NES operators
# --------------------------------------------------------------------------------------------

def test_the_two_nes_forms_give_the_same_update():
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(4), size=(3, 2))                          # (layers, tasks, K)
    a = nes.sample(pi, 6, rng)
    u = nes.rank_utilities(rng.random(6))
    g_full = nes.search_gradient(pi, a, u)
    g_exp = nes.search_gradient(nes.expectation_parameters(pi), a, u, form="expectation")
    np.testing.assert_allclose(g_exp, g_full[..., :-1], atol=1e-15)
    np.testing.assert_allclose(-g_exp.sum(-1), g_full[..., -1], atol=1e-15)   # μ_K = 1 − Σ μ_i
    for lr in (0.01, 0.5, 5.0):                                           # 5.0 exercises the clamp
        full = nes.update(pi, a, u, lr)
        exp = nes.update(nes.expectation_parameters(pi), a, u, lr, form="expectation")
        np.testing.assert_allclose(nes.full_parameters(exp), full, atol=1e-14)


def test_utilities_sum_to_zero_are_monotone_and_equally_spaced():
    rng = np.random.default_rng(1)
    for lam in (2, 3, 8, 13):
        losses = np.round(rng.random(lam), 1)                              # ties likely
        for ties in ("average", "first"):
            u = nes.rank_utilities(losses, ties=ties)
            assert abs(u.sum()) < 1e-12 and u.min() >= -1 and u.max() <= 1
            lower = losses[:, None] < losses[None, :]
            assert np.all(u[:, None] > u[None, :] - 1e-12, where=lower)   # lower loss, higher utility
            if ties == "average":
                assert np.all(u[:, None] == u[None, :], where=losses[:, None] == losses[None, :])
        distinct = rng.permutation(lam) * 1.0
        u = nes.rank_utilities(distinct)
        np.testing.assert_allclose(np.sort(u), np.linspace(-1, 1, lam))
        assert u[np.argmin(distinct)] == 1 and u[np.argmax(distinct)] == -1
    np.testing.assert_allclose(nes.rank_utilities([0.5, 0.2, 0.5, 0.9, 0.2, 0.7]), [0, 0.8, 0, -1, 0.8, -0.6])
    np.testing.assert_allclose(nes.rank_utilities([0.5, 0.2, 0.5, 0.9, 0.2, 0.7], ties="first"),
                               [-0.2, 0.6, 0.2, -1, 1, -0.6])


def test_update_equals_the_utility_weighted_one_hot_sum():
    rng = np.random.default_rng(2)
    pi = rng.dirichlet(np.ones(3) * 5, size=4)
    a = nes.sample(pi, 8, rng)
    u = nes.rank_utilities(rng.random(8))
    lr = 0.01                                                              # small: no clamping
    expected = pi + lr / 8 * np.einsum("i,ink->nk", u, nes.one_hot(a, 3))
    np.testing.assert_allclose(nes.update(pi, a, u, lr, p_min=0.0), expected, atol=1e-15)


def test_pi_stays_a_distribution_after_clamping():
    rng = np.random.default_rng(3)
    pi = nes.uniform((5, 2), 4)
    for _ in range(200):
        a = nes.sample(pi, 4, rng)
        pi = nes.update(pi, a, nes.rank_utilities(rng.random(4)), 2.0)
        np.testing.assert_allclose(pi.sum(-1), 1.0, atol=1e-12)
        assert pi.min() >= 0.001 / (1 + 4 * (0.001 + 2.0))


def test_log_derivative_is_the_natural_gradient_of_the_exponential_family():
    """Eqs. 8.13–8.15 and 8.31: d/dα [α·T(x) − A_nat(α)] at α = r_ex(μ) equals T(x) − μ, and
    A_nat(r_ex(μ)) = −log μ_K."""
    mu = np.array([0.2, 0.5, 0.1])                                         # K = 4, μ_K = 0.2
    alpha = nes.natural_parameters(mu)
    np.testing.assert_allclose(nes.log_partition(alpha), -np.log(0.2), atol=1e-14)
    h = 1e-6
    for x in range(4):
        def logp(al):
            return al @ nes.sufficient_statistic(np.array(x), 4) - nes.log_partition(al)
        fd = [(logp(alpha + h * e) - logp(alpha - h * e)) / (2 * h) for e in np.eye(3)]
        np.testing.assert_allclose(fd, nes.log_derivative(mu, np.array([x]), form="expectation")[0], atol=1e-8)


def test_nes_concentrates_on_the_module_a_loss_prefers():
    rng = np.random.default_rng(4)
    target = np.array([[2, 0, 1], [1, 1, 0]])

    def loss(a):                                                           # deterministic preference
        return (a != target).sum(axis=(1, 2)).astype(float)
    pi = nes.uniform(target.shape, 3)
    for _ in range(150):
        pi, info = nes.step(pi, loss, 8, 0.1, rng)
    assert np.all(nes.mode(pi) == target)
    assert np.take_along_axis(pi, target[..., None], -1).min() > 0.95
    assert nes.entropy(pi).max() < 0.3


def test_samples_follow_pi():
    rng = np.random.default_rng(5)
    pi = np.array([[0.1, 0.6, 0.3], [0.999, 0.0005, 0.0005]])
    a = nes.sample(pi, 20000, rng)
    freq = nes.one_hot(a, 3).mean(0)
    np.testing.assert_allclose(freq, pi, atol=0.015)
    np.testing.assert_allclose(nes.log_prob(pi, a[:3]), np.log(pi[0, a[:3, 0]]) + np.log(pi[1, a[:3, 1]]))


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------

def test_bad_input_gives_clear_errors():
    rng = np.random.default_rng(6)
    pi = nes.uniform((2,), 3)
    with pytest.raises(ValueError, match="K must be"):
        nes.uniform(2, 0)
    with pytest.raises(ValueError, match="K must be"):
        lws.dkl_convnet(CLASSES, "learned", n_modules=0, input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="lambda_pi >= 2"):
        nes.rank_utilities([1.0])
    with pytest.raises(ValueError, match="lambda_pi >= 2"):
        nes.step(pi, lambda a: np.zeros(len(a)), 1, 0.1, rng)
    with pytest.raises(ValueError, match="lam_pi >= 2"):
        lws.LWSConfig(lam_pi=1)
    for lr in (0.0, -1.0):
        with pytest.raises(ValueError, match="must be > 0"):
            nes.update(pi, np.zeros((2, 2), int), [1.0, -1.0], lr)
        with pytest.raises(ValueError, match="must be > 0"):
            lws.LWSConfig(lr_pi=lr)
    with pytest.raises(ValueError, match=r"lie in \[0, 3\)"):
        nes.update(pi, np.array([[0, 3], [1, 1]]), [1.0, -1.0], 0.1)
    with pytest.raises(ValueError, match="utilities must be finite"):   # π became all NaN
        nes.update(pi, np.zeros((2, 2), int), [np.nan, 0.0], 0.1)
    with pytest.raises(ValueError, match="NaN"):
        nes.step(pi, lambda a: np.array([0.0, np.nan, 1.0]), 3, 0.1, rng)
    net = _net()
    params, state = net.init(rng), net.init_state()
    xs, ys = _data(rng)
    bad = np.zeros(net.pi_shape[:2], int)
    bad[1, 2] = 3
    with pytest.raises(ValueError, match=r"outside \[0, K\).*routed layer 1, task 2"):
        routed.apply(net, params, state, xs, bad)
    bad[1, 2] = -1
    with pytest.raises(ValueError, match="outside"):
        routed.mc_objective(net, params, state, xs, ys, bad)
    with pytest.raises(ValueError, match="no examples"):
        routed.apply(net, params, state, [xs[0], xs[1][:0], xs[2]], np.zeros(net.pi_shape[:2], int))
    with pytest.raises(ValueError, match="needs >= 1"):
        lws.train(net, [(xs[0], ys[0]), (xs[1][:0], ys[1][:0]), (xs[2], ys[2])], lws.LWSConfig(iterations=1), 0)
    with pytest.raises(ValueError, match="same number of examples"):
        routed.mc_objective(net, params, state, [xs[0], xs[1][:8], xs[2]], [ys[0], ys[1][:8], ys[2]],
                            np.zeros(net.pi_shape[:2], int))
    with pytest.raises(ValueError, match="not split into groups"):
        routed.group_batch_norm(np.zeros((5, 2)), np.ones(2), np.zeros(2), {}, 2, training=True)


# --------------------------------------------------------------------------------------------
# The routed network
# --------------------------------------------------------------------------------------------

def test_group_batch_norm_and_max_pool_match_the_core_in_value_and_gradient():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(12, 5, 3, 3))
    gamma, beta, w = rng.normal(size=5), rng.normal(size=5), rng.normal(size=x.shape)
    st = {"mean": np.zeros(5), "var": np.ones(5)}

    def ours(x, gamma, beta):
        return anp.sum(routed.group_batch_norm(x, gamma, beta, st, 4, training=True)[0] * w)

    def core(x, gamma, beta):
        parts = [nn.batch_norm(x[i:i + 4], gamma, beta, st["mean"], st["var"], training=True)[0] for i in (0, 4, 8)]
        return anp.sum(anp.concatenate(parts) * w)
    assert abs(ours(x, gamma, beta) - core(x, gamma, beta)) < 1e-12
    for arg in range(3):
        np.testing.assert_allclose(grad(ours, arg)(x, gamma, beta), grad(core, arg)(x, gamma, beta), atol=1e-12)
    for shape in ((2, 3, 4, 4), (2, 3, 5, 7)):
        x = rng.normal(size=shape)
        x[0, 0, 0, 0] = x[0, 0, 0, 1] = 9.0                                # a tie inside one window
        w = rng.normal(size=nn.max_pool2d(x, 2).shape)
        np.testing.assert_array_equal(routed._max_pool2(x), nn.max_pool2d(x, 2))
        np.testing.assert_allclose(grad(lambda x: anp.sum(routed._max_pool2(x) * w))(x),
                                   grad(lambda x: anp.sum(nn.max_pool2d(x, 2) * w))(x), atol=1e-15)


def _sequential_task_net(net, params, task, module=0):
    """The full-sharing network of one task as a core Sequential model (an independent forward)."""
    layers, ps = [], []
    for b, mods in zip(net.blocks, params["layers"]):
        p = mods[module]
        if isinstance(b, routed.ConvBlock):
            layers += [Conv2D(b.filters, 3, use_bias=False), BatchNorm(), Activation("relu"), MaxPool2D(2)]
            ps += [{"W": p["W"]}, {"gamma": p["gamma"], "beta": p["beta"]}, {}, {}]
        else:
            layers += [Flatten(), Dense(b.units, "relu")]
            ps += [{}, {"W": p["W"], "b": p["b"]}]
    layers.append(Dense(net.n_classes[task]))
    ps.append(params["heads"][task])
    return Sequential(net.input_shape, tuple(layers)), ps


def test_full_sharing_assignment_equals_the_full_sharing_baseline():
    rng = np.random.default_rng(8)
    learned, full = _net("learned"), _net("full")
    params = learned.init(rng)
    state = tree_map(lambda s: s + rng.uniform(0, 0.5, s.shape).astype(np.float32), learned.init_state())
    fp = {"layers": [[mods[0]] for mods in params["layers"]], "heads": params["heads"]}
    fs = {"layers": [[mods[0]] for mods in state["layers"]]}
    xs, _ = _data(rng)
    zeros = np.zeros(learned.pi_shape[:2], int)
    for training in (False, True):
        ours, new_state = routed.apply(learned, params, state, xs, zeros, training=training)
        base, base_state = routed.apply(full, fp, fs, xs, np.zeros((0, 3), int), training=training)
        assert _max_abs(ours, base) == 0.0
        assert _max_abs([m[0] for m in new_state["layers"]], [m[0] for m in base_state["layers"]]) == 0.0
        for t in range(3):                                                 # and against the core's Sequential
            model, ps = _sequential_task_net(learned, params, t)
            seq_state = [{"mean": fs["layers"][0][0]["mean"], "var": fs["layers"][0][0]["var"]} if i == 1 else
                         {"mean": fs["layers"][1][0]["mean"], "var": fs["layers"][1][0]["var"]} if i == 5 else
                         {"mean": fs["layers"][2][0]["mean"], "var": fs["layers"][2][0]["var"]} if i == 9 else {}
                         for i in range(len(model.layers))]
            ref = model.apply(ps, xs[t], seq_state, training=training)
            np.testing.assert_allclose(ours[t], ref, atol=2e-5)
    ident = np.tile(np.arange(3), (learned.pi_shape[0], 1))
    none = _net("none")
    ours, _ = routed.apply(learned, params, state, xs, ident, training=True)
    base, _ = routed.apply(none, params, state, xs, np.zeros((0, 3), int), training=True)
    assert _max_abs(ours, base) == 0.0                                     # K = T and a[l, t] = t: no sharing


def test_one_batched_pass_equals_one_pass_per_sample():
    rng = np.random.default_rng(9)
    net = _net()
    params, state = net.init(rng), net.init_state()
    xs, _ = _data(rng)
    a = nes.sample(nes.uniform(net.pi_shape[:2], 3), 6, rng)
    a[3] = a[1]                                                            # duplicates are merged
    for dedup in (True, False):
        for training in (False, True):
            logits, leaf, _ = routed.forward(net, params, state, dict(enumerate(xs)), a, training=training, dedup=dedup)
            for s in range(6):
                single, _ = routed.apply(net, params, state, xs, a[s], training=training)
                for t in range(3):
                    j = leaf[(s, t)][0]
                    np.testing.assert_allclose(logits[t][j * 16:(j + 1) * 16], single[t], atol=1e-5)


def test_monte_carlo_gradient_is_the_mean_of_per_sample_gradients():
    rng = np.random.default_rng(10)
    net = _net()
    params, state = net.init(rng), net.init_state()
    xs, ys = _data(rng)
    a = nes.sample(nes.uniform(net.pi_shape[:2], 3), 5, rng)
    a[4] = a[0]
    per = [lws.mc_gradient(net, params, state, xs, ys, a[s]) for s in range(5)]
    mean_grad = tree_map(lambda *g: sum(g) / 5, *[p[1] for p in per])
    for kw in ({"dedup": True}, {"dedup": False}, {"method": "loop"}):
        value, g, _ = lws.mc_gradient(net, params, state, xs, ys, a, **kw)
        assert abs(value - np.mean([p[0] for p in per])) < 1e-5
        assert _max_abs(g, mean_grad) < 1e-5
    # the loss is the mean over tasks of each task's mean cross-entropy (Eq. 8.16)
    logits, _ = routed.apply(net, params, state, xs, a[0], training=True)
    assert abs(per[0][0] - np.mean([nn.cross_entropy(z, y) for z, y in zip(logits, ys)])) < 1e-6
    losses = routed.sample_losses(net, params, state, xs, ys, a)
    logits, _ = routed.apply(net, params, state, xs, a[2])
    assert abs(losses[2] - np.mean([nn.cross_entropy(z, y) for z, y in zip(logits, ys)])) < 1e-6


def test_running_statistics_move_once_towards_the_mean_of_the_sub_batches():
    rng = np.random.default_rng(11)
    net = _net("full")
    params, state = net.init(rng), net.init_state()
    xs, _ = _data(rng)
    _, new = routed.apply(net, params, state, xs, np.zeros((0, 3), int), training=True)
    y = [nn.conv2d(x, params["layers"][0][0]["W"]) for x in xs]
    mean = np.mean([v.mean(axis=(0, 2, 3)) for v in y], axis=0)
    var = np.mean([v.var(axis=(0, 2, 3)) for v in y], axis=0)
    np.testing.assert_allclose(new["layers"][0][0]["mean"], 0.1 * mean, atol=1e-6)
    np.testing.assert_allclose(new["layers"][0][0]["var"], 0.9 + 0.1 * var, atol=1e-6)


def test_parameter_counts_of_configurations():
    net, full, none = _net(), _net("full"), _net("none")
    conv1, conv2, dense = 4 * 9 + 8, 4 * 4 * 9 + 8, 4 * 6 + 6
    heads = sum(6 * c + c for c in CLASSES)
    assert full.count_params() == conv1 + 2 * conv2 + dense + heads
    assert none.count_params() == 3 * (conv1 + 2 * conv2 + dense) + heads
    a = np.array([[0, 0, 0], [0, 1, 1], [2, 1, 0], [1, 1, 1]])
    assert net.count_params(a) == conv1 + 2 * conv2 + 3 * conv2 + dense + heads
    assert full.count_params() <= net.count_params(a) <= none.count_params()
    # the DKL-MNIST net of Sec. 8.5.1 at 28×28 flattens 32·3·3 = 288 features (as the code)
    assert lws.dkl_convnet().shapes[-2] == (32, 3, 3)


def test_evaluate_pools_over_all_test_examples():
    rng = np.random.default_rng(12)
    net = _net("none")
    params, state = net.init(rng), net.init_state()
    tests = [(rng.random((n, 1, 8, 8), dtype=np.float32), rng.integers(0, c, n)) for n, c in zip((5, 30, 7), CLASSES)]
    ev = routed.evaluate(net, params, state, tests, np.zeros((0, 3), int), batch_size=4)
    logits, _ = routed.apply(net, params, state, [x for x, _ in tests], np.zeros((0, 3), int))
    wrong = [int(np.sum(np.argmax(z, -1) != y)) for z, (_, y) in zip(logits, tests)]
    np.testing.assert_allclose(ev["error"], [w / n for w, n in zip(wrong, (5, 30, 7))])
    assert abs(ev["pooled"] - sum(wrong) / 42) < 1e-12 and abs(ev["task_mean"] - np.mean(ev["error"])) < 1e-12


# --------------------------------------------------------------------------------------------
# Algorithm 6
# --------------------------------------------------------------------------------------------

def _tasks(rng, n=40):
    """Three tiny tasks whose label is readable from the image mean."""
    out = []
    for c in CLASSES:
        y = rng.integers(0, c, n)
        x = (rng.random((n, 1, 8, 8)) * 0.2 + y[:, None, None, None] / c).astype(np.float32)
        out.append((x, y))
    return out


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    rng = np.random.default_rng(13)
    tasks = _tasks(rng)
    net = _net()
    cfg = lws.LWSConfig(iterations=6, eval_every=4, lr_pi=0.1, lam_theta=3, lam_pi=3, per_task=8)
    whole = lws.train(net, tasks, cfg, 5, tests=tasks)
    ck = tmp_path / "run.npz"
    lws.train(net, tasks, cfg.replace(iterations=3), 5, tests=tasks, checkpoint=ck)
    resumed = lws.train(net, tasks, cfg, 5, tests=tasks, checkpoint=ck)
    assert _max_abs(whole.params, resumed.params) == 0.0
    assert _max_abs(whole.state, resumed.state) == 0.0
    assert np.array_equal(whole.pi, resumed.pi)
    drop = ("seconds_sgd", "seconds_nes")
    assert {k: v for k, v in whole.history.items() if k not in drop} == \
           {k: v for k, v in resumed.history.items() if k not in drop}
    assert whole.history["iteration"] == [0, 4, 6]
    assert whole.history["entropy"][-1] < np.log(3)
    with pytest.raises(ValueError, match="another network or configuration"):
        lws.train(net, tasks, cfg.replace(lr_pi=0.2), 5, checkpoint=ck)


def test_baselines_run_without_nes_and_learn():
    rng = np.random.default_rng(14)
    tasks = _tasks(rng)
    for sharing in ("full", "none"):
        res = lws.train(_net(sharing), tasks, lws.LWSConfig(iterations=30, eval_every=30, lam_theta=1), 0, tests=tasks)
        assert res.pi.shape == (0, 3, 3) and res.history["seconds_nes"] == 0.0
        assert res.history["pooled_error"][-1] < res.history["pooled_error"][0]


def test_code_gradient_normalisation_factors():
    rng = np.random.default_rng(15)
    net = lws.convnet(CLASSES, (1, 8, 8), channels=(2, 2), units=(3,), n_modules=3, shared_convs=True)
    grads = tree_map(np.ones_like, net.init(rng))
    pi = rng.dirichlet(np.ones(3), size=(1, 3))
    g = lws.normalise_gradients(net, grads, pi)
    assert np.all(g["layers"][0][0]["W"] == 1) and np.all(g["heads"][1]["W"] == 3)
    np.testing.assert_allclose([m["W"][0, 0] for m in g["layers"][2]], 3 / pi[0].sum(0), rtol=1e-6)


def test_sharing_histogram():
    a = np.array([[[0, 0, 0], [0, 1, 2]], [[1, 1, 0], [2, 2, 2]]])       # (runs, layers, T)
    h = lws.sharing_histogram(a, 3)
    np.testing.assert_allclose(h, [[1 / 6, 2 / 6, 3 / 6], [3 / 6, 0, 3 / 6]])
    np.testing.assert_allclose(h.sum(1), 1)


def test_golden_cases_are_deterministic_and_consistent():
    cases = lws.golden_cases()
    assert cases == lws.golden_cases()
    assert {c["name"] for c in cases} == {"rank_utilities_ties", "nes_update", "routed_forward"}
    for c in cases:
        assert {"name", "kind", "equation", "produced_by", "inputs", "expected"} <= c.keys()
    by = {c["name"]: c for c in cases}
    np.testing.assert_allclose(by["rank_utilities_ties"]["expected"]["average"], [0, 0.8, 0, -1, 0.8, -0.6])
    case = by["nes_update"]
    pi, a = np.array(case["inputs"]["pi"]), np.array(case["inputs"]["samples"])
    u = np.array(case["expected"]["utilities"])
    np.testing.assert_allclose(u, [-1, 1, 1 / 3, -1 / 3])
    raw = pi + 0.1 * np.mean(u[:, None, None] * (nes.one_hot(a, 3) - pi), axis=0)   # Alg. 6 line 12 by hand
    raw = np.maximum(raw, 0.001)
    np.testing.assert_allclose(case["expected"]["pi"], raw / raw.sum(-1, keepdims=True), atol=1e-15)
    np.testing.assert_allclose(case["expected"]["mu"], np.array(case["expected"]["pi"])[:, :-1], atol=1e-15)
    f = by["routed_forward"]
    assert len(f["expected"]["logits_eval"]) == 2 and np.shape(f["expected"]["logits_eval"][0]) == (2, 3)


# --------------------------------------------------------------------------------------------
# The chapter script's data helpers
# --------------------------------------------------------------------------------------------

def _chapter():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chapters"))
    import thesis_ch8_lws
    return thesis_ch8_lws


def test_omniglot_loader_reads_the_standard_folders(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(16)
    for split, alphabets in (("images_background", ("Alpha", "Beta")), ("images_evaluation", ("Gamma",))):
        for a in alphabets:
            for c in range(2):
                d = tmp_path / split / a / f"character{c + 1:02d}"
                d.mkdir(parents=True)
                for i in range(5):
                    Image.fromarray((rng.random((6, 6)) > 0.5).astype(np.uint8) * 255).save(d / f"{c}_{i}.png")
    names, n_classes, tasks, tests = _chapter().load_omniglot_tasks(tmp_path)
    assert sorted(names) == ["Alpha", "Beta", "Gamma"] and n_classes == (2, 2, 2)
    for (x, y), (xt, yt) in zip(tasks, tests):
        assert x.shape == (8, 1, 6, 6) and xt.shape == (2, 1, 6, 6) and x.dtype == np.float32
        assert set(np.unique(x)) <= {0.0, 1.0} and sorted(np.bincount(y)) == [4, 4]
    with pytest.raises(FileNotFoundError, match="omniglot"):
        _chapter().load_omniglot_tasks(tmp_path / "missing")


def test_quick_tasks_fall_back_to_digits():
    notes = []
    from _cli import DataSets
    dsets = DataSets()
    names, n_classes, tasks, tests, _ = _chapter().quick_tasks("digits", 500, notes, dsets)
    assert dsets.used == ["digits"]
    assert n_classes == (5, 5, 2) and [len(y) for _, y in tasks] == [500, 500, 500]
    assert all(x.shape[1:] == (1, 8, 8) and int(y.max()) < c for (x, y), c in zip(tasks + tests, n_classes * 2))
    x = np.arange(2 * 28 * 28, dtype=np.float32).reshape(2, 1, 28, 28)
    small = _chapter().to_8x8(x)
    assert small.shape == (2, 1, 8, 8) and small[0, 0, 0, 0] == x[0, 0, 2:5, 2:5].mean()


@pytest.mark.slow
def test_chapter_runs_end_to_end(tmp_path):
    ch = _chapter()
    saved = dict(ch.QUICK)
    ch.QUICK.update(iterations=6, eval_every=3, reps=2, batching_steps=1)
    try:
        ch.main(["--out", str(tmp_path), "--no-progress", "--dataset", "digits"])
    finally:
        ch.QUICK.clear()
        ch.QUICK.update(saved)
    from refimpl.results import read_results
    res = read_results(tmp_path / "results.json")
    assert "table_8_1_quick" in res["tables"] and (tmp_path / "fig8_4_sharing.png").exists()


@pytest.mark.slow
def test_chapter_paper_scale_skips_absent_data_and_resumes_from_its_cache(tmp_path, monkeypatch):
    from PIL import Image
    rng = np.random.default_rng(17)
    for a in ("Alpha", "Beta", "Gamma"):
        for c in range(2):
            d = tmp_path / "data" / "omniglot" / "images_background" / a / f"character{c + 1:02d}"
            d.mkdir(parents=True)
            for i in range(5):
                Image.fromarray((rng.random((16, 16)) > 0.5).astype(np.uint8) * 255).save(d / f"{i}.png")
    monkeypatch.setenv("REFIMPL_DATA", str(tmp_path / "data"))
    ch = _chapter()
    monkeypatch.setitem(ch.PAPER_RUNS, "omniglot-convnet",
                        dict(ch.PAPER_RUNS["omniglot-convnet"], iterations=2, reps=2, eval_every=1, n_modules=2))
    monkeypatch.setattr(ch, "measure_batching", lambda *a: {"full sharing (λθ = 1)": 1.0})   # tested at quick scale
    ch.main(["--scale", "paper", "--dataset", "omniglot-convnet", "--out", str(tmp_path / "out"), "--no-progress"])
    from refimpl.results import read_results
    res = read_results(tmp_path / "out" / "results.json")
    assert len(list((tmp_path / "out" / "runs").glob("*.json"))) == 6
    rows = res["tables"]["table_8_3_omniglot-convnet"]["rows"]
    assert rows[-1][0] == "Soft layer ordering" and rows[-1][-1] == "24.1"
    assert res["tables"]["table_8_1"]["rows"][0][1] == "skipped"
    first = res["metrics"]["omniglot-convnet"]["summary"]
    ch.main(["--scale", "paper", "--dataset", "omniglot-convnet", "--out", str(tmp_path / "out"), "--no-progress"])
    assert read_results(tmp_path / "out" / "results.json")["metrics"]["omniglot-convnet"]["summary"] == first
    # every data set of the experiment absent: exit status 3, nothing written (the chapter contract)
    assert ch.main(["--scale", "paper", "--dataset", "dkl", "--out", str(tmp_path / "out2"), "--no-progress"]) == 3
    assert not (tmp_path / "out2" / "results.json").exists()
