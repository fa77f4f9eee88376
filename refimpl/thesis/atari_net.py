"""Thesis ch. 6, Sec. 6.2–6.3: the Atari agent network and genomes stored as seed lists.

The network is the one of Such et al. (Sec. 6.3): a stack of 4 grayscale 84×84 frames (uint8,
divided by 255) → conv 32 8×8/4 → conv 64 4×4/2 → conv 64 3×3/1 (VALID padding: 84 → 20 → 9 → 7)
→ dense 512 → one output per action of the game's minimal action set; ReLU after every layer but
the last; the agent plays the argmax output. With 18 actions it has 1,693,362 parameters.
``net="small"`` (conv 16/32/32, dense 128; 224,738 parameters with 18 actions) is the quick-scale
stand-in of ``chapters/thesis_ch6_atari.py``. ``net="tiny"`` (2 channels per conv, dense 8) exists
only for the golden cases, whose weights are written out (with 44×44 inputs and 3 actions: 717 parameters).

Initialisation (the author's code): N(0, 1) weights, each unit's incoming vector scaled to unit
L2 norm (the core's :func:`refimpl.nn.unit_norm_normal`), zero biases.

All parameters live in one flat float32 vector θ. A **genome** is a tuple of ints
``(init_seed, m_1, …, m_k)``: θ = init(init_seed) followed by θ ← θ + σ·ε(m_i) for each mutation
seed in order (Sec. 6.2: "expressing them in terms of seeds"), ε(m) = N(0, I) drawn as float32 by
``np.random.default_rng(m)``. :class:`GenomeBuilder` replays genomes with a small LRU cache of
recent parents, so an offspring (its parent's genome plus one seed) costs one noise draw; the
result is bit-identical whatever was built before (tested).

Forward passes are built from the core's :func:`refimpl.nn.conv2d` and :func:`refimpl.nn.dense`.
:func:`population_forward` evaluates P different genomes in one batched pass (the population
convolution: the core's im2col per individual, then one batched ``matmul``
``(P, B·ho·wo, k) @ (P, k, C_out)``; dense layers use ``nn.dense``'s population axis). It pays on a
GPU; on the CPU each individual streams its own 6.8 MB of weights, so the scheduler groups the
slots by genome and runs :func:`grouped_forward`: each distinct genome's block of slots through
the whole network in NHWC (one im2col and one product per layer) — the very products
:func:`forward` computes for that genome's slots, so the action values are bit-identical to one
:func:`forward` per genome, with a fraction of the Python overhead (tested).
"""
from __future__ import annotations

from collections import OrderedDict
from functools import cached_property
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import nn
from ..backend import array_module

__all__ = ["NETS", "NetSpec", "init_params", "mutation_noise", "forward", "population_forward",
           "population_conv2d", "inference_weights", "grouped_forward", "Genome", "GenomeBuilder", "mutate",
           "PARAMS_NATURE_18"]

#: conv layers (channels, kernel, stride) and the hidden dense width of each network variant
NETS = {
    "nature": (((32, 8, 4), (64, 4, 2), (64, 3, 1)), 512),
    "small": (((16, 8, 4), (32, 4, 2), (32, 3, 1)), 128),
    # not a run setting: the golden cases' network (refimpl.cases), small enough to write its weights out
    "tiny": (((2, 8, 4), (2, 4, 2), (2, 3, 1)), 8),
}
PARAMS_NATURE_18 = 1_693_362  # Sec. 6.3's network with 18 outputs

Genome = tuple  # (init_seed, mutation_seed_1, ..., mutation_seed_k): a few ints


@dataclass(frozen=True)
class NetSpec:
    """The network's shape: ``n_actions`` outputs, ``net`` in :data:`NETS`, input (4, 84, 84)."""
    n_actions: int
    net: str = "nature"
    in_shape: tuple = (4, 84, 84)

    def __post_init__(self):
        if self.net not in NETS:
            raise ValueError(f"unknown net {self.net!r}; choose from {', '.join(NETS)}")
        if self.n_actions < 1:
            raise ValueError(f"n_actions must be >= 1, got {self.n_actions}")

    def layers(self) -> list[tuple[str, tuple, tuple, int]]:
        """``(kind, weight shape, bias shape, stride)`` per layer, in forward order."""
        return self._layers

    @cached_property
    def _layers(self) -> list[tuple[str, tuple, tuple, int]]:
        convs, hidden = NETS[self.net]
        c, h, w = self.in_shape
        out = []
        for cout, k, s in convs:
            out.append(("conv", (cout, c, k, k), (cout,), s))
            h = nn.conv_output_size(h, k, s, "valid")[0]
            w = nn.conv_output_size(w, k, s, "valid")[0]
            c = cout
        out.append(("dense", (c * h * w, hidden), (hidden,), 1))
        out.append(("dense", (hidden, self.n_actions), (self.n_actions,), 1))
        return out

    @property
    def n_params(self) -> int:
        return self._n_params

    @cached_property
    def _n_params(self) -> int:
        return sum(int(np.prod(ws)) + int(np.prod(bs)) for _, ws, bs, _ in self.layers())

    def unflatten(self, theta) -> list[tuple]:
        """Views ``(W, b)`` per layer into a flat θ of shape ``(n,)`` or ``(P, n)``."""
        lead = theta.shape[:-1]
        if theta.shape[-1] != self._n_params:
            raise ValueError(f"θ has {theta.shape[-1]} entries, the {self.net} net needs {self.n_params}")
        views, i = [], 0
        for _, ws, bs, _ in self.layers():
            nw, nb = int(np.prod(ws)), int(np.prod(bs))
            views.append((theta[..., i:i + nw].reshape(lead + ws), theta[..., i + nw:i + nw + nb].reshape(lead + bs)))
            i += nw + nb
        return views


def init_params(spec: NetSpec, seed: int) -> np.ndarray:
    """θ for ``init_seed``: unit-norm N(0, 1) weights layer by layer from one generator, zero biases."""
    rng = np.random.default_rng(int(seed))
    parts = []
    for _, ws, bs, _ in spec.layers():
        parts.append(nn.unit_norm_normal(rng, ws).ravel())
        parts.append(np.zeros(int(np.prod(bs)), np.float32))
    return np.concatenate(parts)


def mutation_noise(seed: int, n: int) -> np.ndarray:
    """ε(seed): ``n`` float32 N(0, 1) draws."""
    return np.random.default_rng(int(seed)).standard_normal(n, dtype=np.float32)


def mutate(theta: np.ndarray, seed: int, sigma: float) -> np.ndarray:
    """θ + σ·ε(seed) in float32 (a new array)."""
    return theta + np.float32(sigma) * mutation_noise(seed, theta.shape[-1])


def _frames(obs, xp):
    return xp.asarray(obs).astype(np.float32) * np.float32(1.0 / 255.0)


def forward(spec: NetSpec, theta, obs):
    """Action values ``(B, n_actions)`` of one network θ ``(n,)`` for ``obs (B, 4, 84, 84)`` uint8."""
    xp = array_module(theta)
    views = spec.unflatten(theta)
    x = _frames(obs, xp)
    layers = spec.layers()
    for i, ((kind, _, _, stride), (W, b)) in enumerate(zip(layers, views)):
        if kind == "conv":
            x = nn.relu(nn.conv2d(x, W, b, stride=stride, padding="valid"))
        else:
            if x.ndim > 2:
                x = x.reshape(x.shape[0], -1)
            x = nn.dense(x, W, b)
            if i < len(layers) - 1:
                x = nn.relu(x)
    return x


def population_conv2d(x, K, b, *, stride: int):
    """P convolutions at once (VALID): ``x (P, B, C, H, W)``, ``K (P, C_out, C, kh, kw)``,
    ``b (P, C_out)`` → ``(P, B, C_out, ho, wo)``. The core's im2col, then one batched matmul."""
    xp = array_module(x, K)
    p, bsz, c, h, w = x.shape
    cout, kh, kw = K.shape[1], K.shape[3], K.shape[4]
    st = nn.as_pair(stride, "stride")
    ho = nn.conv_output_size(h, kh, st[0], "valid")[0]
    wo = nn.conv_output_size(w, kw, st[1], "valid")[0]
    cols = nn.im2col(x.reshape(p * bsz, c, h, w), kh, kw, st, "valid").reshape(p, bsz * ho * wo, kh * kw * c)
    kmat = xp.transpose(K, (0, 1, 3, 4, 2)).reshape(p, cout, kh * kw * c)
    y = xp.matmul(cols, xp.transpose(kmat, (0, 2, 1))).reshape(p, bsz, ho, wo, cout)
    return xp.transpose(y, (0, 1, 4, 2, 3)) + b[:, None, :, None, None]


def population_forward(spec: NetSpec, thetas, obs):
    """Action values ``(P, B, n_actions)`` of P networks ``thetas (P, n)`` for ``obs (P, B, 4, 84, 84)``."""
    xp = array_module(thetas)
    views = spec.unflatten(thetas)
    x = _frames(obs, xp)
    layers = spec.layers()
    for i, ((kind, _, _, stride), (W, b)) in enumerate(zip(layers, views)):
        if kind == "conv":
            x = nn.relu(population_conv2d(x, W, b, stride=stride))
        else:
            if x.ndim > 3:
                x = x.reshape(x.shape[0], x.shape[1], -1)
            x = nn.dense(x, W, b)
            if i < len(layers) - 1:
                x = nn.relu(x)
    return x


def inference_weights(spec: NetSpec, theta: np.ndarray) -> list[tuple]:
    """θ ``(n,)`` (NumPy) prepared for :func:`grouped_forward`: per layer ``(matrix, bias)``, a conv
    kernel as the C-contiguous ``(C_out, kh·kw·C_in)`` matrix in im2col's (m, q, c) order (the
    array :func:`refimpl.nn.conv2d` builds on every call), a dense layer's ``(W, b)`` as views."""
    out = []
    for (kind, ws, _, _), (W, b) in zip(spec.layers(), spec.unflatten(np.asarray(theta))):
        if kind == "conv":
            W = np.ascontiguousarray(np.transpose(W, (0, 2, 3, 1))).reshape(ws[0], -1)
        out.append((W, b))
    return out


def _windows(xh, k: int, stride: int):
    """im2col of an NHWC C-contiguous ``xh`` (VALID): ``(N·ho·wo, k·k·C)``, rows (n, i, j), columns
    (m, q, c) — the layout of :func:`refimpl.nn.im2col`, read straight from NHWC."""
    n, h, w, c = xh.shape
    ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
    s = xh.strides
    # the strided view of the windows, made by the ndarray constructor on xh's buffer: the same
    # view as np.lib.stride_tricks.as_strided, at a sixth of its cost (~0.8 µs instead of ~5 µs,
    # three times per forward, on the GA's critical path)
    win = np.ndarray((n, ho, wo, k, k, c), xh.dtype, xh, 0, (s[0], s[1] * stride, s[2] * stride, s[1], s[2], s[3]))
    return win.reshape(n * ho * wo, k * k * c), ho, wo


def _forward_nhwc(layers, weights: list, obs: np.ndarray) -> np.ndarray:
    """Action values ``(n, n_actions)`` float32 of one network (:func:`inference_weights`) for
    ``obs (n, 4, 84, 84)`` uint8, the convolutions in NHWC: per layer one im2col and one product
    with :func:`forward`'s shapes and memory layouts, then the same bias addition and ``x·[x > 0]``."""
    n = len(obs)
    x = np.empty((n,) + obs.shape[2:] + obs.shape[1:2], np.float32)      # (n, H, W, C): _frames in NHWC,
    np.multiply(np.transpose(obs, (0, 2, 3, 1)), np.float32(1.0 / 255.0), out=x)  # one pass over the bytes
    for li, ((kind, ws, _, stride), (W, b)) in enumerate(zip(layers, weights)):
        if kind == "conv":
            cols, ho, wo = _windows(x, ws[2], stride)
            y = cols @ W.T
        else:
            if x.ndim > 2:
                x = np.transpose(x, (0, 3, 1, 2)).reshape(n, -1)  # NCHW flattening, as forward
            y = x @ W
        y += b                                     # in place: the same numbers as y + b
        if li < len(layers) - 1:
            np.multiply(y, y > 0, out=y)           # the same numbers as y·[y > 0]
        x = y.reshape(n, ho, wo, ws[0]) if kind == "conv" else y
    return x


def grouped_forward(spec: NetSpec, weights: Sequence[list], sizes: Sequence[int], obs: np.ndarray) -> np.ndarray:
    """Action values ``(B, n_actions)`` float32 of several networks on one observation batch (NumPy).

    ``obs (B, 4, 84, 84)`` uint8 holds the rows of network 0 first (``sizes[0]`` of them), then
    those of network 1, …; ``weights[g]`` is :func:`inference_weights` of network g. Each network
    runs through all layers on its contiguous block of rows before the next one starts, so a
    block's activations stay in the cache (the first layer's im2col is 400 KB per slot; done for
    8 slots at once, 3.3 MB, it outgrew the 2 MB L2 cache of the 2-core test machine: ~10 % slower
    per slot with 8 distinct genomes). Every layer does one im2col (kept in NHWC between the convolutions) and one
    matrix product — the same product, shapes and memory layouts that :func:`forward` computes for
    that network alone, followed by the same bias addition and ``x·[x > 0]`` — so the result is
    bit-identical to ``forward`` called per network.
    """
    if sum(sizes) != len(obs) or len(sizes) != len(weights):
        raise ValueError(f"grouped_forward: sizes {list(sizes)} must sum to the batch {len(obs)} "
                         f"and match the {len(weights)} networks")
    layers = spec.layers()
    q = np.empty((len(obs), spec.n_actions), np.float32)
    r = 0
    for wts, n in zip(weights, sizes):
        q[r:r + n] = _forward_nhwc(layers, wts, obs[r:r + n])
        r += n
    return q


class GenomeBuilder:
    """θ for a genome (init seed + mutation seeds), replayed with an LRU cache of recent results.

    ``build(genome)`` finds the longest prefix of ``genome`` in the cache (an offspring's parent)
    and replays only the remaining seeds, so a generation costs one noise draw per offspring.
    Float32 operations in a fixed order make the result bit-identical to a replay from scratch,
    whatever the cache holds. Returned arrays are read-only (they may be the cached ones).
    """

    def __init__(self, spec: NetSpec, sigma: float, *, cache_size: int = 64, init=None):
        self.spec, self.sigma, self.cache_size = spec, float(sigma), int(cache_size)
        self._init = init if init is not None else (lambda seed: init_params(spec, seed))
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.replayed = 0  # mutation replays done (for tests / logs)

    def build(self, genome: Sequence[int]) -> np.ndarray:
        g = tuple(int(s) for s in genome)
        if not g:
            raise ValueError("a genome needs at least its initialisation seed")
        k = len(g)
        while k > 0 and g[:k] not in self._cache:
            k -= 1
        if k == 0:
            theta, k = np.asarray(self._init(g[0]), np.float32), 1
        else:
            theta = self._cache[g[:k]]
            self._cache.move_to_end(g[:k])
        for s in g[k:]:
            theta = mutate(theta, s, self.sigma)
            self.replayed += 1
        if g not in self._cache:
            theta.setflags(write=False)
            self._cache[g] = theta
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return theta

    def clear(self):
        self._cache.clear()
