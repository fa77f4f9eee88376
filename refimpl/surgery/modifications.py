"""Neural network surgery: the modification and recommendation modules of Schiessler et al.

Source: E. J. Schiessler, R. C. Aydin, K. Linka, C. J. Cyron, *Neural network surgery:
Combining training with topology optimization*, Neural Networks 144 (2021), Sec. 3.1–3.2.
The genetic algorithm that uses these modules (Algorithm 1) is in :mod:`refimpl.surgery.genetic`.

Networks are :class:`refimpl.model.Sequential` MLPs: an optional ``Flatten`` followed by
``Dense`` layers; every Dense layer but the last is a *hidden* layer. Layers are addressed by
their index in ``model.layers`` (as for ``model.insert/remove/replace``); the paper's 1-based
hidden-layer number is :func:`hidden_layers` ``.index(layer) + 1``. Our dense layers are row
vectors, ``z = x W + b`` with ``W: (in, n)``: the paper's ``A`` (Eq. 1) is our ``Wᵀ``.

Modification module (Sec. 3.1). Each operation returns a :class:`Surgery` — a *new* model and
new parameters (the inputs are never modified) plus the operation, its position and the
parameter-count ratio to the parent (``param_fraction``); ``model, params = op(...)`` unpacks it.

The guarantee column is precise: "exact" means the new network computes the same function for
every input (up to rounding); "refused" means a ``ValueError`` naming the reason, so no call
silently breaks a guarantee it is documented to have. Φ is the activation of the layer
operated on; "coupling" activations (softmax, log_softmax) are those that are not element-wise.

=====================  ===========================================  ===============================
operation              what it does                                  exact (function-preserving) when
=====================  ===========================================  ===============================
:func:`identity`       copy                                          always
:func:`add_neurons`    Net2WiderNet, Eqs. 4–8, with biases           Φ element-wise (outgoing split)
                                                                     or Φ ReLU/linear (incoming);
                                                                     refused otherwise
:func:`add_layer`      identity weights, zero bias, Eq. 3            Φ_new(Φ(z)) = Φ(z) for all z
                                                                     (any Φ); refused otherwise
:func:`remove_neurons` truncated-SVD projection, Eqs. 9–10           Φ linear, r ≥ rank(W), b in
                                                                     W's row space; else approximate
:func:`truncate`       factor W ≈ (U_rΣ_r)(V_rᵀ): a narrow linear     r ≥ rank(W), any activations;
                       layer inserted before the layer               else approximate (Eckart–Young)
:func:`remove_layer`   merge into the next layer, Eqs. 11–12         Φ linear (next layer's any);
                                                                     else approximate
=====================  ===========================================  ===============================

``add_neurons`` and ``add_layer`` refuse what they cannot do exactly: they are the paper's
function-preserving modifications (Eq. 2). ``remove_neurons``, ``truncate`` and ``remove_layer``
are its minimal-impact ones (the text: the projection "is not concerned at all with a potential
activation function"), performed for any activation and then retrained. The refusal reasons are
available without trying: :func:`add_neurons_refusal`, :func:`add_layer_refusal`.

Recommendation module (Sec. 3.2, :mod:`refimpl.surgery.recommendation`): :func:`removable_count` (n_r, Eq. 13), :func:`recommend`
(one scored :class:`Proposal` per possible modification, ranked by score and then by
parameter count, Eqs. 14–15), :func:`select` (top-n overall or best per type, plus an optional
random extra draw), and :func:`eq16_score`, the composite score s = a + exp(Δa)/exp(Δf) (Eq. 16).

Where the authors' code (github ElisabethJS/neural-network-surgery) differs from the text,
the text is the default and the code's choice is an option (see each function); the code's
slips that we fix rather than reproduce are: the bias of a rank-reduced layer is projected
with ``Vh·b`` (the code uses ``Vhᵀ·b``, exact only for zero bias), and n_r is computed from
the layer's own (incoming) weights (the code analyses the next layer's matrix; available as
``svd_of="outgoing"``). Parameter fractions are exact counts (the code estimated them).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..backend import as_generator
from ..model import Dense, Sequential, dense_layers

__all__ = [
    "OPERATIONS", "Surgery", "ELEMENTWISE", "HOMOGENEOUS", "IDEMPOTENT", "NONNEGATIVE",
    "hidden_layers", "check_mlp", "count_params",
    "add_neurons_refusal", "add_layer_refusal", "default_inserted_activation",
    "identity", "add_neurons", "add_layer", "remove_neurons", "truncate", "remove_layer",
    "low_rank",
]

#: The modification types, in the order used for tables.
OPERATIONS = ("identity", "add_neurons", "add_layer", "remove_neurons", "remove_layer", "truncate")

# What the exactness guarantees need to know about an activation (names of refimpl.nn.ACTIVATIONS).
# These are allow-lists: an activation missing from one is treated as lacking the property, so a
# new activation is refused where exactness would depend on it until it is classified here.
#: Element-wise: unit j's output depends on its own pre-activation z_j only (softmax and log_softmax
#: couple all units of the layer through their normaliser).
ELEMENTWISE = ("linear", "relu", "sigmoid", "tanh")
#: Positively homogeneous, φ(c z) = c φ(z) for c > 0 (needed by add_neurons' incoming split).
HOMOGENEOUS = ("linear", "relu")
#: Idempotent, φ(φ(z)) = φ(z) (an identity layer with the same activation is exact, Eq. 3).
#: log_softmax is: its outputs already have log Σ exp = 0.
IDEMPOTENT = ("linear", "relu", "log_softmax")
#: Outputs never negative (so an identity layer with ReLU after them is exact).
NONNEGATIVE = ("relu", "sigmoid", "softmax")


def add_neurons_refusal(activation: str, split: str = "outgoing") -> str | None:
    """Why :func:`add_neurons` refuses to widen a layer with ``activation`` using ``split``, or
    ``None`` if it performs it (exactly).

    Copies of a unit compute the same value only if each unit's output depends on its own
    pre-activation alone: an *element-wise* activation (:data:`ELEMENTWISE`). A coupling one
    (softmax, log_softmax) renormalises over the copies, so no split is exact (Eqs. 7–8 assume
    element-wise Φ). The incoming split also needs a positively homogeneous activation
    (:data:`HOMOGENEOUS`). Raises ``ValueError`` for an unknown ``split``.
    """
    if split not in ("outgoing", "incoming"):
        raise ValueError(f"add_neurons: split must be 'outgoing' (text) or 'incoming' (code), got {split!r}")
    if activation not in ELEMENTWISE:
        return (f"activation {activation!r} is not element-wise (it couples the layer's units), so a "
                f"copied unit changes the other units' outputs; Net2WiderNet (Eqs. 4-8) is exact only "
                f"for element-wise activations {ELEMENTWISE}")
    if split == "incoming" and activation not in HOMOGENEOUS:
        return (f"split='incoming' divides pre-activations, exact only for positively homogeneous "
                f"activations {HOMOGENEOUS}, not {activation!r}; use split='outgoing'")
    return None


def add_layer_refusal(preceding: str, inserted: str) -> str | None:
    """Why :func:`add_layer` refuses to insert an identity layer with activation ``inserted`` after
    a layer with activation ``preceding``, or ``None`` if the insert is exact.

    The insert computes Φ_new(I·Φ(z) + 0), exact iff Φ_new(Φ(z)) = Φ(z) for all z (Eq. 3). We
    accept Φ_new linear (any Φ), Φ_new = ReLU after non-negative outputs (:data:`NONNEGATIVE`), and
    Φ_new = Φ idempotent (:data:`IDEMPOTENT`). These hold for coupling activations too: they are
    statements about the layer's output vector.
    """
    if (inserted == "linear" or (inserted == "relu" and preceding in NONNEGATIVE)
            or (inserted == preceding and inserted in IDEMPOTENT)):
        return None
    return (f"an identity layer with activation {inserted!r} after a layer with activation "
            f"{preceding!r} is not function preserving (Eq. 3 needs act(phi(z)) = phi(z))")


def default_inserted_activation(preceding: str) -> str:
    """The activation of the identity layer the recommendation module inserts after a layer with
    activation ``preceding`` (Sec. 3.1, Eq. 3): ``preceding`` itself where that is exact (it is
    idempotent: ReLU, linear, log_softmax), else ReLU where ``preceding``'s outputs are non-negative
    (sigmoid, softmax), else linear (tanh). Eq. 3 is stated for ReLU networks ("under (at least)
    piecewise linear activation functions such as ReLU"); both fallbacks are piecewise linear, so
    the insert stays exact, and ReLU keeps the new layer non-linear where it can. The result never
    makes :func:`add_layer_refusal` refuse.
    """
    for act in (preceding, "relu", "linear"):
        if add_layer_refusal(preceding, act) is None:
            return act
    raise AssertionError("unreachable: a linear identity layer is always exact")


# ---------------------------------------------------------------------------------------------
# Bookkeeping
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Surgery:
    """The result of one modification: a new network and what was done to get it.

    Attributes
    ----------
    model, params : the new :class:`Sequential` and its parameter list (fresh arrays, same dtype
        as the parent's). ``model, params = surgery`` unpacks these two.
    operation : one of :data:`OPERATIONS`.
    layer : index in the *parent's* ``model.layers`` the operation acted on (``None`` for identity).
    amount : neurons added/removed, or the kept rank for ``truncate``; ``None`` otherwise.
    param_fraction : parameter count of the new model divided by the parent's (Sec. 3.3, "PF").
    """
    model: Sequential
    params: list
    operation: str
    layer: int | None
    amount: int | None
    param_fraction: float

    def __iter__(self):
        yield self.model
        yield self.params


def check_mlp(model: Sequential, params: list | None = None) -> None:
    """Check that ``model`` is an optional Flatten followed by ≥ 1 Dense layers, and that
    ``params`` fit it when given (no population axis): :func:`refimpl.model.dense_layers`.

    Raises:
        TypeError: not a :class:`Sequential`. ValueError: any other mismatch (named).
    """
    dense_layers(model, params, method="surgery")


def hidden_layers(model: Sequential) -> list[int]:
    """Indices (in ``model.layers``) of the hidden Dense layers: every Dense layer but the last."""
    check_mlp(model)
    return model.weight_layers()[:-1]


def count_params(model: Sequential) -> int:
    """Number of trainable parameters (the BIC's k, Eqs. 14–15)."""
    return model.count_params()


def _check_hidden(model: Sequential, layer, what: str) -> int:
    hidden = hidden_layers(model)
    if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool):
        raise TypeError(f"{what}: layer must be an int index into model.layers, got {layer!r}")
    if layer not in hidden:
        raise ValueError(f"{what}: layer {layer} is not a hidden Dense layer of this network "
                         f"(hidden layers are at indices {hidden}; the input and output layers "
                         f"are never modified)")
    return int(layer)


def _copy_params(params):
    return [{k: np.array(v, copy=True) for k, v in p.items()} for p in params]


def _result(parent, new_model, new_params, operation, layer, amount) -> Surgery:
    new_model.shapes  # noqa: B018 (validates the chain)
    check_mlp(new_model, new_params)
    return Surgery(new_model, new_params, operation, layer, amount,
                   new_model.count_params() / parent.count_params())


def _bias(layer: Dense, p: dict, dtype) -> np.ndarray:
    return np.asarray(p["b"]) if layer.use_bias else np.zeros(layer.units, dtype)


def _next_dense(model: Sequential, layer: int) -> int:
    return next(j for j in model.weight_layers() if j > layer)


# ---------------------------------------------------------------------------------------------
# Modification module (Sec. 3.1)
# ---------------------------------------------------------------------------------------------

def identity(model: Sequential, params: list) -> Surgery:
    """The identity operation: a copy of the network (``param_fraction`` = 1)."""
    check_mlp(model, params)
    return _result(model, model, _copy_params(params), "identity", None, None)


def add_neurons(model: Sequential, params: list, layer: int, n_new: int, *,
                rng: np.random.Generator | int = 0, split: str = "outgoing",
                noise: float = 0.0) -> Surgery:
    """Widen hidden layer ``layer`` by ``n_new`` units (Net2WiderNet; Sec. 3.1, Eqs. 4–8).

    Each new unit copies a unit g(j) drawn uniformly (with replacement) from the existing ones:
    its incoming weights and bias are duplicated. If unit s then appears c_s times in total:

    * ``split="outgoing"`` (the text, Eqs. 7–8): every copy's *outgoing* weights are the
      original's divided by c_s. Exact for every *element-wise* activation of the widened layer
      (:data:`ELEMENTWISE`: linear, ReLU, sigmoid, tanh) — each copy computes the same value and
      the next layer sums c_s equal shares. (The text says "if and only if piecewise linear";
      element-wise is what is needed.) Coupling activations (softmax, log_softmax) renormalise
      over the copies, so they are refused.
    * ``split="incoming"`` (the authors' code): the copies' *incoming* weights and bias are
      divided by c_s and the outgoing weights kept; exact only for positively homogeneous
      activations (:data:`HOMOGENEOUS`: ReLU, linear); others are refused.

    The activations of the other layers do not matter. :func:`add_neurons_refusal` gives the
    reason for a refusal without trying. ``noise > 0`` adds N(0, noise²) to the copies' incoming
    weights to break their symmetry (Net2Net's suggestion; the paper adds none, and then the
    copies stay identical under gradient descent). With noise the operation is no longer exact.

    Shapes: layer ``W (in, n) -> (in, n + n_new)``, next layer ``W (n, k) -> (n + n_new, k)``;
    dtypes are kept. Raises ``ValueError`` for a non-hidden ``layer``, ``n_new < 1``, an invalid
    ``split`` or ``noise``, or a refused activation (the message names the reason).
    """
    check_mlp(model, params)
    layer = _check_hidden(model, layer, "add_neurons")
    if not isinstance(n_new, (int, np.integer)) or n_new < 1:
        raise ValueError(f"add_neurons: n_new must be a positive int, got {n_new!r}")
    if noise < 0:
        raise ValueError(f"add_neurons: noise must be >= 0, got {noise}")
    spec: Dense = model.layers[layer]
    refusal = add_neurons_refusal(spec.activation, split)
    if refusal is not None:
        raise ValueError(f"add_neurons: layer {layer}: {refusal}")
    rng = as_generator(rng)
    nxt = _next_dense(model, layer)
    p, q = params[layer], params[nxt]
    W, W2 = np.asarray(p["W"]), np.asarray(q["W"])
    n = spec.units
    src = rng.integers(0, n, size=int(n_new))                   # g(j) for the new units
    c = 1 + np.bincount(src, minlength=n)                       # copies of each unit, original included
    cols = np.concatenate([np.arange(n), src])                  # the unit each new column copies
    W_new = W[:, cols].copy()
    b_new = _bias(spec, p, W.dtype)[cols].copy()
    W2_new = W2[cols, :].copy()
    if split == "outgoing":
        W2_new = W2_new / c[cols][:, None].astype(W2.dtype)
    else:
        W_new = W_new / c[cols][None, :].astype(W.dtype)
        b_new = b_new / c[cols].astype(W.dtype)
    if noise > 0:
        W_new[:, n:] += (noise * rng.standard_normal((W.shape[0], int(n_new)))).astype(W.dtype)
    new_model = model.replace(layer, dataclasses.replace(spec, units=n + int(n_new)))
    new_params = _copy_params(params)
    new_params[layer] = {"W": W_new.astype(W.dtype)}
    if spec.use_bias:
        new_params[layer]["b"] = b_new.astype(W.dtype)
    new_params[nxt] = {**new_params[nxt], "W": W2_new.astype(W2.dtype)}
    return _result(model, new_model, new_params, "add_neurons", layer, int(n_new))


def add_layer(model: Sequential, params: list, after: int, *, activation: str | None = None) -> Surgery:
    """Insert a Dense layer right after hidden layer ``after`` with identity weights and zero
    bias (Sec. 3.1, Eq. 3): width n = that layer's width, ``W = I_n``, ``b = 0``.

    ``activation`` of the new layer: ``None`` (default, the text's Eq. 3) uses the activation
    Φ of layer ``after``; ``"linear"`` is the authors' code. The insert is function preserving
    iff Φ_new(Φ(z)) = Φ(z) for all z, and only such inserts are performed
    (:func:`add_layer_refusal`): Φ_new linear after any Φ; Φ_new = ReLU after non-negative outputs
    (ReLU, sigmoid, softmax); Φ_new = Φ for idempotent Φ (ReLU, linear, log_softmax). Coupling
    activations are covered: the condition is on the output vector. (The text's condition
    "piecewise linear" is too weak: leaky ReLU, for instance, is not idempotent.)
    :func:`default_inserted_activation` picks an exact Φ_new for any Φ.

    Shapes: inserts ``W (n, n)``, ``b (n,)`` in the dtype of layer ``after``'s weights.
    Raises ``ValueError`` if ``after`` is not a hidden layer or the requested activation
    would not preserve the function.
    """
    check_mlp(model, params)
    after = _check_hidden(model, after, "add_layer")
    spec: Dense = model.layers[after]
    act = spec.activation if activation is None else activation
    refusal = add_layer_refusal(spec.activation, act)
    if refusal is not None:
        raise ValueError(f"add_layer: {refusal}; use activation='linear'")
    n = spec.units
    dtype = np.asarray(params[after]["W"]).dtype
    new_layer = Dense(n, act, use_bias=True, kernel_init=spec.kernel_init, bias_init=spec.bias_init)
    new_model = model.insert(after + 1, new_layer)
    new_params = _copy_params(params)
    new_params.insert(after + 1, {"W": np.eye(n, dtype=dtype), "b": np.zeros(n, dtype)})
    return _result(model, new_model, new_params, "add_layer", after, None)


def low_rank(A, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best rank-r approximation in the Frobenius norm (Eckart–Young; Eqs. 9–10).

    ``A (m, n)`` float; returns ``(L, R, sigma)`` with ``L = U_r Σ_r (m, r)``, ``R = V_rᵀ (r, n)``
    (so ``A_r = L @ R`` and ``‖A − A_r‖²_F = Σ_{i>r} σ_i²``) and all singular values ``sigma``
    (descending). Computed in float64. Raises ``ValueError`` unless 1 ≤ r ≤ min(m, n), or if
    ``A`` holds NaN or ±inf.
    """
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(f"low_rank: expected a matrix, got shape {A.shape}")
    if not np.isfinite(A).all():
        raise ValueError("low_rank: the weights contain NaN or ±inf (no singular value decomposition)")
    if not isinstance(r, (int, np.integer)) or not 1 <= r <= min(A.shape):
        raise ValueError(f"low_rank: rank must be an int in [1, {min(A.shape)}], got {r!r}")
    U, s, Vh = np.linalg.svd(A, full_matrices=False)
    return U[:, :r] * s[:r], Vh[:r], s


def remove_neurons(model: Sequential, params: list, layer: int, n_remove: int) -> Surgery:
    """Remove ``n_remove`` units from hidden layer ``layer`` by projecting it onto its best
    rank-r subspace, r = n − n_remove (truncated SVD; Sec. 3.1, Eqs. 9–10).

    With ``W = U Σ Vᵀ`` (``W (in, n)``, ``V`` n×n orthogonal, columns ordered by σ) and ``V_r``
    its first r columns, the layer gets ``W' = W V_r = U_r Σ_r`` and ``b' = b V_r``, and the next
    layer receives the back-projection ``W_next' = V_rᵀ W_next``. For a *linear* activation the
    network then computes ``z ↦ z V_r V_rᵀ W_next``: exact when r ≥ rank(W) and the bias lies in
    the row space of W (e.g. b = 0). For any other activation (ReLU, tanh, softmax, ...) the
    rotation changes the function even at full rank — the text notes it ignores the activation;
    the operation is performed anyway, as the text's minimal-impact approximation. The bias is
    projected consistently (the authors' code uses ``Vhᵀ·b``, a transpose slip, fixed here).

    When n > in, the n − in extra directions (σ = 0) come from the full SVD, so any
    1 ≤ r ≤ n works. Shapes: layer ``W (in, n) -> (in, r)``, ``b (n,) -> (r,)``, next layer
    ``W (n, k) -> (r, k)``; dtypes kept (computed in float64). Raises ``ValueError`` if ``layer``
    is not a hidden layer or ``n_remove`` is not in [1, n − 1].
    """
    check_mlp(model, params)
    layer = _check_hidden(model, layer, "remove_neurons")
    spec: Dense = model.layers[layer]
    n = spec.units
    if not isinstance(n_remove, (int, np.integer)) or not 1 <= n_remove <= n - 1:
        raise ValueError(f"remove_neurons: can remove between 1 and {n - 1} of the {n} units of "
                         f"layer {layer} (at least one must stay), got {n_remove!r}")
    r = n - int(n_remove)
    nxt = _next_dense(model, layer)
    W = np.asarray(params[layer]["W"])
    W2 = np.asarray(params[nxt]["W"])
    _, _, Vh = np.linalg.svd(W.astype(np.float64), full_matrices=True)
    Vr = Vh[:r].T                                                  # (n, r), orthonormal columns
    new_params = _copy_params(params)
    new_params[layer] = {"W": (W.astype(np.float64) @ Vr).astype(W.dtype)}
    if spec.use_bias:
        new_params[layer]["b"] = (_bias(spec, params[layer], W.dtype).astype(np.float64) @ Vr).astype(W.dtype)
    new_params[nxt] = {**new_params[nxt], "W": (Vr.T @ W2.astype(np.float64)).astype(W2.dtype)}
    new_model = model.replace(layer, dataclasses.replace(spec, units=r))
    return _result(model, new_model, new_params, "remove_neurons", layer, int(n_remove))


def truncate(model: Sequential, params: list, layer: int, rank: int) -> Surgery:
    """Truncated-SVD factorization (Sec. 3.1): insert a narrow linear layer of ``rank`` units.

    The weights of hidden Dense ``layer``, ``W (in, n)``, are replaced by the rank-r
    factors of :func:`low_rank`: a new bias-free linear layer ``L = U_r Σ_r (in, r)`` is inserted
    before it and the layer keeps its bias and activation with weights ``R = V_rᵀ (r, n)``. The
    network computes ``Φ(x W_r + b)`` with ``W_r`` the best rank-r approximation of W
    (‖W − W_r‖²_F = Σ_{i>r} σ_i²); exact for r ≥ rank(W), whatever the activations (coupling
    ones included: Φ sees the same pre-activation). Shapes: inserted ``L (in, r)``, layer
    ``W (in, n) -> R (r, n)``; dtypes kept (computed in float64).

    Raises ``ValueError`` unless ``layer`` is a hidden layer (the paper never modifies the
    input/output layers) and 1 ≤ rank ≤ min(in, n).
    """
    check_mlp(model, params)
    layer = _check_hidden(model, layer, "truncate")
    spec: Dense = model.layers[layer]
    W = np.asarray(params[layer]["W"])
    if not isinstance(rank, (int, np.integer)) or not 1 <= rank <= min(W.shape):
        raise ValueError(f"truncate: rank must be an int in [1, {min(W.shape)}] for layer {layer} "
                         f"with weights {W.shape}, got {rank!r}")
    L, R, _ = low_rank(W, int(rank))
    new_model = model.insert(layer, Dense(int(rank), "linear", use_bias=False,
                                          kernel_init=spec.kernel_init))
    new_params = _copy_params(params)
    new_params[layer] = {**new_params[layer], "W": R.astype(W.dtype)}
    new_params.insert(layer, {"W": L.astype(W.dtype)})
    return _result(model, new_model, new_params, "truncate", layer, int(rank))


def remove_layer(model: Sequential, params: list, layer: int) -> Surgery:
    """Remove hidden layer ``layer`` by merging it into the next Dense layer (Sec. 3.1,
    Eqs. 11–12): ``W_next' = W W_next``, ``b_next' = b W_next + b_next``; the merged layer keeps
    the next layer's activation. Exact iff the removed layer's activation is linear, whatever the
    next layer's activation (coupling ones included). Any other removed activation is dropped and
    the function changes — the text notes that the activation is ignored; it is performed anyway,
    as the text's minimal-impact approximation. Shapes: next layer ``W (n, k) -> (in, k)``,
    ``b (k,)``; dtypes kept (computed in float64).

    Raises ``ValueError`` if ``layer`` is not a hidden layer.
    """
    check_mlp(model, params)
    layer = _check_hidden(model, layer, "remove_layer")
    spec: Dense = model.layers[layer]
    nxt = _next_dense(model, layer)
    nspec: Dense = model.layers[nxt]
    W = np.asarray(params[layer]["W"], dtype=np.float64)
    b = _bias(spec, params[layer], np.float64).astype(np.float64)
    W2 = np.asarray(params[nxt]["W"])
    b2 = _bias(nspec, params[nxt], np.float64).astype(np.float64)
    dtype = W2.dtype
    merged = {"W": (W @ W2.astype(np.float64)).astype(dtype), "b": (b @ W2.astype(np.float64) + b2).astype(dtype)}
    new_model = model.replace(nxt, dataclasses.replace(nspec, use_bias=True)).remove(layer)
    new_params = _copy_params(params)
    new_params[nxt] = merged
    del new_params[layer]
    return _result(model, new_model, new_params, "remove_layer", layer, None)
