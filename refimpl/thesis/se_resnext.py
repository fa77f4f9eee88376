"""Thesis ch. 3, Sec. 3.3: SE-ResNeXt — grouped-convolution bottlenecks with squeeze-and-excitation.

A small functional form (plain functions on parameter pytrees) that can express the residual
add, which :class:`refimpl.model.Sequential` cannot:

* :func:`se_module` — Eqs. 3.3–3.5: s(u)_a = h(g(u))_a · u_a with g the global average pool
  (Eq. 3.4) and h(x) = σ(W₂ ReLU(W₁x + b₁) + b₂) (Eq. 3.5). Dense weights are ``(in, out)``
  (the transpose of Eq. 3.5's W, as everywhere in refimpl).
* :func:`bottleneck` — Eqs. 3.1–3.2 with ResNeXt's layout (thesis Fig. 2.4; Xie et al.): the K
  parallel paths f_i (1×1 → 3×3 → 1×1, BN and ReLU between) are one 1×1 convolution, one grouped
  3×3 convolution with ``groups = K`` and one 1×1 convolution; SE acts on the residual branch
  before the add; the shortcut is the identity or a 1×1 projection with BN (when the shape
  changes). Eq. 3.2 has no activation after the add; SE-ResNeXt (Hu et al., and the author's
  code) applies a ReLU there, and so do we (``relu_after_add=False`` gives Eq. 3.2 literally).
* :func:`init` / :func:`apply` — a whole network described by a :class:`Config`: stem (conv, BN,
  ReLU, max-pool), stages of bottlenecks, global average pooling and a dense output of one logit
  (Sec. 3.4.2). :func:`se_resnext50_32x4d` is the paper's network (stages [3, 4, 6, 3],
  cardinality 32, bottleneck width 4 per group, SE reduction 16); :func:`mini` a small one.

Parameters are a dict ``{"stem": ..., "stage1": [block, ...], ..., "head": {"W", "b"}}`` and the
BatchNorm running statistics a dict of the same shape (``state``), so that a learning rate per
top-level key (the stage-wise learning rates of Sec. 3.4.2) is a dict of factors
(:class:`refimpl.optim.ParamGroups`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nn
from ..backend import array_module, as_generator

__all__ = ["Config", "mini", "se_resnext50_32x4d", "init", "apply", "se_init", "se_module",
           "bottleneck_init", "bottleneck", "conv_bn_init", "conv_bn", "stage_names", "max_pool_ceil", "features"]


# ------------------------------------------------------------------------------------------
# conv + BN unit
# ------------------------------------------------------------------------------------------

def conv_bn_init(rng, cin, cout, k, *, groups=1, gamma=1.0, dtype=np.float32):
    """Parameters ``{"W": (cout, cin/groups, k, k), "gamma", "beta"}`` and BN state ``{"mean", "var"}``
    of a bias-free convolution followed by BatchNorm (He-normal kernel; ``gamma`` 1, or 0 for a
    zero-initialised residual branch)."""
    W = nn.initialize("he_normal", rng, (cout, cin // groups, k, k), dtype=dtype)
    p = {"W": W, "gamma": np.full(cout, gamma, dtype), "beta": np.zeros(cout, dtype)}
    return p, {"mean": np.zeros(cout, dtype), "var": np.ones(cout, dtype)}


def conv_bn(p, s, x, *, stride=1, padding=0, groups=1, training=False, momentum=0.9, eps=1e-5):
    """BN(conv(x)) (no bias, no activation): returns ``(y, new_state)``."""
    y = nn.conv2d(x, p["W"], stride=stride, padding=padding, groups=groups)
    y, mean, var = nn.batch_norm(y, p["gamma"], p["beta"], s["mean"], s["var"], training=training,
                                 momentum=momentum, eps=eps)
    return y, {"mean": mean, "var": var}


# ------------------------------------------------------------------------------------------
# squeeze-and-excitation (Eqs. 3.3–3.5)
# ------------------------------------------------------------------------------------------

def se_init(rng, c, reduction, *, dtype=np.float32):
    """SE parameters for ``c`` channels: ``W1 (c, c/r)``, ``b1``, ``W2 (c/r, c)``, ``b2`` (Eq. 3.5)."""
    hidden = max(1, c // reduction)
    return {"W1": nn.initialize("glorot_uniform", rng, (c, hidden), dtype=dtype), "b1": np.zeros(hidden, dtype),
            "W2": nn.initialize("glorot_uniform", rng, (hidden, c), dtype=dtype), "b2": np.zeros(c, dtype)}


def se_module(p, u):
    """s(u) of Eq. 3.3: each channel a of ``u (N, c, h, w)`` scaled by h(g(u))_a (Eqs. 3.4, 3.5)."""
    z = nn.global_avg_pool2d(u)                                                    # g(u), Eq. 3.4
    scale = nn.sigmoid(nn.dense(nn.relu(nn.dense(z, p["W1"], p["b1"])), p["W2"], p["b2"]))  # Eq. 3.5
    return u * scale[:, :, None, None]                                             # Eq. 3.3


# ------------------------------------------------------------------------------------------
# the SE-ResNeXt bottleneck (Eqs. 3.1–3.2)
# ------------------------------------------------------------------------------------------

def bottleneck_init(rng, cin, width, cout, *, groups, stride=1, se_reduction=16, zero_init_residual=False,
                    dtype=np.float32):
    """Parameters and state of one block: ``conv1`` 1×1 cin→width, ``conv2`` grouped 3×3 width→width
    (``groups`` = the cardinality K of Eq. 3.1), ``conv3`` 1×1 width→cout, ``se``, and ``proj`` (1×1
    conv + BN) when ``stride > 1`` or ``cin != cout``. ``zero_init_residual``: the last BN's γ = 0,
    so that the residual branch is zero and the block is its shortcut map (plus the final ReLU)."""
    if width % groups:
        raise ValueError(f"bottleneck width {width} is not divisible by the cardinality {groups}")
    p, s = {}, {}
    p["conv1"], s["conv1"] = conv_bn_init(rng, cin, width, 1, dtype=dtype)
    p["conv2"], s["conv2"] = conv_bn_init(rng, width, width, 3, groups=groups, dtype=dtype)
    p["conv3"], s["conv3"] = conv_bn_init(rng, width, cout, 1, gamma=0.0 if zero_init_residual else 1.0,
                                          dtype=dtype)
    p["se"] = se_init(rng, cout, se_reduction, dtype=dtype)
    if stride != 1 or cin != cout:
        p["proj"], s["proj"] = conv_bn_init(rng, cin, cout, 1, dtype=dtype)
    return p, s


def bottleneck(p, s, u, *, groups, stride=1, training=False, relu_after_add=True, momentum=0.9):
    """v = shortcut(u) + s(Σ_i f_i(u)) (Eq. 3.2), then ReLU (see the module docstring).

    Σ_i f_i(u) is the branch conv1 → BN → ReLU → grouped conv2 (stride) → BN → ReLU → conv3 → BN.
    Returns ``(v, new_state)``."""
    kw = dict(training=training, momentum=momentum)
    new = {}
    y, new["conv1"] = conv_bn(p["conv1"], s["conv1"], u, **kw)
    y, new["conv2"] = conv_bn(p["conv2"], s["conv2"], nn.relu(y), stride=stride, padding=1, groups=groups, **kw)
    y, new["conv3"] = conv_bn(p["conv3"], s["conv3"], nn.relu(y), **kw)
    y = se_module(p["se"], y)
    if "proj" in p:
        short, new["proj"] = conv_bn(p["proj"], s["proj"], u, stride=stride, **kw)
    else:
        short = u
    v = short + y
    return (nn.relu(v) if relu_after_add else v), new


# ------------------------------------------------------------------------------------------
# the network
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    """An SE-ResNeXt: ``stem`` = (channels, kernel, stride) of the first convolution, then BN,
    ReLU and a ``pool``×``pool``/2 max-pool (``pool = 0``: none); ``stages`` = one
    (blocks, bottleneck width, output channels, stride of the first block) per stage;
    ``groups`` = cardinality; ``se_reduction`` = r of the SE module; one output logit."""
    in_channels: int = 3
    stem: tuple = (64, 7, 2)
    pool: int = 3
    stages: tuple = ((3, 128, 256, 1), (4, 256, 512, 2), (6, 512, 1024, 2), (3, 1024, 2048, 2))
    groups: int = 32
    se_reduction: int = 16
    outputs: int = 1
    momentum: float = 0.9
    zero_init_residual: bool = False


def se_resnext50_32x4d(in_channels=3, outputs=1) -> Config:
    """SE-ResNeXt-50 (32×4d) as used in Sec. 3.3: stem 7×7/2, 64 channels, 3×3/2 max-pool; stages
    [3, 4, 6, 3] with bottleneck widths 128/256/512/1024 (32 groups × 4, × 2 per stage) and outputs
    256/512/1024/2048; SE reduction 16; one logit (Sec. 3.4.2)."""
    return Config(in_channels=in_channels, outputs=outputs)


def mini(in_channels=1, outputs=1, *, groups=4, se_reduction=4) -> Config:
    """A small SE-ResNeXt for 28×28 inputs: stem 3×3/1, 16 channels, 2×2 max-pool; four stages of
    one block each (widths 16/32/64/128, outputs 32/64/128/256, strides 1/2/2/2): 14→14→7→4→2."""
    return Config(in_channels=in_channels, stem=(16, 3, 1), pool=2,
                  stages=((1, 16, 32, 1), (1, 32, 64, 2), (1, 64, 128, 2), (1, 128, 256, 2)),
                  groups=groups, se_reduction=se_reduction, outputs=outputs)


def max_pool_ceil(x, k, s):
    """k×k max-pooling with stride s in PyTorch's ``ceil_mode=True`` (the SENet stem): ceil((n − k)/s) + 1
    outputs per axis, the last window running over the edge (padded with −inf after)."""
    xp = array_module(x)
    pads = [(-(-(n - k) // s)) * s + k - n for n in x.shape[2:]]
    if any(pads):
        x = xp.pad(x, ((0, 0), (0, 0), (0, pads[0]), (0, pads[1])), mode="constant", constant_values=-np.inf)
    return nn.max_pool2d(x, k, s, padding="valid")


def stage_names(cfg: Config) -> list[str]:
    """Top-level parameter keys in order: ``stem``, ``stage1`` … ``stageS``, ``head``. The thesis
    numbers five stages (Sec. 3.4.2): its stage 1 is our ``stem``, its stages 2–5 our stage1–4."""
    return ["stem"] + [f"stage{i + 1}" for i in range(len(cfg.stages))] + ["head"]


def init(cfg: Config, rng, *, dtype=np.float32):
    """``(params, state)`` of the network ``cfg`` (He-normal convolutions, Glorot dense layers)."""
    rng = as_generator(rng)
    params, state = {}, {}
    c0, k0, _ = cfg.stem
    params["stem"], state["stem"] = conv_bn_init(rng, cfg.in_channels, c0, k0, dtype=dtype)
    cin = c0
    for i, (blocks, width, cout, _) in enumerate(cfg.stages):
        ps, ss = [], []
        for j in range(blocks):
            p, s = bottleneck_init(rng, cin, width, cout, groups=cfg.groups, stride=cfg.stages[i][3] if j == 0 else 1,
                                   se_reduction=cfg.se_reduction, zero_init_residual=cfg.zero_init_residual,
                                   dtype=dtype)
            ps.append(p)
            ss.append(s)
            cin = cout
        params[f"stage{i + 1}"], state[f"stage{i + 1}"] = ps, ss
    params["head"] = {"W": nn.initialize("glorot_uniform", rng, (cin, cfg.outputs), dtype=dtype),
                      "b": np.zeros(cfg.outputs, dtype)}
    state["head"] = {}
    return params, state


def features(cfg: Config, params, state, x, *, training=False):
    """Globally pooled features ``(N, C_last)`` and the new state."""
    if x.ndim != 4 or x.shape[1] != cfg.in_channels:
        raise ValueError(f"SE-ResNeXt expects (N, {cfg.in_channels}, H, W) inputs, got {tuple(x.shape)}")
    new = {}
    c0, k0, s0 = cfg.stem
    y, new["stem"] = conv_bn(params["stem"], state["stem"], x, stride=s0, padding=k0 // 2, training=training,
                             momentum=cfg.momentum)
    y = nn.relu(y)
    if cfg.pool:
        y = max_pool_ceil(y, cfg.pool, 2)
    for i, (blocks, _, _, stride) in enumerate(cfg.stages):
        key = f"stage{i + 1}"
        ss = []
        for j in range(blocks):
            y, s = bottleneck(params[key][j], state[key][j], y, groups=cfg.groups, stride=stride if j == 0 else 1,
                              training=training, momentum=cfg.momentum)
            ss.append(s)
        new[key] = ss
    new["head"] = {}
    return nn.global_avg_pool2d(y), new


def apply(cfg: Config, params, state, x, *, training=False):
    """``(logits, new_state)``: logits ``(N,)`` for one output (the sign gives the class, Sec. 3.4.2),
    ``(N, outputs)`` otherwise."""
    z, new = features(cfg, params, state, x, training=training)
    out = nn.dense(z, params["head"]["W"], params["head"]["b"])
    return (out[:, 0] if cfg.outputs == 1 else out), new
