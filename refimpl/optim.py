"""First-order optimizers as update functions on parameter pytrees.

Each optimizer is a small frozen dataclass of hyperparameters with two methods::

    opt = Adam(lr=1e-3)
    state = opt.init(params)
    params, state = opt.update(params, grads, state)                 # pure: nothing is modified
    params, state = opt.update(params, grads, state, inplace=True)   # overwrites params and state

By default ``update`` is pure: it returns new arrays and leaves its inputs untouched.
``inplace=True`` overwrites the parameter and state arrays instead, which avoids allocating
(and page-faulting) several parameter-sized arrays per step — about 6× faster for Adam on a
784-500-500-10 MLP. :func:`refimpl.train.fit` uses it on parameters it has copied. Both paths
run the same code (the pure one on copies) and work on NumPy and CuPy arrays; moments have
the parameters' dtype.

Sources: SGD with momentum (Eq. 2.8 of Prellberg's thesis, plus heavy-ball momentum);
Adam and Adamax (Kingma & Ba 2015, Algorithms 1 and 2); AdamW (Loshchilov & Hutter 2019,
decoupled weight decay, Algorithm 2).
"""
from __future__ import annotations

from dataclasses import dataclass

from .backend import raw_module, tree_leaves, tree_map

__all__ = ["SGD", "Adam", "AdamW", "Adamax", "get_optimizer"]


def _zeros_like(params):
    return tree_map(lambda p: raw_module(p).zeros_like(p), params)


def _copy(tree):
    return tree_map(lambda a: a.copy(), tree)


def _check_positive(**values):
    for name, v in values.items():
        if not v > 0:
            raise ValueError(f"{name} must be > 0, got {v}")


def _check_beta(**values):
    for name, v in values.items():
        if not 0 <= v < 1:
            raise ValueError(f"{name} must lie in [0, 1), got {v}")


def _prepare(params, grads, state, moments, inplace):
    """Flat leaf lists to update in place (copies of them unless ``inplace``)."""
    if not inplace:
        params = _copy(params)
        state = {k: _copy(v) if k in moments else v for k, v in state.items()}
    return params, state, tree_leaves(params), tree_leaves(grads), [tree_leaves(state[k]) for k in moments]


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent θ ← θ − η·g (thesis Eq. 2.8), optionally with momentum:
    v ← μ·v + g, θ ← θ − η·v (PyTorch's convention; ``nesterov`` steps along g + μ·v)."""
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False

    def __post_init__(self):
        _check_positive(lr=self.lr)
        _check_beta(momentum=self.momentum)

    def init(self, params):
        return {"step": 0, "velocity": _zeros_like(params) if self.momentum else None}

    def update(self, params, grads, state, *, inplace: bool = False):
        moments = ("velocity",) if self.momentum else ()
        params, state, ps, gs, ms = _prepare(params, grads, state, moments, inplace)
        for i, (p, g) in enumerate(zip(ps, gs)):
            xp = raw_module(p)
            if self.momentum:
                v = ms[0][i]
                v *= self.momentum
                v += g
                g = g + self.momentum * v if self.nesterov else v
            p -= xp.multiply(g, self.lr, dtype=p.dtype)
        return params, {**state, "step": state["step"] + 1}


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2015, Alg. 1): bias-corrected first and second moment estimates,
    θ ← θ − η·m̂/(√v̂ + ε)."""
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self):
        _check_positive(lr=self.lr, eps=self.eps)
        _check_beta(beta1=self.beta1, beta2=self.beta2)

    def init(self, params):
        return {"step": 0, "m": _zeros_like(params), "v": _zeros_like(params)}

    def _decay(self, p):
        """Weight decay applied before the step (none for Adam; AdamW overrides)."""

    def update(self, params, grads, state, *, inplace: bool = False):
        params, state, ps, gs, (ms, vs) = _prepare(params, grads, state, ("m", "v"), inplace)
        t = state["step"] + 1
        # fold both bias corrections into the step size and ε (Kingma & Ba, end of Sec. 2)
        lr_t = self.lr * (1 - self.beta2 ** t) ** 0.5 / (1 - self.beta1 ** t)
        eps_t = self.eps * (1 - self.beta2 ** t) ** 0.5
        for p, g, m, v in zip(ps, gs, ms, vs):
            xp = raw_module(p)
            self._decay(p)
            tmp = xp.multiply(g, 1 - self.beta1, dtype=m.dtype)  # one scratch array per leaf
            m *= self.beta1                          # m ← β1·m + (1 − β1)·g
            m += tmp
            xp.multiply(g, g, out=tmp)               # v ← β2·v + (1 − β2)·g²
            tmp *= 1 - self.beta2
            v *= self.beta2
            v += tmp
            xp.sqrt(v, out=tmp)                      # θ ← θ − η_t·m/(√v + ε_t)
            tmp += eps_t
            xp.divide(m, tmp, out=tmp)
            tmp *= lr_t
            p -= tmp
        return params, {**state, "step": t}


@dataclass(frozen=True)
class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): Adam plus decoupled weight decay θ ← θ − η·λ·θ."""
    weight_decay: float = 0.01

    def __post_init__(self):
        super().__post_init__()
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")

    def _decay(self, p):
        p *= 1 - self.lr * self.weight_decay


@dataclass(frozen=True)
class Adamax(Adam):
    """Adamax (Kingma & Ba 2015, Alg. 2): Adam with the infinity norm, u ← max(β2·u, |g|),
    θ ← θ − η/(1 − β1^t)·m/(u + ε)."""
    lr: float = 2e-3

    def init(self, params):
        return {"step": 0, "m": _zeros_like(params), "u": _zeros_like(params)}

    def update(self, params, grads, state, *, inplace: bool = False):
        params, state, ps, gs, (ms, us) = _prepare(params, grads, state, ("m", "u"), inplace)
        t = state["step"] + 1
        lr_t = self.lr / (1 - self.beta1 ** t)
        for p, g, m, u in zip(ps, gs, ms, us):
            xp = raw_module(p)
            m *= self.beta1
            m += (1 - self.beta1) * g
            u *= self.beta2
            xp.maximum(u, xp.abs(g), out=u)
            tmp = u + self.eps
            xp.divide(m, tmp, out=tmp)
            tmp *= lr_t
            p -= tmp
        return params, {**state, "step": t}


_OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "adamax": Adamax}


def get_optimizer(name: str, **hyperparameters):
    """Build an optimizer by name (``sgd``, ``adam``, ``adamw``, ``adamax``); ``ValueError`` if unknown."""
    try:
        cls = _OPTIMIZERS[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(_OPTIMIZERS)}") from None
    return cls(**hyperparameters)
