"""The objects both searches of Pan, Nguyen, Ahmed work on: initializations, models, the objective.

* :data:`INITIALIZER_DISTRIBUTIONS` and :class:`InitScheme` — the Keras initializer catalogue
  mined in Sec. 5.1.1 (implemented in :data:`refimpl.nn.INITIALIZERS`), addressable by name as in
  Listings 1.1–1.2: ``Dense(64, kernel_initializer='random_uniform', bias_initializer='zeros')`` is
  ``InitScheme("random_uniform", "zeros")``.
* :func:`paper_model` — MNIST-1/2/4 and FMNIST-1/2/4 (Sec. 6.1: 1, 2 or 4 hidden layers of 256).
* :func:`draw_initialization`, :func:`shift_initialization` — the random draw selected by a seed,
  and the shift by δ·k of Algorithm 1, lines 7–8.
* :class:`NetworkObjective` — "train from this initialization and measure the accuracy"; the
  expensive objective of both searches (:mod:`refimpl.accountability.search`).
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..backend import as_generator
from .. import nn
from ..model import Dense, Sequential
from ..optim import Adam
from ..train import TrainingDivergedError, evaluate, fit

__all__ = ["INITIALIZER_DISTRIBUTIONS", "InitScheme", "TEXT_INIT", "CODE_INIT", "MODEL_NAMES",
           "paper_model", "draw_initialization", "shift_initialization", "NetworkObjective"]

# --------------------------------------------------------------------------------------------
# Sec. 5.1.1: the initializer catalogue
# --------------------------------------------------------------------------------------------

#: The distributions of the Keras initializers as described in Sec. 5.1.1 (name -> distribution).
#: The implementations are :data:`refimpl.nn.INITIALIZERS` (same names, Keras defaults).
INITIALIZER_DISTRIBUTIONS: dict[str, str] = {
    "zeros": "constant 0",
    "ones": "constant 1",
    "constant": "constant `value` chosen by the user",
    "random_normal": "N(mean, stddev²); Keras default mean 0, stddev 0.05",
    "random_uniform": "U(minval, maxval); Keras default U(-0.05, 0.05)",
    "truncated_normal": "N(mean, stddev²) with values beyond 2 stddev redrawn; default stddev 0.05",
    "glorot_uniform": "U(-l, l), l = sqrt(6 / (fan_in + fan_out)) (Keras default kernel, Listing 1.2)",
    "glorot_normal": "truncated normal, variance 2 / (fan_in + fan_out)",
    "he_uniform": "U(-l, l), l = sqrt(6 / fan_in)",
    "he_normal": "truncated normal, variance 2 / fan_in",
    "lecun_uniform": "U(-l, l), l = sqrt(3 / fan_in)",
    "lecun_normal": "truncated normal, variance 1 / fan_in",
}
assert set(INITIALIZER_DISTRIBUTIONS) == set(nn.INITIALIZERS), "catalogue out of sync with refimpl.nn"


@dataclass(frozen=True)
class InitScheme:
    """How the weights (kernel) and biases of every Dense layer are drawn, by Keras name.

    ``InitScheme("random_uniform", "zeros")`` is Listing 1.1's
    ``kernel_initializer='random_uniform', bias_initializer='zeros'``; the default
    ``InitScheme()`` is Keras's default of Listing 1.2 (``glorot_uniform`` / ``zeros``).
    ``kernel_kwargs`` / ``bias_kwargs`` are the initializer's own arguments (e.g.
    ``{"stddev": 1.0}``). Raises ``ValueError`` for an unknown name.
    """
    kernel: str = "glorot_uniform"
    bias: str = "zeros"
    kernel_kwargs: Mapping[str, float] = field(default_factory=dict)
    bias_kwargs: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        nn.get_initializer(self.kernel)
        nn.get_initializer(self.bias)
        object.__setattr__(self, "kernel_kwargs", dict(self.kernel_kwargs))
        object.__setattr__(self, "bias_kwargs", dict(self.bias_kwargs))

    def describe(self) -> str:
        def one(name, kw):
            return name + (f"({', '.join(f'{k}={v:g}' for k, v in kw.items())})" if kw else "")
        return f"kernel {one(self.kernel, self.kernel_kwargs)}, bias {one(self.bias, self.bias_kwargs)}"


#: The text's reading: Keras defaults (Listing 1.2), glorot_uniform weights and zero biases.
TEXT_INIT = InitScheme("glorot_uniform", "zeros")
#: The authors' code: every weight and bias drawn from N(0, 1) (docs/accountability.md).
CODE_INIT = InitScheme("random_normal", "random_normal", {"stddev": 1.0}, {"stddev": 1.0})

# --------------------------------------------------------------------------------------------
# Sec. 6.1: the six hand-made models
# --------------------------------------------------------------------------------------------

MODEL_NAMES = ("MNIST-1", "MNIST-2", "MNIST-4", "FMNIST-1", "FMNIST-2", "FMNIST-4")
_MODEL_RE = re.compile(r"^(?:F?MNIST)-(\d+)$")


def paper_model(name: str, input_dim: int, n_classes: int = 10, *, variant: str = "text",
                width: int = 256) -> Sequential:
    """The model ``name`` (``MNIST-h`` or ``FMNIST-h``: h hidden Dense layers of ``width`` units).

    ``variant="text"`` (default): ReLU hidden layers and a linear output (logits; the softmax
    is in the cross-entropy loss) — the paper never states the activations, we read a standard
    MLP; initializers are set by the :class:`InitScheme` used to draw the parameters.
    ``variant="code"``: no activation anywhere (every layer ``xW + b``), as in the authors' code.
    The input must be flat ``(input_dim,)``: flatten images first.

    Raises ``ValueError`` for a malformed name, unknown variant or non-positive sizes.
    """
    m = _MODEL_RE.match(str(name))
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"model name must look like 'MNIST-2' or 'FMNIST-4', got {name!r}")
    if variant not in ("text", "code"):
        raise ValueError(f"variant must be 'text' or 'code', got {variant!r}")
    for what, v in (("input_dim", input_dim), ("n_classes", n_classes), ("width", width)):
        if not (isinstance(v, (int, np.integer)) and v >= 1):
            raise ValueError(f"{what} must be a positive int, got {v!r}")
    act = "relu" if variant == "text" else "linear"
    layers = [Dense(width, act) for _ in range(int(m.group(1)))] + [Dense(n_classes, "linear")]
    return Sequential((int(input_dim),), tuple(layers))


def draw_initialization(model: Sequential, seed: int | np.random.Generator,
                        scheme: InitScheme = TEXT_INIT, *, dtype=np.float32) -> list[dict]:
    """Initial parameters of ``model`` drawn with ``scheme`` (float32 by default).

    Every Dense/Conv2D layer gets ``W`` from ``scheme.kernel`` and ``b`` from ``scheme.bias``
    (the layer specs' own ``kernel_init``/``bias_init`` are ignored: the scheme is the subject of
    the study). Equal seeds give equal draws. Returns a list aligned with ``model.layers``.
    """
    if not isinstance(scheme, InitScheme):
        raise TypeError(f"scheme must be an InitScheme, got {type(scheme).__name__}")
    rng = as_generator(seed)
    params = []
    for shapes in model.param_shapes():
        p = {}
        for key, shape in shapes.items():
            if key == "W":
                p[key] = nn.initialize(scheme.kernel, rng, shape, dtype=dtype, **scheme.kernel_kwargs)
            elif key == "b":
                p[key] = nn.initialize(scheme.bias, rng, shape, dtype=dtype, **scheme.bias_kwargs)
            else:
                raise ValueError(f"draw_initialization supports Dense/Conv2D layers only, found parameter {key!r}")
        params.append(p)
    return params


def shift_initialization(model: Sequential, params: list[dict], offsets: Sequence[float]) -> list[dict]:
    """Algorithm 1, lines 7–8: add ``offsets[i]`` to every weight *and* bias of weight layer i.

    ``offsets`` has one value per weight layer (``len(model.weight_layers())``), in layer order.
    Returns new arrays (same dtype); ``params`` is not modified. Raises ``ValueError`` if the
    number of offsets is wrong or an offset is not finite.
    """
    idx = model.weight_layers()
    offsets = [float(o) for o in offsets]
    if len(offsets) != len(idx):
        raise ValueError(f"expected {len(idx)} offsets (one per weight layer), got {len(offsets)}")
    if not all(math.isfinite(o) for o in offsets):
        raise ValueError(f"offsets must be finite, got {offsets}")
    out = [dict(p) for p in params]
    for i, o in zip(idx, offsets):
        if o:
            out[i] = {k: (v + np.asarray(o, dtype=v.dtype)) for k, v in params[i].items()}
    return out


# --------------------------------------------------------------------------------------------
# The objective: train from an initialization, measure the accuracy
# --------------------------------------------------------------------------------------------

@dataclass
class NetworkObjective:
    """``objective(init_seed, offsets) -> {"accuracy", ...}``: train ``model`` from the draw
    ``init_seed`` of ``scheme`` shifted by ``offsets`` and return the accuracy.

    Defaults follow the authors' code (Adam lr 1e-3, 10 epochs, batches of 100) and Sec. 6.1
    ("we have utilized the training dataset for the evaluation"): the accuracy is measured on the
    training data ``(x, y)``. If ``x_held_out, y_held_out`` are given, their accuracy is reported
    too (key ``"held_out_accuracy"``, never used by the searches). ``shuffle=True`` (default;
    Keras's ``fit`` default, the text says nothing) reshuffles every epoch with an order drawn from
    ``train_seed``; ``shuffle=False`` takes the batches in the data's order, as the authors' code
    did (docs/accountability.md). Either way the batch order is identical in every trial, so only the
    initialization differs. A diverged training (NaN loss or non-finite parameters) scores
    accuracy 0 and is flagged ``"diverged": True``.

    x : float32 ``(N, input_dim)``; y : int ``(N,)``. Raises ``ValueError`` on mismatched shapes.
    """
    model: Sequential
    x: np.ndarray
    y: np.ndarray
    scheme: InitScheme = TEXT_INIT
    epochs: int = 10
    batch_size: int = 100
    learning_rate: float = 1e-3
    train_seed: int = 0
    shuffle: bool = True
    x_held_out: np.ndarray | None = None
    y_held_out: np.ndarray | None = None

    def __post_init__(self):
        if self.x.ndim != 2 or self.x.shape[1:] != self.model.input_shape:
            raise ValueError(f"x must be (N, {self.model.input_shape[0]}), got {self.x.shape}; flatten images first")
        if self.y.shape != (self.x.shape[0],):
            raise ValueError(f"y must be ({self.x.shape[0]},) labels, got {self.y.shape}")

    @property
    def n_layers(self) -> int:
        """Number of weight layers m (the length of ``offsets``)."""
        return len(self.model.weight_layers())

    def initial_params(self, init_seed: int, offsets: Sequence[float]) -> list[dict]:
        """The shifted initialization W_draw + δ·k (Algorithm 1's W', B')."""
        return shift_initialization(self.model, draw_initialization(self.model, init_seed, self.scheme), offsets)

    def __call__(self, init_seed: int, offsets: Sequence[float]) -> dict:
        t0 = time.perf_counter()
        params = self.initial_params(init_seed, offsets)
        try:
            params = fit(self.model, params, self.x, self.y, epochs=self.epochs, batch_size=self.batch_size,
                         optimizer=Adam(lr=self.learning_rate), seed=self.train_seed, shuffle=self.shuffle,
                         progress=False).params
        except TrainingDivergedError:
            params = None
        if params is None or not all(np.all(np.isfinite(v)) for p in params for v in p.values()):
            out = {"accuracy": 0.0, "diverged": True}
        else:
            out = {"accuracy": evaluate(self.model, params, self.x, self.y)["accuracy"]}
            if self.x_held_out is not None:
                out["held_out_accuracy"] = evaluate(self.model, params, self.x_held_out, self.y_held_out)["accuracy"]
        out["train_seconds"] = time.perf_counter() - t0
        return out
