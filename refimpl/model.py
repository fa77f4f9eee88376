"""Small, inspectable descriptions of sequential networks (MLPs and CNNs).

A :class:`Sequential` is an input shape plus a tuple of layer specifications (frozen
dataclasses such as ``Dense(500, "sigmoid")``). From it, parameters are initialized as a
list with one dict per layer (``{}`` for layers without weights) and a forward function is
applied. Because architectures are data, later chapters grow, shrink and mutate them
(surgery, NAS) with :meth:`Sequential.insert`, :meth:`~Sequential.remove` and
:meth:`~Sequential.replace`, each returning a new, shape-checked model::

    model = mlp((1, 8, 8), [500, 500], 10, activation="sigmoid")
    params = model.init(np.random.default_rng(0))          # float32
    logits = model.apply(params, x)                         # x: (B, 1, 8, 8)
    wider = model.replace(1, Dense(600, "sigmoid"))         # a new description

Dense-only models also take population parameters (``model.init(rng, population=P)``, leading
axis P on every weight) and then evaluate all P networks in one batched pass.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

import numpy as np

from .backend import as_generator, raw_module, tree_leaves
from . import nn

__all__ = ["Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Flatten",
           "Activation", "BatchNorm", "Sequential", "mlp", "cnn", "layer_from_dict",
           "DenseLayer", "dense_layers"]

Shape = tuple[int, ...]


def _check_init_names(*names):
    for name in names:
        nn.get_initializer(name)


@dataclass(frozen=True)
class Dense:
    """Dense layer (Eq. 2.9) followed by an activation. Input must be flat: ``(in,)``."""
    units: int
    activation: str = "linear"
    use_bias: bool = True
    kernel_init: str = "glorot_uniform"
    bias_init: str = "zeros"

    def __post_init__(self):
        if not (isinstance(self.units, (int, np.integer)) and self.units >= 1):
            raise ValueError(f"Dense.units must be a positive int, got {self.units!r}")
        nn.get_activation(self.activation)
        _check_init_names(self.kernel_init, self.bias_init)

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 1:
            raise ValueError(f"Dense expects a flat input, got shape {in_shape}; insert Flatten() first")
        return (self.units,)

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        shapes = {"W": (in_shape[0], self.units)}
        if self.use_bias:
            shapes["b"] = (self.units,)
        return shapes

    def apply(self, p, x, in_shape, state, training):
        return nn.get_activation(self.activation)(nn.dense(x, p["W"], p.get("b"))), state


@dataclass(frozen=True)
class Conv2D:
    """Convolutional layer (Eq. 2.11), NCHW, followed by an activation. ``groups`` > 1: a grouped
    convolution (``nn.conv2d(..., groups=)``), kernel ``(filters, C_in/groups, kh, kw)``."""
    filters: int
    kernel_size: int | tuple[int, int] = 3
    stride: int | tuple[int, int] = 1
    padding: str = "same"
    activation: str = "linear"
    use_bias: bool = True
    kernel_init: str = "glorot_uniform"
    bias_init: str = "zeros"
    groups: int = 1

    def __post_init__(self):
        if not (isinstance(self.filters, (int, np.integer)) and self.filters >= 1):
            raise ValueError(f"Conv2D.filters must be a positive int, got {self.filters!r}")
        nn.as_pair(self.kernel_size, "kernel_size")
        nn.as_pair(self.stride, "stride")
        nn.get_activation(self.activation)
        _check_init_names(self.kernel_init, self.bias_init)
        if not (isinstance(self.groups, (int, np.integer)) and self.groups >= 1 and self.filters % self.groups == 0):
            raise ValueError(f"Conv2D.groups must be a positive int dividing filters={self.filters}, "
                             f"got {self.groups!r}")

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 3:
            raise ValueError(f"Conv2D expects a (C, H, W) input, got shape {in_shape}")
        if in_shape[0] % self.groups:
            raise ValueError(f"Conv2D.groups={self.groups} does not divide the {in_shape[0]} input channels")
        (kh, kw), (sh, sw) = nn.as_pair(self.kernel_size, "k"), nn.as_pair(self.stride, "s")
        ho = nn.conv_output_size(in_shape[1], kh, sh, self.padding)[0]
        wo = nn.conv_output_size(in_shape[2], kw, sw, self.padding)[0]
        return (self.filters, ho, wo)

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        kh, kw = nn.as_pair(self.kernel_size, "k")
        shapes = {"W": (self.filters, in_shape[0] // self.groups, kh, kw)}
        if self.use_bias:
            shapes["b"] = (self.filters,)
        return shapes

    def apply(self, p, x, in_shape, state, training):
        y = nn.conv2d(x, p["W"], p.get("b"), stride=self.stride, padding=self.padding, groups=self.groups)
        return nn.get_activation(self.activation)(y), state


@dataclass(frozen=True)
class _Pool:
    size: int | tuple[int, int] = 2
    stride: int | tuple[int, int] | None = None
    padding: str = "valid"

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 3:
            raise ValueError(f"{type(self).__name__} expects a (C, H, W) input, got {in_shape}")
        kh, kw = nn.as_pair(self.size, "size")
        sh, sw = nn.as_pair(self.stride if self.stride is not None else self.size, "stride")
        return (in_shape[0], nn.conv_output_size(in_shape[1], kh, sh, self.padding)[0],
                nn.conv_output_size(in_shape[2], kw, sw, self.padding)[0])

    def param_shapes(self, in_shape):
        return {}


class MaxPool2D(_Pool):
    """Max-pooling (Eq. 2.12); stride defaults to the window size."""

    def apply(self, p, x, in_shape, state, training):
        return nn.max_pool2d(x, self.size, self.stride, self.padding), state


class AvgPool2D(_Pool):
    """Average-pooling (Eq. 2.12); stride defaults to the window size."""

    def apply(self, p, x, in_shape, state, training):
        return nn.avg_pool2d(x, self.size, self.stride, self.padding), state


@dataclass(frozen=True)
class GlobalAvgPool2D:
    """Mean over the spatial axes: (C, H, W) -> (C,)."""

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 3:
            raise ValueError(f"GlobalAvgPool2D expects a (C, H, W) input, got {in_shape}")
        return (in_shape[0],)

    def param_shapes(self, in_shape):
        return {}

    def apply(self, p, x, in_shape, state, training):
        return nn.global_avg_pool2d(x), state


@dataclass(frozen=True)
class Flatten:
    """Flatten the per-example axes: (C, H, W) -> (C·H·W,). Leading batch/population axes stay."""

    def output_shape(self, in_shape: Shape) -> Shape:
        return (int(np.prod(in_shape)),)

    def param_shapes(self, in_shape):
        return {}

    def apply(self, p, x, in_shape, state, training):
        return x.reshape(x.shape[:x.ndim - len(in_shape)] + (-1,)), state


@dataclass(frozen=True)
class Activation:
    """A stand-alone activation layer (a key of ``nn.ACTIVATIONS``), applied to the last axis.

    Most activations are element-wise; ``softmax`` and ``log_softmax`` couple the units of the
    last axis (which matters for function-preserving surgery, see :mod:`refimpl.surgery`).
    """
    name: str

    def __post_init__(self):
        nn.get_activation(self.name)

    def output_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def param_shapes(self, in_shape):
        return {}

    def apply(self, p, x, in_shape, state, training):
        return nn.get_activation(self.name)(x), state


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalization (Eqs. 2.13–2.16) over the channel axis of (C,) or (C, H, W) inputs."""
    momentum: float = 0.9
    eps: float = 1e-5

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) not in (1, 3):
            raise ValueError(f"BatchNorm expects (C,) or (C, H, W) inputs, got {in_shape}")
        return in_shape

    def param_shapes(self, in_shape):
        return {"gamma": (in_shape[0],), "beta": (in_shape[0],)}

    def apply(self, p, x, in_shape, state, training):
        if x.ndim != len(in_shape) + 1:
            raise ValueError("BatchNorm does not support a population axis")
        y, mean, var = nn.batch_norm(x, p["gamma"], p["beta"], state["mean"], state["var"],
                                     training=training, momentum=self.momentum, eps=self.eps)
        return y, {"mean": mean, "var": var}


_LAYER_TYPES = {c.__name__: c for c in (Dense, Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D,
                                         Flatten, Activation, BatchNorm)}


def layer_from_dict(d: dict):
    """Inverse of ``{"type": name, **fields}`` as produced by :meth:`Sequential.to_dict`."""
    d = dict(d)
    kind = d.pop("type", None)
    if kind not in _LAYER_TYPES:
        raise ValueError(f"unknown layer type {kind!r}; known: {', '.join(_LAYER_TYPES)}")
    return _LAYER_TYPES[kind](**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass(frozen=True)
class Sequential:
    """A sequential network: ``input_shape`` (per example, e.g. ``(1, 28, 28)`` or ``(784,)``)
    and ``layers``. Construction checks that every layer fits its input (``ValueError`` otherwise).

    Parameters are a list aligned with ``layers``: ``params[i]`` is a dict (``"W"``, ``"b"`` for
    Dense/Conv2D, ``"gamma"``, ``"beta"`` for BatchNorm, empty otherwise). BatchNorm running
    statistics live in a separate ``state`` list of the same length.
    """
    input_shape: Shape
    layers: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "input_shape", tuple(int(s) for s in np.atleast_1d(self.input_shape)))
        object.__setattr__(self, "layers", tuple(self.layers))
        self.shapes  # validates the chain of shapes

    # ---- shapes ------------------------------------------------------------------------
    @property
    def shapes(self) -> list[Shape]:
        """Per-example shapes: ``shapes[i]`` enters layer i; ``shapes[-1]`` is the output."""
        shapes = [self.input_shape]
        for i, layer in enumerate(self.layers):
            try:
                shapes.append(tuple(layer.output_shape(shapes[-1])))
            except ValueError as e:
                raise ValueError(f"layer {i} ({type(layer).__name__}): {e}") from None
        return shapes

    @property
    def output_shape(self) -> Shape:
        return self.shapes[-1]

    def param_shapes(self) -> list[dict[str, Shape]]:
        """Shapes of every parameter, one dict per layer (without population axis)."""
        return [layer.param_shapes(s) for layer, s in zip(self.layers, self.shapes)]

    def count_params(self) -> int:
        """Number of trainable scalars (BatchNorm running statistics excluded)."""
        return int(sum(np.prod(s) for d in self.param_shapes() for s in d.values()))

    # ---- editing (each returns a new, shape-checked model) ------------------------------
    def insert(self, index: int, layer) -> "Sequential":
        """A copy with ``layer`` inserted before position ``index``."""
        layers = list(self.layers)
        layers.insert(index, layer)
        return dataclasses.replace(self, layers=tuple(layers))

    def remove(self, index: int) -> "Sequential":
        """A copy without the layer at ``index``."""
        layers = list(self.layers)
        del layers[index]
        return dataclasses.replace(self, layers=tuple(layers))

    def replace(self, index: int, layer) -> "Sequential":
        """A copy with the layer at ``index`` replaced by ``layer``."""
        layers = list(self.layers)
        layers[index] = layer
        return dataclasses.replace(self, layers=tuple(layers))

    def weight_layers(self) -> list[int]:
        """Indices of the Dense and Conv2D layers."""
        return [i for i, layer in enumerate(self.layers) if isinstance(layer, (Dense, Conv2D))]

    # ---- parameters ---------------------------------------------------------------------
    def init(self, rng: np.random.Generator | int, *, dtype=np.float32,
             population: int | None = None) -> list[dict]:
        """Initial parameters drawn with each layer's ``kernel_init``/``bias_init``.

        ``rng`` is a ``np.random.Generator`` or an int seed. With ``population=P`` every array
        gets a leading axis of P independent draws. BatchNorm's gamma = 1, beta = 0.
        """
        rng = as_generator(rng)
        params = []
        for layer, shapes in zip(self.layers, self.param_shapes()):
            p = {}
            for name, shape in shapes.items():
                init = {"W": getattr(layer, "kernel_init", None), "b": getattr(layer, "bias_init", None),
                        "gamma": "ones", "beta": "zeros"}[name]
                p[name] = nn.initialize(init, rng, shape, dtype=dtype, population=population)
            params.append(p)
        return params

    def init_state(self, dtype=np.float32, *, like=None) -> list[dict]:
        """Initial BatchNorm running statistics: one dict per layer, ``{"mean": zeros (C,),
        "var": ones (C,)}`` of ``dtype`` for a BatchNorm layer, ``{}`` for the others.

        ``like``: an array or a pytree of arrays (e.g. the parameters) whose device the statistics
        are created on (CuPy arrays: the GPU); ``None`` (default): host NumPy arrays.
        """
        xp = raw_module(*tree_leaves(like)) if like is not None else np
        return [{"mean": xp.zeros(s[0], dtype), "var": xp.ones(s[0], dtype)}
                if isinstance(layer, BatchNorm) else {}
                for layer, s in zip(self.layers, self.shapes)]

    # ---- forward ------------------------------------------------------------------------
    def apply_with_state(self, params: list[dict], x, state: list[dict] | None = None, *,
                         training: bool = False) -> tuple[Any, list[dict]]:
        """Forward pass returning ``(output, new_state)``.

        ``x`` has shape ``(B, *input_shape)`` (or ``(P, B, *input_shape)`` with population
        parameters). ``training=True`` makes BatchNorm use batch statistics and update its
        running statistics in the returned state. Raises ``ValueError`` on shape mismatches.
        """
        if len(params) != len(self.layers):
            raise ValueError(f"params has {len(params)} entries but the model has {len(self.layers)} layers")
        k = len(self.input_shape)
        if x.ndim < k + 1 or tuple(x.shape[x.ndim - k:]) != self.input_shape:
            raise ValueError(f"input of shape {tuple(x.shape)} does not end in the model's input "
                             f"shape {self.input_shape} (expected (batch, *{self.input_shape}))")
        if state is None:
            if any(isinstance(layer, BatchNorm) for layer in self.layers):
                if training:
                    raise ValueError("training a model with BatchNorm needs its state (model.init_state())")
                raise ValueError("evaluating a model with BatchNorm needs its state (running statistics)")
            state = [{}] * len(self.layers)
        new_state = []
        for layer, p, s, in_shape in zip(self.layers, params, state, self.shapes):
            x, s = layer.apply(p, x, in_shape, s, training)
            new_state.append(s)
        return x, new_state

    def apply(self, params: list[dict], x, state: list[dict] | None = None, *, training: bool = False):
        """Forward pass; returns only the output (see :meth:`apply_with_state`)."""
        return self.apply_with_state(params, x, state, training=training)[0]

    __call__ = apply

    # ---- description ------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-serialisable description (inverse: :meth:`from_dict`)."""
        return {"input_shape": list(self.input_shape),
                "layers": [{"type": type(layer).__name__, **dataclasses.asdict(layer)} for layer in self.layers]}

    @classmethod
    def from_dict(cls, d: dict) -> "Sequential":
        """Rebuild a model from :meth:`to_dict` output."""
        return cls(tuple(d["input_shape"]), tuple(layer_from_dict(x) for x in d["layers"]))

    def summary(self) -> str:
        """A table of layers, output shapes and parameter counts."""
        rows = [f"{'#':>3}  {'layer':<44} {'output':<16} {'params':>10}"]
        for i, (layer, out, ps) in enumerate(zip(self.layers, self.shapes[1:], self.param_shapes())):
            fields = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(layer).items())
            n = int(sum(np.prod(s) for s in ps.values()))
            rows.append(f"{i:>3}  {type(layer).__name__ + '(' + fields + ')':<44.44} {str(out):<16} {n:>10,}")
        rows.append(f"input {self.input_shape}, total parameters {self.count_params():,}")
        return "\n".join(rows)


class DenseLayer(NamedTuple):
    """One Dense layer of a dense stack (see :func:`dense_layers`).

    ``index`` is its position in ``model.layers``; ``W`` ``(in, out)`` (``(P, in, out)`` for
    population parameters) and ``b`` ``(out,)`` are the parameter arrays as given (``b`` is
    ``None`` for a layer without bias), or both ``None`` when no parameters were passed.
    """
    index: int
    spec: Dense
    W: Any = None
    b: Any = None

    @property
    def activation(self) -> str:
        """The layer's activation name."""
        return self.spec.activation


def dense_layers(model: Sequential, params: list | None = None, *, method: str = "this method",
                 activations: Sequence[str] | None = None, leading: tuple = (Flatten,),
                 between: tuple = (), population: bool = False) -> list[DenseLayer]:
    """The Dense layers of a dense stack, checked once for every method that needs one.

    A dense stack is a :class:`Sequential` of layers of the ``leading`` types (default: an
    optional Flatten), then Dense layers, possibly with layers of the ``between`` types among them
    (default: none). The interval analysis, the surgeries, the MILP certificate and the population
    EA all work on such stacks.

    Args:
        model: the model to check.
        params: its parameters (one dict per layer), checked against ``model.param_shapes()``
            when given; ``W``/``b`` of the result are then these arrays (not copied).
        method: the caller's name for error messages (e.g. ``"surgery"``).
        activations: if given, the Dense activations the method supports.
        leading, between: the other layer types allowed before the first Dense / after it.
        population: accept parameters with a leading population axis.

    Returns:
        One :class:`DenseLayer` per Dense layer, in order (at least one).

    Raises:
        TypeError: ``model`` is not a :class:`Sequential`.
        ValueError (naming the layer): another layer type or position, an unsupported
            activation, no Dense layer, or parameters that do not fit the model.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"{method} needs a refimpl.model.Sequential, got {type(model).__name__}")
    found: list[DenseLayer] = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Dense):
            if activations is not None and layer.activation not in activations:
                raise ValueError(f"{method}: layer {i} has activation {layer.activation!r}; supported: "
                                 f"{', '.join(activations)}")
            found.append(DenseLayer(i, layer))
        elif not isinstance(layer, between if found else leading):
            allowed = ", ".join(t.__name__ for t in leading) or "nothing"
            raise ValueError(f"{method} works on MLPs (optional layers of type {allowed}, then Dense layers); "
                             f"layer {i} is {type(layer).__name__}: "
                             + ", ".join(type(l).__name__ for l in model.layers))
    if not found:
        raise ValueError(f"{method} needs at least one Dense layer; the model has "
                         + (", ".join(type(l).__name__ for l in model.layers) or "no layers"))
    if params is None:
        return found
    if not isinstance(params, (list, tuple)) or len(params) != len(model.layers):
        n = len(params) if hasattr(params, "__len__") else "?"
        raise ValueError(f"{method}: params must be a list with one dict per layer ({len(model.layers)}), "
                         f"got {type(params).__name__} of length {n}")
    for i, (p, shapes) in enumerate(zip(params, model.param_shapes())):
        if not isinstance(p, dict) or set(p) != set(shapes):
            keys = sorted(p) if isinstance(p, dict) else type(p).__name__
            raise ValueError(f"{method}: params[{i}] has keys {keys}, layer {i} needs {sorted(shapes)}")
        for k, shape in shapes.items():
            got = tuple(np.shape(p[k]))
            if got != tuple(shape) and not (population and got[1:] == tuple(shape)):
                extra = "" if population else " (population parameters are not supported)"
                raise ValueError(f"{method}: params[{i}][{k!r}] has shape {got}, the model expects "
                                 f"{tuple(shape)}{extra}")
    return [d._replace(W=params[d.index]["W"], b=params[d.index].get("b")) for d in found]


def mlp(input_shape: int | Shape, hidden: Sequence[int], n_out: int, *, activation: str = "relu",
        output_activation: str = "linear", kernel_init: str = "glorot_uniform",
        bias_init: str = "zeros") -> Sequential:
    """A multilayer perceptron: [Flatten] -> Dense(h, activation) for h in ``hidden`` -> Dense(n_out).

    A Flatten layer is prepended when ``input_shape`` has more than one axis. The output layer
    returns logits (``output_activation="linear"``) unless told otherwise.
    """
    input_shape = tuple(np.atleast_1d(input_shape))
    layers: list = [Flatten()] if len(input_shape) > 1 else []
    kw = dict(kernel_init=kernel_init, bias_init=bias_init)
    layers += [Dense(int(h), activation, **kw) for h in hidden]
    layers.append(Dense(int(n_out), output_activation, **kw))
    return Sequential(input_shape, tuple(layers))


def cnn(input_shape: Shape, channels: Sequence[int], n_out: int, *, kernel_size: int = 3,
        hidden: Sequence[int] = (), batchnorm: bool = True, pool: str = "max",
        activation: str = "relu", kernel_init: str = "glorot_uniform") -> Sequential:
    """A plain CNN like thesis Fig. 2.1: per entry of ``channels`` a block
    Conv2D(same) [-> BatchNorm] -> activation -> 2×2 pooling, then global average pooling
    (``pool="avg"``) or Flatten (``pool="max"``), optional dense ``hidden`` layers, Dense(n_out).
    """
    if pool not in ("max", "avg"):
        raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
    layers: list = []
    for c in channels:
        layers.append(Conv2D(int(c), kernel_size, use_bias=not batchnorm, kernel_init=kernel_init))
        if batchnorm:
            layers.append(BatchNorm())
        layers += [Activation(activation), MaxPool2D(2) if pool == "max" else AvgPool2D(2)]
    layers.append(Flatten() if pool == "max" else GlobalAvgPool2D())
    layers += [Dense(int(h), activation, kernel_init=kernel_init) for h in hidden]
    layers.append(Dense(int(n_out), kernel_init=kernel_init))
    return Sequential(tuple(input_shape), tuple(layers))
