"""Extremal learning: find the input that extremizes a trained network's output.

Patel & Rummel, *Extremal learning: extremizing the output of a neural network in regression
problems* (document ``extremal``). The network's parameters θ̂ are frozen, the input x is
promoted to the trainable variable, and a loss whose minimum is the wanted extremum is
minimized by gradient descent (Sec. 2.1):

* the extremal losses of Eq. 2.3 — :func:`maximization_loss` ``[f² + κ]⁻¹`` and
  :func:`minimization_loss` ``f²``;
* constraint losses added to it as in Eq. 2.5 — the extrapolation penalty of Eq. 2.6
  (:func:`extrapolation_loss`), the output-positivity loss of Eq. 2.7 (:func:`positive_output_loss`,
  which *replaces* the maximization loss in Sec. 3) and the input-positivity loss of Eq. 2.8
  (:func:`positive_input_loss`), plus any user-defined ``loss(x, y)``;
* :func:`extremize`, which runs Eq. 2.4 (plain gradient descent) or Adam on a whole batch of
  starting points at once (each start is an independent problem: the gradient of the summed loss
  with respect to start b is the gradient of start b's own loss).

Every loss works per example: ``y`` is ``(B,)`` (one output per start) and ``x`` is
``(B, m)``; each returns ``(B,)``. All are autograd-traceable, and all run on the device of
their ``x``/``y`` (NumPy or CuPy): host constants (μ, σ, masks) are copied there. The
optimizers :func:`extremize` and :func:`extremize_lbfgs` differentiate with autograd and run on
the host only.

Two remarks that the paper leaves implicit and this module states:

* Eq. 2.3's maximization loss depends on f² only, so it is minimized by *large |f|*, positive
  or negative; Eq. 2.7 (:func:`positive_output_loss`) is the variant that only rewards f > 0.
* The penalties are soft: the optimum of L = L1 + L2 lies slightly *outside* the window
  μ ± cσ, where the gradients of the two terms balance. ``extremize(..., bounds=(lo, hi))``
  additionally projects x onto a box after every step (projected gradient descent; not in the
  paper) for a hard constraint.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from autograd import grad, value_and_grad
from scipy.optimize import minimize

from .. import nn
from ..backend import array_module, is_cupy, tree_leaves
from ..model import Sequential
from ..optim import Adam

__all__ = ["maximization_loss", "minimization_loss", "extrapolation_loss", "positive_output_loss",
           "positive_input_loss", "total_loss", "network_output", "extremize", "extremize_lbfgs",
           "ExtremalResult"]


# --------------------------------------------------------------------------------------------
# Loss functions (Eqs. 2.3, 2.5–2.8)
# --------------------------------------------------------------------------------------------

def _check_positive(**values):
    for name, v in values.items():
        if not (np.isscalar(v) and np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")


def _check_nonnegative(**values):
    for name, v in values.items():
        if not (np.isscalar(v) and np.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")


def maximization_loss(y, kappa: float = 1.0):
    """Eq. 2.3 (maximization): ``L̂ = [f(θ̂; x)² + κ]⁻¹``, elementwise.

    ``y``: network outputs, any shape; ``kappa`` > 0 keeps the loss finite at f = 0
    (``ValueError`` otherwise). Minimized by large |y| of either sign (see the module notes).
    """
    _check_positive(kappa=kappa)
    return 1.0 / (y ** 2 + kappa)


def minimization_loss(y):
    """Eq. 2.3 (minimization): ``L̂ = f(θ̂; x)²``, elementwise (drives the output towards 0)."""
    return y ** 2


def positive_output_loss(y, kappa2: float = 10.0, kappa_hat: float = 1.0):
    """Eq. 2.7: maximization loss that also forbids negative outputs, elementwise.

    ``L2 = −κ2·y + κ̂`` for y < 0 and ``(y² + κ̂⁻¹)⁻¹`` for y ≥ 0. Both branches equal κ̂ at
    y = 0, so the loss is continuous. Sec. 3 (Eq. 3.4) uses κ2 = 10, κ̂ = 1 (the defaults).
    Raises ``ValueError`` unless κ2 > 0 and κ̂ > 0.
    """
    _check_positive(kappa2=kappa2, kappa_hat=kappa_hat)
    xp = array_module(y)
    negative = -kappa2 * y + kappa_hat
    positive = 1.0 / (y ** 2 + 1.0 / kappa_hat)
    return xp.where(y < 0, negative, positive)


def extrapolation_loss(x, mu, sigma, c: float = 2.0, kappa1: float = 1.0, *, upper: bool = True):
    """Eq. 2.6: quadratic penalty for leaving the window μ − cσ ≤ x_i ≤ μ + cσ.

    ``L1 = κ1 Σ_i {(x_i − μ_i + cσ_i)² below the window, 0 inside, (x_i − μ_i − cσ_i)² above}``.

    Parameters
    ----------
    x : ``(..., m)`` inputs; the sum runs over the last axis, so the result is ``(...)``.
    mu, sigma : ``(m,)`` mean and standard deviation of the training inputs (σ_i ≥ 0), host
        arrays or sequences (validated on the host, then copied to the device of ``x``), or
        arrays on the device of ``x`` (then only their shapes are checked: checking values would
        wait for the GPU).
    c : window half-width in standard deviations (≥ 0). Sec. 3 uses c = 2.
    kappa1 : weight (≥ 0). Sec. 3 (Eq. 3.3) uses κ1 = 1/2; Fig. 1b uses κ1 = 1.
    upper : ``False`` drops the upper branch, as the authors' notebook does by mistake
        (docs/extremal.md; it also counts the lower branch twice, i.e. ``kappa1=2, upper=False``);
        the text's penalty (default) has both branches.

    Returns ``(...)`` on the device of ``x``, float64 for float64 ``x`` (μ, σ are float64).
    Raises ``ValueError`` on shape mismatches or a negative c, κ1 or σ.
    """
    _check_nonnegative(c=c, kappa1=kappa1)
    xp = array_module(x)
    if not (is_cupy(mu) or is_cupy(sigma)):
        mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
        if np.any(sigma < 0) or not np.all(np.isfinite(sigma)) or not np.all(np.isfinite(mu)):
            raise ValueError("sigma must be finite and >= 0 and mu finite")
    if mu.ndim != 1 or mu.shape != sigma.shape:
        raise ValueError(f"mu and sigma must be 1-D of equal length, got {mu.shape} and {sigma.shape}")
    if tuple(x.shape[-1:]) != mu.shape:
        raise ValueError(f"x has {x.shape[-1] if x.ndim else 0} features (shape {tuple(x.shape)}) "
                         f"but mu/sigma have {mu.shape[0]}")
    mu, sigma = xp.asarray(mu), xp.asarray(sigma)  # to the device of x
    below = xp.maximum(mu - c * sigma - x, 0.0) ** 2
    penalty = below + xp.maximum(x - (mu + c * sigma), 0.0) ** 2 if upper else below
    return kappa1 * xp.sum(penalty, axis=-1)


def positive_input_loss(x, kappa3: float = 1.0, mask=None):
    """Eq. 2.8: ``L3 = κ3 Σ_i {−x_i if x_i < 0, 0 otherwise}`` over the last axis of ``x (..., m)``.

    ``mask`` (optional ``(m,)`` booleans, host or on the device of ``x``, copied there) restricts
    the sum to the components that must be positive ("(some of) the components"). Returns
    ``(...)`` on the device of ``x``. Raises ``ValueError`` if κ3 < 0 or the mask does not fit.
    """
    _check_nonnegative(kappa3=kappa3)
    xp = array_module(x)
    neg = xp.maximum(-x, 0.0)
    if mask is not None:
        mask = xp.asarray(mask, dtype=bool)  # to the device of x
        if tuple(mask.shape) != tuple(x.shape[-1:]):
            raise ValueError(f"mask has shape {tuple(mask.shape)}, x has {x.shape[-1]} features")
        neg = neg * mask
    return kappa3 * xp.sum(neg, axis=-1)


def total_loss(x, y, objective: Callable, constraints: Sequence[Callable] = ()):
    """Eq. 2.5: ``L = L̂(y) + Σ_i L_i(x, y)`` per example: ``x (B, m)``, ``y (B,)`` -> ``(B,)``."""
    loss = objective(y)
    for constraint in constraints:
        loss = loss + constraint(x, y)
    return loss


# --------------------------------------------------------------------------------------------
# Extremal training (Sec. 2.1, Eq. 2.4)
# --------------------------------------------------------------------------------------------

def network_output(model, params, x, output_index: int | None = None):
    """The scalar output f(θ̂; x) that is extremized, for a batch ``x (B, *input_shape)`` -> ``(B,)``.

    ``model`` is a :class:`~refimpl.model.Sequential` or a callable ``model(params, x)`` returning
    ``(B, n_out)`` or ``(B,)``. With several outputs (a classifier's class scores) ``output_index``
    chooses one; it is required then (``ValueError``), and must be in range.
    """
    forward = model.apply if isinstance(model, Sequential) else model
    out = forward(params, x)
    if out.ndim == 1:
        if output_index not in (None, 0):
            raise ValueError(f"the network has one output; output_index {output_index} is out of range")
        return out
    if out.ndim != 2:
        raise ValueError(f"the network output must be (B, n_out), got shape {out.shape}")
    n_out = out.shape[1]
    if output_index is None:
        if n_out != 1:
            raise ValueError(f"the network has {n_out} outputs; choose the one to extremize "
                             f"with output_index (0..{n_out - 1})")
        output_index = 0
    if not (isinstance(output_index, (int, np.integer)) and 0 <= output_index < n_out):
        raise ValueError(f"output_index must be an int in [0, {n_out}), got {output_index!r}")
    return out[:, output_index]


@dataclass
class ExtremalResult:
    """What :func:`extremize` returns (float64 arrays; B = number of starts, m = input size).

    x : ``(B, *input_shape)`` final inputs x̂.  y : ``(B,)`` network output f(θ̂; x̂).
    loss : ``(B,)`` total loss L at x̂.  x_init : the starting points.
    trajectory : ``{"step": (T,), "x": (T, B, *input_shape), "y": (T, B), "loss": (T, B)}``,
        recorded every ``record_every`` steps (first entry: the start, last: the end).
    config : the settings used (optimizer, steps, ...).
    """
    x: np.ndarray
    y: np.ndarray
    loss: np.ndarray
    x_init: np.ndarray
    trajectory: dict
    config: dict = field(default_factory=dict)

    @property
    def best(self) -> int:
        """Index of the start with the lowest total loss (the multi-start answer)."""
        return int(np.argmin(self.loss))


def _objective_from(objective, kappa):
    if callable(objective):
        return objective
    if objective == "max":
        _check_positive(kappa=kappa)
        return lambda y: maximization_loss(y, kappa)
    if objective == "min":
        return minimization_loss
    raise ValueError(f"objective must be 'max', 'min' or a callable loss(y), got {objective!r}")


def _prepare(model, params, x_init, objective, kappa, output_index, bounds):
    """Validate the common arguments; returns float64 starts (B, *input_shape), L̂, box or Nones."""
    if any(is_cupy(a) for a in (x_init, *tree_leaves(params))):
        raise TypeError("extremal learning differentiates with autograd, which works on NumPy arrays only: "
                        "pass host parameters and starts (refimpl.backend.asnumpy); the losses of this "
                        "module themselves also run on CuPy")
    if np.iscomplexobj(x_init):
        raise TypeError("x_init is complex; real inputs only (the imaginary part would be dropped)")
    for p in map(np.asarray, tree_leaves(params)):   # the frozen network: a real, finite function
        if p.dtype.kind in "fc":                        # (a callable model's params may hold other leaves)
            nn.check_finite(p, "a parameter array")
    x0 = np.asarray(x_init, dtype=np.float64)
    if isinstance(model, Sequential):
        shape = model.input_shape
        if x0.shape == shape:
            x0 = x0[None]
        elif x0.ndim != len(shape) + 1 or x0.shape[1:] != shape:
            raise ValueError(f"x_init must have shape {shape} or (B, *{shape}) for this network, "
                             f"got {x0.shape}")
    elif not callable(model):
        raise TypeError(f"model must be a Sequential or a callable model(params, x), got {type(model).__name__}")
    elif x0.ndim < 2:
        raise ValueError(f"x_init must be (B, *input_shape) for a callable model, got shape {x0.shape}")
    if x0.shape[0] == 0:
        raise ValueError("x_init holds no starting point")
    if not np.all(np.isfinite(x0)):
        raise ValueError("x_init contains NaN or infinity")
    loss_hat = _objective_from(objective, kappa)
    if bounds is not None:
        try:
            lo, hi = (np.broadcast_to(np.asarray(b, dtype=np.float64), x0.shape[1:]) for b in bounds)
        except (ValueError, TypeError):
            raise ValueError(f"bounds must be (lo, hi) broadcastable to the input shape {x0.shape[1:]}") from None
        if np.isnan(lo).any() or np.isnan(hi).any():
            raise ValueError("bounds contain NaN (use ±inf for no bound)")
        if np.any(lo > hi):
            raise ValueError("bounds: lo > hi in some coordinate")
        x0 = np.clip(x0, lo, hi)
    else:
        lo = hi = None
    network_output(model, params, x0[:1], output_index)   # a clear error for a bad output choice
    return x0, loss_hat, lo, hi


def extremize(model, params, x_init, *, objective: str | Callable = "max", kappa: float = 1.0,
              constraints: Sequence[Callable] = (), output_index: int | None = None,
              optimizer=None, steps: int = 50_000, bounds: tuple | None = None,
              record_every: int | None = None) -> ExtremalResult:
    """Extremal learning (Sec. 2.1): freeze θ̂, train the input x to minimize L (Eq. 2.5).

    Parameters
    ----------
    model, params : a trained :class:`~refimpl.model.Sequential` and its parameters (never
        modified), or a callable ``model(params, x) -> (B, n_out)``.
    x_init : starting point(s) x_init: ``(*input_shape)`` for one start or ``(B, *input_shape)``
        for B independent starts optimized together (vectorized multi-start). For a callable
        model a batch axis is required. Computation is in float64.
    objective : ``"max"`` (Eq. 2.3, ``[f² + κ]⁻¹``), ``"min"`` (Eq. 2.3, ``f²``), or a callable
        ``loss(y) -> (B,)``, e.g. ``lambda y: positive_output_loss(y, 10, 1)`` (Eq. 2.7, Sec. 3).
    kappa : κ of the maximization loss (> 0, else ``ValueError``).
    constraints : callables ``L_i(x, y) -> (B,)`` added to the objective (Eq. 2.5), e.g.
        ``lambda x, y: extrapolation_loss(x, mu, sigma, c=2, kappa1=0.5)``.
    output_index : which output to extremize; required when the network has several (a
        classifier's class scores), else ``ValueError``.
    optimizer : :class:`refimpl.optim.Adam` (default ``Adam(lr=5e-4)``, the authors' code) or
        ``SGD(lr)`` for the plain gradient-descent rule x ← x − α∇ₓL of Eq. 2.4.
    steps : number of updates (the authors' notebook: 50,000).
    bounds : optional ``(lo, hi)`` arrays broadcastable to ``input_shape``: x is projected onto
        this box after each step (a hard constraint; beyond the paper).
    record_every : trajectory stride (default ``max(1, steps // 200)``).

    Returns an :class:`ExtremalResult`; for a single start (no batch axis) its arrays still carry
    a batch axis of length 1. Runs on the host (autograd). Raises ``ValueError`` for a wrongly
    shaped or non-finite ``x_init``, NaN or infinite ``params``, κ ≤ 0, a missing
    ``output_index``, non-positive ``steps`` or malformed ``bounds`` (NaN included);
    ``TypeError`` for CuPy parameters or starts, or a complex ``x_init`` or parameters.
    """
    x0, loss_hat, lo, hi = _prepare(model, params, x_init, objective, kappa, output_index, bounds)
    if not (isinstance(steps, (int, np.integer)) and steps >= 1):
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    record_every = max(1, steps // 200) if record_every is None else record_every
    if not (isinstance(record_every, (int, np.integer)) and record_every >= 1):
        raise ValueError(f"record_every must be a positive int, got {record_every!r}")
    optimizer = Adam(lr=5e-4) if optimizer is None else optimizer

    def per_example(x):
        y = network_output(model, params, x, output_index)
        return total_loss(x, y, loss_hat, constraints), y

    gradient = grad(lambda x: array_module(x).sum(per_example(x)[0]))
    record = {"step": [], "x": [], "y": [], "loss": []}

    def log(step, x):
        loss, y = per_example(x)
        record["step"].append(step)
        record["x"].append(np.array(x))
        record["y"].append(np.asarray(y, dtype=np.float64))
        record["loss"].append(np.asarray(loss, dtype=np.float64))

    x, state = x0, optimizer.init(x0)
    log(0, x)
    for step in range(1, steps + 1):
        x, state = optimizer.update(x, gradient(x), state)
        if bounds is not None:
            x = np.clip(x, lo, hi)
        if step % record_every == 0 or step == steps:
            log(step, x)
    if not np.all(np.isfinite(record["loss"][-1])):
        raise FloatingPointError("extremal learning diverged (non-finite loss); lower the learning rate")
    trajectory = {k: np.asarray(v) for k, v in record.items()}
    config = {"objective": objective if isinstance(objective, str) else getattr(objective, "__name__", "callable"),
              "optimizer": repr(optimizer), "steps": int(steps), "starts": int(x0.shape[0]),
              "output_index": output_index, "bounds": None if bounds is None else [lo.tolist(), hi.tolist()]}
    return ExtremalResult(x=trajectory["x"][-1], y=trajectory["y"][-1], loss=trajectory["loss"][-1],
                          x_init=x0, trajectory=trajectory, config=config)


def extremize_lbfgs(model, params, x_init, *, objective: str | Callable = "max", kappa: float = 1.0,
                    constraints: Sequence[Callable] = (), output_index: int | None = None,
                    bounds: tuple | None = None, maxiter: int = 1000) -> ExtremalResult:
    """The same minimization of L (Eq. 2.5) with quasi-Newton L-BFGS-B instead of Eq. 2.4.

    A baseline beyond the paper: :func:`scipy.optimize.minimize` (``method="L-BFGS-B"``, exact
    autograd gradients) is run from every start separately; ``bounds`` become L-BFGS-B's box
    constraints. Arguments as in :func:`extremize`; ``maxiter`` caps iterations per start. The
    trajectory holds only the start (step 0) and the end (step = iterations of the slowest start);
    ``config["iterations"]`` lists them per start. Raises ``ValueError`` as :func:`extremize` does.
    """
    x0, loss_hat, lo, hi = _prepare(model, params, x_init, objective, kappa, output_index, bounds)
    if not (isinstance(maxiter, (int, np.integer)) and maxiter >= 1):
        raise ValueError(f"maxiter must be a positive int, got {maxiter!r}")
    shape = x0.shape[1:]

    def loss_one(v):
        x = v.reshape((1,) + shape)
        return total_loss(x, network_output(model, params, x, output_index), loss_hat, constraints)[0]

    fun = value_and_grad(loss_one)
    box = None if lo is None else list(zip(lo.ravel(), hi.ravel()))
    xs, iterations = [], []
    for start in x0:
        res = minimize(lambda v: tuple(np.asarray(a, dtype=np.float64) for a in fun(v)), start.ravel(),
                       jac=True, method="L-BFGS-B", bounds=box, options={"maxiter": maxiter})
        xs.append(res.x.reshape(shape))
        iterations.append(int(res.nit))
    x = np.stack(xs)
    y = np.asarray(network_output(model, params, x, output_index), dtype=np.float64)
    loss = np.asarray(total_loss(x, y, loss_hat, constraints), dtype=np.float64)
    y0 = np.asarray(network_output(model, params, x0, output_index), dtype=np.float64)
    loss0 = np.asarray(total_loss(x0, y0, loss_hat, constraints), dtype=np.float64)
    trajectory = {"step": np.array([0, max(iterations)]), "x": np.stack([x0, x]),
                  "y": np.stack([y0, y]), "loss": np.stack([loss0, loss])}
    config = {"objective": objective if isinstance(objective, str) else getattr(objective, "__name__", "callable"),
              "optimizer": "L-BFGS-B", "maxiter": int(maxiter), "iterations": iterations,
              "starts": int(x0.shape[0]), "output_index": output_index,
              "bounds": None if lo is None else [lo.tolist(), hi.tolist()]}
    return ExtremalResult(x=x, y=y, loss=loss, x_init=x0, trajectory=trajectory, config=config)
