"""Thesis ch. 3 (docs/thesis.md, "Chapter 3"): grouped convolution, SE module, SE-ResNeXt bottleneck,
the fine-tuning recipe (weighted loss, stage-wise learning rates, step schedule, augmentation,
test-time rotations) and the metrics."""
from __future__ import annotations

import numpy as np
import pytest

from refimpl import nn
from refimpl.autodiff import value_and_grad

RNG = np.random.default_rng(3)


def _numgrad(f, a, eps=1e-6):
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = a[i]
        a[i] = old + eps
        fp = f()
        a[i] = old - eps
        fm = f()
        a[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


# ---- grouped convolution (core) -------------------------------------------------------------

@pytest.mark.parametrize("groups,stride,padding", [(2, 1, "same"), (4, 2, 1), (3, 1, "valid"), (4, 2, "same")])
def test_grouped_conv_equals_separate_convolutions(groups, stride, padding):
    cin, cout = 12, 8 if groups != 3 else 6
    x = RNG.standard_normal((2, cin, 7, 6))
    K = RNG.standard_normal((cout, cin // groups, 3, 3))
    b = RNG.standard_normal(cout)
    got = nn.conv2d(x, K, b, stride=stride, padding=padding, groups=groups)
    ci, co = cin // groups, cout // groups
    want = np.concatenate([nn.conv2d(x[:, g * ci:(g + 1) * ci], K[g * co:(g + 1) * co], b[g * co:(g + 1) * co],
                                     stride=stride, padding=padding) for g in range(groups)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_grouped_conv_matches_torch():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 8, 9, 9))
    K = RNG.standard_normal((12, 2, 3, 3))
    for stride, pad in ((1, 1), (2, 1), (2, 0)):
        got = nn.conv2d(x, K, stride=stride, padding=pad, groups=4)
        want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(K), stride=stride, padding=pad,
                                          groups=4).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_grouped_conv_gradients():
    x = RNG.standard_normal((2, 4, 5, 5))
    K = RNG.standard_normal((6, 2, 3, 3))
    w = RNG.standard_normal((2, 6, 3, 3))
    f = lambda p: np.sum(w * nn.conv2d(p["x"], p["K"], stride=2, padding=1, groups=2))  # noqa: E731
    _, g = value_and_grad(f)({"x": x, "K": K})
    p = {"x": x, "K": K}
    for k in p:
        np.testing.assert_allclose(g[k], _numgrad(lambda: f(p), p[k]), rtol=1e-6, atol=1e-7)


def test_grouped_conv_float32_and_groups1_unchanged():
    x = RNG.standard_normal((2, 4, 6, 6)).astype(np.float32)
    K = RNG.standard_normal((4, 1, 3, 3)).astype(np.float32)
    assert nn.conv2d(x, K, groups=4).dtype == np.float32
    K1 = RNG.standard_normal((4, 4, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(nn.conv2d(x, K1, groups=1), nn.conv2d(x, K1))


def test_grouped_conv_bad_groups():
    with pytest.raises(ValueError, match="groups=3 must divide"):
        nn.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((6, 2, 3, 3)), groups=3)
    with pytest.raises(ValueError, match="groups must be a positive int"):
        nn.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((4, 4, 3, 3)), groups=0)
    with pytest.raises(ValueError, match="2 groups"):
        nn.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((4, 4, 3, 3)), groups=2)


def test_model_conv2d_groups():
    from refimpl.model import Conv2D, Flatten, Sequential
    m = Sequential((4, 6, 6), (Conv2D(8, 3, groups=2), Flatten()))
    assert m.param_shapes()[0]["W"] == (8, 2, 3, 3)
    p = m.init(0, dtype=np.float64)
    x = RNG.standard_normal((2, 4, 6, 6))
    np.testing.assert_allclose(m.apply(p, x).reshape(2, 8, 6, 6),
                               nn.conv2d(x, p[0]["W"], p[0]["b"], groups=2))
    with pytest.raises(ValueError, match="groups"):
        Sequential((3, 6, 6), (Conv2D(8, 3, groups=2),))
    with pytest.raises(ValueError, match="groups"):
        Conv2D(7, 3, groups=2)
