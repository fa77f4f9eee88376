"""The network of thesis Sec. 5.3.1 and batched fitness evaluation of a population (Sec. 5.2.3).

Each Dense layer of λ networks is one batched product of the activations ``(λ, B, in)`` (or the
shared input batch ``(B, in)``) with ``W (λ, in, out)``, as ``model.apply(population, x)`` does;
:func:`evaluate_population` does the same with in-place bias and ReLU, all individuals in one
pass on CuPy and in cache-sized chunks of individuals on a CPU (:func:`default_chunk_size`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import nn
from ..backend import asnumpy, is_gpu_module, raw_module, tree_leaves
from ..model import Activation, AvgPool2D, Dense, Flatten, GlobalAvgPool2D, MaxPool2D, Sequential, dense_layers
from .operators import population_size

__all__ = ["thesis_network", "evaluate_population", "default_chunk_size", "CPU_ACTIVATION_BUDGET"]


def thesis_network(input_shape=(1, 28, 28), *, pool: int = 2, hidden=(256, 128, 64), n_out: int = 10,
                   kernel_init: str = "glorot_uniform") -> Sequential:
    """The network of thesis Sec. 5.3.1: ``pool``×``pool`` max-pooling of the input, then dense
    layers 256-128-64-10 with ReLU (linear output = logits), Glorot-uniform weights, zero biases.

    For MNIST input ``(1, 28, 28)`` this is 196-256-128-64-10 with 92,234 parameters.
    ``pool=1`` drops the pooling (used for the 8×8 digits, where pooling would leave 16 inputs).
    """
    layers: list = [MaxPool2D(pool)] if pool > 1 else []
    layers.append(Flatten())
    layers += [Dense(int(h), "relu", kernel_init=kernel_init) for h in hidden]
    layers.append(Dense(int(n_out), "linear", kernel_init=kernel_init))
    return Sequential(tuple(input_shape), tuple(layers))


def _check_population_model(model: Sequential):
    """Population evaluation needs Dense layers (pooling/flatten of the input allowed before them)."""
    dense_layers(model, method="population evaluation",
                 leading=(MaxPool2D, AvgPool2D, GlobalAvgPool2D, Flatten, Activation), between=(Flatten, Activation))


#: Activation memory one CPU chunk of :func:`evaluate_population` may use (bytes, all layers of
#: the chunk together): small enough to stay in the CPU caches, see ``chunk_size``.
CPU_ACTIVATION_BUDGET = 8 * 2**20


def default_chunk_size(model: Sequential, lam: int, batch: int, xp=np,
                       budget: int = CPU_ACTIVATION_BUDGET, itemsize: int = 4) -> int:
    """The chunk size :func:`evaluate_population` uses by default.

    CuPy (``xp`` is ``cupy``): ``lam``, the whole population in one pass (Sec. 5.2.3). NumPy: the
    largest number of individuals whose activations (``batch`` × the summed widths of the Dense
    layers × ``itemsize`` bytes each) fit in ``budget`` bytes, at least 1. On a CPU, activations
    of the whole population (gigabytes at λ = 2000, batch 1024) stream through main memory
    between the matrix products, so one pass over everybody is slower than cache-sized chunks.
    """
    if is_gpu_module(xp):
        return lam
    per_individual = batch * itemsize * sum(layer.units for layer in model.layers if isinstance(layer, Dense))
    return int(max(1, min(lam, budget // per_individual)))


def evaluate_population(model: Sequential, pop, x, y, *, chunk_size: int | None | str = "auto",
                        loss: Callable = nn.cross_entropy) -> np.ndarray:
    """Loss of every individual on one batch (Eq. 5.5), by batched forward passes (Sec. 5.2.3).

    ``pop``: population parameters (leading axis λ) of a Dense-only ``model`` (pooling/flatten
    of the input allowed), NumPy or CuPy; ``x (B, *input_shape)`` shared by all individuals, on
    the same device; ``y (B,)`` int labels on that device too (labels on the GPU are not
    range-checked, see :func:`refimpl.nn.check_labels`). ``loss(logits (n, B, C), y) -> (n,)``, default mean
    cross-entropy. The parameterless input layers run once on ``x``; then each Dense layer is one
    batched product of ``(B, in)`` (first layer) or ``(n, B, in)`` with ``W (n, in, out)`` over
    ``n`` individuals, the bias and ReLU applied in place (same numbers as ``model.apply``).

    ``chunk_size``: individuals per batched pass. ``"auto"`` (default): see
    :func:`default_chunk_size` (whole population on CuPy, cache-sized chunks on NumPy); ``None``:
    all λ at once; an int ≥ 1: that many. The losses do not depend on it.
    Returns host float64 (λ,): the one transfer from the device per chunk. NumPy and CuPy give
    the same losses up to rounding (float32: about 1e-6 relative; different matrix-product
    kernels and sigmoid formula). Raises ``ValueError`` for an unsuitable model, bad shapes or
    chunk size.
    """
    _check_population_model(model)
    lam = population_size(pop)
    if len(pop) != len(model.layers):
        raise ValueError(f"pop has {len(pop)} layer entries but the model has {len(model.layers)} layers")
    k = len(model.input_shape)
    if x.ndim != k + 1 or tuple(x.shape[1:]) != model.input_shape:
        raise ValueError(f"x must be (B, *{model.input_shape}), shared by the population; got {tuple(x.shape)}")
    xp = raw_module(x, *tree_leaves(pop))
    start = next(i for i, layer in enumerate(model.layers) if isinstance(layer, Dense))
    h0 = x  # the parameterless input layers (pooling, flatten), once for everybody
    for layer, in_shape in zip(model.layers[:start], model.shapes[:start]):
        h0, _ = layer.apply({}, h0, in_shape, None, False)
    B, dtype = x.shape[0], xp.result_type(h0, *tree_leaves(pop))
    if chunk_size == "auto":
        chunk_size = default_chunk_size(model, lam, B, xp, itemsize=dtype.itemsize)
    elif chunk_size is None:
        chunk_size = lam
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be 'auto', None or an int >= 1, got {chunk_size!r}")
    chunk_size = min(int(chunk_size), lam)
    # one (chunk, B, units) buffer per Dense layer, reused by every chunk
    buffers = {i: xp.empty((chunk_size, B, layer.units), dtype=dtype)
               for i, layer in enumerate(model.layers) if isinstance(layer, Dense)}
    out = np.empty(lam, dtype=np.float64)
    for s in range(0, lam, chunk_size):
        n = min(chunk_size, lam - s)
        h = h0
        for i, layer in enumerate(model.layers[start:], start):
            if isinstance(layer, Dense):
                p = pop[i]
                z = buffers[i][:n]
                xp.matmul(h, p["W"][s:s + n], out=z)
                if "b" in p:
                    z += p["b"][s:s + n, None, :]
                if layer.activation == "relu":  # z·[z > 0] (nn.relu) in place: faster than maximum
                    h = xp.multiply(z, z > 0, out=z)
                else:
                    h = nn.get_activation(layer.activation)(z)
            else:  # Flatten / Activation after the Dense stack
                h, _ = layer.apply({}, h, model.shapes[i], None, False)
        out[s:s + n] = asnumpy(loss(h, y))
    return out
