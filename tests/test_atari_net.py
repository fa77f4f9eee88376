"""Thesis ch. 6: the agent network, the unit-norm initialisation, and seed-list genomes."""
from pathlib import Path

import numpy as np
import pytest

from refimpl import nn
from refimpl.thesis import atari_net as an

CASES = Path(__file__).resolve().parents[1] / "cases"
CH6_KINDS = ("unit_norm_normal", "mutation_step", "atari_forward", "genome_theta")


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


@pytest.mark.parametrize("net", ["small", "nature"])
def test_grouped_forward_is_bit_identical_to_one_forward_per_genome(net):
    """The scheduler's CPU path: each genome's block of slots through the network in NHWC."""
    from threadpoolctl import threadpool_limits
    spec = an.NetSpec(18, net)
    b = an.GenomeBuilder(spec, 0.005)
    thetas = [b.build(g) for g in [(1,), (1, 2), (3,), (4, 5, 6)]]
    sizes = [1, 3, 2, 1]
    obs = np.random.default_rng(0).integers(0, 256, (7, 4, 84, 84), dtype=np.uint8)
    obs[3:] *= obs[3:] > 180          # mostly black frames too, as in play
    with threadpool_limits(1):        # as in Evaluator.evaluate
        ref = np.concatenate([an.forward(spec, t, obs[s0:s0 + n])
                              for t, s0, n in zip(thetas, np.cumsum([0] + sizes[:-1]), sizes)])
        got = an.grouped_forward(spec, [an.inference_weights(spec, t) for t in thetas], sizes, obs)
    assert got.shape == (7, 18) and got.dtype == np.float32
    assert np.array_equal(got, ref)
    with pytest.raises(ValueError, match="sum to the batch"):
        an.grouped_forward(spec, [an.inference_weights(spec, thetas[0])], [2], obs)


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
    """The ch. 6 golden cases (cases/thesis/, written by refimpl.cases.thesis_ch6) are this code's values for
    the seeds they name: the unit-norm init of seed 7, genome (3, 4) of the tiny net and the forward pass
    with its weights, and the small net's genomes; their inputs are the draws of those seeds."""
    from refimpl.cases import load_cases
    cases = {c["name"]: c for c in load_cases(CASES) if c["kind"] in CH6_KINDS}
    assert {c["kind"] for c in cases.values()} == set(CH6_KINDS)
    c = cases["unit_norm_normal_dense_3x4"]
    np.testing.assert_array_equal(c["inputs"]["draws"], np.random.default_rng(7).standard_normal((3, 4)))
    np.testing.assert_array_equal(nn.unit_norm_normal(np.random.default_rng(7), (3, 4)), c["expected"]["w"])
    tiny = an.NetSpec(3, "tiny", (4, 44, 44))
    theta = an.GenomeBuilder(tiny, 0.05).build((3, 4))
    c = cases["mutation_step_tiny_genome_3_4"]
    np.testing.assert_array_equal(c["inputs"]["theta"], an.init_params(tiny, 3))
    np.testing.assert_array_equal(c["inputs"]["noise"], an.mutation_noise(4, tiny.n_params))
    np.testing.assert_array_equal(c["expected"]["theta"], theta)
    c = cases["atari_forward_tiny"]
    for (W, b), W_case, b_case in zip(tiny.unflatten(theta), c["inputs"]["weights"], c["inputs"]["biases"]):
        np.testing.assert_array_equal(W, W_case)
        np.testing.assert_array_equal(b, b_case)
    obs = np.random.default_rng(5).integers(0, 256, (2, 4, 44, 44), dtype=np.uint8)
    np.testing.assert_array_equal(c["inputs"]["obs"], obs)
    np.testing.assert_allclose(an.forward(tiny, theta, obs), c["expected"]["values"], rtol=2e-5, atol=1e-6)
    small = an.GenomeBuilder(an.NetSpec(18, "small"), 0.005)
    for name in ("genome_theta_small18_init_1234", "genome_theta_small18_1234_99_100"):
        c = cases[name]
        np.testing.assert_array_equal(small.build(c["inputs"]["genome"])[c["inputs"]["indices"]], c["expected"]["values"])


def test_genome_errors():
    with pytest.raises(ValueError):
        an.NetSpec(18, "huge")
    with pytest.raises(ValueError):
        an.GenomeBuilder(an.NetSpec(18, "small"), 0.005).build(())
