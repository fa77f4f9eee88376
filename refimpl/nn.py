"""Building blocks of deep neural networks (Prellberg, thesis ch. 2) as pure functions.

Everything here works on plain arrays and parameter pytrees, is differentiable with
autograd on the CPU, and takes its array module from its arguments (``array_module``),
so the same code runs on CuPy.

Conventions
-----------
* Dense weights are stored ``W: (in, out)`` and applied as ``x @ W + b`` (row vectors).
  The thesis writes Eq. 2.9 as ``v = W u + b`` with ``W: (out, in)``; ours is its transpose.
  A leading population axis is allowed: ``W: (P, in, out)``, ``b: (P, out)``, ``x: (P, B, in)``.
* Images are NCHW. Convolution kernels are ``K: (C_out, C_in, kh, kw)`` (Eq. 2.11).
* The initializers (the Keras catalogue, fans) are in :mod:`refimpl.initializers` and re-exported here.
* Losses average over the batch axis (Eq. 2.3) and keep any leading population axis.
* Default dtype float32.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

from .backend import array_module, is_cupy, is_gpu_module, raw_module
from .initializers import (INITIALIZERS, fans, get_initializer, initialize, truncated_normal,  # noqa: F401
                           unit_norm_normal)

__all__ = [
    "truncated_normal", "as_pair",
    "INITIALIZERS", "ACTIVATIONS",
    "fans", "get_initializer", "initialize", "unit_norm_normal",
    "dense", "conv2d", "im2col", "conv_output_size", "max_pool2d", "avg_pool2d", "global_avg_pool2d",
    "batch_norm", "relu", "sigmoid", "tanh", "linear", "softmax", "log_softmax", "logsumexp",
    "get_activation", "check_labels", "check_finite", "cross_entropy", "mse", "weighted_binary_cross_entropy", "accuracy",
]

def _mean(x, axis=None):
    """Mean as sum·(1/n): autograd's own ``mean`` gradient silently promotes float32 to float64."""
    xp = array_module(x)
    axes = tuple(range(x.ndim)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    n = int(np.prod([x.shape[a] for a in axes]))
    return xp.sum(x, axis=axis) * (1.0 / n)


# --------------------------------------------------------------------------------------------
# Dense layer (Eq. 2.9)
# --------------------------------------------------------------------------------------------

def dense(x, W, b=None):
    """Dense layer ``x @ W + b`` (thesis Eq. 2.9, row-vector form).

    Shapes: single network ``x (..., B, in)``, ``W (in, out)``, ``b (out,)`` -> ``(..., B, out)``;
    population ``x (P, B, in)`` or ``(B, in)`` (shared input), ``W (P, in, out)``, ``b (P, out)``
    -> ``(P, B, out)``. Any float dtype; the result has the promoted dtype.
    Raises ``ValueError`` if the shapes do not fit together.
    """
    if W.ndim not in (2, 3):
        raise ValueError(f"dense: W must be (in, out) or (P, in, out), got shape {W.shape}")
    if x.ndim < 1 or x.shape[-1] != W.shape[-2]:
        raise ValueError(f"dense: input has {x.shape[-1] if x.ndim else 0} features "
                         f"(shape {x.shape}) but W expects {W.shape[-2]} (shape {W.shape})")
    if W.ndim == 3 and x.ndim == 3 and x.shape[0] != W.shape[0]:
        raise ValueError(f"dense: population sizes differ: x {x.shape} vs W {W.shape}")
    y = x @ W
    if b is None:
        return y
    if b.shape != W.shape[:-2] + W.shape[-1:]:
        raise ValueError(f"dense: bias shape {b.shape} does not match W {W.shape}")
    return y + (b[:, None, :] if W.ndim == 3 else b)


# --------------------------------------------------------------------------------------------
# Convolution (Eq. 2.11): im2col (strided windows) + one GEMM; the input gradient per kernel offset
# --------------------------------------------------------------------------------------------

def conv_output_size(n: int, k: int, stride: int, padding) -> tuple[int, int, int]:
    """(output size, pad before, pad after) along one spatial axis.

    ``"valid"``: floor((n - k)/stride) + 1, no padding. ``"same"``: ceil(n/stride), with zero
    padding split as TensorFlow does (the odd pixel goes after). An int ``p`` (PyTorch's
    ``padding=p``): p zeros on both sides, floor((n + 2p - k)/stride) + 1 outputs. Raises
    ``ValueError`` for an unknown padding, a non-positive stride, or a kernel larger than the
    (padded) input.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if padding == "valid":
        if k > n:
            raise ValueError(f"kernel size {k} exceeds input size {n} with padding='valid'")
        return (n - k) // stride + 1, 0, 0
    if padding == "same":
        out = -(-n // stride)
        total = max((out - 1) * stride + k - n, 0)
        return out, total // 2, total - total // 2
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool) and padding >= 0:
        if k > n + 2 * padding:
            raise ValueError(f"kernel size {k} exceeds input size {n} padded by {padding} on each side")
        return (n + 2 * padding - k) // stride + 1, int(padding), int(padding)
    raise ValueError(f"padding must be 'same', 'valid' or a non-negative int, got {padding!r}")


@primitive
def im2col(x, kh, kw, stride, padding, groups=1):
    """Columns ``(N·ho·wo, kh·kw·C)`` of an NCHW input: row (n, i, j) holds the kh×kw×C window
    under output pixel (i, j), ordered (m, q, c). With ``groups`` G > 1: ``(G, N·ho·wo, kh·kw·C/G)``,
    slice g holding the columns of input channels g·C/G … (g+1)·C/G − 1.

    The input is copied once into a zero-padded NHWC array; the columns are then one copy out
    of a strided window view of it (the channel axis split into (G, C/G) by one more stride),
    reading runs of C/G contiguous values. This row-major layout gives OpenBLAS its fast shapes
    in the forward and both backward products.

    ``stride`` is a pair ``(sh, sw)`` (:func:`as_pair`), ``padding`` as in :func:`conv2d`; the
    dtype is the input's. Differentiable (its VJP is col2im). Used by :func:`conv2d` (Eq. 2.11)
    and by population convolutions that batch the product over individuals.
    """
    xp = raw_module(x)
    n, c, h, w = x.shape
    ho, pt, pb = conv_output_size(h, kh, stride[0], padding)
    wo, pl, pr = conv_output_size(w, kw, stride[1], padding)
    xh = xp.zeros((n, h + pt + pb, w + pl + pr, c), dtype=x.dtype)
    xh[:, pt:pt + h, pl:pl + w, :] = x.transpose(0, 2, 3, 1)
    s, cg = xh.strides, c // groups
    win = xp.lib.stride_tricks.as_strided(
        xh, shape=(groups, n, ho, wo, kh, kw, cg),
        strides=(s[3] * cg, s[0], s[1] * stride[0], s[2] * stride[1], s[1], s[2], s[3]))
    return win.reshape(n * ho * wo, kh * kw * c) if groups == 1 else win.reshape(groups, n * ho * wo, kh * kw * cg)


_CHUNK_BYTES = 1 << 18  # padded input gradient per pass of _add_windows (a few images): fits the L2 cache


def _add_windows(terms, x_shape, dtype, xp, kh, kw, stride, padding, groups):
    """The adjoint of reading kh×kw windows. ``terms(images)`` gives, for the images ``images``
    (a slice), a ``(kh, kw, n', ho, wo, G, C/G)`` array; its entry (m, q, n, i, j) is added onto
    input pixel (s_h·i + m, s_w·j + q) of the zero-padded NHWC input (the pixel im2col read
    there). Returns the unpadded sum as an NCHW array of ``x_shape``.

    kh·kw strided additions, never a loop over pixels. On the CPU they run over a few images
    at a time (``_CHUNK_BYTES`` of padded gradient), which then stay in the cache for all kh·kw
    additions; each pixel receives the same terms in the same order either way. Shared by
    :func:`_col2im` and :func:`_conv_input_grad`."""
    n, c, h, w = x_shape
    ho, pt, pb = conv_output_size(h, kh, stride[0], padding)
    wo, pl, pr = conv_output_size(w, kw, stride[1], padding)
    gh = xp.zeros((n, h + pt + pb, w + pl + pr, groups, c // groups), dtype=dtype)
    per = n if is_gpu_module(xp) else max(1, _CHUNK_BYTES // (gh[0].size * gh.itemsize))
    for start in range(0, n, per):
        images = slice(start, start + per)
        t = terms(images)
        for m in range(kh):
            for q in range(kw):
                gh[images, m:m + stride[0] * ho:stride[0], q:q + stride[1] * wo:stride[1]] += t[m, q]
    return gh[:, pt:pt + h, pl:pl + w].reshape(n, h, w, c).transpose(0, 3, 1, 2)


def _col2im(cols, x_shape, kh, kw, stride, padding, groups=1):
    """Adjoint of :func:`im2col`: add every column entry back onto the pixel it was read from."""
    n, c, h, w = x_shape
    ho, wo = conv_output_size(h, kh, stride[0], padding)[0], conv_output_size(w, kw, stride[1], padding)[0]
    if groups == 1:
        g = cols.reshape(n, ho, wo, kh, kw, 1, c)
    else:  # (G, n·ho·wo, kh·kw·C/G) -> (n, ho, wo, kh, kw, G, C/G), a view
        g = cols.reshape(groups, n, ho, wo, kh, kw, c // groups).transpose(1, 2, 3, 4, 5, 0, 6)
    return _add_windows(lambda images: g[images].transpose(3, 4, 0, 1, 2, 5, 6), x_shape, cols.dtype,
                        raw_module(cols), kh, kw, stride, padding, groups)


defvjp(im2col, lambda ans, x, kh, kw, stride, padding, groups=1:
       lambda g: _col2im(g, x.shape, kh, kw, stride, padding, groups))


@primitive
def _conv_product(x, w, cols, kh, kw, stride, padding):
    """The product of Eq. 2.11 as one GEMM, ``cols @ w``, where ``cols = im2col(x, …)`` (computed
    by the caller, not differentiated) and ``w`` is the kernel as a ``(kh·kw·C_in, C_out)``
    matrix, or ``(G, kh·kw·C_in/G, C_out/G)`` when grouped. Returns ``(N·ho·wo, C_out)`` (or
    ``(G, N·ho·wo, C_out/G)``).

    ``x`` is an argument only so that its cotangent can be formed directly (:func:`_conv_input_grad`):
    autograd's route, ``dL/dcols = dL/dy · wᵀ`` followed by col2im, writes and then scatters a
    ``(N·ho·wo, kh·kw·C_in)`` matrix and took longer than the product (benchmarks/conv.py). The kernel's
    cotangent is autograd's own for a matmul, ``colsᵀ · dL/dy``."""
    return cols @ w


def _conv_input_grad(g, w, x_shape, kh, kw, stride, padding):
    """dL/dx of ``y = im2col(x) @ w``: the transposed convolution

        dL/dx_pad[n, s_h·i + m, s_w·j + q, c] += Σ_o dL/dy[n, i, j, o] · K[o, c, m, q]

    for every kernel offset (m, q): one product of the output gradient ``g`` (rows (n, i, j))
    with that offset's ``(C_out, C_in)`` slice of the kernel, added onto the shifted pixels (per
    group when grouped); a few images at a time, their kh·kw products in one batched ``matmul``.
    The same sums, added in the same order, as ``col2im(g @ wᵀ)``, without the
    ``(N·ho·wo, kh·kw·C_in)`` intermediate; the BLAS may round the smaller products
    differently (OpenBLAS picks its kernels by shape), so results can differ in the last bits."""
    xp = raw_module(g)
    groups = 1 if w.ndim == 2 else w.shape[0]
    n, c, h, wd = x_shape
    cg = c // groups
    ho, wo = conv_output_size(h, kh, stride[0], padding)[0], conv_output_size(wd, kw, stride[1], padding)[0]
    cog = g.shape[-1]
    g4 = g.reshape(groups, n, ho * wo, cog)                        # (G, N, ho·wo, C_out/G)
    wt = xp.swapaxes(w.reshape(groups, kh * kw, cg, cog), -1, -2)  # (G, kh·kw, C_out/G, C_in/G)

    def terms(images):  # (kh, kw, n', ho, wo, G, C_in/G): the gradient of the pixels read at each (m, q)
        t = g4[:, images].reshape(groups, 1, -1, cog) @ wt         # (G, kh·kw, n'·ho·wo, C_in/G)
        return t.reshape(groups, kh, kw, -1, ho, wo, cg).transpose(1, 2, 3, 4, 5, 0, 6)
    return _add_windows(terms, x_shape, g.dtype, xp, kh, kw, stride, padding, groups)


defvjp(_conv_product,
       lambda ans, x, w, cols, kh, kw, stride, padding:
           lambda g: _conv_input_grad(g, w, x.shape, kh, kw, stride, padding),
       lambda ans, x, w, cols, kh, kw, stride, padding:
           lambda g: raw_module(g).swapaxes(cols, -1, -2) @ g)


def as_pair(v, name: str) -> tuple[int, int]:
    """``(v, v)`` for an int, ``v`` for a pair: a kernel size, stride or pool size as ``(h, w)``.

    Raises ``ValueError`` (naming ``name``) unless both entries are positive ints.
    """
    if isinstance(v, int):
        v = (v, v)
    if len(v) != 2 or any((not isinstance(s, (int, np.integer))) or s < 1 for s in v):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {v!r}")
    return int(v[0]), int(v[1])


def conv2d(x, K, b=None, *, stride=1, padding="same", groups: int = 1):
    """2-D convolutional layer (cross-correlation, thesis Eq. 2.11), NCHW, optionally grouped.

    Parameters
    ----------
    x : ``(N, C_in, H, W)`` float array.
    K : ``(C_out, C_in/groups, kh, kw)`` kernel (PyTorch's layout for grouped kernels).
    b : ``(C_out,)`` bias or ``None``.
    stride : int or (sh, sw).
    padding : ``"valid"`` (Eq. 2.11 as written), ``"same"`` (zero padding, output ceil(H/stride))
        or an int p (p zeros on every side, as PyTorch's ``padding=p``).
    groups : G ≥ 1 dividing C_in and C_out. Output channels g·C_out/G … (g+1)·C_out/G − 1 see
        only input channels g·C_in/G … (g+1)·C_in/G − 1 (ResNeXt's cardinality, thesis Eq. 3.1:
        G parallel paths computed as one layer); the same as G separate convolutions whose
        outputs are concatenated. ``groups=1`` is the ordinary convolution (bit for bit the same
        numbers and speed as before grouping existed).

    Returns ``(N, C_out, H_out, W_out)``. Implemented as im2col (a strided window view, copied
    once) plus one matrix product — a batched ``(G, N·ho·wo, kh·kw·C_in/G) @ (G, ·, C_out/G)``
    product when grouped. Its gradients (:func:`_conv_product`): the kernel's is the matmul's
    own, ``colsᵀ · dL/dy``; the input's is the transposed convolution (:func:`_conv_input_grad`:
    one product per kernel offset, added onto the shifted pixels), the same numbers as
    ``col2im(dL/dy · wᵀ)`` without forming that ``(N·ho·wo, kh·kw·C_in)`` matrix.
    Raises ``ValueError`` on mismatched shapes or a ``groups`` that does not divide the channels.
    """
    stride = as_pair(stride, "stride")
    if x.ndim != 4 or K.ndim != 4:
        raise ValueError(f"conv2d: expected x (N, C, H, W) and K (C_out, C_in, kh, kw), "
                         f"got x {x.shape} and K {K.shape}")
    if not (isinstance(groups, (int, np.integer)) and groups >= 1):
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    if x.shape[1] % groups or K.shape[0] % groups:
        raise ValueError(f"conv2d: groups={groups} must divide the input channels ({x.shape[1]}) and the "
                         f"output channels ({K.shape[0]}) (x {x.shape}, K {K.shape})")
    if x.shape[1] != K.shape[1] * groups:
        raise ValueError(f"conv2d: input has {x.shape[1]} channels but K expects {K.shape[1]}"
                         f"{f' × {groups} groups' if groups > 1 else ''} (x {x.shape}, K {K.shape})")
    xp = array_module(x, K)
    n, (cout, cin, kh, kw) = x.shape[0], K.shape
    ho = conv_output_size(x.shape[2], kh, stride[0], padding)[0]  # also validates
    wo = conv_output_size(x.shape[3], kw, stride[1], padding)[0]
    cols = im2col(getval(x), kh, kw, stride, padding, groups)     # (G,) N·ho·wo, kh·kw·C_in/G
    if groups == 1:
        w = xp.transpose(xp.reshape(xp.transpose(K, (0, 2, 3, 1)), (cout, kh * kw * cin)))  # (kh·kw·C_in, C_out)
        y = _conv_product(x, w, cols, kh, kw, stride, padding)
        y = xp.transpose(xp.reshape(y, (n, ho, wo, cout)), (0, 3, 1, 2))
    else:
        cog = cout // groups
        w = xp.reshape(xp.transpose(xp.reshape(K, (groups, cog, cin, kh, kw)), (0, 3, 4, 2, 1)),
                       (groups, kh * kw * cin, cog))                 # (G, kh·kw·C_in/G, C_out/G)
        y = _conv_product(x, w, cols, kh, kw, stride, padding)
        y = xp.reshape(xp.transpose(xp.reshape(y, (groups, n, ho, wo, cog)), (1, 0, 4, 2, 3)),
                       (n, cout, ho, wo))
    if b is None:
        return y
    if b.shape != (K.shape[0],):
        raise ValueError(f"conv2d: bias shape {b.shape} does not match {K.shape[0]} output channels")
    return y + b[:, None, None]


# --------------------------------------------------------------------------------------------
# Pooling (Eq. 2.12)
# --------------------------------------------------------------------------------------------

def _pool_slices(x, size, stride, padding, fill):
    """Stack of the kh·kw shifted strided slices: (kh·kw, N, C, ho, wo)."""
    xp = array_module(x)
    kh, kw = as_pair(size, "pool size")
    sh, sw = as_pair(stride if stride is not None else (kh, kw), "pool stride")
    if x.ndim != 4:
        raise ValueError(f"pooling expects an NCHW input, got shape {x.shape}")
    ho, pt, pb = conv_output_size(x.shape[2], kh, sh, padding)
    wo, pl, pr = conv_output_size(x.shape[3], kw, sw, padding)
    if pt or pb or pl or pr:
        x = xp.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), "constant", constant_values=fill)
    return xp.stack([x[:, :, m:m + sh * ho:sh, q:q + sw * wo:sw]
                     for m in range(kh) for q in range(kw)]), (pt, pb, pl, pr)


def max_pool2d(x, size=2, stride=None, padding: str = "valid"):
    """Max-pooling (Eq. 2.12 with aggregation = max) over ``size`` windows, NCHW.

    ``stride`` defaults to ``size``. With ``"same"`` the padding is -inf (never selected).
    Shapes ``(N, C, H, W) -> (N, C, H_out, W_out)``; ``ValueError`` on a non-NCHW input.
    """
    slices, _ = _pool_slices(x, size, stride, padding, -np.inf)
    return array_module(x).max(slices, axis=0)


def avg_pool2d(x, size=2, stride=None, padding: str = "valid"):
    """Average-pooling (Eq. 2.12 with aggregation = mean), NCHW; ``stride`` defaults to ``size``.

    With ``"same"`` the zero padding is excluded from each window's count (as Keras does).
    """
    xp = array_module(x)
    slices, pads = _pool_slices(x, size, stride, padding, 0.0)
    total = xp.sum(slices, axis=0)
    if not any(pads):
        return total / slices.shape[0]
    ones = xp.ones((1, 1) + x.shape[2:], dtype=x.dtype)  # on the device of x
    count, _ = _pool_slices(ones, size, stride, padding, 0.0)
    return total / xp.sum(count, axis=0)


def global_avg_pool2d(x):
    """Mean over the spatial axes: ``(N, C, H, W) -> (N, C)``."""
    if x.ndim != 4:
        raise ValueError(f"global_avg_pool2d expects an NCHW input, got shape {x.shape}")
    return _mean(x, axis=(2, 3))


# --------------------------------------------------------------------------------------------
# Batch normalization (Eqs. 2.13–2.16)
# --------------------------------------------------------------------------------------------

def batch_norm(x, gamma, beta, running_mean, running_var, *, training: bool,
               momentum: float = 0.9, eps: float = 1e-5):
    """Batch normalization (thesis Eqs. 2.13–2.16) for ``(N, C)`` or ``(N, C, H, W)`` inputs.

    Training mode normalizes with the batch mean and biased variance per channel (over N, and
    H, W for images) and returns updated running statistics
    ``running ← momentum·running + (1 − momentum)·batch``; evaluation mode normalizes with the
    running statistics. ``gamma, beta, running_mean, running_var`` are ``(C,)``.

    Returns ``(y, new_running_mean, new_running_var)`` (the running stats are unchanged in
    evaluation mode). The new running statistics are plain arrays (not traced by autograd) on
    the device of ``x``: host running statistics given with GPU inputs are copied there first
    (create them there with ``model.init_state(like=params)`` to avoid the copy).
    Raises ``ValueError`` if ``x`` is not ``(N, C)``/``(N, C, H, W)`` with C = ``gamma.shape[0]``.
    """
    xp = array_module(x, gamma)
    if x.ndim not in (2, 4) or x.shape[1] != gamma.shape[0]:
        raise ValueError(f"batch_norm: expected (N, C) or (N, C, H, W) with C = {gamma.shape[0]}, "
                         f"got {x.shape}")
    running_mean, running_var = xp.asarray(running_mean), xp.asarray(running_var)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    if training:
        mean = _mean(x, axis=axes)
        var = _mean((x - mean.reshape(shape)) ** 2, axis=axes)
        from autograd.tracer import getval  # noqa: PLC0415
        new_mean = momentum * running_mean + (1 - momentum) * getval(mean)
        new_var = momentum * running_var + (1 - momentum) * getval(var)
    else:
        mean, var = running_mean, running_var
        new_mean, new_var = running_mean, running_var
    xhat = (x - mean.reshape(shape)) / xp.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * xhat + beta.reshape(shape), new_mean, new_var


# --------------------------------------------------------------------------------------------
# Activations (Sec. 2.3.2)
# --------------------------------------------------------------------------------------------

def relu(x):
    """ReLU(x) = max(0, x) (Eq. 2.10), written x·[x > 0] so that its gradient keeps the dtype."""
    return x * (x > 0)


def sigmoid(x):
    """Logistic sigmoid 1/(1+e^(−x)), same shape and dtype as ``x``; no overflow warning.

    NumPy: 1/(1 + e^(−x)) with NumPy's vectorised exp, an autograd primitive with the analytic
    gradient σ(1 − σ). (SciPy's ``expit``, used before, is a scalar loop in float32: 4× slower,
    0.22 against 0.06 ms on 128×500.) For x below about −88 (float32) or −709 (float64) e^(−x)
    overflows and σ is 0 instead of a subnormal number. CuPy: the identity
    σ(x) = (1 + tanh(x/2))/2 (CuPy's own ufuncs). The formulas are equal in exact arithmetic but
    round differently, so CPU and GPU results differ in the last bits (float32: relative
    differences of about 1e-7 per activation).
    """
    xp = array_module(x)
    if is_gpu_module(xp):
        return 0.5 * (xp.tanh(0.5 * x) + 1)
    return _sigmoid_numpy(x)


@primitive
def _sigmoid_numpy(x):
    with np.errstate(over="ignore"):          # e^(−x) = ∞ far below 0: σ = 1/∞ = 0
        return 1 / (1 + np.exp(-x))


defvjp(_sigmoid_numpy, lambda ans, x: lambda g: g * ans * (1 - ans))


def tanh(x):
    """Hyperbolic tangent."""
    return array_module(x).tanh(x)


def linear(x):
    """Identity activation."""
    return x


def logsumexp(x, axis=-1, keepdims=False):
    """log Σ exp(x) along ``axis``, stabilised by subtracting the maximum."""
    xp = array_module(x)
    from autograd.tracer import getval  # noqa: PLC0415
    m = xp.max(getval(x), axis=axis, keepdims=True)  # a constant shift: no gradient needed
    out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def log_softmax(x, axis=-1):
    """log softmax along ``axis`` (stable)."""
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x, axis=-1):
    """softmax along ``axis`` (stable)."""
    return array_module(x).exp(log_softmax(x, axis=axis))


ACTIVATIONS: dict[str, Callable] = {
    "linear": linear, "relu": relu, "sigmoid": sigmoid, "tanh": tanh,
    "softmax": softmax, "log_softmax": log_softmax,
}


def get_activation(name: str) -> Callable:
    """The activation called ``name`` (a key of :data:`ACTIVATIONS`); ``ValueError`` if unknown."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}") from None


# --------------------------------------------------------------------------------------------
# Losses (Eqs. 2.3, 2.4, 2.7, 3.6) and accuracy
# --------------------------------------------------------------------------------------------

def check_labels(labels, n_classes: int) -> None:
    """Raise ``TypeError`` unless ``labels`` are integers (class indices: a float label would be
    truncated, e.g. 0.9 read as class 0) and ``ValueError`` unless every entry lies in
    [0, ``n_classes``).

    ``labels``: class indices of any shape, a NumPy or CuPy array or a sequence. A CuPy array
    stays on its device, but its minimum and maximum are read back to the host, which waits for
    the GPU: call this once where labels enter a computation, as :func:`refimpl.train.fit`,
    :func:`refimpl.train.evaluate` and :func:`refimpl.thesis.ea.evolve` do, not once per batch.
    """
    a = labels if is_cupy(labels) else np.asarray(labels)
    if a.size == 0:
        return
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"labels must be integer class indices, got dtype {a.dtype}")
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}), got range [{lo}, {hi}]")


def check_finite(a, what: str) -> None:
    """Raise ``TypeError`` if ``a`` (NumPy or CuPy) is complex — its imaginary part would be
    dropped — and ``ValueError`` if it holds NaN or ±∞, naming it as ``what``. One pass over
    ``a`` (two if its sum overflows); on the GPU one synchronisation (two): call it where data
    enter, not per batch."""
    if np.iscomplexobj(a):
        raise TypeError(f"{what} is complex ({a.dtype}); real inputs only")
    xp = raw_module(a)
    # a finite sum means every entry is finite (NaN and ±∞ propagate); only an overflowing sum
    # needs the entry-wise check (which allocates a mask as large as ``a``)
    with np.errstate(over="ignore", invalid="ignore"):
        total = a.sum()
    if not bool(xp.isfinite(total)) and not bool(xp.isfinite(a).all()):
        raise ValueError(f"{what} contains NaN or infinite values")


def _one_hot_like(logits, labels):
    """One-hot rows ``(B, C)`` of ``labels (B,)`` in the dtype and on the device of ``logits``.

    Host labels are range-checked here (cheap, no synchronisation). Labels already on the GPU
    are not: reading their range back would stall every call; the callers that take labels
    from the user check them once (:func:`check_labels`). An out-of-range GPU label gives an
    all-zero row.
    """
    xp = array_module(logits)
    c = logits.shape[-1]
    if not is_cupy(labels):
        labels = np.asarray(labels)
        if labels.shape == logits.shape[-2:-1]:
            check_labels(labels, c)
    elif not np.issubdtype(labels.dtype, np.integer):      # the dtype is known without a sync
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    labels = xp.asarray(labels)
    if labels.shape != logits.shape[-2:-1]:
        raise ValueError(f"labels must have shape {logits.shape[-2:-1]} (one per example), "
                         f"got {labels.shape}")
    return (labels[:, None] == xp.arange(c)[None, :]).astype(logits.dtype)


def cross_entropy(logits, labels):
    """Mean cross-entropy from logits (thesis Eq. 2.7 averaged as in Eq. 2.3).

    ``logits (..., B, C)`` float, ``labels (B,)`` int in [0, C), host or on the device of
    ``logits`` (host labels are copied there). Returns shape ``(...)`` in the dtype of ``logits``,
    on their device: a scalar for one network, ``(P,)`` for a population. ``TypeError`` for
    labels that are not integers; ``ValueError`` for labels of the wrong shape, or out of range
    when they are host arrays (labels already on the GPU are not range-checked, see
    :func:`check_labels`).
    """
    onehot = _one_hot_like(logits, labels)
    xp = array_module(logits)
    return _mean(logsumexp(logits, axis=-1) - xp.sum(onehot * logits, axis=-1), axis=-1)


def mse(pred, target):
    """Mean over the batch of the squared L2 error ‖ŷ − y‖² (thesis Eq. 2.4 with Eq. 2.3).

    ``pred (..., B, D)`` with ``target (B, D)``, or ``pred (..., B)`` with ``target (B,)``; a
    leading population axis on ``pred`` is kept. For D = 1 this equals Keras' mean squared
    error; for D > 1 it is D times Keras' (which also averages over D). Raises ``ValueError``
    if the shapes do not match (no silent broadcasting of (B, 1) against (B,)). A host ``target``
    is copied to the device of ``pred``; the result is on that device.
    """
    xp = array_module(pred)
    target = xp.asarray(target)
    tshape = target.shape
    if len(tshape) not in (1, 2) or tuple(pred.shape[pred.ndim - len(tshape):]) != tuple(tshape):
        raise ValueError(f"mse: target shape {tshape} does not match prediction shape {pred.shape}")
    err = (pred - target) ** 2
    if len(tshape) == 2:
        err = xp.sum(err, axis=-1)
    return _mean(err, axis=-1)


def weighted_binary_cross_entropy(logit, y, w: float = 1.0):
    """Weighted binary cross-entropy from a logit (thesis Eq. 3.6), averaged over the batch.

    ℓ = −w·y·log σ(ŷ) − (1 − y)·log(1 − σ(ŷ)), computed stably as
    w·y·softplus(−ŷ) + (1 − y)·softplus(ŷ). ``logit (..., B)``, ``y (B,)`` in {0, 1}; ``w`` is the
    negative/positive ratio of the training set. A host ``y`` is copied to the device of ``logit``.
    Raises ``ValueError`` if ``w <= 0``.
    """
    if not w > 0:
        raise ValueError(f"weight w must be > 0, got {w}")
    xp = array_module(logit)
    y = xp.asarray(y, dtype=logit.dtype)  # integer labels must not promote the loss to float64
    sp_neg = xp.logaddexp(0.0, -logit)  # −log σ(ŷ)
    sp_pos = xp.logaddexp(0.0, logit)   # −log(1 − σ(ŷ))
    return _mean(w * y * sp_neg + (1 - y) * sp_pos, axis=-1)


def accuracy(logits, labels):
    """Fraction of rows of ``logits (..., B, C)`` whose argmax equals ``labels (B,)``; shape ``(...)``,
    float64, on the device of ``logits`` (host labels are copied there)."""
    xp = array_module(logits)
    return xp.mean(xp.argmax(logits, axis=-1) == xp.asarray(labels), axis=-1)
