"""Golden cases of document ``extremal`` (Patel & Rummel; ``refimpl.extremal``).

The losses at given points (every branch), plain gradient descent on the input (Eq. 2.4) through a
small frozen network, and the certified maximum of a small ReLU network (the MILP). For the MILP,
the maximiser x is not compared (it need not be unique): the adapter's value and the network's
output at the adapter's x must both equal the maximum.
"""
from __future__ import annotations

import numpy as np

from .. import extremal as ex
from ..optim import SGD
from . import Kind, make_case, network


def _derive_milp(out, inputs):
    """Compare the maximum and f at the adapter's maximiser (any maximiser is right)."""
    W, b, a = inputs["weights"], inputs["biases"], inputs["activations"]
    x = np.asarray(out["x"], dtype=np.float64)
    lo, hi = np.asarray(inputs["lo"], float), np.asarray(inputs["hi"], float)
    inside = bool(np.all(x >= lo - 1e-9) and np.all(x <= hi + 1e-9))
    value_at_x = ex.forward(list(zip(W, b, a)), x[None])[0, inputs["output_index"]]
    return {"value": out["value"], "value_at_x": value_at_x, "x_in_box": inside}


_NET = "weights, biases, activations"
KINDS = {
    "maximization_loss": Kind("maximization_loss(y, kappa) -> loss", "1/(y^2 + kappa), elementwise (Eq. 2.3)"),
    "minimization_loss": Kind("minimization_loss(y) -> loss", "y^2, elementwise (Eq. 2.3)"),
    "positive_output_loss": Kind("positive_output_loss(y, kappa2, kappa_hat) -> loss",
                                 "-kappa2*y + kappa_hat for y < 0, 1/(y^2 + 1/kappa_hat) for y >= 0 (Eq. 2.7)"),
    "extrapolation_loss": Kind("extrapolation_loss(x, mu, sigma, c, kappa1, upper) -> loss",
                               "kappa1 * sum_i of (x_i - mu_i + c sigma_i)^2 below the window, (x_i - mu_i - c sigma_i)^2 "
                               "above it (if upper), 0 inside; x (B, m) -> (B,) (Eq. 2.6)"),
    "positive_input_loss": Kind("positive_input_loss(x, kappa3, mask) -> loss",
                                "kappa3 * sum_i max(-x_i, 0), over the components where mask (None: all) (Eq. 2.8)"),
    "total_loss": Kind("total_loss(x, y, mu, sigma, c, kappa1, kappa2, kappa_hat) -> loss",
                       "Eq. 2.5 with Sec. 3's terms: positive_output_loss(y) + extrapolation_loss(x) (Eqs. 3.2-3.4)"),
    "extremize_gd": Kind(f"extremize_gd({_NET}, x0, kappa, lr, steps) -> {{x, y, loss}}",
                         "steps of x <- x - lr * grad_x maximization_loss(f(x), kappa) (Eq. 2.4), one start per row of "
                         "x0; f the network's single output; y = f(x), loss at the final x"),
    "milp_maximum": Kind(f"milp_maximum({_NET}, lo, hi, output_index) -> {{value, x}}",
                         "max of output output_index of a ReLU/linear network over the box lo <= x <= hi, and a "
                         "maximiser x. Compared: value, value_at_x (the network at the adapter's x), x_in_box",
                         derive=_derive_milp),
}

_P = "refimpl.extremal."


def _loss_cases():
    y = np.array([-3.0, -0.5, 0.0, 0.25, 2.0, 10.0])
    x = np.array([[-3.0, 1.0, 0.4], [0.0, 1.0, 2.5], [2.5, 2.5, -0.9], [-2.0, -1.0, 0.0]])
    mu, sigma = np.array([0.0, 1.0, 0.5]), np.array([1.0, 0.5, 0.25])
    out = [make_case("maximization_loss", "maximization_loss", "Eq. 2.3 (maximization)", _P + "maximization_loss",
                     {"y": y, "kappa": 0.5}, {"loss": ex.maximization_loss(y, 0.5)}),
           make_case("minimization_loss", "minimization_loss", "Eq. 2.3 (minimization)", _P + "minimization_loss",
                     {"y": y}, {"loss": ex.minimization_loss(y)}),
           make_case("positive_output_loss", "positive_output_loss", "Eq. 2.7 (Sec. 3: kappa2 = 10, kappa_hat = 1)",
                     _P + "positive_output_loss", {"y": y, "kappa2": 10.0, "kappa_hat": 1.0},
                     {"loss": ex.positive_output_loss(y, 10.0, 1.0)}),
           make_case("positive_output_loss_kappa_hat2", "positive_output_loss", "Eq. 2.7", _P + "positive_output_loss",
                     {"y": y, "kappa2": 3.0, "kappa_hat": 2.0}, {"loss": ex.positive_output_loss(y, 3.0, 2.0)})]
    for upper in (True, False):
        out.append(make_case(f"extrapolation_loss_{'both' if upper else 'lower_only'}", "extrapolation_loss",
                             "Eq. 2.6" + ("" if upper else " (the authors' notebook: lower branch only)"),
                             _P + "extrapolation_loss",
                             {"x": x, "mu": mu, "sigma": sigma, "c": 2.0, "kappa1": 0.5, "upper": upper},
                             {"loss": ex.extrapolation_loss(x, mu, sigma, 2.0, 0.5, upper=upper)}))
    for mask in (None, np.array([True, False, True])):
        out.append(make_case(f"positive_input_loss_{'all' if mask is None else 'masked'}", "positive_input_loss",
                             "Eq. 2.8", _P + "positive_input_loss", {"x": x, "kappa3": 2.0, "mask": mask},
                             {"loss": ex.positive_input_loss(x, 2.0, mask)}))
    yb = y[:4]
    tot = ex.total_loss(x, yb, lambda v: ex.positive_output_loss(v, 10.0, 1.0),
                        [lambda xx, v: ex.extrapolation_loss(xx, mu, sigma, 2.0, 0.5)])
    out.append(make_case("total_loss_sec3", "total_loss", "Eq. 2.5 with Eqs. 3.2-3.4", _P + "total_loss",
                         {"x": x, "y": yb, "mu": mu, "sigma": sigma, "c": 2.0, "kappa1": 0.5, "kappa2": 10.0,
                          "kappa_hat": 1.0}, {"loss": tot}))
    return out


def _net(seed, sizes, acts, scale=1.0):
    rng = np.random.default_rng(seed)
    weights = [np.round(rng.uniform(-scale, scale, (a, b)), 3) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [np.round(rng.uniform(-0.5, 0.5, b), 3) for b in sizes[1:]]
    return {"weights": weights, "biases": biases, "activations": list(acts)}


def cases() -> list[dict]:
    """Every extremal case."""
    out = _loss_cases()
    net = _net(90, (2, 5, 1), ["tanh", "linear"])
    x0 = np.array([[0.1, -0.2], [-0.5, 0.5], [1.0, 1.0]])
    model, params = network(net["weights"], net["biases"], net["activations"])
    res = ex.extremize(model, params, x0, objective="max", kappa=1.0, optimizer=SGD(lr=0.5), steps=5)
    out.append(make_case("extremize_gd_tanh", "extremize_gd", "Eq. 2.4 with the loss of Eq. 2.3",
                         _P + "extremize (optimizer SGD, objective 'max')",
                         {**net, "x0": x0, "kappa": 1.0, "lr": 0.5, "steps": 5}, {"x": res.x, "y": res.y, "loss": res.loss},
                         description="2-5-1 tanh network, three starts, five plain gradient steps"))
    for name, sizes, acts, lo, hi in (("milp_maximum_2_6_4_1", (2, 6, 4, 1), ["relu", "relu", "linear"], [-1.0, -1.0], [1.0, 1.0]),
                                      ("milp_maximum_3_5_2", (3, 5, 2), ["relu", "linear"], [-1.0, 0.0, -0.5], [0.5, 1.0, 2.0])):
        net = _net(91 + len(sizes), sizes, acts)
        model, params = network(net["weights"], net["biases"], net["activations"])
        k = sizes[-1] - 1
        r = ex.maximize_relu_network(model, params, np.array(lo), np.array(hi), output_index=k)
        assert r.status == 0 and r.gap <= 1e-7 * (1 + abs(r.value))
        out.append(make_case(name, "milp_maximum", "MILP certificate (beyond the paper; big-M ReLU encoding)",
                             _P + "maximize_relu_network",
                             {**net, "lo": np.array(lo), "hi": np.array(hi), "output_index": k},
                             {"value": r.value, "value_at_x": r.value, "x_in_box": True},
                             rtol=1e-6, atol=1e-6, description="HiGHS branch and bound; the maximiser x is a reference",
                             reference={"x": r.x, "bound": r.bound, "n_binary": r.n_binary}))
    return out
