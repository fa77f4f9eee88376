"""Golden cases of the core building blocks (thesis ch. 2; ``refimpl.nn``, ``refimpl.optim``).

Conventions an adapter must follow (they are ours, see ``refimpl/nn.py``): dense ``W`` is
``(in, out)`` applied as ``x @ W + b``; images NCHW, kernels ``(C_out, C_in, kh, kw)``,
cross-correlation; ``"same"`` padding gives ``ceil(n/stride)`` outputs and splits the zero padding
as TensorFlow does (the odd pixel after); max-pooling pads with −∞, average-pooling excludes the
padding from the count; losses average over the batch. Optimizer cases give the state after
``step`` updates and expect the state after one more (t = step + 1 in the bias corrections).
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..optim import SGD, Adam, Adamax, AdamW
from . import Kind, make_case

KINDS = {
    "dense": Kind("dense(x, W, b) -> y", "y = x @ W + b, W (in, out) (thesis Eq. 2.9, row-vector form)"),
    "conv2d": Kind("conv2d(x, W, b, stride, padding) -> y",
                   "2-D cross-correlation, NCHW, W (C_out, C_in, kh, kw), stride int, padding 'same'|'valid' "
                   "(Eq. 2.11; 'same': output ceil(n/stride), zero padding split with the odd pixel after)"),
    "max_pool2d": Kind("max_pool2d(x, size, stride, padding) -> y",
                       "max over size×size windows (Eq. 2.12); stride None means size; 'same' pads with -inf"),
    "avg_pool2d": Kind("avg_pool2d(x, size, stride, padding) -> y",
                       "mean over windows (Eq. 2.12); 'same' excludes the zero padding from each window's count"),
    "global_avg_pool2d": Kind("global_avg_pool2d(x) -> y", "mean over H and W: (N, C, H, W) -> (N, C)"),
    "batch_norm": Kind("batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps) -> "
                       "{y, running_mean, running_var}",
                       "Eqs. 2.13-2.16 per channel (axis 1) over N (and H, W); training: batch mean and *biased* "
                       "variance, running <- momentum*running + (1-momentum)*batch; evaluation: running stats"),
    "activation": Kind("activation(name, x) -> y",
                       "name in relu, sigmoid, tanh, linear, softmax, log_softmax (the last two over the last axis)"),
    "cross_entropy": Kind("cross_entropy(logits, labels) -> loss",
                          "mean over the batch of logsumexp(logits) - logits[label] (Eq. 2.7 with Eq. 2.3)"),
    "mse": Kind("mse(pred, target) -> loss",
                "mean over the batch of the squared L2 error, summed over a 2nd axis if present (Eq. 2.4)"),
    "weighted_binary_cross_entropy": Kind(
        "weighted_binary_cross_entropy(logit, y, w) -> loss",
        "mean of -w*y*log(sigmoid(logit)) - (1-y)*log(1-sigmoid(logit)) (Eq. 3.6)"),
    "sgd": Kind("sgd(param, grad, velocity, lr, momentum, nesterov) -> {param, velocity}",
                "v <- momentum*v + g; p <- p - lr*(g + momentum*v if nesterov else v) (Eq. 2.8 plus momentum)"),
    "adam": Kind("adam(param, grad, m, v, step, lr, beta1, beta2, eps) -> {param, m, v}",
                 "Kingma & Ba Alg. 1, t = step + 1: p <- p - lr*m_hat/(sqrt(v_hat) + eps)"),
    "adamw": Kind("adamw(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay) -> {param, m, v}",
                  "p <- p*(1 - lr*weight_decay), then the Adam step (Loshchilov & Hutter, decoupled decay)"),
    "adamax": Kind("adamax(param, grad, m, u, step, lr, beta1, beta2, eps) -> {param, m, u}",
                   "Kingma & Ba Alg. 2, t = step + 1: u <- max(beta2*u, |g|); p <- p - lr/(1-beta1^t)*m/(u + eps)"),
}

_NN = "refimpl.nn."


def _r(rng, shape, scale=1.0, digits=3):
    """Uniform(-scale, scale) values rounded to ``digits`` decimals (short, exact-in-JSON inputs)."""
    return np.round(rng.uniform(-scale, scale, size=shape), digits)


def _conv_cases():
    out = []
    specs = [  # name, x shape, kernel (C_out, C_in, kh, kw), stride, padding
        ("conv2d_k3_s1_same", (2, 2, 5, 5), (3, 2, 3, 3), 1, "same"),
        ("conv2d_k3_s1_valid", (2, 2, 5, 5), (3, 2, 3, 3), 1, "valid"),
        ("conv2d_k3_s2_same", (1, 2, 6, 5), (2, 2, 3, 3), 2, "same"),
        ("conv2d_k3_s2_valid", (1, 2, 7, 6), (2, 2, 3, 3), 2, "valid"),
        ("conv2d_k2_s1_same", (1, 1, 4, 5), (2, 1, 2, 2), 1, "same"),
        ("conv2d_k2x3_s2_same", (1, 3, 5, 7), (2, 3, 2, 3), 2, "same"),
    ]
    for i, (name, xs, ks, stride, padding) in enumerate(specs):
        rng = np.random.default_rng(100 + i)
        x, W, b = _r(rng, xs), _r(rng, ks, 0.5), _r(rng, ks[:1], 0.5)
        y = nn.conv2d(x, W, b, stride=stride, padding=padding)
        out.append(make_case(name, "conv2d", "thesis Eq. 2.11", _NN + "conv2d",
                             {"x": x, "W": W, "b": b, "stride": stride, "padding": padding}, {"y": y},
                             description=f"{ks[2]}x{ks[3]} kernel, stride {stride}, padding {padding!r}, "
                                         f"input {xs[2]}x{xs[3]}"))
    return out


def _pool_cases():
    out = []
    specs = [  # name suffix, x shape, size, stride, padding
        ("2_valid", (1, 2, 4, 5), 2, None, "valid"),
        ("3_s2_same", (1, 1, 5, 6), 3, 2, "same"),
        ("2_s1_valid", (2, 1, 3, 4), 2, 1, "valid"),
    ]
    for kind, fn in (("max_pool2d", nn.max_pool2d), ("avg_pool2d", nn.avg_pool2d)):
        for i, (suffix, xs, size, stride, padding) in enumerate(specs):
            x = _r(np.random.default_rng(200 + i), xs)
            out.append(make_case(f"{kind}_{suffix}", kind, "thesis Eq. 2.12", _NN + kind,
                                 {"x": x, "size": size, "stride": stride, "padding": padding},
                                 {"y": fn(x, size, stride, padding)},
                                 description=f"window {size}, stride {stride or size}, padding {padding!r}"))
    x = _r(np.random.default_rng(210), (2, 3, 3, 4))
    out.append(make_case("global_avg_pool2d", "global_avg_pool2d", "thesis Sec. 2.3.3 (global pooling)",
                         _NN + "global_avg_pool2d", {"x": x}, {"y": nn.global_avg_pool2d(x)}))
    return out


def _batch_norm_cases():
    out = []
    specs = [("batch_norm_train_2d", (6, 3), True, 0.9, 1e-5), ("batch_norm_train_4d", (3, 2, 3, 3), True, 0.8, 1e-3),
             ("batch_norm_eval_4d", (2, 2, 3, 2), False, 0.9, 1e-5)]
    for i, (name, xs, training, momentum, eps) in enumerate(specs):
        rng = np.random.default_rng(300 + i)
        c = xs[1]
        x = _r(rng, xs, 2.0)
        gamma, beta = np.round(rng.uniform(0.5, 1.5, c), 3), _r(rng, c, 0.5)
        rm, rv = _r(rng, c, 0.5), np.round(rng.uniform(0.5, 2.0, c), 3)
        y, nm, nv = nn.batch_norm(x, gamma, beta, rm, rv, training=training, momentum=momentum, eps=eps)
        out.append(make_case(name, "batch_norm", "thesis Eqs. 2.13-2.16", _NN + "batch_norm",
                             {"x": x, "gamma": gamma, "beta": beta, "running_mean": rm, "running_var": rv,
                              "training": training, "momentum": momentum, "eps": eps},
                             {"y": y, "running_mean": nm, "running_var": nv},
                             description=("training mode: batch statistics; running statistics updated with the "
                                          "biased batch variance" if training else "evaluation mode: running statistics")))
    return out


def _activation_cases():
    x = np.array([[-40.0, -3.5, -0.25, 0.0, 0.5, 2.0, 40.0], [1000.0, 999.0, -1000.0, 0.0, 1e-3, -1e-3, 7.0]])
    return [make_case(f"activation_{name}", "activation", "thesis Sec. 2.3.2", _NN + name, {"name": name, "x": x},
                      {"y": nn.get_activation(name)(x)},
                      description="includes saturated and large-magnitude inputs (stable evaluation needed)")
            for name in ("relu", "sigmoid", "tanh", "softmax", "log_softmax")]


def _loss_cases():
    rng = np.random.default_rng(400)
    logits, labels = _r(rng, (5, 4), 3.0), np.array([0, 3, 1, 1, 2])
    big = np.array([[1000.0, 0.0, -1000.0], [-50.0, 50.0, 0.0]])
    pred1, t1 = _r(rng, 6, 2.0), _r(rng, 6, 2.0)
    pred2, t2 = _r(rng, (4, 3), 2.0), _r(rng, (4, 3), 2.0)
    logit, yb = np.array([-30.0, -1.5, 0.0, 0.7, 2.5, 30.0]), np.array([1, 0, 1, 1, 0, 0])
    eq = "thesis Eq. 2.7 averaged as Eq. 2.3"
    out = [make_case("cross_entropy", "cross_entropy", eq, _NN + "cross_entropy", {"logits": logits, "labels": labels},
                     {"loss": nn.cross_entropy(logits, labels)}),
           make_case("cross_entropy_large_logits", "cross_entropy", eq, _NN + "cross_entropy",
                     {"logits": big, "labels": np.array([2, 1])}, {"loss": nn.cross_entropy(big, np.array([2, 1]))},
                     description="logits of magnitude 1000: needs a stable logsumexp"),
           make_case("mse_1d", "mse", "thesis Eq. 2.4 averaged as Eq. 2.3", _NN + "mse",
                     {"pred": pred1, "target": t1}, {"loss": nn.mse(pred1, t1)}),
           make_case("mse_2d", "mse", "thesis Eq. 2.4 averaged as Eq. 2.3", _NN + "mse", {"pred": pred2, "target": t2},
                     {"loss": nn.mse(pred2, t2)},
                     description="(B, D) targets: the squared errors are summed over D, then averaged over B "
                                 "(D times a mean over all elements)")]
    for w in (1.0, 3.5):
        out.append(make_case(f"weighted_bce_w{w:g}".replace(".", "_"), "weighted_binary_cross_entropy", "thesis Eq. 3.6",
                             _NN + "weighted_binary_cross_entropy", {"logit": logit, "y": yb, "w": w},
                             {"loss": nn.weighted_binary_cross_entropy(logit, yb, w)},
                             description="w weights the positive term (PyTorch's pos_weight); logits up to ±30"))
    return out


def _optimizer_cases():
    out = []
    rng = np.random.default_rng(500)
    p, g = _r(rng, (2, 3)), _r(rng, (2, 3), 0.5)
    m = _r(rng, (2, 3), 0.1)
    v = np.round(rng.uniform(0.001, 0.05, (2, 3)), 4)
    vel = _r(rng, (2, 3), 0.2)
    for name, opt, kw in (("sgd_plain", SGD(lr=0.1), {}), ("sgd_nesterov", SGD(lr=0.05, momentum=0.9, nesterov=True), {})):
        state = {"step": 0, "velocity": vel.copy() if opt.momentum else None}
        new, st = opt.update(p, g, state)
        out.append(make_case(name, "sgd", "thesis Eq. 2.8 (+ heavy-ball momentum)", "refimpl.optim.SGD.update",
                             {"param": p, "grad": g, "velocity": vel if opt.momentum else np.zeros_like(p),
                              "lr": opt.lr, "momentum": opt.momentum, "nesterov": opt.nesterov},
                             {"param": new, "velocity": st["velocity"] if opt.momentum else np.zeros_like(p)}))
    configs = [
        ("adam", Adam(lr=1e-2), "Kingma & Ba 2015, Alg. 1"),
        ("adamw", AdamW(lr=1e-2, weight_decay=0.1), "Loshchilov & Hutter 2019, Alg. 2"),
        ("adamax", Adamax(lr=2e-3), "Kingma & Ba 2015, Alg. 2"),
    ]
    for kind, opt, eq in configs:
        second = "u" if kind == "adamax" else "v"
        for step, m0, v0 in ((0, np.zeros_like(p), np.zeros_like(p)), (4, m, v)):
            state = {"step": step, "m": m0.copy(), second: v0.copy()}
            new, st = opt.update(p, g, state)
            inputs = {"param": p, "grad": g, "m": m0, second: v0, "step": step, "lr": opt.lr, "beta1": opt.beta1,
                      "beta2": opt.beta2, "eps": opt.eps}
            if kind == "adamw":
                inputs["weight_decay"] = opt.weight_decay
            desc = "first step from zero moments" if step == 0 else "fifth step (t = 5) from given moments"
            tol = {}
            if kind == "adamax":
                desc += ("; u is compared with atol 2·eps: PyTorch stores u = max(b2*u, |g| + eps) where we "
                         "(as Keras) keep u = max(b2*u, |g|) and add eps in the denominator")
                tol = {"tolerances": {"u": {"atol": 2 * opt.eps}}}
            out.append(make_case(f"{kind}_step{step}", kind, eq, f"refimpl.optim.{type(opt).__name__}.update", inputs,
                                 {"param": new, "m": st["m"], second: st[second]}, description=desc, **tol))
    return out


def cases() -> list[dict]:
    """Every core case."""
    rng = np.random.default_rng(1)
    x, W, b = _r(rng, (3, 4)), _r(rng, (4, 2)), _r(rng, 2)
    dense = make_case("dense", "dense", "thesis Eq. 2.9 (x @ W + b, W (in, out))", _NN + "dense",
                      {"x": x, "W": W, "b": b}, {"y": nn.dense(x, W, b)})
    return [dense] + _conv_cases() + _pool_cases() + _batch_norm_cases() + _activation_cases() + _loss_cases() \
        + _optimizer_cases()
