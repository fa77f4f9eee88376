"""The search space of Lamarckian NAS (Prellberg, thesis Sec. 7.3.2–7.3.3): genotypes, the six
mutations, forced novelty and weight inheritance (Eqs. 7.1–7.6).

Genotype and phenotype (Sec. 7.3, Fig. 7.1)
-------------------------------------------
A genotype is a tuple of blocks ``Block(channels, kernel, stride)`` = (c_i, k_i, s_i) with
c ∈ C = {16, 32, 64, 96, 128, 192, 256}, k ∈ K = {1, 3, 5}, s ∈ S = {1, 2}. Its phenotype
(:meth:`SearchSpace.phenotype`) is a :class:`refimpl.model.Sequential`::

    [Conv2D(c_i, k_i, s_i, "same", bias) -> BatchNorm -> ReLU] for every block -> GlobalAvgPool2D -> Dense

so block i (0-based here; the thesis counts from 1) holds layers 3i (conv: ``W`` = k_i, ``b`` = b_i)
and 3i + 1 (batch norm: γ_i, β_i and the running statistics μ_i, σ²_i in the model's ``state``).
At most ``max_stride2`` blocks may have stride > 1: three for the thesis's 32×32 inputs. For
other input heights H it is the number of halvings ⌈H/2⌉ that keep the feature map at least
4×4 (:func:`max_stride2_for`): log2(H/4) for powers of two, so 1 for 8×8, 2 for 14×14 and 16×16.
Quick runs scale the channel set (:func:`scaled_channels`, e.g. C/4 = {4, 8, 16, 24, 32, 48, 64}).

Mutations (Sec. 7.3.2)
----------------------
Drawn with relative frequencies add block 3, remove block 3, add channels 2, remove channels 2,
change kernel size 2, change stride 1 (:data:`MUTATION_WEIGHTS`); every choice inside a mutation
is uniform. *add block* inserts Block(random c, random k, 1) at one of the n + 1 positions.
:func:`draw_mutation` makes the random draws and returns them as a :class:`Mutation`;
:func:`apply_mutation` applies one deterministically, so the draws can also be given as inputs.

Some draws change nothing or leave the space, and **forced novelty** absorbs them
(:func:`novel_child`): the same kernel size or stride redrawn, *add channels* at the largest or
*remove channels* at the smallest value of C, removing the only block, and a stride change
beyond the stride-2 limit all give a child that is the parent or invalid, and are redrawn.
Forced novelty keeps a history of every evaluated architecture and mutates until the child is
new. ``novelty="redraw"`` (the default; the text's "mutations are repeatedly applied to the parent
network") draws every attempt from the parent; ``"accumulate"`` keeps mutating the last child
(invalid steps are dropped), so a returned child may be several mutations away. When no single
mutation of the parent reaches a new architecture, ``"redraw"`` raises
:class:`NoveltyExhaustedError` (after 50 failed draws the neighbourhood is enumerated,
:func:`neighbours`; otherwise rejection sampling ends with probability one).

Weight inheritance (Sec. 7.3.3, Eqs. 7.3–7.6)
---------------------------------------------
θ = θ_1‖…‖θ_n (Eq. 7.1), θ_i = k_i‖b_i‖γ_i‖β_i‖σ²_i‖μ_i = k_i‖h_i (Eq. 7.2). A child keeps
these tensors of the parent **bit for bit** and re-initialises the others with the initial scheme
(Glorot-uniform kernels, zero biases, γ = 1, β = 0, μ = 0, σ² = 1):

===================  ==================================================================  =======
mutation at block i  kept bit for bit                                                    Eq.
===================  ==================================================================  =======
change stride        everything (θ' = θ)                                                 —
change kernel size   everything except k_i                                               7.3
add/remove channels  everything except θ_i (all six tensors) and k_{i+1}                 7.4
add block at i       everything except the new block and k of the block after it         7.5
remove block i       everything except θ_i (gone) and k of the block after it            7.6
===================  ==================================================================  =======

The output layer (Dense W, b) is copied unless c_n, its input width, changes; it changes when the
last block's channels change, or when a block appended at the end or a removed last block leaves
a different channel count last. ``reinit="equations"`` (default) re-initialises k_{i+1} as the
equations do, always; ``reinit="shape"`` follows the prose ("whenever ... changes in shape") and
keeps k_{i+1} when its shape happens to stay the same (an added or removed block with c equal to
its predecessor's). Without inheritance (the baselines) every tensor is re-initialised.

These mutations are **not function-preserving**, unlike the surgery document's modifications
(which keep a network's outputs exactly): re-initialised tensors change the function, and even
*change stride*, which keeps every tensor, changes the resolution that all later blocks see (and
their batch-norm statistics no longer match their inputs). Inheritance gives a better-than-random
starting point for training, not the parent's function.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from ..backend import as_generator
from ..model import Activation, BatchNorm, Conv2D, Dense, GlobalAvgPool2D, Sequential

__all__ = ["CHANNELS", "KERNELS", "STRIDES", "MUTATIONS", "MUTATION_WEIGHTS", "REINIT", "NOVELTY",
           "Block", "Mutation", "SearchSpace", "Inheritance", "NoveltyExhaustedError",
           "scaled_channels", "max_stride2_for", "as_genotype", "draw_mutation", "apply_mutation",
           "neighbours", "novel_child", "inheritance_plan", "inherit_weights", "inherited_tensors",
           "block_tensors", "TENSORS"]

CHANNELS = (16, 32, 64, 96, 128, 192, 256)
KERNELS = (1, 3, 5)
STRIDES = (1, 2)
#: the six mutations and their relative frequencies (Sec. 7.3.2)
MUTATION_WEIGHTS = {"add_block": 3, "remove_block": 3, "add_channels": 2, "remove_channels": 2,
                    "change_kernel": 2, "change_stride": 1}
MUTATIONS = tuple(MUTATION_WEIGHTS)
REINIT = ("equations", "shape")
NOVELTY = ("redraw", "accumulate")
#: the tensors of one block (Eq. 7.2): k_i, then h_i = b_i, γ_i, β_i, σ²_i, μ_i
TENSORS = ("k", "b", "gamma", "beta", "var", "mean")


class Block(NamedTuple):
    """One building block (c_i, k_i, s_i): conv(channels, kernel, stride) -> batch norm -> ReLU."""
    channels: int
    kernel: int
    stride: int


class Mutation(NamedTuple):
    """One mutation with its random draws.

    ``kind``: a key of :data:`MUTATION_WEIGHTS`. ``index``: the block mutated (0-based); for
    ``add_block`` the position the new block takes (0..n, n appends). ``block``: the new block
    (``add_block``). ``value``: the drawn kernel size or stride (``change_kernel``/``change_stride``).
    """
    kind: str
    index: int
    block: Block | None = None
    value: int | None = None


class NoveltyExhaustedError(RuntimeError):
    """Forced novelty found no architecture outside the history."""


def as_genotype(blocks) -> tuple[Block, ...]:
    """A genotype (tuple of :class:`Block`) from any sequence of (c, k, s) triples (e.g. JSON lists)."""
    return tuple(Block(*(int(v) for v in b)) for b in blocks)


def scaled_channels(divisor: int, channels: Sequence[int] = CHANNELS) -> tuple[int, ...]:
    """The channel set divided by ``divisor`` (C/4 = (4, 8, 16, 24, 32, 48, 64)); ``ValueError`` if
    a value would not be a positive integer."""
    if not (isinstance(divisor, (int, np.integer)) and divisor >= 1) or any(c % divisor for c in channels):
        raise ValueError(f"divisor must be a positive int dividing every channel count {tuple(channels)}, "
                         f"got {divisor!r}")
    return tuple(int(c) // int(divisor) for c in channels)


def max_stride2_for(height: int) -> int:
    """Stride-2 limit for inputs of side ``height``: the number of ⌈·/2⌉ halvings that keep the side
    at least 4 (3 for 32, the thesis; 2 for 14 and 16; 1 for 7 and 8; 0 below 7)."""
    if height < 1:
        raise ValueError(f"height must be positive, got {height}")
    m = 0
    while math.ceil(height / 2 ** (m + 1)) >= 4:
        m += 1
    return m


def _int_tuple(values, name, *, odd=False) -> tuple[int, ...]:
    vals = tuple(values)
    if not vals:
        raise ValueError(f"the set of {name} is empty")
    for v in vals:
        if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1):
            raise ValueError(f"{name} must be positive ints, got {vals}")
        if odd and v % 2 == 0:
            raise ValueError(f"{name} must be odd ('same' padding keeps the spatial size), got {vals}")
    if len(set(vals)) != len(vals):
        raise ValueError(f"{name} must not repeat, got {vals}")
    return tuple(sorted(int(v) for v in vals))


@dataclass(frozen=True)
class SearchSpace:
    """The architecture space of Sec. 7.3.2 for inputs ``input_shape`` = (C, H, W) and ``n_classes``.

    ``channels`` (sorted; "next greater/lower value" refers to this order), ``kernels`` (odd),
    ``strides`` and ``max_stride2`` (the most blocks with stride > 1; default
    :func:`max_stride2_for` of H). Raises ``ValueError`` for an empty set, non-positive or
    repeated values, even kernel sizes, or a stride limit below zero.
    """
    input_shape: tuple[int, int, int]
    n_classes: int
    channels: tuple[int, ...] = CHANNELS
    kernels: tuple[int, ...] = KERNELS
    strides: tuple[int, ...] = STRIDES
    max_stride2: int | None = None

    def __post_init__(self):
        shape = tuple(int(s) for s in self.input_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"input_shape must be (C, H, W) with positive sizes, got {self.input_shape}")
        object.__setattr__(self, "input_shape", shape)
        if not (isinstance(self.n_classes, (int, np.integer)) and self.n_classes >= 2):
            raise ValueError(f"n_classes must be an int >= 2, got {self.n_classes!r}")
        object.__setattr__(self, "channels", _int_tuple(self.channels, "channels"))
        object.__setattr__(self, "kernels", _int_tuple(self.kernels, "kernel sizes", odd=True))
        object.__setattr__(self, "strides", _int_tuple(self.strides, "strides"))
        limit = max_stride2_for(shape[1]) if self.max_stride2 is None else self.max_stride2
        if not (isinstance(limit, (int, np.integer)) and not isinstance(limit, bool) and limit >= 0):
            raise ValueError(f"max_stride2 (the stride limit) must be an int >= 0, got {limit!r}")
        object.__setattr__(self, "max_stride2", int(limit))

    # ---- genotypes ------------------------------------------------------------------------
    def problem(self, genotype) -> str | None:
        """Why ``genotype`` is not in the space, or ``None`` if it is."""
        if len(genotype) == 0:
            return "no blocks"
        for i, b in enumerate(genotype):
            if b.channels not in self.channels or b.kernel not in self.kernels or b.stride not in self.strides:
                return f"block {i} {tuple(b)} is outside C × K × S"
        n2 = sum(b.stride > 1 for b in genotype)
        if n2 > self.max_stride2:
            return f"{n2} strided blocks, more than the limit {self.max_stride2}"
        return None

    def is_valid(self, genotype) -> bool:
        return self.problem(genotype) is None

    def check(self, genotype) -> tuple[Block, ...]:
        """``genotype`` as a tuple of blocks; ``ValueError`` if it is not in the space."""
        g = as_genotype(genotype)
        why = self.problem(g)
        if why:
            raise ValueError(f"genotype {[tuple(b) for b in g]} is not in the search space: {why}")
        return g

    def random_block(self, rng) -> Block:
        """A new block: uniform channels and kernel size, stride 1 (Sec. 7.3.2, *add block*)."""
        rng = as_generator(rng)
        return Block(int(rng.choice(self.channels)), int(rng.choice(self.kernels)), 1)

    def initial(self, rng) -> tuple[Block, ...]:
        """The initial genotype: one random block with stride 1 (Algorithm 4, line 16)."""
        return (self.random_block(rng),)

    # ---- phenotypes -----------------------------------------------------------------------
    def phenotype(self, genotype) -> Sequential:
        """The network of Fig. 7.1: blocks of Conv2D(bias, same) -> BatchNorm -> ReLU, then global
        average pooling and a dense output layer (logits)."""
        layers = []
        for b in self.check(genotype):
            layers += [Conv2D(b.channels, b.kernel, b.stride, "same"), BatchNorm(), Activation("relu")]
        layers += [GlobalAvgPool2D(), Dense(self.n_classes)]
        return Sequential(self.input_shape, tuple(layers))

    def init_weights(self, genotype, rng) -> tuple[list, list]:
        """Fresh ``(params, state)`` of the phenotype with the initial scheme (Glorot-uniform)."""
        model = self.phenotype(genotype)
        return model.init(as_generator(rng)), model.init_state()

    def to_dict(self) -> dict:
        return {"input_shape": list(self.input_shape), "n_classes": int(self.n_classes),
                "channels": list(self.channels), "kernels": list(self.kernels),
                "strides": list(self.strides), "max_stride2": self.max_stride2}


# --------------------------------------------------------------------------------------------
# Mutations
# --------------------------------------------------------------------------------------------

def draw_mutation(genotype, space: SearchSpace, rng) -> Mutation:
    """Draw one mutation for ``genotype`` (kind by :data:`MUTATION_WEIGHTS`, then the block, then
    the values, all uniform). The result may be a no-op or invalid; see :func:`novel_child`."""
    rng = as_generator(rng)
    w = np.array(list(MUTATION_WEIGHTS.values()), dtype=float)
    kind = MUTATIONS[int(rng.choice(len(w), p=w / w.sum()))]
    n = len(genotype)
    if kind == "add_block":
        return Mutation(kind, int(rng.integers(n + 1)), block=space.random_block(rng))
    i = int(rng.integers(n))
    if kind == "change_kernel":
        return Mutation(kind, i, value=int(rng.choice(space.kernels)))
    if kind == "change_stride":
        return Mutation(kind, i, value=int(rng.choice(space.strides)))
    return Mutation(kind, i)


def apply_mutation(genotype, mutation: Mutation, space: SearchSpace) -> tuple[Block, ...]:
    """The child architecture (no weights). It equals the parent for a no-op (channels already at
    the end of C, the same kernel or stride drawn) and may be invalid (no blocks left, too many
    strided blocks): check with ``space.is_valid``. ``ValueError`` for an unknown kind or index."""
    g = list(as_genotype(genotype))
    kind, i = mutation.kind, mutation.index
    if kind not in MUTATION_WEIGHTS:
        raise ValueError(f"unknown mutation {kind!r}; known: {', '.join(MUTATIONS)}")
    if not 0 <= i < len(g) + (kind == "add_block"):
        raise ValueError(f"mutation {kind} index {i} out of range for {len(g)} blocks")
    if kind == "add_block":
        g.insert(i, Block(*mutation.block))
    elif kind == "remove_block":
        del g[i]
    elif kind in ("add_channels", "remove_channels"):
        pos = space.channels.index(g[i].channels)
        pos = min(pos + 1, len(space.channels) - 1) if kind == "add_channels" else max(pos - 1, 0)
        g[i] = g[i]._replace(channels=space.channels[pos])
    elif kind == "change_kernel":
        g[i] = g[i]._replace(kernel=int(mutation.value))
    else:
        g[i] = g[i]._replace(stride=int(mutation.value))
    return tuple(g)


def neighbours(genotype, space: SearchSpace) -> set[tuple[Block, ...]]:
    """Every valid architecture one mutation away from ``genotype`` (the parent itself excluded)."""
    g = as_genotype(genotype)
    muts = [Mutation("add_block", p, Block(c, k, 1)) for p in range(len(g) + 1)
            for c in space.channels for k in space.kernels]
    for i in range(len(g)):
        muts += [Mutation("remove_block", i), Mutation("add_channels", i), Mutation("remove_channels", i)]
        muts += [Mutation("change_kernel", i, value=k) for k in space.kernels]
        muts += [Mutation("change_stride", i, value=s) for s in space.strides]
    out = {apply_mutation(g, m, space) for m in muts}
    return {c for c in out if c != g and space.is_valid(c)}


def novel_child(genotype, space: SearchSpace, history, rng, *, novelty: str = "redraw",
                max_draws: int = 100_000) -> tuple[tuple[Block, ...], list[Mutation]]:
    """Forced novelty (Sec. 7.3.2): mutate until a valid architecture outside ``history`` appears.

    Returns ``(child, mutations)``: the mutations that lead from ``genotype`` to ``child`` (one with
    ``novelty="redraw"``, possibly several with ``"accumulate"``; see the module docstring).

    Raises:
        NoveltyExhaustedError: ``"redraw"`` and every neighbour of ``genotype`` is in the history
            (checked after every 50 failed draws), or no new architecture after ``max_draws`` draws.
        ValueError: unknown ``novelty``.
    """
    if novelty not in NOVELTY:
        raise ValueError(f"novelty must be one of {NOVELTY}, got {novelty!r}")
    rng = as_generator(rng)
    parent = space.check(genotype)
    current, chain = parent, []
    for draw in range(max_draws):
        # after every 50 failed draws, check that a new neighbour exists at all (draws no numbers)
        if novelty == "redraw" and draw % 50 == 49 and not neighbours(parent, space) - set(history):
            raise NoveltyExhaustedError(
                f"every architecture one mutation away from {[tuple(b) for b in parent]} has been evaluated "
                f"({len(history)} in the history); forced novelty cannot create a new child")
        base = parent if novelty == "redraw" else current
        m = draw_mutation(base, space, rng)
        child = apply_mutation(base, m, space)
        if not space.is_valid(child):
            continue
        chain = [m] if novelty == "redraw" else chain + [m]
        current = child
        if child != parent and child not in history:
            return child, chain
    raise NoveltyExhaustedError(f"no new architecture after {max_draws} mutation draws from "
                                f"{[tuple(b) for b in parent]} ({len(history)} in the history)")


# --------------------------------------------------------------------------------------------
# Weight inheritance
# --------------------------------------------------------------------------------------------

class Inheritance(NamedTuple):
    """Where a child's tensors come from.

    ``sources[j]``: the parent block whose tensors child block j inherits, or ``None`` for a new
    block (all tensors fresh). ``fresh_kernel[j]``: k_j is re-initialised although h_j is
    inherited. ``head``: the output layer is copied (``False``: re-initialised).
    """
    sources: tuple
    fresh_kernel: tuple
    head: bool


def inheritance_plan(genotype, mutation: Mutation, space: SearchSpace, *,
                     reinit: str = "equations") -> Inheritance:
    """The inheritance of Eqs. 7.3–7.6 for ``mutation`` applied to ``genotype`` (see the module table)."""
    if reinit not in REINIT:
        raise ValueError(f"reinit must be one of {REINIT}, got {reinit!r}")
    g = as_genotype(genotype)
    child = apply_mutation(g, mutation, space)
    n, i, kind = len(g), mutation.index, mutation.kind
    in_ch = [space.input_shape[0]] + [b.channels for b in g]     # in_ch[j] enters parent block j

    def follower_kernel(old_in: int, new_in: int) -> bool:
        return reinit == "equations" or old_in != new_in
    sources = list(range(n))
    fresh = [False] * n
    if kind == "change_kernel":                                        # Eq. 7.3
        fresh[i] = True
    elif kind in ("add_channels", "remove_channels"):                  # Eq. 7.4
        sources[i] = None
        if i + 1 < n:
            fresh[i + 1] = True
    elif kind == "add_block":                                          # Eq. 7.5
        sources.insert(i, None)
        fresh.insert(i, False)
        if i + 1 < len(sources):
            fresh[i + 1] = follower_kernel(in_ch[i], mutation.block.channels)
    elif kind == "remove_block":                                       # Eq. 7.6
        del sources[i], fresh[i]
        if i < len(sources):
            fresh[i] = follower_kernel(in_ch[i + 1], in_ch[i])
    # change_stride: θ' = θ
    head = bool(child) and child[-1].channels == g[-1].channels
    return Inheritance(tuple(sources), tuple(fresh), head)


def block_tensors(params: list, state: list, j: int) -> dict:
    """The six tensors of block j (Eq. 7.2) in a phenotype's ``params``/``state`` lists."""
    conv, bn, st = params[3 * j], params[3 * j + 1], state[3 * j + 1]
    return {"k": conv["W"], "b": conv["b"], "gamma": bn["gamma"], "beta": bn["beta"],
            "var": st["var"], "mean": st["mean"]}


def _set_block(params, state, j, tensors: dict, names) -> None:
    for t in names:
        src = tensors[t].copy()
        if t in ("k", "b"):
            params[3 * j]["W" if t == "k" else "b"] = src
        elif t in ("gamma", "beta"):
            params[3 * j + 1][t] = src
        else:
            state[3 * j + 1][t] = src


def inherit_weights(genotype, params: list, state: list, mutation: Mutation, space: SearchSpace, rng, *,
                    inherit: bool = True, reinit: str = "equations") -> tuple[tuple[Block, ...], list, list]:
    """Apply ``mutation`` to a solution: ``(child genotype, child params, child BN state)``.

    With ``inherit=True`` the child keeps the parent's tensors per :func:`inheritance_plan` (copies,
    bit for bit) and draws the rest afresh from ``rng``; with ``inherit=False`` (the baselines)
    every tensor is fresh. The fresh tensors are the child phenotype's ``init(rng)``, so the number
    of draws does not depend on what is inherited. The parent's arrays are not modified.
    """
    rng = as_generator(rng)
    child = space.check(apply_mutation(genotype, mutation, space))
    new_params, new_state = space.init_weights(child, rng)
    if not inherit:
        return child, new_params, new_state
    plan = inheritance_plan(genotype, mutation, space, reinit=reinit)
    for j, (src, fresh) in enumerate(zip(plan.sources, plan.fresh_kernel)):
        if src is not None:
            _set_block(new_params, new_state, j, block_tensors(params, state, src),
                       TENSORS[1:] if fresh else TENSORS)
    if plan.head:
        new_params[-1] = {k: v.copy() for k, v in params[-1].items()}
    return child, new_params, new_state


def inherited_tensors(plan: Inheritance) -> dict[str, str | None]:
    """``{child tensor: parent tensor or None (re-initialised)}`` with names ``block<j>.<t>``
    (0-based, t in :data:`TENSORS`) and ``head.W``/``head.b``."""
    out = {}
    for j, (src, fresh) in enumerate(zip(plan.sources, plan.fresh_kernel)):
        for t in TENSORS:
            keep = src is not None and not (fresh and t == "k")
            out[f"block{j}.{t}"] = f"block{src}.{t}" if keep else None
    for t in ("W", "b"):
        out[f"head.{t}"] = f"head.{t}" if plan.head else None
    return out
