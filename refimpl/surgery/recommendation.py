"""Neural network surgery: the recommendation module of Schiessler et al. (Sec. 3.2).

:func:`removable_count` (n_r, Eq. 13), :func:`recommend` (one scored :class:`Proposal` per
possible modification, ranked by score and then by parameter count, Eqs. 14–15), :func:`select`
(top-n overall or best per type, plus an optional random extra draw) and :func:`eq16_score`,
the composite score s = a + exp(Δa)/exp(Δf) (Eq. 16). A proposal is performed by the
modification module (:mod:`refimpl.surgery.modifications`) through :meth:`Proposal.apply`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..backend import as_generator
from ..model import Dense, Sequential
from .modifications import (Surgery, _next_dense, add_layer, add_layer_refusal, add_neurons, add_neurons_refusal,
                            check_mlp, default_inserted_activation, hidden_layers, identity, remove_layer,
                            remove_neurons, truncate)

__all__ = ["Proposal", "removable_count", "neuron_amounts", "recommend", "refused_modifications", "select",
           "eq16_score"]


def removable_count(W, eps1: float = 0.005, eps2: float = 0.3) -> int:
    """n_r of Eq. 13: the number of singular values σ_i of ``W`` with σ_i < ε1·σ_1 or σ_i < ε2.

    ``W`` is any 2-D weight matrix; its min(m, n) singular values are counted. Defaults are the
    paper's (Appendix: ε1 = 0.005 relative, ε2 = 0.3 absolute). Raises ``ValueError`` for
    non-matrix, empty or non-finite input or negative thresholds.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.size == 0:
        raise ValueError(f"removable_count: expected a non-empty matrix, got shape {W.shape}")
    if not np.isfinite(W).all():
        raise ValueError("removable_count: the weights contain NaN or ±inf (no singular values)")
    if eps1 < 0 or eps2 < 0:
        raise ValueError(f"removable_count: thresholds must be >= 0, got eps1={eps1}, eps2={eps2}")
    s = np.linalg.svd(W, compute_uv=False)
    return int(np.sum((s < eps1 * s[0]) | (s < eps2)))


def neuron_amounts(n: int) -> tuple[int, int]:
    """The two add-neuron amounts tried per layer of width n: max(2, n // 10) and ten times that
    (the authors' code; the text does not give amounts — Table 1's "Add 20 neurons" to a
    10-unit layer matches)."""
    a = max(2, n // 10)
    return a, 10 * a


@dataclass(frozen=True)
class Proposal:
    """A recommended (not yet performed) modification with its ranking values.

    ``operation`` (one of :data:`OPERATIONS`), ``layer`` (index in ``model.layers``; ``None``
    for identity), ``hidden`` (the paper's 1-based hidden-layer number), ``amount`` (neurons
    added/removed, kept rank for truncate), ``score`` (the Sec. 3.2 score in [0, 1]; 1 for
    identity), ``n_params`` (parameter count of the resulting network, the second criterion,
    Eq. 15), ``n_removable`` (n_r of the analysed layer) and ``width`` (its n_l).
    How it will be performed: ``activation``, the inserted layer's activation (add layer only)
    and ``split``, the Net2WiderNet split (add neurons only); :func:`recommend` sets both to values
    the modification module performs, so :meth:`apply` never refuses a recommended proposal.
    """
    operation: str
    layer: int | None
    hidden: int | None
    amount: int | None
    score: float
    n_params: int
    n_removable: int | None = None
    width: int | None = None
    activation: str | None = None
    split: str | None = None

    def apply(self, model: Sequential, params: list, *, rng: np.random.Generator | int = 0,
              neuron_noise: float = 0.0) -> Surgery:
        """Perform this modification on ``(model, params)`` (the network it was recommended for)
        with the modification module (Sec. 3.1): add layer with :attr:`activation`, add neurons with
        :attr:`split`, ``rng`` (the copied units) and ``neuron_noise``. Returns the
        :class:`Surgery`; its ``model.count_params()`` equals :attr:`n_params`. Raises
        ``ValueError`` for an unknown operation or a network it does not fit."""
        op = self.operation
        if op == "identity":
            return identity(model, params)
        if op == "add_neurons":
            return add_neurons(model, params, self.layer, self.amount, rng=rng, split=self.split or "outgoing",
                               noise=neuron_noise)
        if op == "add_layer":
            return add_layer(model, params, self.layer, activation=self.activation)
        if op == "remove_neurons":
            return remove_neurons(model, params, self.layer, self.amount)
        if op == "remove_layer":
            return remove_layer(model, params, self.layer)
        if op == "truncate":
            return truncate(model, params, self.layer, self.amount)
        raise ValueError(f"unknown operation {op!r}")

    def describe(self) -> tuple[str, str]:
        """``(operation, position)`` phrased like the paper's Table 1."""
        op = {"identity": "Identity", "add_layer": "Add layer", "remove_layer": "Remove layer",
              "add_neurons": f"Add {self.amount} neuron{'s' * (self.amount != 1)}",
              "remove_neurons": f"Remove {self.amount} neuron{'s' * (self.amount != 1)}",
              "truncate": f"Truncated SVD (rank {self.amount})"}[self.operation]
        if self.operation == "identity":
            pos = "–"
        elif self.operation == "add_layer":
            pos = f"After layer {self.hidden}"
        else:
            pos = f"Layer {self.hidden}"
        return op, pos


def _predicted_params(model: Sequential, op: str, layer: int | None, amount: int | None,
                      activation: str | None) -> int:
    """Exact parameter count after the operation (architecture only; no weights needed)."""
    if op == "identity":
        return model.count_params()
    spec = model.layers[layer]
    if op == "add_neurons":
        m = model.replace(layer, dataclasses.replace(spec, units=spec.units + amount))
    elif op == "remove_neurons":
        m = model.replace(layer, dataclasses.replace(spec, units=spec.units - amount))
    elif op == "add_layer":
        m = model.insert(layer + 1, Dense(spec.units, activation or spec.activation))
    elif op == "remove_layer":
        nxt = _next_dense(model, layer)
        m = model.replace(nxt, dataclasses.replace(model.layers[nxt], use_bias=True)).remove(layer)
    elif op == "truncate":
        m = model.insert(layer, Dense(amount, "linear", use_bias=False))
    else:
        raise ValueError(f"unknown operation {op!r}")
    return m.count_params()


def _inserted_activation(preceding: str, add_layer_activation: str | None) -> str:
    return default_inserted_activation(preceding) if add_layer_activation is None else add_layer_activation


def refused_modifications(model: Sequential, *, add_layer_activation: str | None = None,
                          neuron_split: str = "outgoing") -> list[dict]:
    """The modifications :func:`recommend` leaves out of ``model``'s proposals because the
    modification module would refuse them (Sec. 3.1; see :func:`add_neurons_refusal` and
    :func:`add_layer_refusal`), with the reason.

    Returns one dict per refused (operation, hidden layer): ``{"operation", "layer", "hidden",
    "reason"}`` (``layer``: index in ``model.layers``; ``hidden``: the 1-based hidden-layer
    number), in layer order. Only ``add_neurons`` (a coupling activation, or ``neuron_split=
    "incoming"`` on a non-homogeneous one) and ``add_layer`` (an explicitly requested
    ``add_layer_activation`` that is not exact after the layer) can be refused; with the defaults
    only coupling activations (softmax, log_softmax) are. Raises ``ValueError`` for an unknown
    ``neuron_split`` or a network that is not an MLP.
    """
    out = []
    for i, layer in enumerate(hidden_layers(model), start=1):
        act = model.layers[layer].activation
        for op, reason in (("add_neurons", add_neurons_refusal(act, neuron_split)),
                           ("add_layer", add_layer_refusal(act, _inserted_activation(act, add_layer_activation)))):
            if reason is not None:
                out.append({"operation": op, "layer": layer, "hidden": i, "reason": reason})
    return out


def recommend(model: Sequential, params: list, *, eps1: float = 0.005, eps2: float = 0.3,
              svd_of: str = "incoming", min_hidden_layers: int = 1,
              add_layer_activation: str | None = None, neuron_split: str = "outgoing") -> list[Proposal]:
    """All candidate modifications of ``(model, params)``, scored and ranked (Sec. 3.2).

    For hidden layer i (1-based) of h, width n_l and n_r = :func:`removable_count` of its
    weight matrix (``svd_of="incoming"``, the text: the layer's own weights; ``"outgoing"``:
    the next layer's weights, as the authors' code does):

    * add neurons (amounts :func:`neuron_amounts`):  1 − n_r/n_l
    * add layer (after layer i):                     (1 − n_r/n_l)·i/h
    * remove neurons (amount min(max(n_r, 1), n_l − 1); not offered for n_l = 1):  n_r/n_l
    * remove layer:                                  1 if n_r = n_l, else (n_r/n_l)·i/h
      (not offered when only ``min_hidden_layers`` hidden layers remain)
    * truncated SVD to rank min(in, n_l) − n_r (≥ 1): n_r/n_l (the code's value; the text
      lists no score for it)
    * identity: 1 (always a candidate).

    Only modifications the modification module performs are proposed, so every proposal's
    :meth:`Proposal.apply` succeeds and gives exactly ``n_params`` parameters. The inserted
    layer's activation (``Proposal.activation``) is ``add_layer_activation`` if given, else
    :func:`default_inserted_activation` of layer i's activation: Eq. 3's Φ where Φ(Φ(z)) = Φ(z)
    (ReLU, linear), else ReLU after non-negative outputs (sigmoid, softmax), else linear (tanh).
    Add neurons use ``neuron_split`` (``"outgoing"``, the text; ``"incoming"``, the code).
    Modifications the module would refuse (listed with reasons by :func:`refused_modifications`)
    are left out: add neurons on a coupling activation (softmax, log_softmax) or with the
    incoming split on a non-homogeneous one, and add layer with an explicit
    ``add_layer_activation`` that is not exact after layer i.

    Ties are broken by the parameter count of the result (fewer first; the BIC-derived second
    criterion, Eqs. 14–15). Returns a list sorted best first. Raises ``ValueError`` for an
    unknown ``svd_of`` or ``neuron_split`` or a network that is not an MLP.
    """
    check_mlp(model, params)
    if svd_of not in ("incoming", "outgoing"):
        raise ValueError(f"svd_of must be 'incoming' (text) or 'outgoing' (code), got {svd_of!r}")
    refused = {(r["operation"], r["layer"]) for r in refused_modifications(
        model, add_layer_activation=add_layer_activation, neuron_split=neuron_split)}
    hidden = hidden_layers(model)
    h = len(hidden)

    def prop(op, layer, i, amount, score, n_r=None, n_l=None, activation=None, split=None):
        return Proposal(op, layer, i, amount, float(score), _predicted_params(model, op, layer, amount, activation),
                        n_r, n_l, activation, split)

    out = [prop("identity", None, None, None, 1.0)]
    for i, layer in enumerate(hidden, start=1):
        W = np.asarray(params[layer]["W"])
        analysed = W if svd_of == "incoming" else np.asarray(params[_next_dense(model, layer)]["W"])
        n_l = model.layers[layer].units
        n_r = min(removable_count(analysed, eps1, eps2), n_l)
        frac = n_r / n_l
        if ("add_neurons", layer) not in refused:
            for a in neuron_amounts(n_l):
                out.append(prop("add_neurons", layer, i, a, 1 - frac, n_r, n_l, split=neuron_split))
        if ("add_layer", layer) not in refused:
            act = _inserted_activation(model.layers[layer].activation, add_layer_activation)
            out.append(prop("add_layer", layer, i, None, (1 - frac) * i / h, n_r, n_l, activation=act))
        if n_l > 1:
            out.append(prop("remove_neurons", layer, i, min(max(n_r, 1), n_l - 1), frac, n_r, n_l))
        if h > min_hidden_layers:
            out.append(prop("remove_layer", layer, i, None, 1.0 if n_r == n_l else frac * i / h, n_r, n_l))
        k = min(W.shape) - removable_count(W, eps1, eps2)
        out.append(prop("truncate", layer, i, max(k, 1), frac, n_r, n_l))
    return sorted(out, key=lambda p: (-p.score, p.n_params))


def select(proposals: Sequence[Proposal], *, mode: str = "per_type", n: int | None = None,
           extra_random: bool = True, rng: np.random.Generator | int = 0) -> list[Proposal]:
    """Choose candidates from ranked ``proposals`` (Sec. 3.2, last paragraph).

    ``mode="per_type"`` (the paper's experiments): the best-ranked proposal of every operation
    type present (identity included). ``mode="top_n"``: identity plus the ``n`` best-ranked other
    proposals. ``extra_random=True`` (Appendix) adds one proposal drawn uniformly from those not
    yet chosen. The ranking order of ``proposals`` (as returned by :func:`recommend`) is used.
    Raises ``ValueError`` for an unknown mode or a missing/invalid ``n``.
    """
    if mode not in ("per_type", "top_n"):
        raise ValueError(f"select: mode must be 'per_type' or 'top_n', got {mode!r}")
    ranked = sorted(proposals, key=lambda p: (-p.score, p.n_params))
    if mode == "per_type":
        chosen, seen = [], set()
        for p in ranked:
            if p.operation not in seen:
                seen.add(p.operation)
                chosen.append(p)
    else:
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"select: mode='top_n' needs a positive int n, got {n!r}")
        ident = [p for p in ranked if p.operation == "identity"]
        chosen = ident[:1] + [p for p in ranked if p.operation != "identity"][:n]
    if extra_random:
        rest = [p for p in ranked if p not in chosen]
        if rest:
            chosen.append(rest[int(as_generator(rng).integers(len(rest)))])
    return chosen


def eq16_score(a, delta_a, f):
    """The Surgeon's composite score s = a + exp(Δa)/exp(Δf) (Eq. 16).

    ``a``: validation accuracy in [0, 1]; ``delta_a``: accuracy gain over the parent;
    ``f``: parameter fraction P_new/P_parent (> 0) — the quantity Table 1 calls PF, with which
    the table's S column is reproduced (identity: f = 1). Scalars or arrays (broadcast).
    """
    a, delta_a, f = (np.asarray(v, dtype=np.float64) for v in (a, delta_a, f))
    if np.any(f <= 0):
        raise ValueError("eq16_score: the parameter fraction f must be > 0")
    out = a + np.exp(delta_a - f)
    return float(out) if out.ndim == 0 else out
