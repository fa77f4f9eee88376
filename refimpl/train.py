"""Minibatch training and evaluation of :class:`refimpl.model.Sequential` networks.

``fit`` runs seeded, shuffled minibatch gradient descent (autograd on the CPU) with a tqdm
progress bar and a per-epoch history of loss and accuracy on the training data and an
optional validation set. It stops with :class:`TrainingDivergedError` (carrying the
parameters reached) as soon as a loss is NaN or infinite. ``evaluate`` and ``predict`` run the
network in evaluation mode in batches.

Devices: ``fit`` differentiates with autograd and therefore runs on the host (NumPy arrays; CuPy
arrays raise ``TypeError``). ``predict`` and ``evaluate`` run on the device of their arguments:
with CuPy parameters and data they stay on the GPU and only the final numbers come back.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from . import nn
from .autodiff import value_and_grad
from .backend import as_generator, is_cupy, raw_module, tree_leaves, tree_map
from .optim import Adam

__all__ = ["FitResult", "TrainingDivergedError", "fit", "evaluate", "predict", "get_loss"]

_LOSSES = {"cross_entropy": nn.cross_entropy, "mse": nn.mse}


def get_loss(loss: str | Callable) -> Callable:
    """``loss(outputs, targets) -> scalar``: a name (``cross_entropy``, ``mse``) or a callable."""
    if callable(loss):
        return loss
    try:
        return _LOSSES[loss]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {loss!r}; known: {', '.join(_LOSSES)} or a callable") from None


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite.

    Attributes: ``params`` and ``state`` (the parameters at which the loss was first
    non-finite; no update was made from them),
    ``history`` (completed epochs), ``epoch`` and ``batch`` (where it happened, 0-based).
    """

    def __init__(self, message, *, params, state, history, epoch, batch):
        super().__init__(message)
        self.params, self.state, self.history = params, state, history
        self.epoch, self.batch = epoch, batch


@dataclass
class FitResult:
    """What :func:`fit` returns: trained ``params``, BatchNorm ``state``, the optimizer state,
    and ``history`` (lists per epoch: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``,
    ``seconds``; accuracies only for integer targets)."""
    params: list
    state: list | None
    opt_state: dict
    history: dict = field(default_factory=dict)


def _shape(a) -> tuple:
    """The shape of an array (NumPy or CuPy, read without converting it) or of a sequence."""
    return tuple(a.shape) if hasattr(a, "shape") else np.shape(a)


def _check_xy(model, x, y, name="x"):
    """The data of fit/evaluate: examples present, shapes matching the model and each other,
    inputs (and float targets) real and finite."""
    if x.shape[0] == 0:
        raise ValueError(f"{name} has no examples")
    if x.shape[0] != _shape(y)[0]:
        raise ValueError(f"{name} has {x.shape[0]} examples but its targets have {_shape(y)[0]}")
    if tuple(x.shape[1:]) != model.input_shape:
        raise ValueError(f"{name} has per-example shape {tuple(x.shape[1:])}, the model expects {model.input_shape}")
    nn.check_finite(x, name)
    if not _is_classification(y):
        nn.check_finite(y if hasattr(y, "dtype") else np.asarray(y), f"the targets of {name}")


def _is_classification(y) -> bool:
    """True for integer targets (class labels). Reads only the dtype, so CuPy labels are not converted."""
    dtype = y.dtype if hasattr(y, "dtype") else np.asarray(y).dtype
    return np.issubdtype(dtype, np.integer)


def _check_labels_once(model, loss_fn, y):
    """The label range check of cross-entropy, once per call of fit/evaluate: the loss itself skips
    it for labels on the GPU, where it would wait for the device on every batch."""
    if loss_fn is nn.cross_entropy:
        nn.check_labels(y, model.output_shape[-1])


def fit(model, params, x, y, *, epochs: int = 1, batch_size: int = 128,
        optimizer=None, loss: str | Callable = "cross_entropy", seed: int | np.random.Generator = 0,
        validation: tuple | None = None, state=None, opt_state=None, shuffle: bool = True,
        progress: bool = True, desc: str = "train",
        callback: Callable | None = None) -> FitResult:
    """Train ``model`` from ``params`` by minibatch gradient descent.

    Parameters
    ----------
    model : :class:`refimpl.model.Sequential` (anything with ``input_shape`` and ``apply_with_state``).
    params : parameter list from ``model.init`` (float32 by default); not modified (``fit`` trains a copy).
    x, y : training inputs ``(N, *model.input_shape)`` and targets ``(N,)`` int labels for
        classification or ``(N, D)`` floats for regression.
    epochs, batch_size : passes over the data and examples per step (the last batch may be smaller).
    optimizer : an optimizer of :mod:`refimpl.optim` (default ``Adam()``).
    loss : ``"cross_entropy"`` (Eq. 2.7), ``"mse"`` (Eq. 2.4) or ``f(outputs, targets) -> scalar``.
    seed : int or Generator for the per-epoch shuffling; equal seeds give equal runs.
    shuffle : reshuffle every epoch (default); ``False`` keeps the data order (batches in fixed order).
    validation : optional ``(x_val, y_val)`` evaluated after every epoch.
    state : BatchNorm running statistics (``model.init_state()``), required if the model has BatchNorm.
    opt_state : resume an optimizer state from an earlier :class:`FitResult`.
    progress : show a tqdm progress bar.
    callback : ``callback(epoch, params, history)`` after every epoch.

    Raises ``ValueError`` on mismatched shapes, no examples, non-positive sizes, NaN or infinite
    inputs, float targets or parameters, or (cross-entropy) labels outside [0, n_classes);
    ``TypeError`` for CuPy arrays (autograd differentiates NumPy only), complex arrays and
    non-integer cross-entropy labels; :class:`TrainingDivergedError` when a loss is NaN or infinite.
    """
    if any(is_cupy(a) for a in (x, y, *tree_leaves(params))):
        raise TypeError("fit differentiates with autograd, which works on NumPy arrays only; pass host "
                        "arrays (refimpl.backend.asnumpy). CuPy runs the forward passes: predict, "
                        "evaluate and the population evaluation of refimpl.thesis")
    if not (isinstance(epochs, (int, np.integer)) and epochs >= 0):
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    _check_xy(model, x, y)
    if validation is not None:
        _check_xy(model, validation[0], validation[1], "validation x")
    for p in tree_leaves(params):
        nn.check_finite(p, "a parameter array")
    optimizer = optimizer if optimizer is not None else Adam()
    loss_fn = get_loss(loss)
    classify = _is_classification(y)
    _check_labels_once(model, loss_fn, y)
    if validation is not None:
        _check_labels_once(model, loss_fn, validation[1])
    rng = as_generator(seed)
    # fit owns copies of the parameters and optimizer state and updates them in place
    params = tree_map(lambda a: a.copy(), params)
    opt_state = optimizer.init(params) if opt_state is None else tree_map(
        lambda a: a.copy() if hasattr(a, "copy") else a, opt_state)
    n = x.shape[0]
    n_batches = -(-n // batch_size)

    def objective(p, xb, yb, state):
        """The minibatch loss (Eq. 2.3), plus what the forward pass produced on the way: the
        outputs (for the training accuracy) and the new BatchNorm statistics."""
        out, new_state = model.apply_with_state(p, xb, state, training=True)
        return loss_fn(out, yb), (out, new_state)

    step = value_and_grad(objective, has_aux=True)  # ((loss, (outputs, new_state)), ∂loss/∂params)
    history = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")}
    with tqdm(total=epochs * n_batches, desc=desc, disable=not progress, leave=False,
              dynamic_ncols=True) as bar:
        for epoch in range(epochs):
            t0 = time.perf_counter()
            order = rng.permutation(n) if shuffle else np.arange(n)
            total_loss, correct = 0.0, 0
            for b in range(n_batches):
                idx = order[b * batch_size:(b + 1) * batch_size]
                xb, yb = x[idx], y[idx]
                (value, (out, new_state)), grads = step(params, xb, yb, state)
                value = float(value)
                if not np.isfinite(value):
                    raise TrainingDivergedError(
                        f"training loss became {value} at epoch {epoch}, batch {b}; "
                        f"try a smaller learning rate (the error carries the parameters reached)",
                        params=params, state=state, history=history, epoch=epoch, batch=b)
                params, opt_state = optimizer.update(params, grads, opt_state, inplace=True)
                state = new_state if state is not None else None
                total_loss += value * len(idx)
                if classify:
                    correct += int(np.sum(np.argmax(out, axis=-1) == yb))
                bar.update(1)
            history["loss"].append(total_loss / n)
            history["accuracy"].append(correct / n if classify else None)
            if validation is not None:
                v = evaluate(model, params, *validation, state=state, loss=loss_fn)
                history["val_loss"].append(v["loss"])
                history["val_accuracy"].append(v.get("accuracy"))
            history["seconds"].append(time.perf_counter() - t0)
            bar.set_postfix(epoch=epoch + 1, loss=f"{history['loss'][-1]:.4f}",
                            **({"val_acc": f"{history['val_accuracy'][-1]:.4f}"}
                               if validation is not None and classify else {}))
            if callback is not None:
                callback(epoch, params, history)
    return FitResult(params=params, state=state, opt_state=opt_state, history=history)


def predict(model, params, x, *, state=None, batch_size: int = 1024):
    """Network outputs for ``x (N, *input_shape)`` in evaluation mode, computed in batches.

    Returns an array ``(N, *model.output_shape)`` (``(P, N, ...)`` for population parameters) in
    the parameters' dtype, on the device of ``x`` and ``params`` (NumPy or CuPy; give both on the
    same device). Raises ``ValueError`` if ``x`` does not fit the model or ``batch_size`` is not a
    positive int.
    """
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if tuple(x.shape[1:]) != model.input_shape:
        raise ValueError(f"x has per-example shape {tuple(x.shape[1:])}, the model expects {model.input_shape}")
    outs = [model.apply(params, x[i:i + batch_size], state) for i in range(0, x.shape[0], batch_size)]
    if not outs:
        return raw_module(x).zeros((0,) + model.output_shape)
    return raw_module(*outs).concatenate(outs, axis=-1 - len(model.output_shape))


def evaluate(model, params, x, y, *, state=None, loss: str | Callable = "cross_entropy",
             batch_size: int = 1024) -> dict:
    """Loss (and accuracy, for integer targets) of ``model`` on ``(x, y)`` in evaluation mode.

    ``x (N, *input_shape)``, ``y (N,)`` int labels or ``(N, D)`` float targets, ``params`` and
    ``state``: NumPy, or CuPy on one device (the computation stays there; two numbers come back).
    Returns ``{"loss": float, "accuracy": float}`` (no ``accuracy`` for regression targets).
    Raises ``ValueError`` on mismatched shapes, no examples, NaN or infinite inputs (or float
    targets), a non-positive ``batch_size`` or (cross-entropy) labels outside [0, n_classes);
    ``TypeError`` for complex arrays or non-integer cross-entropy labels.
    """
    _check_xy(model, x, y)
    loss_fn = get_loss(loss)
    _check_labels_once(model, loss_fn, y)
    out = predict(model, params, x, state=state, batch_size=batch_size)
    result = {"loss": float(loss_fn(out, y))}
    if _is_classification(y):
        result["accuracy"] = float(nn.accuracy(out, y))
    return result
