"""Golden cases of document ``interval`` (Afghan & Naumann, ICCS 2020; ``refimpl.interval``).

Interval outputs are *enclosures*: an adapter returns ``(lo, hi)`` and passes if its enclosure
contains every listed true value (point evaluations at points of the box: corners, midpoint and
random points, in float64) and its bounds agree with ours within the tolerance — i.e. it computes
the same interval extension as the paper (natural interval evaluation, point weights), not merely
some sound one. See ``cases/README.md``.
"""
from __future__ import annotations

import itertools

import autograd.numpy as anp
import numpy as np
from autograd import grad

from .. import interval as iv
from .. import nn
from . import Enclosure as _Enclosure
from . import Kind, make_case, network, unpack

_NET = "weights (list of W (in, out)), biases (list of b), activations (list of names), lo, hi (the box), output"
KINDS = {
    "interval_sec23": Kind("interval_sec23(x1, x2) -> {y, x1_adjoint, x2_adjoint}",
                           "y = sin(x1*x2) over the box x1 = (lo, hi), x2 = (lo, hi), and the interval adjoints "
                           "of y (seed 1) with respect to x1 and x2 (Sec. 2.3); each output an enclosure (lo, hi)"),
    "interval_forward": Kind(f"interval_forward({_NET}) -> {{values, output}}",
                             "interval values of the input box and of every hidden layer (after its activation), and "
                             "of the output; output 'softmax' appends a softmax to a linear last layer, evaluated as "
                             "s_i = 1/(1 + sum_(j!=i) exp(x_j - x_i)) (Sec. 3.2)"),
    "interval_significance": Kind(
        f"interval_significance({_NET}) -> {{adjoints, adjoint_magnitude, significance}}",
        "adjoints[k][l]: interval adjoint of layer l (0 = input) for the seed e_k on output k; "
        "adjoint_magnitude[l] = max_k max|adjoints[k][l]|; significance[l] = width(value of l) * adjoint_magnitude[l] "
        "(Eq. 1). Sigmoid derivative: the range of s(1-s) over the value enclosure S"),
    "remove_nodes": Kind("remove_nodes(weights, biases, remove, midpoints) -> {weights, biases, kept}",
                         "remove[l] lists the nodes of analysed layer l (0 = input) to delete; the next layer's bias "
                         "gains midpoints[l][j] * W[j, :] for each removed j (Sec. 3.3); kept[l]: surviving indices"),
    "prune": Kind("prune(weights, biases, scores, midpoints, layers, fraction) -> {weights, biases, kept}",
                  "remove round(fraction*n) lowest-scored nodes (stable order) of each chosen layer ('input', "
                  "'hidden' = every hidden layer, or a list of layer numbers) with the bias update of Sec. 3.3"),
}

def Enclosure(lo, hi, contains):
    """An expected enclosure; refuses to write one of ours that misses a true value (a library bug)."""
    lo, hi, c = np.asarray(lo), np.asarray(hi), np.asarray(contains)
    assert np.all(lo <= c) and np.all(c <= hi), "refimpl's enclosure misses a sampled true value"
    return _Enclosure(lo, hi, c)


_PRODUCED = "refimpl.interval.arithmetic (Interval, sin, backward)"
_BOXES = [("interval_sec23_paper", (0.5, 1.5), (-0.5, 0.5), "the paper's worked example: y in [-0.6816, 0.6816], "
           "adjoints [-0.5, 0.5] and [0.3658, 1.5]"),
          ("interval_sec23_wide", (1.0, 2.0), (0.5, 1.5), "x1*x2 in [0.5, 3] contains pi/2 (max of sin) and pi "
           "(min of cos)")]


def _sec23_cases():
    out = []
    for name, b1, b2, desc in _BOXES:
        X1, X2 = iv.Interval(*b1), iv.Interval(*b2)
        Y = iv.sin(X1 * X2)
        Y.backward()
        p1 = np.repeat(np.linspace(*b1, 5), 5)     # a 5x5 grid over the box
        p2 = np.tile(np.linspace(*b2, 5), 5)
        u = p1 * p2
        samples = {"y": np.sin(u), "x1_adjoint": np.cos(u) * p2, "x2_adjoint": np.cos(u) * p1}
        expected = {"y": Enclosure(Y.lo, Y.hi, samples["y"]),
                    "x1_adjoint": Enclosure(X1.adjoint.lo, X1.adjoint.hi, samples["x1_adjoint"]),
                    "x2_adjoint": Enclosure(X2.adjoint.lo, X2.adjoint.hi, samples["x2_adjoint"])}
        out.append(make_case(name, "interval_sec23", "Sec. 2.3 (worked example)", _PRODUCED,
                             {"x1": b1, "x2": b2}, expected, description=desc, rtol=1e-12,
                             reference={"sample_points": {"x1": p1, "x2": p2}}))
    return out


def _net(seed, acts, sizes=(3, 4, 3, 2), scale=1.5):
    rng = np.random.default_rng(seed)
    weights = [np.round(rng.uniform(-scale, scale, (a, b)), 3) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [np.round(rng.uniform(-0.5, 0.5, b), 3) for b in sizes[1:]]
    return weights, biases, list(acts)


def _points(lo, hi, n_random, seed):
    corners = [np.where(np.array(c, bool), hi, lo) for c in itertools.product((0, 1), repeat=lo.size)]
    rng = np.random.default_rng(seed)
    rand = lo + rng.random((n_random, lo.size)) * (hi - lo)
    return np.vstack(corners + [0.5 * (lo + hi)] + list(rand))


def _point_layers(weights, biases, acts, output, x):
    """Point values of every analysed layer and the output, and the functions layer l -> output."""
    def tail(l):
        def f(v):
            for W, b, a in list(zip(weights, biases, acts))[l:]:
                v = nn.get_activation(a)(anp.dot(v, W) + b)
            return nn.softmax(v) if output == "softmax" and acts[-1] == "linear" else v
        return f
    values = [x]
    for W, b, a in list(zip(weights, biases, acts))[:-1]:
        values.append(nn.get_activation(a)(values[-1] @ W + b))
    return values, tail(0)(x), tail


def _network_cases():
    out = []
    nets = [("sigmoid", _net(11, ["sigmoid", "sigmoid", "sigmoid"]), "model", 21),
            ("softmax", _net(12, ["sigmoid", "sigmoid", "linear"]), "softmax", 22)]
    for tag, (weights, biases, acts), output, seed in nets:
        model, params = network(weights, biases, acts)
        lo = np.round(np.random.default_rng(seed).uniform(-1.0, 0.0, 3), 2)
        hi = np.round(lo + np.random.default_rng(seed + 1).uniform(0.2, 1.0, 3), 2)
        box = iv.Interval(lo, hi)
        pts = _points(lo, hi, 16, seed)
        pvals = [_point_layers(weights, biases, acts, output, x) for x in pts]
        values, Y = iv.interval_forward(model, params, box, output=output)
        inputs = {"weights": weights, "biases": biases, "activations": acts, "lo": lo, "hi": hi, "output": output}
        exp_values = [Enclosure(v.lo, v.hi, np.array([pv[0][l] for pv in pvals])) for l, v in enumerate(values)]
        desc = f"3-4-3-2 network, {'sigmoid output' if output == 'model' else 'sigmoid hidden, softmax output'}"
        out.append(make_case(f"interval_forward_{tag}", "interval_forward", "Secs. 2.1, 3.2 (interval forward sweep)",
                             "refimpl.interval.interval_forward", inputs,
                             {"values": exp_values, "output": Enclosure(Y.lo, Y.hi, np.array([pv[1] for pv in pvals]))},
                             description=desc, reference={"sample_points": pts}))
        adjoints = []
        for k in range(Y.shape[0]):
            Y.backward(np.eye(Y.shape[0])[k])
            layer_adj = []
            for l, v in enumerate(values):
                g = [grad(lambda u, l=l, k=k: pv[2](l)(u)[k])(pv[0][l]) for pv in pvals]
                layer_adj.append(Enclosure(v.adjoint.lo, v.adjoint.hi, np.array(g)))
            adjoints.append(layer_adj)
        an = iv.analyse(model, params, box, outputs="each", output=output)
        out.append(make_case(f"interval_significance_{tag}", "interval_significance",
                             "Eq. 1 (S = w[V]·max|∇_V Y|), Secs. 2.3, 3.1-3.2",
                             "refimpl.interval.analyse (outputs='each')", inputs,
                             {"adjoints": adjoints, "adjoint_magnitude": an.adjoint_magnitude,
                              "significance": an.significance},
                             description=desc + "; one reverse sweep per output (seed e_k)",
                             reference={"sample_points": pts, "ranking": [an.ranking(l) for l in range(3)]}))
        if tag == "sigmoid":
            mids = an.midpoints
            remove = [np.array([1]), np.array([0, 2]), np.array([], dtype=np.int64)]
            pr = iv.remove_nodes(model, params, {l: r for l, r in enumerate(remove)}, mids)
            res = unpack(pr.model, pr.params)
            out.append(make_case("remove_nodes_bias_update", "remove_nodes", "Sec. 3.3 (removal with bias update)",
                                 "refimpl.interval.remove_nodes",
                                 {"weights": weights, "biases": biases, "remove": remove, "midpoints": mids},
                                 {"weights": res["weights"], "biases": res["biases"], "kept": pr.kept},
                                 description="input node 1 and hidden-1 nodes 0, 2 removed; midpoints of the "
                                             "interval values from the sigmoid network's analysis"))
            pr = iv.prune(model, params, an.significance, mids, layers="hidden", fraction=0.5)
            res = unpack(pr.model, pr.params)
            out.append(make_case("prune_hidden_half", "prune", "Secs. 3.1-3.3 (rank by Eq. 1, remove, bias update)",
                                 "refimpl.interval.prune",
                                 {"weights": weights, "biases": biases, "scores": an.significance, "midpoints": mids,
                                  "layers": "hidden", "fraction": 0.5},
                                 {"weights": res["weights"], "biases": res["biases"], "kept": pr.kept},
                                 description="half of every hidden layer (round(0.5*4) = 2, round(0.5*3) = 2) "
                                             "removed by lowest significance"))
    return out


def cases() -> list[dict]:
    """Every interval case."""
    return _sec23_cases() + _network_cases()
