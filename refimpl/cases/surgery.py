"""Golden cases of document ``surgery`` (Schiessler et al. 2021; ``refimpl.surgery``).

Networks are passed as per-layer lists (``weights``: ``W (in, out)``, row vectors ``x @ W + b``;
the paper's A is our Wᵀ), ``layer`` indexes those lists (a hidden layer: never the last). The
random choice of Net2WiderNet (which unit each new unit copies) is an input, ``sources``.
Results of the SVD-based operations (Eqs. 9–10 and the truncated SVD) are compared through
quantities that do not depend on the signs of the singular vectors (see :data:`KINDS`).
"""
from __future__ import annotations

import copy

import numpy as np

from .. import surgery as sg
from . import Kind, make_case, network, unpack


def _widths(out):
    return [int(np.shape(W)[1]) for W in out["weights"]]


def _derive_remove_neurons(out, inputs):
    """Sign-free view of Eqs. 9–10: widths, the merged map W'_l W'_(l+1) and b'_l W'_(l+1)."""
    l = inputs["layer"]
    W1, W2 = np.asarray(out["weights"][l], float), np.asarray(out["weights"][l + 1], float)
    return {"widths": _widths(out), "merged_weights": W1 @ W2,
            "merged_bias": np.asarray(out["biases"][l], float) @ W2}


def _derive_truncate(out, inputs):
    """Sign-free view of the truncated SVD: widths and the product L R (the rank-r approximation of W)."""
    l = inputs["layer"]
    return {"widths": _widths(out), "low_rank_weights": np.asarray(out["weights"][l], float) @
            np.asarray(out["weights"][l + 1], float), "biases": [b for i, b in enumerate(out["biases"]) if i != l]}


_NET = "weights, biases, activations"
KINDS = {
    "add_neurons": Kind(f"add_neurons({_NET}, layer, sources, split) -> {{weights, biases}}",
                        "Net2WiderNet (Eqs. 4-8): new unit j copies unit sources[j] (incoming weights, bias); a unit "
                        "present c times in total gets split 'outgoing' (outgoing weights / c, the text) or "
                        "'incoming' (incoming weights and bias / c, the authors' code)"),
    "add_layer": Kind(f"add_layer({_NET}, after, activation) -> {{weights, biases, activations}}",
                      "insert after layer `after` a layer W = I, b = 0 with `activation` (None: that of layer `after`) "
                      "(Eq. 3)"),
    "remove_neurons": Kind(f"remove_neurons({_NET}, layer, n_remove) -> {{weights, biases}}",
                           "project layer onto its best rank r = n - n_remove subspace: W' = W V_r, b' = b V_r, "
                           "W_next' = V_r^T W_next, V from the SVD of W (Eqs. 9-10). Compared: widths, "
                           "merged_weights = W'_l W'_(l+1) and merged_bias = b'_l W'_(l+1) (sign-free)",
                           derive=_derive_remove_neurons),
    "truncate": Kind(f"truncate({_NET}, layer, rank) -> {{weights, biases}}",
                     "insert before `layer` a bias-free linear layer L = U_r S_r; the layer keeps its bias with weights "
                     "R = V_r^T (truncated SVD). Compared: widths, low_rank_weights = L R, the biases (L has none)",
                     derive=_derive_truncate),
    "remove_layer": Kind(f"remove_layer({_NET}, layer) -> {{weights, biases, activations}}",
                         "merge layer into the next: W_next' = W W_next, b_next' = b W_next + b_next (Eqs. 11-12)"),
    "removable_count": Kind("removable_count(W, eps1, eps2) -> n_r",
                            "number of singular values s_i < eps1*s_1 or s_i < eps2 (Eq. 13)"),
    "recommend": Kind(f"recommend({_NET}) -> proposals",
                      "scored candidates (Sec. 3.2, Eqs. 13-15): list of {operation, layer, amount, score, n_params} "
                      "sorted by score (descending), then n_params (the parameter count of the result), stably from "
                      "the generation order: identity (score 1), then for hidden layer i = 1..h (list index layer) with "
                      "width n, r = min(removable_count(W, 0.005, 0.3), n), f = r/n: add_neurons with amount "
                      "max(2, n//10) and ten times that (1 - f); add_layer (amount null; (1 - f)*i/h); remove_neurons "
                      "(amount min(max(r, 1), n - 1), only if n > 1; f); remove_layer (only if h > 1; 1 if r = n else "
                      "f*i/h); truncate (rank max(min(in, n) - removable_count, 1); f)"),
    "eq16_score": Kind("eq16_score(a, delta_a, f) -> s", "s = a + exp(delta_a) / exp(f) (Eq. 16), elementwise"),
}

TABLE1 = [  # operation, A, AG, PF, S (Schiessler et al. 2021, Table 1)
    ("Remove layer", 0.6023, 0.0274, 0.9977, 0.9812),
    ("Identity", 0.6016, 0.0268, 1.0000, 0.9795),
    ("Remove 1 Neuron", 0.5829, 0.0081, 0.9997, 0.9539),
    ("Add layer", 0.5773, 0.0025, 1.0030, 0.9450),
    ("Add 20 Neurons", 0.5678, -0.0070, 2.6544, 0.6377),
]


def _net(seed, acts, sizes=(4, 5, 3, 2)):
    rng = np.random.default_rng(seed)
    weights = [np.round(rng.uniform(-1, 1, (a, b)), 3) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [np.round(rng.uniform(-0.5, 0.5, b), 3) for b in sizes[1:]]
    return {"weights": weights, "biases": biases, "activations": list(acts)}


def _apply(op, net, **kw):
    model, params = network(net["weights"], net["biases"], net["activations"])
    return op(model, params, **kw)


def _modification_cases():
    out = []
    relu = _net(31, ["relu", "relu", "linear"])
    sigm = _net(32, ["sigmoid", "tanh", "linear"])
    for name, net, layer, n_new, split in (("add_neurons_outgoing_relu", relu, 0, 3, "outgoing"),
                                           ("add_neurons_incoming_relu", relu, 1, 2, "incoming"),
                                           ("add_neurons_outgoing_sigmoid", sigm, 0, 4, "outgoing")):
        rng = np.random.default_rng(40 + layer + n_new)
        sources = copy.deepcopy(rng).integers(0, np.shape(net["weights"][layer])[1], size=n_new)  # the draw it makes
        res = _apply(sg.add_neurons, net, layer=layer, n_new=n_new, rng=rng, split=split)
        r = unpack(res.model, res.params)
        out.append(make_case(name, "add_neurons", "Sec. 3.1, Eqs. 4-8 (Net2WiderNet)", "refimpl.surgery.add_neurons",
                             {**net, "layer": layer, "sources": sources, "split": split},
                             {"weights": r["weights"], "biases": r["biases"]},
                             description=f"{n_new} units added to hidden layer {layer}, split {split!r}"))
    for name, net, after, act in (("add_layer_same_activation", relu, 0, None),
                                  ("add_layer_linear", sigm, 1, "linear")):
        r = unpack(*_apply(sg.add_layer, net, after=after, activation=act))
        out.append(make_case(name, "add_layer", "Sec. 3.1, Eq. 3", "refimpl.surgery.add_layer",
                             {**net, "after": after, "activation": act}, r))
    lin = _net(33, ["linear", "linear", "linear"])
    res = _apply(sg.remove_neurons, lin, layer=0, n_remove=2)
    r = unpack(*res)
    out.append(make_case("remove_neurons_linear", "remove_neurons", "Sec. 3.1, Eqs. 9-10 (truncated SVD)",
                         "refimpl.surgery.remove_neurons", {**lin, "layer": 0, "n_remove": 2},
                         _derive_remove_neurons(r, {"layer": 0}),
                         description="5 -> 3 units of a linear layer with W (4, 5); the function changes (rank 4 > 3)",
                         reference={"weights": r["weights"], "biases": r["biases"],
                                    "note": "raw weights depend on the SVD's signs; compared through the derived values"}))
    res = _apply(sg.truncate, relu, layer=1, rank=2)
    r = unpack(*res)
    out.append(make_case("truncate_rank2", "truncate", "Sec. 3.1 (truncated-SVD factorization)", "refimpl.surgery.truncate",
                         {**relu, "layer": 1, "rank": 2}, _derive_truncate(r, {"layer": 1}),
                         description="W (5, 3) of hidden layer 1 replaced by its rank-2 factors",
                         reference={"weights": r["weights"], "biases": r["biases"]}))
    for name, net, layer in (("remove_layer_linear", lin, 1), ("remove_layer_relu", relu, 0)):
        r = unpack(*_apply(sg.remove_layer, net, layer=layer))
        out.append(make_case(name, "remove_layer", "Sec. 3.1, Eqs. 11-12", "refimpl.surgery.remove_layer",
                             {**net, "layer": layer}, r,
                             description="exact" if net is lin else "the removed ReLU is ignored (not exact)"))
    return out


def _recommendation_cases():
    out = []
    rng = np.random.default_rng(50)
    U, _ = np.linalg.qr(rng.standard_normal((6, 4)))
    V, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    for name, s in (("removable_count_mixed", [3.0, 1.0, 0.2, 0.01]), ("removable_count_relative", [80.0, 40.0, 0.35, 0.31])):
        W = np.round((U * s) @ V.T, 6)
        out.append(make_case(name, "removable_count", "Sec. 3.2, Eq. 13", "refimpl.surgery.removable_count",
                             {"W": W, "eps1": 0.005, "eps2": 0.3}, {"n_r": sg.removable_count(W, 0.005, 0.3)},
                             reference={"singular_values": np.linalg.svd(W, compute_uv=False)}))
    net = _net(34, ["relu", "relu", "linear"], sizes=(4, 6, 3, 2))
    net["weights"][0][:, 4:] = 0.0          # two dead units: n_r = 2 in hidden layer 0
    props = sg.recommend(*network(net["weights"], net["biases"], net["activations"]))
    listing = [{"operation": p.operation, "layer": p.layer, "amount": p.amount, "score": p.score,
                "n_params": p.n_params} for p in props]
    out.append(make_case("recommend_two_hidden", "recommend", "Sec. 3.2, Eqs. 13-15", "refimpl.surgery.recommend",
                         net, {"proposals": listing},
                         description="defaults eps1 = 0.005, eps2 = 0.3, n_r of each layer's own weights; add-neuron "
                                     "amounts max(2, n//10) and ten times that; identity scores 1"))
    a, ag, pf = (np.array([r[i] for r in TABLE1]) for i in (1, 2, 3))
    out.append(make_case("eq16_table1", "eq16_score", "Eq. 16 on Table 1", "refimpl.surgery.eq16_score",
                         {"a": a, "delta_a": ag, "f": pf}, {"s": sg.eq16_score(a, ag, pf)},
                         description="the paper's Table 1 rows: " + ", ".join(r[0] for r in TABLE1),
                         reference={"paper_S": np.array([r[4] for r in TABLE1]),
                                    "note": "the paper prints S to 4 decimals"}))
    return out


def cases() -> list[dict]:
    """Every surgery case."""
    return _modification_cases() + _recommendation_cases()
