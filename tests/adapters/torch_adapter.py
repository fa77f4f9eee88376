"""A case adapter for PyTorch's own layers, losses and optimizers (the core kinds) and its grouped
convolution (``grouped_conv2d``, thesis ch. 3).

Run it with ``refimpl.cases.check_cases(Path("cases"), "tests/adapters/torch_adapter.py")``. Everything
is computed by ``torch.nn.functional`` / ``torch.optim`` in float64; this module only translates
conventions, each stated where it is done:

* dense: our ``W`` is ``(in, out)`` (``x @ W + b``); ``F.linear`` takes ``(out, in)``, so it gets ``W.T``.
* 'same' padding is TensorFlow's: ``ceil(n/stride)`` outputs, the odd padding pixel after. PyTorch's
  ``padding="same"`` is stride 1 only, so the padding is applied with ``F.pad`` (zeros for convolution
  and average pooling, −inf for max pooling) and the layer runs unpadded.
* average pooling with 'same' divides by the number of real pixels in each window (Keras); with
  ``F.pad`` the sums (``divisor_override=1``) are divided by the pooled count of ones.
* batch norm: our ``momentum`` m keeps m of the old running statistics (Keras), PyTorch's keeps
  1 − m; and PyTorch updates ``running_var`` with the *unbiased* batch variance where we (and Keras)
  use the biased one. ``y`` is PyTorch's; PyTorch's updated ``running_var`` is converted back to the
  batch variance it used, which is rescaled by (n − 1)/n and blended with our convention.
* mse: ``F.mse_loss`` averages over every element; ours sums over a second axis and averages over
  the batch, so a (B, D) loss is multiplied by D.
* weighted BCE: our ``w`` is PyTorch's ``pos_weight``.
* optimizers: the cases give the state after ``step`` updates; it is loaded into the optimizer's
  state (``exp_avg``, ``exp_avg_sq`` / ``exp_inf``, ``step``; SGD's ``momentum_buffer``) before one
  ``optimizer.step()``. Adamax differs by the placement of ε (PyTorch: u = max(β2·u, |g| + ε); ours:
  m/(u + ε)); the cases' tolerance covers that.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _t(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def _np(t):
    return t.detach().cpu().numpy()


def _same_pad(n, k, s):
    """(before, after) zero padding of TensorFlow's 'same' along one axis."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _pad(x, kh, kw, sh, sw, padding, value=0.0):
    if padding == "valid":
        return x
    top, bottom = _same_pad(x.shape[2], kh, sh)
    left, right = _same_pad(x.shape[3], kw, sw)
    return F.pad(x, (left, right, top, bottom), value=value)


def dense(x, W, b):
    return _np(F.linear(_t(x), _t(W).T, _t(b)))


def conv2d(x, W, b, stride, padding):
    x, W = _t(x), _t(W)
    return _np(F.conv2d(_pad(x, W.shape[2], W.shape[3], stride, stride, padding), W, _t(b), stride=stride))


def grouped_conv2d(x, K, groups, padding, stride):
    """Thesis ch. 3: our grouped kernel layout (C_out, C_in/groups, kh, kw) is PyTorch's; an int padding too."""
    return _np(F.conv2d(_t(x), _t(K), stride=stride, padding=padding, groups=groups))


def max_pool2d(x, size, stride, padding):
    stride = stride or size
    x = _pad(_t(x), size, size, stride, stride, padding, value=-math.inf)
    return _np(F.max_pool2d(x, size, stride))


def avg_pool2d(x, size, stride, padding):
    stride = stride or size
    x = _t(x)
    if padding == "valid":
        return _np(F.avg_pool2d(x, size, stride))
    sums = F.avg_pool2d(_pad(x, size, size, stride, stride, padding), size, stride, divisor_override=1)
    ones = _pad(torch.ones_like(x[:1, :1]), size, size, stride, stride, padding)
    return _np(sums / F.avg_pool2d(ones, size, stride, divisor_override=1))


def global_avg_pool2d(x):
    return _np(F.adaptive_avg_pool2d(_t(x), 1).flatten(1))


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps):
    x = _t(x)
    rm, rv = _t(running_mean).clone(), _t(running_var).clone()
    torch_momentum = 1.0 - momentum
    y = F.batch_norm(x, rm, rv, _t(gamma), _t(beta), training=training, momentum=torch_momentum, eps=eps)
    if not training:
        return {"y": _np(y), "running_mean": _np(rm), "running_var": _np(rv)}
    n = x.numel() // x.shape[1]
    rv0 = _t(running_var)
    unbiased = (rv - (1.0 - torch_momentum) * rv0) / torch_momentum      # the batch variance PyTorch used
    biased = unbiased * (n - 1) / n
    return {"y": _np(y), "running_mean": _np(rm), "running_var": _np(momentum * rv0 + (1.0 - momentum) * biased)}


_ACTIVATIONS = {"relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "linear": lambda v: v,
                "softmax": lambda v: F.softmax(v, dim=-1), "log_softmax": lambda v: F.log_softmax(v, dim=-1)}


def activation(name, x):
    return _np(_ACTIVATIONS[name](_t(x)))


def cross_entropy(logits, labels):
    return _np(F.cross_entropy(_t(logits), torch.as_tensor(labels, dtype=torch.long)))


def mse(pred, target):
    pred, target = _t(pred), _t(target)
    loss = F.mse_loss(pred, target)
    return _np(loss * pred.shape[-1] if pred.ndim == 2 else loss)


def weighted_binary_cross_entropy(logit, y, w):
    return _np(F.binary_cross_entropy_with_logits(_t(logit), _t(y), pos_weight=torch.tensor(float(w), dtype=torch.float64)))


def _step(make, param, grad, state):
    p = torch.nn.Parameter(_t(param).clone())
    opt = make([p])
    opt.state[p].update(state)
    p.grad = _t(grad)
    opt.step()
    return p, opt.state[p]


def sgd(param, grad, velocity, lr, momentum, nesterov):
    state = {"momentum_buffer": _t(velocity).clone()} if momentum else {}
    p, st = _step(lambda ps: torch.optim.SGD(ps, lr=lr, momentum=momentum, nesterov=nesterov), param, grad, state)
    return {"param": _np(p), "velocity": _np(st["momentum_buffer"]) if momentum else np.zeros_like(param)}


def _adam_like(cls, param, grad, m, second, key, step, **kw):
    state = {"step": torch.tensor(float(step)), "exp_avg": _t(m).clone(), key: _t(second).clone()}
    p, st = _step(lambda ps: cls(ps, foreach=False, **kw), param, grad, state)
    return _np(p), _np(st["exp_avg"]), _np(st[key])


def adam(param, grad, m, v, step, lr, beta1, beta2, eps):
    p, m, v = _adam_like(torch.optim.Adam, param, grad, m, v, "exp_avg_sq", step, lr=lr, betas=(beta1, beta2), eps=eps)
    return {"param": p, "m": m, "v": v}


def adamw(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay):
    p, m, v = _adam_like(torch.optim.AdamW, param, grad, m, v, "exp_avg_sq", step, lr=lr, betas=(beta1, beta2),
                         eps=eps, weight_decay=weight_decay)
    return {"param": p, "m": m, "v": v}


def adamax(param, grad, m, u, step, lr, beta1, beta2, eps):
    p, m, u = _adam_like(torch.optim.Adamax, param, grad, m, u, "exp_inf", step, lr=lr, betas=(beta1, beta2), eps=eps)
    return {"param": p, "m": m, "u": u}
