"""The routed multi-task network of learned weight sharing (thesis Sec. 8.4, Figs. 8.1–8.2).

A base architecture is duplicated once per task. Every shareable layer holds a set of weight
*modules*; an assignment says which module each task's copy of the layer uses, and tasks that
are assigned the same module share its weights. Task heads (the last layer) are never shared.
Each layer of a :class:`RoutedNet` is routed in one of three ways:

* ``"routed"`` — K modules, the task's module is chosen by the assignment a (learned sharing);
* ``"shared"`` — one module for all tasks (full sharing, or layers kept shared by design);
* ``"task"``   — T modules, task t always uses module t (no sharing).

Every module owns its weights *and* its batch norm (γ, β and running statistics), as in the
author's code. Parameters are a pytree ``{"layers": [[module params] per layer], "heads":
[{"W", "b"} per task]}``; batch-norm running statistics live in a separate state pytree of the
same layout.

One forward pass serves a batch of several tasks and several sampled assignments at once
(:func:`forward`): in every layer the (sample, task) sub-batches that use the same module are
concatenated and pushed through that module in one call, so λ_θ assignments cost far less than
λ_θ separate passes. In training mode batch norm normalises every (sample, task) sub-batch with
its own statistics — the author's code runs each task's 16 examples as a separate forward pass.
With ``dedup=True`` sub-batches whose task and assignment prefix coincide are computed once and
weighted by their multiplicity, which changes nothing in the value or its gradient.

Shapes: images NCHW, float32; task t's inputs ``(n_t, *input_shape)``, its logits
``(n_t, n_classes[t])``. An assignment is ``(n_routed, T)`` ints in [0, K).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

from .. import nn
from ..backend import array_module, as_generator, raw_module, tree_leaves

__all__ = ["ConvBlock", "DenseBlock", "ResBlock", "RoutedNet", "group_batch_norm", "forward",
           "apply", "sample_losses", "mc_objective", "evaluate", "ROUTING_MODES"]

ROUTING_MODES = ("routed", "shared", "task")


# --------------------------------------------------------------------------------------------
# Batch norm with one set of statistics per sub-batch (Eqs. 2.13–2.16)
# --------------------------------------------------------------------------------------------

def group_batch_norm(x, gamma, beta, state: dict, group: int, *, training: bool, eps: float = 1e-5):
    """Batch norm whose training statistics are taken per consecutive group of ``group`` rows.

    ``x (G·group, C)`` or ``(G·group, C, H, W)``; ``gamma, beta`` ``(C,)``; ``state`` holds the
    running ``mean`` and ``var`` ``(C,)``. Training mode normalises each group with its own mean
    and biased variance (for one group this is :func:`refimpl.nn.batch_norm`) and also returns the
    groups' statistics ``{"mean": (G, C), "var": (G, C)}`` (plain arrays); evaluation mode uses
    the running statistics and returns ``None`` for them. The caller updates the running state.
    In training mode the normalisation x̂ = (x − mean)/√(var + ε) is one primitive with its
    hand-written adjoint (:func:`_normalise_vjp`), checked against autograd in the tests.
    """
    xp = array_module(x, gamma)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if not training:
        mean, var = state["mean"].reshape(shape), state["var"].reshape(shape)
        return (x - mean) / xp.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape), None
    if group < 1 or x.shape[0] % group:
        raise ValueError(f"group_batch_norm: {x.shape[0]} rows do not split into groups of {group}")
    xg, axes = _group_view(getval(x), group)
    inv_n = 1.0 / (group * int(np.prod(x.shape[2:], dtype=np.int64)))
    mean = xp.sum(xg, axis=axes, keepdims=True) * inv_n
    var = xp.sum((xg - mean) ** 2, axis=axes, keepdims=True) * inv_n
    y = _normalise(x, mean, var, group, eps) * gamma.reshape(shape) + beta.reshape(shape)
    g = x.shape[0] // group
    return y, {"mean": mean.reshape(g, -1), "var": var.reshape(g, -1)}


def _group_view(x, group):
    """``x`` as ``(G, group, C, ...)`` and the axes its per-group, per-channel statistics reduce over."""
    xg = x.reshape((x.shape[0] // group, group) + x.shape[1:])
    return xg, (1,) + tuple(range(3, xg.ndim))


@primitive
def _normalise(x, mean, var, group, eps):
    """x̂ = (x − mean)/√(var + ε), where ``mean`` and ``var`` (``(G, 1, C, 1, 1)``) must be the per-group,
    per-channel mean and biased variance of ``x`` itself: the adjoint differentiates through them."""
    xg, _ = _group_view(x, group)
    return ((xg - mean) / raw_module(x).sqrt(var + eps)).reshape(x.shape)


def _normalise_vjp(ans, x, mean, var, group, eps):
    """Adjoint of x̂ as a function of x (statistics included):
    ∂x = (g − mean(g) − x̂·mean(g·x̂))/√(var + ε), means per group and channel."""
    def vjp(g):
        xp = raw_module(g)
        gg, axes = _group_view(g, group)
        xh, _ = _group_view(ans, group)
        inv_n = 1.0 / (group * int(np.prod(x.shape[2:], dtype=np.int64)))
        mg = xp.sum(gg, axis=axes, keepdims=True) * inv_n
        mgx = xp.sum(gg * xh, axis=axes, keepdims=True) * inv_n
        return ((gg - mg - xh * mgx) / xp.sqrt(var + eps)).reshape(x.shape)
    return vjp


defvjp(_normalise, _normalise_vjp)


def _he(rng, shape, dtype):
    return nn.initialize("he_uniform", rng, shape, dtype=dtype)


def _bn_params(c, dtype):
    return {"gamma": np.ones(c, dtype), "beta": np.zeros(c, dtype)}


def _bn_state(c, dtype):
    return {"mean": np.zeros(c, dtype), "var": np.ones(c, dtype)}


# --------------------------------------------------------------------------------------------
# Blocks: what one module of a layer computes
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvBlock:
    """conv k×k ("same", no bias) → batch norm → ReLU → optional 2×2 max-pool: the conv layer of the
    DKL-MNIST, routing-network and soft-layer-ordering nets (Secs. 8.5.1–8.5.3)."""
    filters: int
    kernel_size: int = 3
    stride: int = 1
    pool: bool = True

    def output_shape(self, s):
        h = nn.conv_output_size(s[1], self.kernel_size, self.stride, "same")[0]
        w = nn.conv_output_size(s[2], self.kernel_size, self.stride, "same")[0]
        return (self.filters, h // 2, w // 2) if self.pool else (self.filters, h, w)

    def init(self, rng, s, dtype):
        return {"W": _he(rng, (self.filters, s[0], self.kernel_size, self.kernel_size), dtype),
                **_bn_params(self.filters, dtype)}

    def init_state(self, s, dtype):
        return _bn_state(self.filters, dtype)

    def apply(self, p, st, x, group, training):
        y = nn.conv2d(x, p["W"], stride=self.stride, padding="same")
        y, stats = group_batch_norm(y, p["gamma"], p["beta"], st, group, training=training)
        y = nn.relu(y)
        return (_max_pool2(y) if self.pool else y), stats


@dataclass(frozen=True)
class DenseBlock:
    """Flatten → dense (with bias) → ReLU: the hidden dense layers of Secs. 8.5.1–8.5.2 (no batch norm)."""
    units: int

    def output_shape(self, s):
        return (self.units,)

    def init(self, rng, s, dtype):
        return {"W": _he(rng, (int(np.prod(s)), self.units), dtype), "b": np.zeros(self.units, dtype)}

    def init_state(self, s, dtype):
        return {}

    def apply(self, p, st, x, group, training):
        x = array_module(x).reshape(x, (x.shape[0], -1))
        return nn.relu(nn.dense(x, p["W"], p["b"])), {}


@dataclass(frozen=True)
class ResBlock:
    """The ResNet-18 basic block (Sec. 8.5.2: one routed unit): conv 3×3/stride → BN → ReLU → conv
    3×3 → BN, plus the shortcut (1×1 conv/stride → BN when the shape changes), then ReLU."""
    filters: int
    stride: int = 1

    def _projects(self, s):
        return self.stride != 1 or s[0] != self.filters

    def output_shape(self, s):
        return (self.filters,) + tuple(nn.conv_output_size(n, 3, self.stride, "same")[0] for n in s[1:])

    def init(self, rng, s, dtype):
        f = self.filters
        p = {"conv1": _he(rng, (f, s[0], 3, 3), dtype), "bn1": _bn_params(f, dtype),
             "conv2": _he(rng, (f, f, 3, 3), dtype), "bn2": _bn_params(f, dtype)}
        if self._projects(s):
            p.update(conv_sc=_he(rng, (f, s[0], 1, 1), dtype), bn_sc=_bn_params(f, dtype))
        return p

    def init_state(self, s, dtype):
        names = ("bn1", "bn2", "bn_sc") if self._projects(s) else ("bn1", "bn2")
        return {k: _bn_state(self.filters, dtype) for k in names}

    def apply(self, p, st, x, group, training):
        stats = {}

        def bn(y, name):
            y, stats[name] = group_batch_norm(y, p[name]["gamma"], p[name]["beta"], st[name], group,
                                              training=training)
            return y

        h = nn.relu(bn(nn.conv2d(x, p["conv1"], stride=self.stride), "bn1"))
        h = bn(nn.conv2d(h, p["conv2"]), "bn2")
        sc = bn(nn.conv2d(x, p["conv_sc"], stride=self.stride), "bn_sc") if "conv_sc" in p else x
        return nn.relu(h + sc), (stats if training else None)


# --------------------------------------------------------------------------------------------
# The network description
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoutedNet:
    """A multi-task network: per-example ``input_shape`` (C, H, W), ``blocks`` with one routing
    mode each (``"routed"``, ``"shared"`` or ``"task"``), ``n_classes`` per task (T = its length),
    ``n_modules`` K per routed layer, and the heads' input reduction ``head_pool``
    (``"flatten"`` or ``"global_avg"``). Raises ``ValueError`` for K < 1, no tasks, an unknown mode
    or shapes that do not chain."""
    input_shape: tuple
    blocks: tuple
    routing: tuple
    n_classes: tuple
    n_modules: int = 3
    head_pool: str = "flatten"

    def __post_init__(self):
        for name in ("input_shape", "blocks", "routing", "n_classes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not (isinstance(self.n_modules, (int, np.integer)) and self.n_modules >= 1):
            raise ValueError(f"the number of modules per routed layer K must be an int >= 1, got {self.n_modules!r}")
        if not self.n_classes or any(int(c) < 1 for c in self.n_classes):
            raise ValueError(f"n_classes needs at least one task, each with >= 1 class, got {self.n_classes}")
        if len(self.routing) != len(self.blocks) or any(r not in ROUTING_MODES for r in self.routing):
            raise ValueError(f"routing must give one of {ROUTING_MODES} per block, got {self.routing}")
        if not self.blocks:
            raise ValueError("a RoutedNet needs at least one block before the heads")
        if self.head_pool not in ("flatten", "global_avg"):
            raise ValueError(f"head_pool must be 'flatten' or 'global_avg', got {self.head_pool!r}")
        self.shapes  # validates the chain

    @property
    def n_tasks(self) -> int:
        return len(self.n_classes)

    @property
    def routed_layers(self) -> list[int]:
        """Indices of the routed blocks; row i of an assignment belongs to ``routed_layers[i]``."""
        return [i for i, r in enumerate(self.routing) if r == "routed"]

    @property
    def pi_shape(self) -> tuple[int, int, int]:
        """Shape of the search distribution's full parameters: (routed layers, T, K)."""
        return (len(self.routed_layers), self.n_tasks, self.n_modules)

    @property
    def shapes(self) -> list[tuple]:
        """Per-example shapes: ``shapes[i]`` enters block i; the last one enters the heads."""
        shapes = [self.input_shape]
        for i, b in enumerate(self.blocks):
            try:
                shapes.append(tuple(b.output_shape(shapes[-1])))
            except ValueError as e:
                raise ValueError(f"block {i} ({type(b).__name__}): {e}") from None
        return shapes

    @property
    def head_features(self) -> int:
        s = self.shapes[-1]
        return s[0] if self.head_pool == "global_avg" else int(np.prod(s))

    def modules_in_layer(self, i: int) -> int:
        return {"routed": self.n_modules, "shared": 1, "task": self.n_tasks}[self.routing[i]]

    def init(self, rng, *, dtype=np.float32) -> dict:
        """He-uniform weights (Sec. 8.5), zero biases, γ = 1, β = 0; every module drawn independently."""
        rng = as_generator(rng)
        layers = [[b.init(rng, s, dtype) for _ in range(self.modules_in_layer(i))]
                  for i, (b, s) in enumerate(zip(self.blocks, self.shapes))]
        heads = [{"W": _he(rng, (self.head_features, c), dtype), "b": np.zeros(c, dtype)} for c in self.n_classes]
        return {"layers": layers, "heads": heads}

    def init_state(self, *, dtype=np.float32) -> dict:
        """Running statistics (mean 0, variance 1) for every module's batch norms."""
        return {"layers": [[b.init_state(s, dtype) for _ in range(self.modules_in_layer(i))]
                           for i, (b, s) in enumerate(zip(self.blocks, self.shapes))]}

    def check_assignment(self, a) -> np.ndarray:
        """``a`` as int64 ``(n_routed, T)`` (or ``(S, n_routed, T)``); ``ValueError`` on a wrong shape or
        a module index outside [0, K), naming the (layer, task)."""
        a = np.asarray(a)
        want = self.pi_shape[:2]
        if a.shape[-2:] != want or a.ndim not in (2, 3) or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"an assignment is an int array of shape {want} (routed layers, tasks), "
                             f"or (samples, *{want}); got {a.dtype} {a.shape}")
        bad = np.argwhere((a < 0) | (a >= self.n_modules))
        if len(bad):
            idx = tuple(int(v) for v in bad[0])
            raise ValueError(f"assignment {idx} = {int(a[idx])} lies outside [0, K) = [0, {self.n_modules}) "
                             f"(routed layer {idx[-2]}, task {idx[-1]})")
        return a.astype(np.int64)

    def expand(self, a) -> np.ndarray:
        """Module index of every (block, task), ``(S, n_blocks, T)``, from routed assignments
        ``(S, n_routed, T)`` (shared blocks: 0; task blocks: t)."""
        a = self.check_assignment(a)
        a = a[None] if a.ndim == 2 else a
        out = np.zeros((a.shape[0], len(self.blocks), self.n_tasks), np.int64)
        out[:, [i for i, r in enumerate(self.routing) if r == "task"], :] = np.arange(self.n_tasks)
        out[:, self.routed_layers, :] = a
        return out

    def count_params(self, assignment=None) -> int:
        """Trainable scalars of the system of all task networks (Sec. 8.5.2): every module some task
        uses under ``assignment`` (all K modules of a routed layer if ``None``) once, plus the heads."""
        per_layer = [sum(int(np.prod(v.shape)) for v in tree_leaves(b.init(np.random.default_rng(0), s, np.float32)))
                     for b, s in zip(self.blocks, self.shapes)]
        used = [self.modules_in_layer(i) for i in range(len(self.blocks))]
        if assignment is not None:
            full = self.expand(assignment)[0]
            used = [len(np.unique(row)) for row in full]
        heads = sum(self.head_features * c + c for c in self.n_classes)
        return int(sum(n * u for n, u in zip(per_layer, used)) + heads)

    def describe(self) -> dict:
        return {"input_shape": list(self.input_shape), "routing": list(self.routing),
                "blocks": [{"type": type(b).__name__, **b.__dict__} for b in self.blocks],
                "n_classes": list(self.n_classes), "n_modules": self.n_modules, "head_pool": self.head_pool}


# --------------------------------------------------------------------------------------------
# The forward pass, grouped by module
# --------------------------------------------------------------------------------------------

def _plan(full, tasks, dedup):
    """Per block, the nodes (sub-batches) to compute, sorted by module: ``(module, parent, task,
    multiplicity)`` lists, and which final node serves each (sample, task). A node is keyed by its
    module and its parent node (so by task and assignment prefix), plus the sample unless ``dedup``."""
    S = full.shape[0]
    where = {(s, t): i for s in range(S) for i, t in enumerate(tasks)}   # layer -1: input block i
    task_of = list(tasks)
    plan = []
    for layer in range(full.shape[1]):
        members: dict = {}
        for (s, t), parent in where.items():
            key = (int(full[s, layer, t]), parent) + (() if dedup else (s,))
            members.setdefault(key, []).append((s, t))
        keys = sorted(members)
        nodes = [(k[0], k[1], task_of[k[1]], len(members[k])) for k in keys]
        where = {st: i for i, k in enumerate(keys) for st in members[k]}
        task_of = [n[2] for n in nodes]
        plan.append(nodes)
    return plan, where


@primitive
def _take_rows(h, ranges):
    """Rows ``h[a:b]`` of every range in ``ranges`` (a tuple of pairs), concatenated along axis 0."""
    if len(ranges) == 1:
        a, b = ranges[0]
        return h[a:b]
    return raw_module(h).concatenate([h[a:b] for a, b in ranges], axis=0)


def _put_rows(g, h, ranges):
    """Adjoint of :func:`_take_rows`: every block of ``g`` added back onto the rows it came from
    (one plain slice addition per range; autograd's generic indexing adjoint uses ``add.at``)."""
    out = raw_module(g).zeros(h.shape, dtype=g.dtype)
    o = 0
    for a, b in ranges:
        out[a:b] += g[o:o + b - a]
        o += b - a
    return out


defvjp(_take_rows, lambda ans, h, ranges: lambda g: _put_rows(g, h, ranges))


def _gather(h, ranges):
    """Rows of ``h`` in the listed [start, stop) ranges, adjacent ranges merged."""
    merged = []
    for a, b in ranges:
        if merged and merged[-1][1] == a:
            merged[-1][1] = int(b)
        else:
            merged.append([int(a), int(b)])
    if len(merged) == 1 and merged[0] == [0, h.shape[0]]:
        return h
    return _take_rows(h, tuple(map(tuple, merged)))


@primitive
def _max_pool2(x):
    """2×2 max-pool with stride 2 ("valid": an odd last row/column is dropped); equal to
    ``nn.max_pool2d(x, 2)`` in value and gradient (ties share it equally), with a one-pass adjoint."""
    n, c, h, w = x.shape
    x = x[:, :, :h - h % 2, :w - w % 2]
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def _max_pool2_vjp(ans, x):
    def vjp(g):
        n, c, h, w = x.shape
        win = x[:, :, :h - h % 2, :w - w % 2].reshape(n, c, h // 2, 2, w // 2, 2)
        hit = win == ans[:, :, :, None, :, None]
        share = (g / hit.sum(axis=(3, 5)).astype(g.dtype))[:, :, :, None, :, None]
        out = raw_module(g).zeros(x.shape, dtype=g.dtype)
        out[:, :, :h - h % 2, :w - w % 2] = (hit * share).reshape(n, c, h - h % 2, w - w % 2)
        return out
    return vjp


defvjp(_max_pool2, _max_pool2_vjp)


def _bn_update(state, stats, weights, momentum=0.9):
    """running ← momentum·running + (1 − momentum)·(weighted mean of the groups' batch statistics)."""
    if isinstance(state, dict) and "mean" in state:
        return {k: (momentum * state[k] + (1 - momentum) * (weights @ stats[k])).astype(state[k].dtype)
                for k in ("mean", "var")}
    return {k: _bn_update(state[k], stats[k], weights, momentum) for k in state}


def forward(net: RoutedNet, params, state, xs: dict, assignments, *, training: bool, dedup: bool = True):
    """Run the tasks in ``xs`` (``{task: (n_t, *input_shape)}``) under ``assignments``
    (``(S, n_routed, T)`` or ``(n_routed, T)``) through ``net`` in one pass, grouped by module.

    Returns ``(logits, leaf, new_state)``: ``logits[t]`` is ``(L_t·n_t, n_classes[t])`` for the
    ``L_t`` distinct final sub-batches of task t, in order; ``leaf[(s, t)] = (row block index j in
    logits[t], multiplicity)``, so sample s's task-t logits are rows ``j·n_t:(j+1)·n_t``.
    ``new_state`` (training mode) has every used module's running statistics moved once towards the
    multiplicity-weighted mean of its sub-batches' statistics (momentum 0.9); otherwise ``state``.

    Raises ``ValueError`` for an empty task, a bad assignment, or (training) unequal task sizes.
    """
    full = net.expand(assignments)
    tasks = sorted(xs)
    if not tasks or any(not 0 <= t < net.n_tasks for t in tasks):
        raise ValueError(f"xs must map task indices in [0, {net.n_tasks}) to inputs, got keys {tasks}")
    n = {t: int(xs[t].shape[0]) for t in tasks}
    empty = [t for t in tasks if n[t] == 0]
    if empty:
        raise ValueError(f"task(s) {empty} have no examples; every task in a batch needs at least one")
    for t in tasks:
        if tuple(xs[t].shape[1:]) != net.input_shape:
            raise ValueError(f"task {t}: inputs of shape {tuple(xs[t].shape)}, expected (n, *{net.input_shape})")
    group = n[tasks[0]]
    if training and len(set(n.values())) > 1:
        raise ValueError(f"training needs the same number of examples for every task (a batch has 16 per "
                         f"task in Sec. 8.5), got {n}")
    xp = array_module(*[xs[t] for t in tasks])
    plan, where = _plan(full, tasks, dedup)
    h = xp.concatenate([xs[t] for t in tasks], axis=0) if len(tasks) > 1 else xs[tasks[0]]
    offsets = np.cumsum([0] + [n[t] for t in tasks])
    new_layers = [list(layer) for layer in state["layers"]]
    for layer, (block, nodes) in enumerate(zip(net.blocks, plan)):
        outs, new_offsets = [], [0]
        for m in sorted({node[0] for node in nodes}):
            mine = [node for node in nodes if node[0] == m]
            x = _gather(h, [(offsets[p], offsets[p] + n[t]) for _, p, t, _ in mine])
            y, stats = block.apply(params["layers"][layer][m], state["layers"][layer][m], x, group, training)
            outs.append(y)
            for _, _, t, _ in mine:
                new_offsets.append(new_offsets[-1] + n[t])
            if training and stats:
                w = np.array([c for *_, c in mine], dtype=np.float64)
                new_layers[layer][m] = _bn_update(state["layers"][layer][m], stats, w / w.sum())
        h = xp.concatenate(outs, axis=0) if len(outs) > 1 else outs[0]
        offsets = np.asarray(new_offsets)
    if net.head_pool == "global_avg" and h.ndim == 4:
        h = nn.global_avg_pool2d(h)
    h = xp.reshape(h, (h.shape[0], -1))
    last = plan[-1]
    logits, block_of = {}, {}
    for t in tasks:
        ids = [i for i, node in enumerate(last) if node[2] == t]
        block_of.update({i: j for j, i in enumerate(ids)})
        head = params["heads"][t]
        logits[t] = nn.dense(_gather(h, [(offsets[i], offsets[i] + n[t]) for i in ids]), head["W"], head["b"])
    leaf = {st: (block_of[i], last[i][3]) for st, i in where.items()}
    return logits, leaf, ({"layers": new_layers} if training else state)


def apply(net: RoutedNet, params, state, xs: Sequence, assignment, *, training: bool = False):
    """Logits of every task under one ``assignment (n_routed, T)``: ``xs[t] (n_t, *input_shape)`` ->
    ``([logits_t (n_t, n_classes[t])], new_state)``. Evaluation mode by default (running statistics)."""
    a = net.check_assignment(assignment)
    if a.ndim != 2:
        raise ValueError(f"apply takes one assignment {net.pi_shape[:2]}, got shape {a.shape}")
    if len(xs) != net.n_tasks:
        raise ValueError(f"need inputs for all {net.n_tasks} tasks, got {len(xs)}")
    logits, _, new_state = forward(net, params, state, dict(enumerate(xs)), a, training=training)
    return [logits[t] for t in range(net.n_tasks)], new_state


def _leaf_losses(net, logits, ys, n):
    """Mean cross-entropy of every final sub-batch: ``{t: (L_t,)}``."""
    out = {}
    for t, z in logits.items():
        out[t] = nn.cross_entropy(array_module(z).reshape(z, (-1, n[t], z.shape[-1])), ys[t])
    return out


def sample_losses(net: RoutedNet, params, state, xs: Sequence, ys: Sequence, assignments, *,
                  training: bool = False, dedup: bool = True) -> np.ndarray:
    """L_{x,y}(θ, a_i) for every sampled assignment (Eq. 8.16: the mean over tasks of each task's mean
    cross-entropy): ``assignments (S, n_routed, T)`` -> ``(S,)`` float64. Used by the NES step
    (Algorithm 6, line 7), by default in evaluation mode as the author's code does."""
    a = net.check_assignment(assignments)
    a = a[None] if a.ndim == 2 else a
    n = {t: int(np.shape(x)[0]) for t, x in enumerate(xs)}
    logits, leaf, _ = forward(net, params, state, dict(enumerate(xs)), a, training=training, dedup=dedup)
    losses = {t: np.asarray(getval(v), dtype=np.float64) for t, v in _leaf_losses(net, logits, ys, n).items()}
    return np.array([np.mean([losses[t][leaf[(s, t)][0]] for t in range(net.n_tasks)]) for s in range(a.shape[0])])


def mc_objective(net: RoutedNet, params, state, xs: Sequence, ys: Sequence, assignments, *, dedup: bool = True):
    """J = (1/λ_θ)·Σ_i L_{x,y}(θ, a_i) in training mode, all samples on the same batch (Eq. 8.20, Algorithm 6
    lines 16–20); its gradient w.r.t. ``params`` is the Monte Carlo gradient. Returns ``(J, new_state)``;
    differentiable (autograd) in ``params``."""
    a = net.check_assignment(assignments)
    a = a[None] if a.ndim == 2 else a
    if len(xs) != net.n_tasks or len(ys) != net.n_tasks:
        raise ValueError(f"need inputs and labels for all {net.n_tasks} tasks, got {len(xs)} and {len(ys)}")
    n = {t: int(np.shape(x)[0]) for t, x in enumerate(xs)}
    logits, leaf, new_state = forward(net, params, state, dict(enumerate(xs)), a, training=True, dedup=dedup)
    losses = _leaf_losses(net, logits, ys, n)
    total = 0.0
    scale = 1.0 / (a.shape[0] * net.n_tasks)
    for t in range(net.n_tasks):
        mult = np.zeros(losses[t].shape[0], dtype=np.float32)
        for s in range(a.shape[0]):
            mult[leaf[(s, t)][0]] += 1
        total = total + array_module(losses[t]).sum(losses[t] * (mult * scale))
    return total, new_state


def evaluate(net: RoutedNet, params, state, tests: Sequence, assignment, *, batch_size: int = 2048) -> dict:
    """Test error of every task under one ``assignment`` (the argmax one for learned sharing,
    Sec. 8.4.5), evaluation mode. ``tests[t] = (x_t, y_t)``. Returns ``{"error": [per task],
    "n": [per task], "pooled": wrong/all examples (the author's metric), "task_mean": mean of
    the per-task errors}``. Raises ``ValueError`` for a task without test examples."""
    a = net.check_assignment(assignment)
    errors, counts = [], []
    for t, (x, y) in enumerate(tests):
        if len(y) == 0:
            raise ValueError(f"task {t} has no test examples")
        wrong = 0
        for i in range(0, len(y), batch_size):
            logits, _, _ = forward(net, params, state, {t: x[i:i + batch_size]}, a, training=False)
            wrong += int(np.sum(np.argmax(logits[t], -1) != y[i:i + batch_size]))
        errors.append(wrong / len(y))
        counts.append(len(y))
    pooled = float(np.dot(errors, counts) / np.sum(counts))
    return {"error": errors, "n": counts, "pooled": pooled, "task_mean": float(np.mean(errors))}
