"""The fused dense-network sweeps (refimpl.interval.sweep, refimpl.interval.stacked):
the same bounds as the tape, enclosures of sampled values and gradients, and the rounding
primitives they rest on (document `interval`, Secs. 2.3, 3.2)."""
from fractions import Fraction

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_

from refimpl import interval as ia
from refimpl import nn
from refimpl.interval import Interval
from refimpl.interval import arithmetic as ar
from refimpl.interval import stacked as st
from refimpl.interval import sweep

DTYPES = [np.float64, np.float32]


# --------------------------------------------------------------------------------------
# Rounding primitives
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_outward_is_nextafter_for_normal_numbers_and_outward_below(dtype):
    rng = np.random.default_rng(0)
    f = np.finfo(dtype)
    e = rng.uniform(np.log2(float(f.tiny)) + 2, np.log2(float(f.max)) - 2, 100_000)
    x = (rng.choice([-1.0, 1.0], e.size) * rng.uniform(1, 2, e.size) * 2.0 ** e).astype(dtype)
    B = st.outward(np.stack((x, x)))
    np.testing.assert_array_equal(B[0], np.nextafter(x, dtype(-np.inf)))
    np.testing.assert_array_equal(B[1], np.nextafter(x, dtype(np.inf)))
    tiny = np.concatenate([(rng.uniform(-64, 64, 10_000) * float(f.smallest_subnormal)).astype(dtype),
                           (rng.uniform(-4, 4, 10_000) * float(f.tiny)).astype(dtype), np.zeros(2, dtype)])
    B = st.outward(np.stack((tiny, tiny)))
    assert np.all(B[0] <= np.nextafter(tiny, dtype(-np.inf))) and np.all(B[1] >= np.nextafter(tiny, dtype(np.inf)))
    inf = np.array([-np.inf, np.inf], dtype)
    B = st.outward(np.stack((inf[:1], inf[1:])))
    assert B[0, 0] == -np.inf and B[1, 0] == np.inf


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_step_pos_is_up_pos_and_dn_pos(dtype):
    x = np.abs(np.random.default_rng(1).normal(size=1000) * 10.0 ** np.arange(-30, 30, 0.06)).astype(dtype)
    x[:3] = [0, np.inf, np.finfo(dtype).max]
    B = st.step_pos(np.stack((x, x)), -3, 4)
    np.testing.assert_array_equal(B[0], ar._dn_pos(x, True, 3))
    np.testing.assert_array_equal(B[1], ar._up_pos(x, True, 4))


def test_sum_last_encloses_the_exact_sum():
    rng = np.random.default_rng(2)
    for n in (1, 3, 10, 37, 200):
        for _ in range(20):
            lo = rng.normal(size=(3, n)) * 10.0 ** rng.integers(-8, 8, (3, n))
            hi = lo + np.abs(rng.normal(size=(3, n)))
            hi[0] = lo[0]                                   # a point row: cancellation only
            S = st.sum_last(np.stack((lo, hi)))
            for i in range(3):
                assert Fraction(float(S[0, i])) <= sum(map(Fraction, lo[i].tolist()))
                assert Fraction(float(S[1, i])) >= sum(map(Fraction, hi[i].tolist()))
    S = st.sum_last(np.array([[[-np.inf, 1.0]], [[np.inf, 2.0]]]))
    assert S[0, 0] == -np.inf and S[1, 0] == np.inf


def test_softmax_bounds_enclose_samples_even_where_exp_overflows():
    rng = np.random.default_rng(3)
    for scale in (0.1, 3.0, 300.0, 800.0):
        c = rng.normal(size=6) * scale
        lo, hi = c - rng.random(6) * scale / 10, c + rng.random(6) * scale / 10
        S = st.softmax_value(np.stack((lo, hi)))
        x = lo + rng.random((500, 6)) * (hi - lo)
        x[:2] = lo, hi
        s = np.exp(x - x.max(axis=1, keepdims=True))
        s /= s.sum(axis=1, keepdims=True)
        assert np.all(S[0] <= s) and np.all(s <= S[1])


# --------------------------------------------------------------------------------------
# Networks: the fused sweeps, the tape, sampled points
# --------------------------------------------------------------------------------------

def _network(rng, sizes, acts, dtype):
    Ws = [rng.normal(0, 1 / np.sqrt(a), (a, b)) for a, b in zip(sizes, sizes[1:])]
    bs = [rng.normal(0, 0.3, b) for b in sizes[1:]]
    return Ws, bs, acts, sweep.layers(Ws, bs, acts, dtype)


def _sweep(net, lo, hi, seeds, softmax, o=True):
    f = sweep.forward(net, st.stack(lo, hi), softmax=softmax, o=o)
    return f, sweep.reverse(f, seeds)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", sorted(ia.ACTIVATIONS))
@settings(max_examples=6, deadline=None)
@given(seed=st_.integers(0, 2**31), width=st_.sampled_from([0.0, 1e-9, 0.3, 3.0]),
       softmax=st_.booleans(), outward=st_.booleans())
def test_fused_sweeps_equal_the_tape_bit_for_bit(dtype, act, seed, width, softmax, outward):
    rng = np.random.default_rng(seed)
    acts = [act, act, "linear" if softmax else act]
    Ws, bs, acts, net = _network(rng, [5, 7, 6, 4], acts, dtype)
    c = rng.normal(size=5)
    lo, hi = (c - width * rng.random(5)).astype(dtype), (c + width * rng.random(5)).astype(dtype)
    seeds = rng.normal(size=(3, 4))
    f, adj = _sweep(net, lo, hi, seeds, softmax, outward)
    for k, seed_k in enumerate(seeds):
        values, Y = sweep.taped(net, Interval(lo, hi, dtype=dtype, outward=outward), softmax=softmax)
        Y.backward(seed_k)
        np.testing.assert_array_equal(np.stack((Y.lo, Y.hi)), f.output)
        for l, v in enumerate(values):
            np.testing.assert_array_equal(np.stack((v.lo, v.hi)), f.values[l])
            np.testing.assert_array_equal(np.stack((v.adjoint.lo, v.adjoint.hi)), adj[l][:, k])
            assert v.adjoint.dtype == dtype and f.values[l].dtype == dtype


def _point_net(Ws, bs, acts, softmax):
    fs = [nn.get_activation(a) for a in acts]

    def tail(l):
        def f(v):
            for W, b, g in list(zip(Ws, bs, fs))[l:]:
                v = g(v @ W + b)
            return nn.softmax(v) if softmax else v
        return f
    return tail


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", sorted(ia.ACTIVATIONS))
@settings(max_examples=5, deadline=None)
@given(seed=st_.integers(0, 2**31), width=st_.floats(0.0, 2.0))
def test_fused_sweeps_enclose_sampled_values_and_gradients(dtype, act, seed, width):
    rng = np.random.default_rng(seed)
    softmax = act not in ("softmax", "log_softmax")
    acts = [act, act, "linear" if softmax else act]
    Ws, bs, acts, net = _network(rng, [4, 6, 5, 3], acts, dtype)
    c = rng.normal(size=4)
    lo, hi = (c - width * rng.random(4)).astype(dtype), (c + width * rng.random(4)).astype(dtype)
    seeds = np.eye(3)
    f, adj = _sweep(net, lo, hi, seeds, softmax)
    tail = _point_net(Ws, bs, acts, softmax)
    x = np.vstack([lo, hi, lo + rng.random((300, 4)) * (hi - lo)]).astype(np.float64)
    vals = [x]
    for W, b, a in list(zip(Ws, bs, acts))[:-1]:
        vals.append(nn.get_activation(a)(vals[-1] @ W + b))
    y = tail(0)(x)
    assert _inside(f.output, y)
    for l, v in enumerate(vals):
        assert _inside(f.values[l], v), f"value of layer {l}"
        for k in range(3):
            g = autograd.grad(lambda u: anp.sum(tail(l)(u)[:, k]))(v)
            assert _inside(adj[l][:, k], g), f"adjoint of layer {l}, output {k}"


def _inside(B, v):
    """v within the stacked enclosure B, up to the float64 sample's own rounding error: the
    samples are computed in floating point, and for a degenerate box the enclosure can be tighter
    than that error (log_softmax of z near its maximum cancels: a float sample 8,649 ulps above the
    exact value's upper bound was seen, the exact value inside; seed 1298, width 0). The same
    slack as ``assert_encloses`` of tests/test_interval.py."""
    slack = 1e-13 * (1 + np.abs(v))
    return bool(np.all(B[0] - slack <= v) and np.all(v <= B[1] + slack))


@pytest.mark.parametrize("act", sorted(ia.ACTIVATIONS))
def test_fused_sweeps_agree_with_the_generic_tape(act):
    """Against the composition of the generic taped operations (matmul, + b, activation,
    softmax): the same enclosures up to rounding, and whole-line bounds in the same places
    for unbounded boxes."""
    rng = np.random.default_rng(11)
    softmax = act not in ("softmax", "log_softmax")
    acts = [act, act, "linear" if softmax else act]
    Ws, bs, acts, net = _network(rng, [5, 8, 6, 4], acts, np.float64)
    for lo, hi in [(-np.ones(5), np.ones(5)), (np.full(5, 0.3), np.full(5, 0.3)),
                   (np.array([-np.inf, 0, 0, 0, 0]), np.array([1, np.inf, 0, 0, 1.0]))]:
        x = Interval(lo, hi)
        v = x
        for W, b, a in zip(Ws, bs, acts):
            v = ia.get_activation(a)(ia.matmul(v, W) + b)
        Y = ia.softmax(v) if softmax else v
        Y.backward(np.eye(4)[1])
        f, adj = _sweep(net, lo, hi, np.eye(4)[1:2], softmax)
        for got, want in [(f.output, Y), (adj[0][:, 0], x.adjoint)]:
            for g, w in zip(got, (want.lo, want.hi)):
                assert np.array_equal(np.isfinite(g), np.isfinite(w))
                fin = np.isfinite(w)
                np.testing.assert_allclose(g[fin], w[fin], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("act", sorted(sweep.ACTIVATIONS))
def test_unbounded_boxes_sweep_without_numpy_warnings(act, recwarn):
    """∞ − ∞ and overflows inside a sweep are handled on purpose (whole-line bounds), so the
    fused sweeps (what ``analyse`` runs) raise no NumPy RuntimeWarning for unbounded boxes; the
    bounds stay sound (the softmax output within [0, 1], no NaN)."""
    rng = np.random.default_rng(12)
    softmax = act not in ("softmax", "log_softmax")
    _, _, _, net = _network(rng, [5, 8, 4], [act, "linear" if softmax else act], np.float64)
    lo, hi = np.array([-np.inf, 0, 0, -1e308, 0]), np.array([1, np.inf, 0, 1e308, 1.0])
    f, adj = _sweep(net, lo, hi, np.eye(4), softmax)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert not np.isnan(f.output).any() and all(not np.isnan(a).any() for a in adj)
    if softmax:
        assert np.all(f.output[0] >= 0) and np.all(f.output[1] <= 1)


def test_degenerate_box_gives_the_float_gradient():
    rng = np.random.default_rng(5)
    Ws, bs, acts, net = _network(rng, [5, 7, 3], ["sigmoid", "linear"], np.float64)
    x0 = rng.normal(size=5)
    f, adj = _sweep(net, x0, x0, np.eye(3)[:1], True)
    g = autograd.grad(lambda v: _point_net(Ws, bs, acts, True)(0)(v)[0])(x0)
    assert np.all(adj[0][0, 0] <= g) and np.all(g <= adj[0][1, 0])
    assert np.all(adj[0][1, 0] - adj[0][0, 0] <= 1e-12 * (1 + np.abs(g)))


def test_nan_weights_raise_and_bad_seeds_are_refused():
    rng = np.random.default_rng(6)
    Ws, bs, acts, _ = _network(rng, [3, 4, 2], ["relu", "linear"], np.float64)
    for bad in (np.nan, np.inf):                  # inf weights gave infinite significances
        Ws[1][0, 0] = bad
        with pytest.raises(ValueError, match="layer 1: the weights or biases contain NaN or ±inf"):
            sweep.layers(Ws, bs, acts)
    hand = sweep.layers(Ws[:1], bs[:1], acts[:1]) + [sweep.DenseLayer(Ws[1], np.abs(Ws[1]), None, None, "linear")]
    Ws[1][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):       # affine's own check, for layers built by hand
        sweep.forward(hand, st.stack(np.zeros(3), np.ones(3)))
    with pytest.raises(ValueError, match=r"NaN or ±inf \(in float16\)"):      # 1e5 overflows float16
        sweep.layers([Ws[0] * 1e5], [bs[0]], acts[:1], np.float16)
    Ws[1][0, 0] = 1.0
    f = sweep.forward(sweep.layers(Ws, bs, acts), st.stack(np.zeros(3), np.ones(3)))
    with pytest.raises(ValueError, match="seeds"):
        sweep.reverse(f, np.ones((2, 3)))
    with pytest.raises(ValueError, match="activation"):
        sweep.layers(Ws, bs, ["relu", "swish"])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_product_whose_float_sum_overflows_still_encloses_its_exact_value(sign):
    # x·w = 1e308 + 1e308 − 1e308 = 1e308 exactly (a float), but the float sum overflows to ±∞
    # on the way (summed in order): a midpoint of ±∞ bounds the exact value on neither side,
    # so the enclosure must not be [±∞, ±∞] or start at the largest float.
    x = Interval(np.array([1e308, 1e308, -1e308]))
    w = sign * np.ones((3, 1))
    exact = sign * 1e308
    enclosures = {
        "matmul (point W)": ia.matmul(x, w),
        "interval @ interval": x.reshape(1, 3) @ Interval(w, w),
        "sweep.affine": sweep.affine(st.stack(x.lo, x.hi), w, np.abs(w)),
    }
    for name, y in enclosures.items():
        lo, hi = (y.lo, y.hi) if isinstance(y, Interval) else (y[0], y[1])
        assert lo.ravel()[0] <= exact <= hi.ravel()[0], f"{name}: [{lo.ravel()[0]}, {hi.ravel()[0]}] misses {exact}"
    # and in the reverse sweep (the adjoint of x through W is w·ȳ: W·ȳ with ȳ huge)
    W = np.array([[1.0, 1.0, -1.0]])
    xs = Interval(np.array([1e308]))
    y = ia.matmul(xs, W)
    y.backward(sign * np.array([1e308, 1e308, 1e308]))
    assert xs.adjoint.lo[0] <= sign * 1e308 <= xs.adjoint.hi[0]
