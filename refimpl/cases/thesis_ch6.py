"""Golden cases of document ``thesis`` ch. 6 (Atari GA; ``refimpl.thesis.atari_net``).

The network, its initialisation and a mutation are given their random draws as inputs: the
N(0, 1) draws of the unit-norm initialisation, the noise ε(m) of a mutation, and whole weight
sets for the forward pass (the ``"tiny"`` net, small enough to write out). The draws come from the
library's own seeded streams, and the export checks that the library, given those seeds, makes
exactly these draws (so a change of its draw order fails the export instead of writing wrong cases).

``genome_theta`` is the exception: a genome *is* a list of seeds (Sec. 6.2), so its cases pin
NumPy's stream itself (``np.random.default_rng``, PCG64, float32 ziggurat normals) — only an
implementation that reproduces that generator can pass them; their descriptions say so.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..thesis import atari_net as an
from . import Kind, make_case

_FLOAT32 = {"rtol": 1e-5, "atol": 1e-6}      # float32 networks: summation order differs by ~1e-7 relative
_ROUNDING32 = {"rtol": 1e-6, "atol": 1e-7}   # elementwise float32 results: one or two roundings

KINDS = {
    "unit_norm_normal": Kind(
        "unit_norm_normal(draws) -> w",
        "the Atari agents' initialisation (Sec. 6.3, after Such et al.): w = draws / ||incoming vector||_2, "
        "a dense (in, out) normalised over in (each column), a kernel (C_out, C_in, kh, kw) over (C_in, kh, kw); "
        "draws are N(0, 1), computed in float64, returned float32"),
    "mutation_step": Kind(
        "mutation_step(theta, sigma, noise) -> theta",
        "one mutation replay of a seed-list genome (Sec. 6.2): theta + float32(sigma) * noise, all float32 "
        "(noise = eps(m), the N(0, I) draws of mutation seed m)"),
    "atari_forward": Kind(
        "atari_forward(weights, biases, strides, obs) -> values",
        "the agent network of Sec. 6.3: x = obs / 255 (obs (B, 4, H, W) in 0..255, float32); per conv layer "
        "(weights[i] (C_out, C_in, k, k), strides[i]) x = relu(conv2d(x, W, b, VALID)); flatten (C, H, W order); "
        "then the dense layers (W (in, out)), relu after each but the last; values (B, n_actions) float32"),
    "genome_theta": Kind(
        "genome_theta(net, n_actions, in_shape, genome, sigma, indices) -> values",
        "theta of the genome (init_seed, m_1, ..., m_k) at the given flat indices (Sec. 6.2): theta = the "
        "unit-norm init drawn from np.random.default_rng(init_seed) layer by layer (W standard_normal, zero b, "
        "concatenated flat), then theta += float32(sigma) * default_rng(m).standard_normal(n, float32) for each "
        "m in order. Depends on NumPy's random stream (PCG64)"),
}

_AN = "refimpl.thesis.atari_net."
#: the forward case's network: 44x44 inputs leave a 2x2 map after the convs (84 -> 20 -> 9 -> 7 scaled down)
_TINY = an.NetSpec(3, "tiny", (4, 44, 44))


def _unit_norm_cases():
    out = []
    for name, seed, shape, what in (("unit_norm_normal_dense_3x4", 7, (3, 4), "a dense (in, out) = (3, 4)"),
                                    ("unit_norm_normal_kernel", 8, (3, 2, 2, 2), "a kernel (C_out, C_in, kh, kw)")):
        draws = np.random.default_rng(seed).standard_normal(shape)       # the draws unit_norm_normal makes
        w = nn.unit_norm_normal(np.random.default_rng(seed), shape)
        axes = 0 if len(shape) == 2 else (1, 2, 3)
        assert np.array_equal(w, (draws / np.sqrt(np.sum(draws ** 2, axis=axes, keepdims=True))).astype(np.float32)), \
            "unit_norm_normal's draws changed"
        out.append(make_case(name, "unit_norm_normal", "thesis Sec. 6.3 (initialisation)", "refimpl.nn.unit_norm_normal",
                             {"draws": draws}, {"w": w}, rtol=_ROUNDING32["rtol"], atol=_ROUNDING32["atol"],
                             description=f"{what}; draws = np.random.default_rng({seed}).standard_normal({shape}) "
                                         "(NumPy's stream), given as input",
                             reference={"seed": seed}))
    return out


def _tiny_genome():
    """θ of the tiny net for genome (3, 4), σ = 0.05, and the pieces it is made of."""
    theta0 = an.init_params(_TINY, 3)
    noise = np.random.default_rng(4).standard_normal(theta0.size, dtype=np.float32)
    theta = an.GenomeBuilder(_TINY, 0.05).build((3, 4))
    assert np.array_equal(noise, an.mutation_noise(4, theta0.size)), "mutation_noise's draws changed"
    return theta0, noise, theta


def _mutation_and_forward_cases():
    theta0, noise, theta = _tiny_genome()
    out = [make_case("mutation_step_tiny_genome_3_4", "mutation_step", "thesis Sec. 6.2 (genomes as seeds)",
                     _AN + "mutate", {"theta": theta0, "sigma": 0.05, "noise": noise},
                     {"theta": an.mutate(theta0, 4, 0.05)}, rtol=_ROUNDING32["rtol"], atol=_ROUNDING32["atol"],
                     description="genome (3, 4) of the tiny net: theta = init(3) (its flat float32 vector), noise = "
                                 f"eps(4) = np.random.default_rng(4).standard_normal({theta0.size}, float32) "
                                 "(NumPy's stream), given as input; the result is what GenomeBuilder replays",
                     reference={"init_seed": 3, "mutation_seed": 4})]
    assert np.array_equal(out[0]["expected"]["theta"], theta), "GenomeBuilder no longer replays theta + sigma*eps"
    obs = np.random.default_rng(5).integers(0, 256, (2,) + _TINY.in_shape, dtype=np.uint8)
    views = _TINY.unflatten(theta)
    strides = [s for kind, _, _, s in _TINY.layers() if kind == "conv"]
    out.append(make_case("atari_forward_tiny", "atari_forward", "thesis Sec. 6.3 (the agent network)", _AN + "forward",
                         {"weights": [np.asarray(W) for W, _ in views], "biases": [np.asarray(b) for _, b in views],
                          "strides": strides, "obs": obs.astype(np.int64)},
                         {"values": an.forward(_TINY, theta, obs)}, rtol=_FLOAT32["rtol"], atol=_FLOAT32["atol"],
                         description="the net of Sec. 6.3 scaled down (conv 2 8x8/4, 2 4x4/2, 2 3x3/1, dense 8, 3 "
                                     "actions; 44x44 inputs: 44 -> 10 -> 4 -> 2) with the weights of genome (3, 4) "
                                     "(the mutation_step case's result); obs drawn with np.random.default_rng(5)"))
    return out


def _genome_cases():
    spec, out = an.NetSpec(18, "small"), []
    b = an.GenomeBuilder(spec, 0.005)
    for name, genome, idx in (("genome_theta_small18_init_1234", (1234,), list(range(8))),
                              ("genome_theta_small18_1234_99_100", (1234, 99, 100), [0, 7, 1000, spec.n_params - 1])):
        idx = np.array(idx)
        out.append(make_case(name, "genome_theta", "thesis Sec. 6.2 (genomes as seeds), Sec. 6.3 (initialisation)",
                             _AN + "GenomeBuilder.build",
                             {"net": "small", "n_actions": 18, "in_shape": list(spec.in_shape), "genome": list(genome),
                              "sigma": 0.005, "indices": idx}, {"values": b.build(genome)[idx]},
                             rtol=_ROUNDING32["rtol"], atol=_ROUNDING32["atol"],
                             description="depends on NumPy's random stream (np.random.default_rng, PCG64, float32 "
                                         "standard normals): the small net (conv 16 8x8/4, 32 4x4/2, 32 3x3/1, dense "
                                         f"128, 18 actions; {spec.n_params} parameters), layers in forward order, "
                                         "each W (C_out, C_in, kh, kw) or (in, out) then b, flattened C order"))
    return out


def cases() -> list[dict]:
    """Every ch. 6 case."""
    return _unit_norm_cases() + _mutation_and_forward_cases() + _genome_cases()
