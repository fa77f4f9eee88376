"""Tests of the modification and recommendation modules (Schiessler et al. 2021, Sec. 3.1–3.2)."""
import copy

import numpy as np
import pytest

from refimpl import nn, surgery
from refimpl.model import Dense, Sequential, cnn, mlp

TOL = 1e-10


def random_net(hidden=(6, 5, 4), activation="relu", seed=0, n_in=7, n_out=3, flatten=False):
    """A float64 MLP with random weights *and* biases (so bias handling is exercised)."""
    rng = np.random.default_rng(seed)
    in_shape = (1, n_in) if flatten else (n_in,)
    model = mlp(in_shape, list(hidden), n_out, activation=activation)
    params = model.init(rng, dtype=np.float64)
    for p in params:
        if "b" in p:
            p["b"] = rng.normal(size=p["b"].shape)
    x = rng.normal(size=(50,) + in_shape)
    return model, params, x


def out(model, params, x):
    return np.asarray(model.apply(params, x))


def max_diff(a, b):
    return float(np.max(np.abs(a - b)))


# ---- add neurons (Net2WiderNet, Eqs. 4–8) -------------------------------------------------------

@pytest.mark.parametrize("split", ["outgoing", "incoming"])
@pytest.mark.parametrize("flatten", [False, True])
def test_add_neurons_preserves_relu_network(split, flatten):
    model, params, x = random_net(flatten=flatten)
    before = copy.deepcopy(params)
    for layer in surgery.hidden_layers(model):
        for n_new in (1, 3, 17):
            res = surgery.add_neurons(model, params, layer, n_new, rng=layer + n_new, split=split)
            assert res.model.layers[layer].units == model.layers[layer].units + n_new
            assert max_diff(out(res.model, res.params, x), out(model, params, x)) < TOL
            assert res.param_fraction == pytest.approx(res.model.count_params() / model.count_params())
            assert res.param_fraction > 1
    for p, q in zip(params, before):  # the input is never modified
        for k in p:
            np.testing.assert_array_equal(p[k], q[k])


def test_add_neurons_outgoing_split_is_exact_for_any_activation():
    model, params, x = random_net(activation="tanh")
    res = surgery.add_neurons(model, params, surgery.hidden_layers(model)[1], 4, rng=1, split="outgoing")
    assert max_diff(out(*res, x), out(model, params, x)) < TOL
    with pytest.raises(ValueError, match="incoming"):
        surgery.add_neurons(model, params, surgery.hidden_layers(model)[1], 4, split="incoming")


def test_add_neurons_copies_units_and_splits_outgoing_weights():
    model, params, _ = random_net()
    layer = surgery.hidden_layers(model)[0]
    res = surgery.add_neurons(model, params, layer, 2, rng=3)
    W, W_new = params[layer]["W"], res.params[layer]["W"]
    # every new column is a copy of an old one, and the copies' outgoing rows sum to the original row
    nxt = layer + 1
    for j in range(W.shape[1], W_new.shape[1]):
        src = int(np.flatnonzero(np.all(W == W_new[:, [j]], axis=0))[0])
        group = np.flatnonzero(np.all(W_new == W[:, [src]], axis=0))
        np.testing.assert_allclose(res.params[nxt]["W"][group].sum(0), params[nxt]["W"][src], atol=1e-14)


def test_add_neurons_noise_breaks_symmetry_and_exactness():
    model, params, x = random_net()
    res = surgery.add_neurons(model, params, surgery.hidden_layers(model)[0], 3, rng=0, noise=0.1)
    assert max_diff(out(*res, x), out(model, params, x)) > 1e-6


# ---- add layer (Eq. 3) -------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", [None, "linear"])
def test_add_layer_preserves_relu_network(activation):
    model, params, x = random_net()
    for layer in surgery.hidden_layers(model):
        res = surgery.add_layer(model, params, layer, activation=activation)
        new = res.model.layers[layer + 1]
        assert new.units == model.layers[layer].units
        assert new.activation == (activation or "relu")
        np.testing.assert_array_equal(res.params[layer + 1]["W"], np.eye(new.units))
        np.testing.assert_array_equal(res.params[layer + 1]["b"], 0)
        assert max_diff(out(*res, x), out(model, params, x)) < TOL
        assert len(res.model.layers) == len(model.layers) + 1


def test_add_layer_rejects_non_idempotent_activations():
    model, params, _ = random_net(activation="sigmoid")
    layer = surgery.hidden_layers(model)[0]
    with pytest.raises(ValueError, match="not function preserving"):
        surgery.add_layer(model, params, layer)                       # sigmoid(sigmoid(z)) != sigmoid(z)
    surgery.add_layer(model, params, layer, activation="relu")        # relu after sigmoid outputs is exact
    lin, lparams, _ = random_net(activation="linear")
    with pytest.raises(ValueError, match="not function preserving"):
        surgery.add_layer(lin, lparams, surgery.hidden_layers(lin)[0], activation="relu")
    with pytest.raises(ValueError, match="not function preserving"):
        surgery.add_layer(lin, lparams, surgery.hidden_layers(lin)[0], activation="tanh")


# ---- remove layer (Eqs. 11–12) ----------------------------------------------------------------------

def test_remove_layer_equals_merged_product_for_linear_activation():
    model, params, x = random_net(activation="linear")
    for layer in surgery.hidden_layers(model):
        res = surgery.remove_layer(model, params, layer)
        W, b = params[layer]["W"], params[layer]["b"]
        W2, b2 = params[layer + 1]["W"], params[layer + 1]["b"]
        np.testing.assert_array_equal(res.params[layer]["W"], W @ W2)
        np.testing.assert_array_equal(res.params[layer]["b"], b @ W2 + b2)
        assert max_diff(out(*res, x), out(model, params, x)) < TOL
        assert len(res.model.layers) == len(model.layers) - 1


def test_remove_layer_ignores_relu_and_changes_outputs():
    model, params, x = random_net(activation="relu")
    res = surgery.remove_layer(model, params, surgery.hidden_layers(model)[1])
    assert max_diff(out(*res, x), out(model, params, x)) > 1e-3


# ---- truncated SVD (Eqs. 9–10) ----------------------------------------------------------------------

def test_low_rank_frobenius_error_is_sum_of_dropped_singular_values():
    A = np.random.default_rng(0).normal(size=(9, 6))
    for r in range(1, 7):
        L, R, s = surgery.low_rank(A, r)
        assert abs(np.sum((A - L @ R) ** 2) - np.sum(s[r:] ** 2)) < TOL


def low_rank_net(q=2, activation="relu", seed=1):
    model, params, x = random_net(activation=activation, seed=seed)
    layer = surgery.hidden_layers(model)[1]                            # W: (6, 5)
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(6, q)) @ rng.normal(size=(q, 5))         # rank q
    params[layer]["W"] = W
    return model, params, x, layer


def test_truncate_frobenius_and_exact_at_full_rank():
    model, params, x, layer = low_rank_net(q=2)
    A = params[layer]["W"]
    s = np.linalg.svd(A, compute_uv=False)
    for r in range(1, 6):
        res = surgery.truncate(model, params, layer, r)
        assert isinstance(res.model.layers[layer], Dense) and res.model.layers[layer].units == r
        assert res.model.layers[layer].activation == "linear" and not res.model.layers[layer].use_bias
        A_r = res.params[layer]["W"] @ res.params[layer + 1]["W"]
        assert abs(np.sum((A - A_r) ** 2) - np.sum(s[r:] ** 2)) < TOL
        if r >= 2:  # r >= rank(A): the network is unchanged (ReLU activations and biases kept)
            assert max_diff(out(*res, x), out(model, params, x)) < TOL
    assert max_diff(out(*surgery.truncate(model, params, layer, 1), x), out(model, params, x)) > 1e-6


def test_remove_neurons_projects_onto_leading_singular_subspace():
    model, params, x = random_net()
    layer = surgery.hidden_layers(model)[0]                            # W: (7, 6)
    s = np.linalg.svd(params[layer]["W"], compute_uv=False)
    for k in range(1, 6):
        res = surgery.remove_neurons(model, params, layer, k)
        r = 6 - k
        assert res.model.layers[layer].units == r
        # the reduced layer U_r Σ_r keeps exactly the r leading singular values (Eckart–Young)
        np.testing.assert_allclose(np.linalg.svd(res.params[layer]["W"], compute_uv=False), s[:r], atol=1e-12)
        assert res.param_fraction < 1


def test_remove_neurons_exact_for_linear_layer_at_rank_with_bias_in_row_space():
    model, params, x, layer = low_rank_net(q=2, activation="linear")
    c = np.random.default_rng(5).normal(size=6)
    params[layer]["b"] = c @ params[layer]["W"]                   # non-zero bias in the row space
    res = surgery.remove_neurons(model, params, layer, 3)               # keep r = 2 = rank
    assert max_diff(out(*res, x), out(model, params, x)) < TOL
    # the authors' code projected the bias with Vh^T b (a transpose slip): not exact here
    _, _, Vh = np.linalg.svd(params[layer]["W"])
    slip = copy.deepcopy(res.params)
    slip[layer]["b"] = (Vh.T @ params[layer]["b"])[:2]
    assert max_diff(out(res.model, slip, x), out(model, params, x)) > 1e-6


def test_remove_neurons_wider_than_input():
    model, params, x = random_net(hidden=(9, 4), n_in=3, activation="linear")  # W: (3, 9), rank 3
    layer = surgery.hidden_layers(model)[0]
    params[layer]["b"] = np.zeros(9)
    for k in (1, 6):   # r = 8 (beyond min(in, n) = 3, σ = 0 directions) and r = 3 = rank
        assert max_diff(out(*surgery.remove_neurons(model, params, layer, k), x), out(model, params, x)) < TOL


# ---- identity, bookkeeping, errors ------------------------------------------------------------------

def test_identity_copies():
    model, params, x = random_net()
    res = surgery.identity(model, params)
    assert res.param_fraction == 1 and res.model == model
    res.params[1]["W"][0, 0] = 99.0
    assert params[1]["W"][0, 0] != 99.0


def test_bad_input_gives_clear_errors():
    model, params, _ = random_net(flatten=True)   # layers: Flatten, D6, D5, D4, D3
    hidden = surgery.hidden_layers(model)
    assert hidden == [1, 2, 3]
    with pytest.raises(ValueError, match="at least one must stay"):
        surgery.remove_neurons(model, params, 1, 6)     # removing all 6 units
    with pytest.raises(ValueError, match="at least one must stay"):
        surgery.remove_neurons(model, params, 1, 10)
    for bad in (0, 4, 9, -1):                     # Flatten, the output layer, outside the network
        with pytest.raises(ValueError, match="not a hidden Dense layer"):
            surgery.add_layer(model, params, bad)
        with pytest.raises(ValueError, match="not a hidden Dense layer"):
            surgery.remove_layer(model, params, bad)
    with pytest.raises(TypeError):
        surgery.add_neurons(model, params, 1.0, 2)
    with pytest.raises(ValueError, match="n_new"):
        surgery.add_neurons(model, params, 1, 0)
    with pytest.raises(ValueError, match="rank"):
        surgery.truncate(model, params, 1, 7)
    with pytest.raises(ValueError, match="MLP"):
        surgery.identity(cnn((1, 8, 8), [4], 10), [])
    with pytest.raises(ValueError, match="shape"):
        surgery.identity(model, [dict(p) for p in params[:1]] + [{"W": np.zeros((2, 2)), "b": np.zeros(6)}] + params[2:])


# ---- the exactness claims, for every activation the model module accepts ---------------------------
# The expectations are derived from the activations' measured properties, not from the module's own
# lists, so a new entry in nn.ACTIVATIONS is checked against the documented claims without editing here.

ACTIVATION_NAMES = sorted(nn.ACTIVATIONS)


def _props(name, seed=0):
    """Measured properties of activation ``name`` on random pre-activations (200, 6), float64."""
    phi = nn.get_activation(name)
    z = np.random.default_rng(seed).normal(scale=3.0, size=(200, 6))
    y = np.asarray(phi(z))
    per_unit = np.concatenate([np.asarray(phi(z[:, [j]])) for j in range(z.shape[1])], axis=1)
    return {"elementwise": np.allclose(y, per_unit, atol=1e-12),                 # unit j sees only z_j
            "homogeneous": np.allclose(np.asarray(phi(2.5 * z)), 2.5 * y, atol=1e-12),  # φ(cz) = cφ(z), c > 0
            "z": z, "y": y}


def _composes_to_itself(inserted, preceding):
    """Φ_new(Φ(z)) = Φ(z) on random z: the condition of Eq. 3 for an identity layer to be exact."""
    y = _props(preceding)["y"]
    return np.allclose(np.asarray(nn.get_activation(inserted)(y)), y, atol=1e-12)


def two_activation_net(first, second, seed=0, widths=(6, 5)):
    """Hidden layers Dense(6, first), Dense(5, second), output Dense(3); random weights and biases."""
    rng = np.random.default_rng(seed)
    model = Sequential((7,), (Dense(widths[0], first), Dense(widths[1], second), Dense(3)))
    params = model.init(rng, dtype=np.float64)
    for p in params:
        p["b"] = rng.normal(size=p["b"].shape)
    return model, params, rng.normal(size=(100, 7))


@pytest.mark.parametrize("neighbour", ACTIVATION_NAMES)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_add_neurons_exact_iff_elementwise_else_refused(activation, neighbour):
    """Docstring / module table: outgoing split exact for every element-wise activation of the widened
    layer, incoming split for element-wise positively homogeneous ones; anything else is refused.
    The neighbouring layer's activation (any, coupling ones included) does not matter."""
    props = _props(activation)
    for first, second, layer in ((activation, neighbour, 0), (neighbour, activation, 1)):
        model, params, x = two_activation_net(first, second)
        for split, ok in (("outgoing", props["elementwise"]),
                          ("incoming", props["elementwise"] and props["homogeneous"])):
            if ok:
                res = surgery.add_neurons(model, params, layer, 4, rng=1, split=split)
                assert max_diff(out(*res, x), out(model, params, x)) < TOL
            else:
                with pytest.raises(ValueError, match="element-wise" if not props["elementwise"] else "homogeneous"):
                    surgery.add_neurons(model, params, layer, 4, rng=1, split=split)


@pytest.mark.parametrize("preceding", ACTIVATION_NAMES)
def test_add_layer_exact_iff_inserted_activation_fixes_the_outputs(preceding):
    """Docstring / module table: exact iff Φ_new(Φ(z)) = Φ(z) (Eq. 3); otherwise refused."""
    model, params, x = two_activation_net(preceding, "tanh")
    for inserted in [None] + ACTIVATION_NAMES:
        if _composes_to_itself(inserted or preceding, preceding):
            res = surgery.add_layer(model, params, 0, activation=inserted)
            assert res.model.layers[1].activation == (inserted or preceding)
            assert max_diff(out(*res, x), out(model, params, x)) < TOL
        else:
            with pytest.raises(ValueError, match="not function preserving"):
                surgery.add_layer(model, params, 0, activation=inserted)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_truncate_exact_at_rank_for_every_activation(activation):
    """Docstring / module table: exact for r >= rank(W), whatever the activations."""
    model, params, x = two_activation_net(activation, activation)
    rng = np.random.default_rng(3)
    params[1]["W"] = rng.normal(size=(6, 2)) @ rng.normal(size=(2, 5))             # rank 2
    for rank in (2, 3, 5):
        assert max_diff(out(*surgery.truncate(model, params, 1, rank), x), out(model, params, x)) < TOL


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_remove_layer_exact_iff_removed_activation_linear(activation):
    """Docstring / module table: exact iff the removed layer's activation is linear; the next layer's
    activation (kept by the merged layer) may be any."""
    model, params, x = two_activation_net("linear", activation)
    assert max_diff(out(*surgery.remove_layer(model, params, 0), x), out(model, params, x)) < TOL
    model, params, x = two_activation_net(activation, "relu")
    res = surgery.remove_layer(model, params, 0)                     # performed, not claimed exact
    assert res.model.layers[0].activation == "relu" and len(res.model.layers) == 2
    if activation == "linear":
        assert max_diff(out(*res, x), out(model, params, x)) < TOL


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_remove_neurons_exact_iff_linear_at_rank(activation):
    """Docstring / module table: exact for a linear activation with r >= rank(W) and the bias in W's
    row space; for other activations it is performed (the text's minimal-impact projection)."""
    model, params, x = two_activation_net("relu", activation)
    rng = np.random.default_rng(4)
    params[1]["W"] = rng.normal(size=(6, 2)) @ rng.normal(size=(2, 5))             # rank 2
    params[1]["b"] = rng.normal(size=6) @ params[1]["W"]                         # in the row space
    res = surgery.remove_neurons(model, params, 1, 3)                              # keep r = 2 = rank
    assert res.model.layers[1].units == 2
    if activation == "linear":
        assert max_diff(out(*res, x), out(model, params, x)) < TOL


def test_identity_exact_for_every_activation():
    for a in ACTIVATION_NAMES:
        model, params, x = two_activation_net(a, a)
        assert max_diff(out(*surgery.identity(model, params), x), out(model, params, x)) == 0


# ---- recommendation module (Sec. 3.2) ----------------------------------------------------------------

def matrix_with_singular_values(s, shape, seed=0):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.normal(size=(shape[0], shape[0])))
    V, _ = np.linalg.qr(rng.normal(size=(shape[1], shape[1])))
    D = np.zeros(shape)
    D[np.arange(len(s)), np.arange(len(s))] = s
    return U @ D @ V.T


def test_removable_count_eq13():
    W = matrix_with_singular_values([10, 1, 0.2, 0.04, 0.01], (8, 5))
    assert surgery.removable_count(W) == 3                    # 0.2, 0.04, 0.01 < eps2 = 0.3
    assert surgery.removable_count(W, eps1=0.005, eps2=0.0) == 2  # relative only: σ < 0.05
    assert surgery.removable_count(W, eps1=0.03, eps2=0.0) == 3   # σ < 0.3 = 0.03·σ_1
    assert surgery.removable_count(W, eps1=0.0, eps2=0.05) == 2   # absolute only
    assert surgery.removable_count(W, eps1=0.0, eps2=0.0) == 0
    W[2, 3] = np.nan                                          # was: LinAlgError "SVD did not converge"
    for f in (surgery.removable_count, lambda A: surgery.low_rank(A, 2)):
        with pytest.raises(ValueError, match="NaN"):
            f(W)
    with pytest.raises(ValueError, match="non-empty"):       # was: IndexError
        surgery.removable_count(np.ones((0, 3)))


def test_recommend_scores_follow_section_3_2():
    model = Sequential((8,), (Dense(5, "relu"), Dense(4, "relu"), Dense(3)))
    params = model.init(0, dtype=np.float64)
    params[0]["W"] = matrix_with_singular_values([10, 1, 0.2, 0.04, 0.01], (8, 5))   # n_r = 3 of 5
    params[1]["W"] = matrix_with_singular_values([3, 2, 1.5, 1], (5, 4))             # n_r = 0 of 4
    props = surgery.recommend(model, params)
    by = {(p.operation, p.hidden, p.amount): p for p in props}
    h = 2
    assert by[("add_neurons", 1, 2)].score == pytest.approx(1 - 3 / 5)
    assert by[("add_neurons", 1, 20)].score == pytest.approx(1 - 3 / 5)
    assert by[("add_layer", 1, None)].score == pytest.approx((1 - 3 / 5) * 1 / h)
    assert by[("remove_neurons", 1, 3)].score == pytest.approx(3 / 5)
    assert by[("remove_layer", 1, None)].score == pytest.approx(3 / 5 * 1 / h)
    assert by[("truncate", 1, 2)].score == pytest.approx(3 / 5)
    assert by[("add_neurons", 2, 2)].score == pytest.approx(1.0)
    assert by[("add_layer", 2, None)].score == pytest.approx(1.0 * 2 / h)
    assert by[("remove_neurons", 2, 1)].score == 0.0          # n_r = 0: still one neuron offered
    assert by[("remove_layer", 2, None)].score == 0.0
    # ranked by score, ties by parameter count; predicted counts are exact
    keys = [(-p.score, p.n_params) for p in props]
    assert keys == sorted(keys)
    for p in props:
        res = p.apply(model, params, rng=0)
        assert res.model.count_params() == p.n_params
        assert res.param_fraction == pytest.approx(p.n_params / model.count_params())


def _claimed_exact(model, proposal):
    """Whether the module claims the proposal's modification to be function preserving: identity,
    add neurons and add layer (recommend proposes only exact ones), remove layer of a linear layer."""
    if proposal.operation in ("identity", "add_neurons", "add_layer"):
        return True
    return proposal.operation == "remove_layer" and model.layers[proposal.layer].activation == "linear"


def recommendation_nets(activation):
    """Seeded random float64 MLPs of several depths and widths, all hidden layers with ``activation``
    ("mixed": drawn per layer), each also after a truncation (which inserts a bias-free linear layer)."""
    for seed, hidden in enumerate(([6], [5, 4], [3, 7, 2], [1, 8], [9, 9, 9, 9])):
        rng = np.random.default_rng(100 + seed)
        acts = (rng.choice(ACTIVATION_NAMES, size=len(hidden)) if activation == "mixed"
                else [activation] * len(hidden))
        model = Sequential((5,), tuple(Dense(n, str(a)) for n, a in zip(hidden, acts)) + (Dense(3),))
        params = model.init(rng, dtype=np.float64)
        for p in params:
            p["b"] = rng.normal(size=p["b"].shape)
        yield model, params
        layer = int(np.argmax(hidden))
        yield tuple(surgery.truncate(model, params, layer, max(1, min(params[layer]["W"].shape) - 1)))


@pytest.mark.parametrize("options", [{}, {"add_layer_activation": "linear", "neuron_split": "incoming"},
                                     {"add_layer_activation": "relu"}, {"svd_of": "outgoing"}],
                         ids=["text", "code", "relu-layers", "outgoing-svd"])
@pytest.mark.parametrize("activation", ACTIVATION_NAMES + ["mixed"])
def test_every_recommended_proposal_applies_with_its_predicted_size(activation, options):
    """Sec. 3.2: recommend() proposes only modifications that can be performed; each gives exactly the
    parameter count it predicted and preserves the function where the modification module claims so."""
    x = np.random.default_rng(7).normal(size=(60, 5))
    for model, params in recommendation_nets(activation):
        props = surgery.recommend(model, params, **options)
        refused = surgery.refused_modifications(model, **{k: v for k, v in options.items() if k != "svd_of"})
        assert {(r["operation"], r["layer"]) for r in refused}.isdisjoint({(p.operation, p.layer) for p in props})
        for p in props:
            res = p.apply(model, params, rng=0)
            assert res.model.count_params() == p.n_params, p
            if p.operation == "add_layer":
                assert res.model.layers[p.layer + 1].activation == p.activation
            if _claimed_exact(model, p):
                assert max_diff(out(*res, x), out(model, params, x)) < TOL, p


def test_recommend_inserts_exact_layers_and_names_what_it_skips():
    """Eq. 3 where exact (ReLU after ReLU); else ReLU after non-negative outputs, else linear; an
    explicitly requested inexact insert, or a neuron split an activation does not allow, is skipped
    and the reason reported."""
    expected = {"relu": "relu", "linear": "linear", "log_softmax": "log_softmax", "sigmoid": "relu",
                "softmax": "relu", "tanh": "linear"}
    for act, inserted in expected.items():
        model = mlp(4, [5, 3], 2, activation=act)
        params = model.init(0, dtype=np.float64)
        props = surgery.recommend(model, params)
        assert {p.activation for p in props if p.operation == "add_layer"} == {inserted}
        assert surgery.default_inserted_activation(act) == inserted
        add_neurons = [p for p in props if p.operation == "add_neurons"]
        refused = surgery.refused_modifications(model)
        if act in ("softmax", "log_softmax"):                    # coupling: no Net2WiderNet
            assert not add_neurons
            assert [(r["operation"], r["layer"]) for r in refused] == [("add_neurons", 0), ("add_neurons", 1)]
            assert all("element-wise" in r["reason"] for r in refused)
        else:
            assert add_neurons and all(p.split == "outgoing" for p in add_neurons) and not refused
    model = mlp(4, [5, 3], 2, activation="tanh")
    params = model.init(0, dtype=np.float64)
    props = surgery.recommend(model, params, add_layer_activation="relu", neuron_split="incoming")
    assert not [p for p in props if p.operation in ("add_layer", "add_neurons")]
    refused = surgery.refused_modifications(model, add_layer_activation="relu", neuron_split="incoming")
    assert sorted(r["operation"] for r in refused) == ["add_layer", "add_layer", "add_neurons", "add_neurons"]
    assert all(r["reason"] for r in refused)


def test_remove_layer_score_is_one_when_all_neurons_removable():
    model = Sequential((8,), (Dense(5, "relu"), Dense(4, "relu"), Dense(3)))
    params = model.init(0, dtype=np.float64)
    params[0]["W"] = params[0]["W"] * 1e-3
    props = [p for p in surgery.recommend(model, params) if p.operation == "remove_layer" and p.hidden == 1]
    assert props[0].score == 1.0
    # a single hidden layer is not removed by default
    small = mlp((8,), [10], 3)
    assert not [p for p in surgery.recommend(small, small.init(0)) if p.operation == "remove_layer"]


def test_select_modes():
    model, params, _ = random_net()
    props = surgery.recommend(model, params)
    chosen = surgery.select(props, extra_random=False)
    assert sorted(p.operation for p in chosen) == sorted(surgery.OPERATIONS)
    for p in chosen:   # the best of its type
        assert p == next(q for q in props if q.operation == p.operation)
    with_extra = surgery.select(props, rng=4)
    assert len(with_extra) == len(chosen) + 1 and with_extra[:-1] == chosen
    assert with_extra[-1] not in chosen
    assert surgery.select(props, rng=4) == with_extra                  # seeded
    top = surgery.select(props, mode="top_n", n=3, extra_random=False)
    assert top[0].operation == "identity" and top[1:] == [p for p in props if p.operation != "identity"][:3]
    with pytest.raises(ValueError):
        surgery.select(props, mode="top_n")
    with pytest.raises(ValueError):
        surgery.select(props, mode="best")


# ---- Eq. 16 on the paper's Table 1 -----------------------------------------------------------------

TABLE1 = [  # operation, A, AG, PF, S (Schiessler et al. 2021, Table 1)
    ("Remove layer", 0.6023, 0.0274, 0.9977, 0.9812),
    ("Identity", 0.6016, 0.0268, 1.0000, 0.9795),
    ("Remove 1 Neuron", 0.5829, 0.0081, 0.9997, 0.9539),
    ("Add layer", 0.5773, 0.0025, 1.0030, 0.9450),
    ("Add 20 Neurons", 0.5678, -0.0070, 2.6544, 0.6377),
]


@pytest.mark.parametrize("row", TABLE1, ids=[r[0] for r in TABLE1])
def test_eq16_reproduces_table1(row):
    _, a, ag, pf, s = row
    assert abs(surgery.eq16_score(a, ag, pf) - s) < 2e-4


def test_eq16_vectorised_and_monotone():
    a = np.array([r[1] for r in TABLE1]); ag = np.array([r[2] for r in TABLE1]); pf = np.array([r[3] for r in TABLE1])
    np.testing.assert_allclose(surgery.eq16_score(a, ag, pf), [r[4] for r in TABLE1], atol=2e-4)
    assert surgery.eq16_score(0.5, 0.02, 1.0) > surgery.eq16_score(0.5, 0.01, 1.0)
    assert surgery.eq16_score(0.5, 0.01, 0.9) > surgery.eq16_score(0.5, 0.01, 1.0)
    with pytest.raises(ValueError):
        surgery.eq16_score(0.5, 0.0, 0.0)
