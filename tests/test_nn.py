"""Building blocks against mathematics: finite differences, direct loops of Eqs. 2.11–2.12."""
import itertools

import numpy as np
import pytest
from autograd import grad

from refimpl import nn

RNG = np.random.default_rng(1234)


def central_difference(f, x, eps=1e-6):
    """Numerical gradient of scalar f at float64 array x by central differences."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


def assert_grad_matches(f, x, rtol=1e-6, atol=1e-8):
    np.testing.assert_allclose(grad(f)(x), central_difference(f, x), rtol=rtol, atol=atol)


# ---------------------------------------------------------------- direct loop references

def conv2d_loop(u, k, b, stride, padding):
    """Eq. 2.11 written as loops; 'same' pads with zeros as conv_output_size says."""
    c2, c1, hk, wk = k.shape
    _, _, h, w = u.shape
    ho, pt, pb = nn.conv_output_size(h, hk, stride, padding)
    wo, pl, pr = nn.conv_output_size(w, wk, stride, padding)
    up = np.pad(u, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    v = np.zeros((u.shape[0], c2, ho, wo))
    for n, bb, i, j in itertools.product(range(u.shape[0]), range(c2), range(ho), range(wo)):
        s = b[bb]
        for a, m, q in itertools.product(range(c1), range(hk), range(wk)):
            s += up[n, a, i * stride + m, j * stride + q] * k[bb, a, m, q]
        v[n, bb, i, j] = s
    return v


def pool_loop(u, size, stride, padding, agg):
    """Eq. 2.12 as loops; padded positions are excluded from the window."""
    _, _, h, w = u.shape
    ho, pt, _ = nn.conv_output_size(h, size, stride, padding)
    wo, pl, _ = nn.conv_output_size(w, size, stride, padding)
    v = np.zeros(u.shape[:2] + (ho, wo))
    for n, a, i, j in itertools.product(range(u.shape[0]), range(u.shape[1]), range(ho), range(wo)):
        vals = [u[n, a, r, c] for m in range(size) for q in range(size)
                for r, c in [(i * stride + m - pt, j * stride + q - pl)] if 0 <= r < h and 0 <= c < w]
        v[n, a, i, j] = agg(vals)
    return v


# ---------------------------------------------------------------- forward correctness

@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("hw,k", [((7, 6), 3), ((8, 8), 2), ((5, 9), 4)])
def test_conv2d_matches_eq_2_11_loop(stride, padding, hw, k):
    u = RNG.standard_normal((2, 3) + hw)
    kern = RNG.standard_normal((4, 3, k, k))
    b = RNG.standard_normal(4)
    got = nn.conv2d(u, kern, b, stride=stride, padding=padding)
    np.testing.assert_allclose(got, conv2d_loop(u, kern, b, stride, padding), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("size", [2, 3])
def test_pooling_matches_eq_2_12_loop(stride, padding, size):
    u = RNG.standard_normal((2, 3, 7, 8))
    np.testing.assert_allclose(nn.max_pool2d(u, size, stride, padding),
                               pool_loop(u, size, stride, padding, max), rtol=0, atol=0)
    np.testing.assert_allclose(nn.avg_pool2d(u, size, stride, padding),
                               pool_loop(u, size, stride, padding, np.mean), rtol=1e-12)


def test_same_padding_output_size_and_stride_two_halves():
    assert nn.conv_output_size(32, 3, 2, "same")[0] == 16
    assert nn.conv_output_size(32, 3, 1, "same")[0] == 32
    assert nn.conv_output_size(32, 3, 1, "valid")[0] == 30


def test_population_dense_equals_separate_calls():
    P, B, i, o = 5, 7, 6, 4
    x = RNG.standard_normal((P, B, i)).astype(np.float32)
    W = RNG.standard_normal((P, i, o)).astype(np.float32)
    b = RNG.standard_normal((P, o)).astype(np.float32)
    got = nn.dense(x, W, b)
    for p in range(P):
        np.testing.assert_allclose(got[p], nn.dense(x[p], W[p], b[p]), rtol=1e-6)
    shared = nn.dense(x[0], W, b)  # one batch shared by the whole population
    for p in range(P):
        np.testing.assert_allclose(shared[p], nn.dense(x[0], W[p], b[p]), rtol=1e-6)


def test_batch_norm_normalizes_and_tracks_running_stats():
    x = RNG.standard_normal((64, 3, 4, 4)) * 3 + 2
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, 1.0, -1.0])
    y, m, v = nn.batch_norm(x, gamma, beta, np.zeros(3), np.ones(3), training=True, momentum=0.9, eps=0)
    xhat = (y - beta[:, None, None]) / gamma[:, None, None]
    np.testing.assert_allclose(xhat.mean(axis=(0, 2, 3)), 0, atol=1e-12)      # Eq. 2.15
    np.testing.assert_allclose(xhat.var(axis=(0, 2, 3)), 1, atol=1e-10)
    np.testing.assert_allclose(m, 0.1 * x.mean(axis=(0, 2, 3)))               # running average
    np.testing.assert_allclose(v, 0.9 + 0.1 * x.var(axis=(0, 2, 3)))
    y_eval, m2, v2 = nn.batch_norm(x, gamma, beta, m, v, training=False)
    np.testing.assert_allclose(y_eval, gamma[:, None, None] * (x - m[:, None, None])
                               / np.sqrt(v[:, None, None] + 1e-5) + beta[:, None, None])
    assert m2 is m and v2 is v


def test_activations_and_losses_match_their_formulas():
    z = np.array([[-800.0, 0.0, 3.0], [2.0, 1.0, 800.0]])
    np.testing.assert_allclose(nn.sigmoid(np.array([0.0, 2.0])), 1 / (1 + np.exp([-0.0, -2.0])))
    assert np.all(np.isfinite(nn.sigmoid(z))) and np.all(np.isfinite(nn.log_softmax(z)))
    np.testing.assert_allclose(nn.softmax(z).sum(-1), 1)
    small = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0]])
    labels = np.array([2, 0])
    expected = np.mean([-small[i, c] + np.log(np.exp(small[i]).sum()) for i, c in enumerate(labels)])
    assert nn.cross_entropy(small, labels) == pytest.approx(expected)            # Eq. 2.7
    assert nn.mse(small, np.zeros((2, 3))) == pytest.approx(np.mean((small ** 2).sum(1)))  # Eq. 2.4
    logit, y, w = np.array([0.3, -1.2, 2.0]), np.array([1.0, 0.0, 1.0]), 2.5
    s = 1 / (1 + np.exp(-logit))
    ref = np.mean(-w * y * np.log(s) - (1 - y) * np.log(1 - s))                  # Eq. 3.6
    assert nn.weighted_binary_cross_entropy(logit, y, w) == pytest.approx(ref)
    assert nn.accuracy(small, np.array([1, 2])) == 1.0


def test_population_losses_keep_population_axis():
    logits = RNG.standard_normal((4, 8, 3))
    labels = RNG.integers(0, 3, 8)
    ce = nn.cross_entropy(logits, labels)
    assert ce.shape == (4,)
    np.testing.assert_allclose(ce, [nn.cross_entropy(lg, labels) for lg in logits])


# ---------------------------------------------------------------- gradients (float64, 1e-6 relative)

def test_dense_gradients():
    x = RNG.standard_normal((5, 4))
    W = RNG.standard_normal((4, 3))
    b = RNG.standard_normal(3)
    assert_grad_matches(lambda W_: np.sum(np.sin(nn.dense(x, W_, b))), W)
    assert_grad_matches(lambda b_: np.sum(np.sin(nn.dense(x, W, b_))), b)
    assert_grad_matches(lambda x_: np.sum(np.sin(nn.dense(x_, W, b))), x)


@pytest.mark.parametrize("stride,padding", [(1, "same"), (2, "same"), (1, "valid"), (2, "valid")])
def test_conv2d_gradients(stride, padding):
    x = RNG.standard_normal((2, 2, 6, 5))
    K = RNG.standard_normal((3, 2, 3, 3))
    b = RNG.standard_normal(3)
    w = RNG.standard_normal(nn.conv2d(x, K, b, stride=stride, padding=padding).shape)
    f = lambda x_, K_, b_: np.sum(w * nn.conv2d(x_, K_, b_, stride=stride, padding=padding))  # noqa: E731
    assert_grad_matches(lambda x_: f(x_, K, b), x)
    assert_grad_matches(lambda K_: f(x, K_, b), K)
    assert_grad_matches(lambda b_: f(x, K, b_), b)


@pytest.mark.parametrize("pool", [nn.max_pool2d, nn.avg_pool2d])
@pytest.mark.parametrize("stride,padding", [(None, "valid"), (1, "same"), (2, "same")])
def test_pooling_gradients(pool, stride, padding):
    x = RNG.standard_normal((2, 2, 5, 6))  # continuous values: no ties for max
    w = RNG.standard_normal(pool(x, 2, stride, padding).shape)
    assert_grad_matches(lambda x_: np.sum(w * pool(x_, 2, stride, padding)), x)


def test_global_avg_pool_and_batchnorm_gradients():
    x = RNG.standard_normal((4, 3, 3, 3))
    gamma, beta = RNG.standard_normal(3), RNG.standard_normal(3)
    w = RNG.standard_normal(x.shape)
    assert_grad_matches(lambda x_: np.sum(np.sin(nn.global_avg_pool2d(x_))), x)
    bn = lambda x_, g_, b_: np.sum(w * nn.batch_norm(  # noqa: E731
        x_, g_, b_, np.zeros(3), np.ones(3), training=True)[0])
    assert_grad_matches(lambda x_: bn(x_, gamma, beta), x, rtol=1e-5)
    assert_grad_matches(lambda g_: bn(x, g_, beta), gamma)
    assert_grad_matches(lambda b_: bn(x, gamma, b_), beta)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "log_softmax"])
def test_activation_gradients(name):
    x = RNG.standard_normal((3, 4)) + 0.05  # keep relu away from its kink
    w = RNG.standard_normal((3, 4))
    assert_grad_matches(lambda x_: np.sum(w * nn.get_activation(name)(x_)), x)


def test_loss_gradients():
    logits = RNG.standard_normal((6, 4))
    labels = RNG.integers(0, 4, 6)
    assert_grad_matches(lambda z: nn.cross_entropy(z, labels), logits)
    target = RNG.standard_normal((6, 4))
    assert_grad_matches(lambda z: nn.mse(z, target), logits)
    y = RNG.integers(0, 2, 6).astype(float)
    assert_grad_matches(lambda z: nn.weighted_binary_cross_entropy(z, y, 3.0), logits[:, 0])


# ---------------------------------------------------------------- initializers

def test_initializer_catalogue_statistics():
    rng = np.random.default_rng(0)
    shape = (400, 300)
    fan_in, fan_out = nn.fans(shape)
    expected_var = {"glorot_uniform": 2 / (fan_in + fan_out), "glorot_normal": 2 / (fan_in + fan_out),
                    "he_uniform": 2 / fan_in, "he_normal": 2 / fan_in,
                    "lecun_uniform": 1 / fan_in, "lecun_normal": 1 / fan_in,
                    "random_normal": 0.05 ** 2, "random_uniform": 0.1 ** 2 / 12}
    for name, var in expected_var.items():
        w = nn.initialize(name, rng, shape)
        assert w.dtype == np.float32 and w.shape == shape
        assert w.var() == pytest.approx(var, rel=0.03), name           # 120k draws: ~0.5% sd
    limit = np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(nn.initialize("glorot_uniform", rng, shape)).max() <= limit
    t = nn.initialize("truncated_normal", rng, shape, stddev=1.0)
    assert np.abs(t).max() <= 2.0
    assert np.all(nn.initialize("zeros", rng, (3,)) == 0) and np.all(nn.initialize("ones", rng, (3,)) == 1)
    assert np.all(nn.initialize("constant", rng, (3,), value=0.7) == np.float32(0.7))


def test_initializer_fans_for_conv_kernels_and_population():
    assert nn.fans((64, 32, 3, 3)) == (32 * 9, 64 * 9)
    w = nn.initialize("he_normal", np.random.default_rng(0), (16, 8, 3, 3), population=3)
    assert w.shape == (3, 16, 8, 3, 3)
    a = nn.initialize("glorot_uniform", np.random.default_rng(5), (4, 4))
    b = nn.initialize("glorot_uniform", np.random.default_rng(5), (4, 4))
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- bad input

def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="input has 5 features"):
        nn.dense(np.zeros((2, 5)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="bias shape"):
        nn.dense(np.zeros((2, 4)), np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="population sizes differ"):
        nn.dense(np.zeros((2, 1, 4)), np.zeros((3, 4, 3)))
    with pytest.raises(ValueError, match="channels"):
        nn.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((2, 4, 3, 3)))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        nn.conv2d(np.zeros((3, 5, 5)), np.zeros((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="padding"):
        nn.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding="full")
    with pytest.raises(ValueError, match="exceeds input size"):
        nn.conv2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)), padding="valid")
    with pytest.raises(ValueError, match="unknown initializer 'glorot'.*glorot_uniform"):
        nn.initialize("glorot", np.random.default_rng(0), (2, 2))
    with pytest.raises(TypeError, match="Generator"):
        nn.initialize("zeros", 0, (2, 2))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        nn.cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="target shape"):
        nn.mse(np.zeros((4, 1)), np.zeros(4))
    nn.check_labels(np.array([0, 2]), 3)
    nn.check_labels([], 3)
    for bad in ([0, 3], np.array([[-1, 0]])):
        with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got range"):
            nn.check_labels(bad, 3)
    with pytest.raises(ValueError, match="unknown activation"):
        nn.get_activation("swish")


def test_gradients_stay_float32():
    """Every block's backward pass stays in float32 (a float64 detour costs 2x time and memory)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 6, 6)).astype(np.float32)
    K = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    g1, b1 = np.ones(2, np.float32), np.zeros(2, np.float32)
    labels = np.array([0, 1, 2, 1])
    blocks = {
        "dense+relu": lambda z: np.sum(nn.relu(nn.dense(z.reshape(4, -1), np.ones((72, 3), np.float32)))),
        "conv2d": lambda z: np.sum(nn.conv2d(z, K, padding="same", stride=2)),
        "max_pool2d": lambda z: np.sum(nn.max_pool2d(z, 2, 1, "same")),
        "avg_pool2d": lambda z: np.sum(nn.avg_pool2d(z, 3, 2, "same")),
        "global_avg_pool2d": lambda z: np.sum(nn.global_avg_pool2d(z)),
        "batch_norm": lambda z: np.sum(nn.batch_norm(z, g1, b1, b1, g1, training=True)[0] ** 2),
        "activations": lambda z: np.sum(nn.sigmoid(z) + nn.tanh(z) + nn.softmax(z) + nn.log_softmax(z)),
        "cross_entropy": lambda z: nn.cross_entropy(z.reshape(4, -1)[:, :3], labels),
        "mse": lambda z: nn.mse(z.reshape(4, -1), np.zeros((4, 72), np.float32)),
        "wbce": lambda z: nn.weighted_binary_cross_entropy(z.reshape(4, -1)[:, 0], labels % 2, 2.0),
    }
    for name, f in blocks.items():
        assert f(x).dtype == np.float32, name
        assert grad(f)(x).dtype == np.float32, name
