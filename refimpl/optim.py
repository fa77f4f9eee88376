"""First-order optimizers as pure update functions on parameter pytrees.

Each optimizer is a small frozen dataclass of hyperparameters with two pure methods::

    opt = Adam(lr=1e-3)
    state = opt.init(params)
    params, state = opt.update(params, grads, state)

Nothing is mutated in place; the state is a dict holding the step count and per-parameter
moment pytrees of the parameters' dtype. The same code runs on NumPy and CuPy arrays.

Sources: SGD with momentum (Eq. 2.8 of Prellberg's thesis, plus heavy-ball momentum);
Adam and Adamax (Kingma & Ba 2015, Algorithms 1 and 2); AdamW (Loshchilov & Hutter 2019,
decoupled weight decay, Algorithm 2).
"""
from __future__ import annotations

from dataclasses import dataclass

from .backend import array_module, tree_map

__all__ = ["SGD", "Adam", "AdamW", "Adamax", "get_optimizer"]


def _zeros_like(params):
    return tree_map(lambda p: array_module(p).zeros_like(p), params)


def _check_positive(**values):
    for name, v in values.items():
        if not v > 0:
            raise ValueError(f"{name} must be > 0, got {v}")


def _check_beta(**values):
    for name, v in values.items():
        if not 0 <= v < 1:
            raise ValueError(f"{name} must lie in [0, 1), got {v}")


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent θ ← θ − η·g (thesis Eq. 2.8), optionally with momentum:
    v ← μ·v + g, θ ← θ − η·v (PyTorch's convention; ``nesterov`` uses g + μ·v)."""
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False

    def __post_init__(self):
        _check_positive(lr=self.lr)
        _check_beta(momentum=self.momentum)

    def init(self, params):
        return {"step": 0, "velocity": _zeros_like(params) if self.momentum else None}

    def update(self, params, grads, state):
        if not self.momentum:
            return tree_map(lambda p, g: p - self.lr * g, params, grads), {"step": state["step"] + 1}
        v = tree_map(lambda v, g: self.momentum * v + g, state["velocity"], grads)
        step = tree_map(lambda v, g: g + self.momentum * v, v, grads) if self.nesterov else v
        params = tree_map(lambda p, s: p - self.lr * s, params, step)
        return params, {"step": state["step"] + 1, "velocity": v}


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2015, Alg. 1): bias-corrected first and second moment estimates."""
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self):
        _check_positive(lr=self.lr, eps=self.eps)
        _check_beta(beta1=self.beta1, beta2=self.beta2)

    def init(self, params):
        return {"step": 0, "m": _zeros_like(params), "v": _zeros_like(params)}

    def _moments(self, grads, state):
        t = state["step"] + 1
        m = tree_map(lambda m, g: self.beta1 * m + (1 - self.beta1) * g, state["m"], grads)
        v = tree_map(lambda v, g: self.beta2 * v + (1 - self.beta2) * (g * g), state["v"], grads)
        # fold both bias corrections into one step size (Kingma & Ba, end of Sec. 2)
        lr_t = self.lr * (1 - self.beta2 ** t) ** 0.5 / (1 - self.beta1 ** t)
        eps_t = self.eps * (1 - self.beta2 ** t) ** 0.5
        return t, m, v, lr_t, eps_t

    def update(self, params, grads, state):
        t, m, v, lr_t, eps_t = self._moments(grads, state)
        params = tree_map(lambda p, m, v: p - lr_t * m / (array_module(v).sqrt(v) + eps_t), params, m, v)
        return params, {"step": t, "m": m, "v": v}


@dataclass(frozen=True)
class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): Adam plus decoupled weight decay θ ← θ − η·λ·θ."""
    weight_decay: float = 0.01

    def __post_init__(self):
        super().__post_init__()
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")

    def update(self, params, grads, state):
        decayed = tree_map(lambda p: p - (self.lr * self.weight_decay) * p, params)
        return super().update(decayed, grads, state)


@dataclass(frozen=True)
class Adamax:
    """Adamax (Kingma & Ba 2015, Alg. 2): Adam with the infinity norm, u ← max(β2·u, |g|)."""
    lr: float = 2e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self):
        _check_positive(lr=self.lr, eps=self.eps)
        _check_beta(beta1=self.beta1, beta2=self.beta2)

    def init(self, params):
        return {"step": 0, "m": _zeros_like(params), "u": _zeros_like(params)}

    def update(self, params, grads, state):
        t = state["step"] + 1
        m = tree_map(lambda m, g: self.beta1 * m + (1 - self.beta1) * g, state["m"], grads)
        u = tree_map(lambda u, g: array_module(g).maximum(self.beta2 * u, abs(g)), state["u"], grads)
        lr_t = self.lr / (1 - self.beta1 ** t)
        params = tree_map(lambda p, m, u: p - lr_t * m / (u + self.eps), params, m, u)
        return params, {"step": t, "m": m, "u": u}


_OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "adamax": Adamax}


def get_optimizer(name: str, **hyperparameters):
    """Build an optimizer by name (``sgd``, ``adam``, ``adamw``, ``adamax``); ``ValueError`` if unknown."""
    try:
        cls = _OPTIMIZERS[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(_OPTIMIZERS)}") from None
    return cls(**hyperparameters)
