"""Thesis ch. 6: the agent network, the unit-norm initialisation, and seed-list genomes."""
import json
from pathlib import Path

import numpy as np
import pytest

from refimpl import nn
from refimpl.thesis import atari_net as an

GOLDEN = Path(__file__).with_name("golden_atari.json")


def golden_values():
    """The values pinned in golden_atari.json (recomputed here and compared)."""
    spec = an.NetSpec(18, "small")
    theta = an.init_params(spec, 1234)
    obs = np.random.default_rng(5).integers(0, 256, (2, 4, 84, 84), dtype=np.uint8)
    init = nn.unit_norm_normal(np.random.default_rng(7), (3, 4))
    child = an.GenomeBuilder(spec, 0.005).build((1234, 99, 100))
    return {"init_unit_norm_seed7_3x4": init.tolist(),
            "small18_init1234_values_obs_seed5": an.forward(spec, theta, obs).tolist(),
            "small18_init1234_first8": theta[:8].tolist(),
            "small18_genome_1234_99_100_idx": [0, 7, 1000, 224737],
            "small18_genome_1234_99_100_vals": child[[0, 7, 1000, 224737]].tolist()}


def test_parameter_count():
    assert an.NetSpec(18).n_params == an.PARAMS_NATURE_18 == 1_693_362
    assert an.NetSpec(4).n_params == 1_686_180            # Atlantis' 4 actions
    assert an.NetSpec(18, "small").n_params == 224_738
    kinds = [(k, w) for k, w, _, _ in an.NetSpec(18).layers()]
    assert kinds[3] == ("dense", (64 * 7 * 7, 512))       # VALID padding: 84 -> 20 -> 9 -> 7


def test_unit_norm_initializer():
    rng = np.random.default_rng(0)
    w = nn.unit_norm_normal(rng, (30, 5))
    np.testing.assert_allclose(np.linalg.norm(w, axis=0), 1.0, rtol=1e-6)
    k = nn.unit_norm_normal(rng, (6, 3, 4, 4))
    np.testing.assert_allclose(np.linalg.norm(k.reshape(6, -1), axis=1), 1.0, rtol=1e-6)
    theta = an.init_params(an.NetSpec(4, "small"), 3)
    for W, b in an.NetSpec(4, "small").unflatten(theta):
        assert not b.any()
    with pytest.raises(ValueError):
        nn.unit_norm_normal(rng, (3,))


def test_forward_shapes_and_population_path_agree():
    spec = an.NetSpec(18, "small")
    obs = np.random.default_rng(0).integers(0, 256, (2, 3, 4, 84, 84), dtype=np.uint8)
    b = an.GenomeBuilder(spec, 0.005)
    thetas = np.stack([b.build((1,)), b.build((1, 2))])
    q = an.population_forward(spec, thetas, obs)
    assert q.shape == (2, 3, 18) and q.dtype == np.float32
    for p in range(2):
        np.testing.assert_allclose(q[p], an.forward(spec, thetas[p], obs[p]), rtol=1e-5, atol=1e-6)


def test_reconstruction_is_bit_identical_and_order_independent():
    spec = an.NetSpec(18, "small")
    genomes = [(5,), (5, 11), (5, 11, 12), (6, 11), (5, 12)]
    scratch = []
    for g in genomes:           # replayed from scratch, no cache
        theta = an.init_params(spec, g[0])
        for s in g[1:]:
            theta = theta + np.float32(0.005) * an.mutation_noise(s, theta.size)
        scratch.append(theta)
    for order in ([0, 1, 2, 3, 4], [4, 2, 3, 1, 0]):
        b = an.GenomeBuilder(spec, 0.005, cache_size=2)
        for i in order:
            assert np.array_equal(b.build(genomes[i]), scratch[i])
    b = an.GenomeBuilder(spec, 0.005)
    b.build((5, 11))
    before = b.replayed
    b.build((5, 11, 12))        # the parent is cached: one replay
    assert b.replayed == before + 1


def test_golden_cases():
    ref = json.loads(GOLDEN.read_text())
    got = golden_values()
    for k in ref:
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(ref[k]), rtol=2e-5, atol=1e-6, err_msg=k)


def test_genome_errors():
    with pytest.raises(ValueError):
        an.NetSpec(18, "huge")
    with pytest.raises(ValueError):
        an.GenomeBuilder(an.NetSpec(18, "small"), 0.005).build(())
