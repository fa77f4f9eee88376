"""Interval adjoint significance analysis and node pruning for dense networks.

Document ``interval`` (Afghan & Naumann, ICCS 2020), Secs. 3.1–3.3:

1. the input box X = {[min_k x_ki, max_k x_ki]} from the training data (Sec. 3.2,
   :func:`input_box`);
2. one interval forward sweep of the trained network, weights and biases as degenerate
   (point) intervals, then a reverse sweep of interval adjoints (:func:`analyse`);
3. the significance of every input feature and hidden node (Eq. 1)::

       S_Y(V_i) = w[V_i] · max |∇_{[V_i]} [Y]|

   with w the interval width and max|·| the magnitude of the interval adjoint;
4. per-layer ranking and removal of the least significant nodes, with the bias update of
   Sec. 3.3: the midpoints of the removed nodes' intervals, times their outgoing weights, are
   added to the next layer's bias (:func:`prune`, :func:`remove_nodes`);
5. baselines ranked by random scores and by weight magnitude (Σ|outgoing weights|), pruned
   with the same bias update (:func:`random_scores`, :func:`magnitude_scores`).

Networks are :class:`refimpl.model.Sequential` models of ``Dense`` layers with any activation
of :data:`refimpl.interval.ACTIVATIONS`, optionally preceded by one ``Flatten``. Layers are
numbered for the analysis as ``0`` = the (flattened) input features and ``h = 1..H`` = the output
of the h-th hidden Dense layer; the output layer is never pruned.

Weights enter the interval products as point matrices. That is the paper's "degenerate
interval" weights (Sec. 3.2) computed exactly: for a point W the midpoint–radius product has no
overestimation and costs two GEMMs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from . import arithmetic as ia
from . import stacked as st
from . import sweep
from .arithmetic import Interval
from ..backend import as_generator
from ..model import Flatten, Sequential, dense_layers

__all__ = ["Analysis", "Pruned", "input_box", "interval_forward", "analyse",
           "ranking", "magnitude_scores", "random_scores", "remove_nodes", "prune",
           "n_removed"]


# ---------------------------------------------------------------------------------------
# Model checks
# ---------------------------------------------------------------------------------------

def _dense_indices(model: Sequential, params=None) -> list[int]:
    """Indices of the Dense layers of ``[Flatten] + Dense*`` (the networks the paper analyses),
    with ``params`` checked against the model when given (:func:`refimpl.model.dense_layers`)."""
    return [d.index for d in dense_layers(model, params, method="significance analysis",
                                          activations=tuple(ia.ACTIVATIONS))]


def input_box(x, *, outward: bool = True) -> Interval:
    """The input box of Sec. 3.2: per input feature, [min, max] over the training patterns.

    ``x`` is ``(N, *input_shape)`` (any float dtype); returns a float64 :class:`Interval` of
    shape ``input_shape``. Raises ``ValueError`` for an empty or NaN-containing ``x``,
    ``TypeError`` for a complex one.
    """
    if np.iscomplexobj(x):
        raise TypeError("x is complex; the input box needs real data")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be (N, *input_shape) with N >= 1, got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError("x contains NaN")
    return ia.hull(x, axis=0, outward=outward)


# ---------------------------------------------------------------------------------------
# Interval forward and reverse sweeps
# ---------------------------------------------------------------------------------------

def interval_forward(model: Sequential, params, box: Interval, *, output: str = "softmax"
                     ) -> tuple[list[Interval], Interval]:
    """Interval evaluation of the network over ``box`` (Sec. 3.2).

    ``box``: an :class:`Interval` of shape ``model.input_shape`` (or already flattened, or with a
    leading batch axis of boxes). ``output``: ``"model"`` evaluates the network as built;
    ``"softmax"`` (default) appends a softmax when the last layer's activation is linear, as
    in the paper's networks (Sec. 4: softmax on the output layer; the models here output logits
    for the cross-entropy loss).

    Returns ``(values, Y)``: ``values[0]`` the flattened input box, ``values[h]`` the value of
    hidden layer h (after its activation), all on the tape, and the output ``Y``. The
    computation runs in ``box``'s dtype and rounding mode (float64, outward by default); each
    layer is recorded as two tape nodes (v·W + b, then the activation) whose bounds and reverse
    rules are those of :mod:`refimpl.interval.sweep`, so ``Y.backward(e_k)`` gives the adjoints
    that :func:`analyse` computes.
    Raises ``ValueError``/``TypeError`` for unsupported models, bad params or a box of the wrong shape.
    """
    dense, lead, n_in = _checked(model, params, box, output)
    net = _prepared(model, params, dense, box.dtype)
    return sweep.taped(net, box.reshape(lead + (n_in,)), softmax=_appends_softmax(model, dense, output))


def _checked(model, params, box, output):
    """Dense layer indices, the batch shape of ``box`` and the number of input features."""
    if output not in ("model", "softmax"):
        raise ValueError(f"output must be 'model' or 'softmax', got {output!r}")
    dense = _dense_indices(model, params)
    if not isinstance(box, Interval):
        raise TypeError(f"box must be an Interval (see input_box), got {type(box).__name__}")
    n_in = model.shapes[dense[0]][0]
    ishape = model.input_shape
    if box.shape[box.ndim - len(ishape):] == ishape:
        lead = box.shape[:box.ndim - len(ishape)]
    elif box.shape[-1:] == (n_in,):
        lead = box.shape[:-1]
    else:
        raise ValueError(f"box of shape {box.shape} does not match the model input shape {ishape}")
    return dense, lead, n_in


def _prepared(model, params, dense, dtype) -> list[sweep.DenseLayer]:
    """The Dense layers as :class:`sweep.DenseLayer` in ``dtype`` (|W| computed once)."""
    return sweep.layers([params[i]["W"] for i in dense], [params[i].get("b") for i in dense],
                        [model.layers[i].activation for i in dense], dtype)


def _appends_softmax(model, dense, output) -> bool:
    return output == "softmax" and model.layers[dense[-1]].activation == "linear"


@dataclass
class Analysis:
    """Result of :func:`analyse`. Lists are indexed by analysed layer (0 = input, h = hidden h).

    ``values``: the interval value V of every node (``Interval``, shape ``(n_l,)``);
    ``adjoint_magnitude``: max|∇_V Y| per node; ``significance``: Eq. 1, w[V]·max|∇_V Y|;
    ``output``: the interval output Y; ``outputs``: which seeding was used (``"each"``/``"all"``).
    """
    values: list[Interval]
    adjoint_magnitude: list[np.ndarray]
    significance: list[np.ndarray]
    output: Interval
    outputs: str
    names: list[str] = field(default_factory=list)

    @property
    def midpoints(self) -> list[np.ndarray]:
        """Midpoints of every node's interval: the values the bias update of Sec. 3.3 transfers."""
        return [v.midpoint for v in self.values]

    def ranking(self, layer: int) -> np.ndarray:
        """Node indices of ``layer`` from least to most significant (ties by index)."""
        return ranking(self.significance[layer])


def analyse(model: Sequential, params, box: Interval, *, outputs: str = "each",
            output: str = "softmax") -> Analysis:
    """Interval adjoint significance analysis (Secs. 3.1–3.2): one forward sweep, then reverse sweeps.

    ``outputs`` picks how several outputs Y_1..Y_m are read:

    * ``"each"`` (default): one reverse sweep per output with seed e_k, and
      max|∇_V Y| = max_k max|∇_V Y_k| — the significance of a node for the output it
      influences most;
    * ``"all"``: a single reverse sweep with every output adjoint seeded to 1, i.e. the
      significance for Σ_k Y_k (cheaper; with a softmax output Σ_k Y_k ≡ 1, so this reading
      only sees interval overestimation and is not recommended there).

    ``box``: from :func:`input_box` (float64). ``output``: see :func:`interval_forward`.
    Returns an :class:`Analysis`. Raises ``ValueError`` for an unknown ``outputs``.

    The sweeps are :func:`refimpl.interval.sweep.forward` and one
    :func:`~refimpl.interval.sweep.reverse` with every seed at once, without a tape; the bounds
    are bit for bit those of :func:`interval_forward`'s tape with one ``backward`` per seed.
    """
    if outputs not in ("each", "all"):
        raise ValueError(f"outputs must be 'each' or 'all', got {outputs!r}")
    dense, lead, n_in = _checked(model, params, box, output)
    if lead:
        raise ValueError(f"analyse expects a single box (no batch axis); got a box of shape {box.shape}")
    o = box.outward
    net = _prepared(model, params, dense, box.dtype)
    fwd = sweep.forward(net, st.stack(box.lo.reshape(n_in), box.hi.reshape(n_in)),
                        softmax=_appends_softmax(model, dense, output), o=o)
    n_out = fwd.output.shape[-1]
    seeds = np.ones((1, n_out)) if outputs == "all" else np.eye(n_out)
    adjoints = sweep.reverse(fwd, seeds)                       # (2, k, n_l) per layer
    values = [Interval._result(V[0], V[1], o) for V in fwd.values[:-1]]
    mags = [np.abs(A).max(axis=(0, 1)).astype(np.float64) for A in adjoints]
    sig = [v.width * m for v, m in zip(values, mags)]
    names = ["input"] + [f"hidden {h}" for h in range(1, len(values))]
    return Analysis(values, mags, sig, Interval._result(fwd.output[0], fwd.output[1], o), outputs, names)


# ---------------------------------------------------------------------------------------
# Rankings: significance and the two baselines
# ---------------------------------------------------------------------------------------

def ranking(scores) -> np.ndarray:
    """Indices from the lowest to the highest score (stable: ties keep index order)."""
    return np.argsort(np.asarray(scores), kind="stable")


def magnitude_scores(model: Sequential, params) -> list[np.ndarray]:
    """Weight-magnitude baseline: Σ_k |W_jk| over the outgoing weights of every node j,
    for the input (layer 0) and each hidden layer."""
    dense = _dense_indices(model, params)
    return [np.sum(np.abs(np.asarray(params[i]["W"], dtype=np.float64)), axis=1) for i in dense]


def random_scores(model: Sequential, rng: np.random.Generator | int) -> list[np.ndarray]:
    """Random baseline: i.i.d. uniform scores for every input feature and hidden node."""
    rng = as_generator(rng)
    dense = _dense_indices(model)
    return [rng.random(model.shapes[i][0]) for i in dense]


# ---------------------------------------------------------------------------------------
# Removal with the bias update (Sec. 3.3)
# ---------------------------------------------------------------------------------------

@dataclass
class Pruned:
    """A pruned network: ``model`` and ``params`` (new objects), and ``kept[l]``, the indices of
    the kept nodes of every analysed layer (0 = input features of the flattened input).

    When input features were removed, the pruned model takes flat inputs of the kept features;
    :meth:`inputs` maps original inputs ``(N, *input_shape)`` to what ``model`` expects.
    """
    model: Sequential
    params: list[dict]
    kept: list[np.ndarray]
    input_pruned: bool
    original_input_shape: tuple

    def inputs(self, x):
        """Inputs of the original network ``(N, *input_shape)`` -> inputs of the pruned one."""
        x = np.asarray(x)
        if tuple(x.shape[1:]) != self.original_input_shape:
            raise ValueError(f"x has per-example shape {tuple(x.shape[1:])}, the original network "
                             f"takes {self.original_input_shape}")
        if not self.input_pruned:
            return x
        return x.reshape(x.shape[0], -1)[:, self.kept[0]]

    @property
    def sizes(self) -> list[int]:
        """Number of kept nodes per analysed layer."""
        return [len(k) for k in self.kept]


def remove_nodes(model: Sequential, params, remove: dict[int, np.ndarray],
                 midpoints: list[np.ndarray]) -> Pruned:
    """Remove the given nodes and fold their midpoints into the next layer's bias (Sec. 3.3).

    ``remove`` maps an analysed layer l (0 = input, h = hidden h) to the node indices to
    remove; ``midpoints[l]`` holds the midpoint of every node's interval in layer l (from
    :attr:`Analysis.midpoints`). For each removed node j of layer l, feeding Dense layer D:
    ``b_D += mid_j · W_D[j, :]``, then row j of W_D and (for hidden layers) column j of the
    previous layer's W and entry j of its bias are deleted. A node whose interval has width 0
    is a constant, so removing it leaves the network function unchanged.

    Removing *every* node of a layer keeps one node (the last index) with zero outgoing
    weights, because a Dense layer needs at least one unit; the function is that of the fully
    removed layer. Parameters keep their dtype (updates are computed in float64).
    Raises ``ValueError`` for unknown layers, non-integer, out-of-range or repeated indices, or
    midpoints of the wrong shape or not finite where nodes are removed.
    """
    dense = _dense_indices(model, params)
    sizes = [model.shapes[i][0] for i in dense]
    if len(midpoints) < len(dense):
        raise ValueError(f"need midpoints for {len(dense)} analysed layers, got {len(midpoints)}")
    params = [{k: np.array(v) for k, v in p.items()} for p in params]
    layers = list(model.layers)
    kept = [np.arange(n) for n in sizes]
    for l in sorted(remove):
        if not (isinstance(l, (int, np.integer)) and 0 <= l < len(dense)):
            raise ValueError(f"layer {l!r} cannot be pruned: use 0 (input) .. {len(dense) - 1} (last hidden)")
        idx = np.asarray(remove[l]).ravel()
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"layer {l}: node indices must be integers, got dtype {idx.dtype}")
        idx = idx.astype(np.int64)
        n = sizes[l]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"layer {l}: node indices must lie in [0, {n}), got [{idx.min()}, {idx.max()}]")
        if len(np.unique(idx)) != idx.size:
            raise ValueError(f"layer {l}: repeated node indices")
        mid = np.asarray(midpoints[l], dtype=np.float64)
        if mid.shape != (n,):
            raise ValueError(f"midpoints[{l}] has shape {mid.shape}, expected ({n},)")
        if not np.isfinite(mid[idx]).all():
            raise ValueError(f"midpoints[{l}] of the removed nodes must be finite (the bias update "
                             f"adds them times their weights), got NaN or ±∞")
        if idx.size == 0:
            continue
        D = dense[l]                      # the Dense layer that consumes layer l's nodes
        W = params[D]["W"]
        shift = mid[idx] @ np.asarray(W[idx], dtype=np.float64)
        b = np.asarray(params[D].get("b", np.zeros(W.shape[1], W.dtype)), dtype=np.float64) + shift
        keep = np.setdiff1d(np.arange(n), idx)
        if keep.size == 0:                # keep one node, silenced
            keep = np.array([n - 1])
            W = W.copy()
            W[n - 1] = 0
        params[D]["W"] = W[keep]
        params[D]["b"] = b.astype(W.dtype)
        if not layers[D].use_bias:
            layers[D] = dataclasses.replace(layers[D], use_bias=True)
        if l > 0:                          # the producing Dense layer loses its output units
            P = dense[l - 1]
            params[P]["W"] = params[P]["W"][:, keep]
            if "b" in params[P]:
                params[P]["b"] = params[P]["b"][keep]
            layers[P] = dataclasses.replace(layers[P], units=int(keep.size))
        kept[l] = keep
    input_pruned = bool(remove.get(0) is not None and np.size(remove.get(0)) > 0)
    if input_pruned:
        start = 1 if isinstance(layers[0], Flatten) else 0
        new = Sequential((int(kept[0].size),), tuple(layers[start:]))
        params = params[start:]
    else:
        new = Sequential(model.input_shape, tuple(layers))
    return Pruned(new, params, kept, input_pruned, tuple(model.input_shape))


def n_removed(n: int, fraction: float) -> int:
    """round(fraction · n) nodes, for fraction in [0, 1] and n ≥ 0 (``ValueError`` otherwise)."""
    if not (isinstance(n, (int, np.integer)) and n >= 0):
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    return int(round(fraction * n))


def prune(model: Sequential, params, scores: list[np.ndarray], midpoints: list[np.ndarray], *,
          layers: str | int | list[int] = "hidden", fraction: float) -> Pruned:
    """Remove the ``fraction`` of nodes with the lowest ``scores`` from each chosen layer (Sec. 3.3).

    ``scores``: per analysed layer, e.g. :attr:`Analysis.significance` (the paper's method),
    :func:`random_scores` or :func:`magnitude_scores` (baselines). ``midpoints``: from
    :attr:`Analysis.midpoints`, used for the bias update whatever the ranking.
    ``layers``: ``"input"``, ``"hidden"`` (every hidden layer, the same fraction of each —
    the paper ranks layer-wise), an int (0 = input, h = hidden h) or a list of ints.
    """
    dense = _dense_indices(model)
    n_layers = len(dense)
    if layers == "input":
        chosen = [0]
    elif layers == "hidden":
        chosen = list(range(1, n_layers))
    elif isinstance(layers, (int, np.integer)):
        chosen = [int(layers)]
    elif isinstance(layers, (list, tuple)):
        chosen = [int(l) for l in layers]
    else:
        raise ValueError(f"layers must be 'input', 'hidden', an int or a list of ints, got {layers!r}")
    if len(scores) < n_layers:
        raise ValueError(f"need scores for {n_layers} analysed layers, got {len(scores)}")
    remove = {}
    for l in chosen:
        if not 0 <= l < n_layers:
            raise ValueError(f"layer {l} cannot be pruned: use 0 (input) .. {n_layers - 1} (last hidden)")
        s = np.asarray(scores[l])
        n = model.shapes[dense[l]][0]
        if s.shape != (n,):
            raise ValueError(f"scores[{l}] has shape {s.shape}, but layer {l} has {n} nodes")
        remove[l] = ranking(s)[:n_removed(s.size, fraction)]
    return remove_nodes(model, params, remove, midpoints)
