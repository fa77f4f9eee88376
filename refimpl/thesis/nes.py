"""Natural evolution strategy over independent categorical distributions (thesis Secs. 8.3–8.4).

The search distribution of learned weight sharing is a joint of N independent categoricals over
K categories (Eq. 8.37). Each function here is one equation or one line of Algorithm 6, on
plain NumPy arrays, and none knows about networks, so the operators serve any categorical
search space (the loss is a black box handed to :func:`step`).

Two parameterisations of the same distribution are supported:

* **full** — ``pi`` of shape ``(*shape, K)``, every row a probability vector (the form the
  author's code stores);
* **expectation** — ``mu`` of shape ``(*shape, K − 1)``: all but the last probability of each
  categorical (Eqs. 8.24–8.27, 8.36), with μ_K = 1 − Σ_i μ_i implied.

In expectation parameters the natural gradient of the log-density is T(a) − μ (Eqs. 8.15, 8.44),
so the NES step is plain gradient ascent (Eq. 8.18, Algorithm 6 lines 3–13). Its full-K form,
π ← π + η·(1/λ)·Σ u_i·(onehot(a_i) − π), moves the K − 1 free entries identically and the last
entry by minus their sum: both forms give the same update (tested).

Leading axes ``shape`` are arbitrary: learned weight sharing uses ``(layers, tasks)``.
Samples carry one more leading axis, ``(λ, *shape)``. Arrays are float64 unless stated.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.stats import rankdata

__all__ = ["uniform", "expectation_parameters", "full_parameters", "natural_parameters",
           "log_partition", "one_hot", "sufficient_statistic", "sample", "log_prob",
           "rank_utilities", "log_derivative", "search_gradient", "clamp_renormalise", "update",
           "step", "entropy", "mode"]

FORMS = ("full", "expectation")


def _check_form(form: str) -> None:
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")


def _as_full(pi, form: str) -> np.ndarray:
    """The full-K parameters of ``pi`` given in ``form`` (validated as a distribution)."""
    _check_form(form)
    pi = np.asarray(pi, dtype=np.float64)
    if pi.ndim < 1:
        raise ValueError(f"categorical parameters need a last axis of categories, got shape {pi.shape}")
    full = pi if form == "full" else full_parameters(pi)
    if full.shape[-1] < 1:
        raise ValueError("a categorical needs K >= 1 categories")
    if not np.all(np.isfinite(full)) or full.min(initial=0.0) < -1e-12 or full.max(initial=0.0) > 1 + 1e-12:
        raise ValueError("categorical probabilities must be finite and lie in [0, 1]")
    if not np.allclose(full.sum(-1), 1.0, atol=1e-6):
        raise ValueError(f"each categorical must sum to 1 (largest deviation "
                         f"{np.abs(full.sum(-1) - 1).max():.3g})")
    return full


# --------------------------------------------------------------------------------------------
# Parameterisations (Eqs. 8.21–8.27, 8.35–8.43)
# --------------------------------------------------------------------------------------------

def uniform(shape: int | tuple[int, ...], k: int) -> np.ndarray:
    """Uniform categoricals, every entry 1/K (Algorithm 6, line 23): shape ``(*shape, K)``, full form.

    Raises ``ValueError`` if ``k < 1``.
    """
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ValueError(f"the number of categories K must be an int >= 1, got {k!r}")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return np.full(shape + (int(k),), 1.0 / k)


def expectation_parameters(pi) -> np.ndarray:
    """μ = (π_1 … π_{K−1}) of full parameters ``pi (*shape, K)`` (Eqs. 8.24–8.27, 8.36)."""
    return np.asarray(pi, dtype=np.float64)[..., :-1].copy()


def full_parameters(mu) -> np.ndarray:
    """(μ_1 … μ_{K−1}, μ_K = 1 − Σ μ_i): ``mu (*shape, K − 1) -> (*shape, K)`` (text after Eq. 8.27)."""
    mu = np.asarray(mu, dtype=np.float64)
    return np.concatenate([mu, 1.0 - mu.sum(-1, keepdims=True)], axis=-1)


def natural_parameters(mu) -> np.ndarray:
    """α = r_ex(μ) = (log μ_i/μ_K)_{i<K} (Eq. 8.25): ``(*shape, K − 1)``; needs every μ > 0."""
    full = full_parameters(mu)
    return np.log(full[..., :-1]) - np.log(full[..., -1:])


def log_partition(alpha) -> np.ndarray:
    """A_nat(α) = log(1 + Σ_i e^{α_i}) (Eq. 8.23), over the last axis; equals −log μ_K (Eq. 8.31)."""
    alpha = np.asarray(alpha, dtype=np.float64)
    return np.logaddexp.reduce(np.concatenate([np.zeros(alpha.shape[:-1] + (1,)), alpha], -1), axis=-1)


def one_hot(a, k: int) -> np.ndarray:
    """onehot(a): ``a (...)`` ints in [0, K) -> ``(..., K)`` float64. ``ValueError`` outside [0, K)."""
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"samples must be integers, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() >= k):
        raise ValueError(f"samples must lie in [0, {k}) (K = {k}), got values in [{a.min()}, {a.max()}]")
    return (a[..., None] == np.arange(k)).astype(np.float64)


def sufficient_statistic(a, k: int) -> np.ndarray:
    """T(a) = (δ_{1,a} … δ_{K−1,a}) (Eqs. 8.22, 8.26, 8.42): ``(..., K − 1)``."""
    return one_hot(a, k)[..., :-1]


def sample(pi, n: int, rng: np.random.Generator, *, form: str = "full") -> np.ndarray:
    """``n`` independent draws a ~ p(a|π) (Eq. 8.37): ``(n, *shape)`` int64.

    Each categorical is sampled by inverting its cumulative distribution with one uniform draw
    per (sample, categorical), in C order. Raises ``ValueError`` if ``n < 1`` or ``pi`` is not a
    distribution; ``TypeError`` if ``rng`` is not a Generator.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"the number of samples must be an int >= 1, got {n!r}")
    full = _as_full(pi, form)
    cdf = np.cumsum(full, axis=-1)
    u = rng.random((int(n),) + full.shape[:-1])
    return np.minimum((u[..., None] >= cdf).sum(-1), full.shape[-1] - 1).astype(np.int64)


def log_prob(pi, a, *, form: str = "full") -> np.ndarray:
    """log p(a|π) = Σ_i log π_i[a_i] over all categoricals (Eq. 8.37): ``a (λ, *shape) -> (λ,)``."""
    full = _as_full(pi, form)
    a = np.asarray(a)
    if a.shape[1:] != full.shape[:-1]:
        raise ValueError(f"samples must have shape (lambda, *{full.shape[:-1]}), got {a.shape}")
    with np.errstate(divide="ignore"):
        lp = np.log(np.sum(one_hot(a, full.shape[-1]) * full, -1))
    return lp.reshape(a.shape[0], -1).sum(-1)


# --------------------------------------------------------------------------------------------
# Fitness shaping (Eq. 8.19)
# --------------------------------------------------------------------------------------------

def rank_utilities(losses, *, ties: str = "average") -> np.ndarray:
    """u_i = 2·(rank(l_i) − 1)/(λ − 1) − 1 (Eq. 8.19; Algorithm 6, line 10): ``(λ,)`` float64.

    Ranks are *descending*: the largest loss has rank 1 (u = −1), the smallest rank λ (u = +1);
    the utilities are equally spaced in [−1, 1] and sum to zero. The text does not say how ties
    are ranked. ``ties="average"`` (default) gives tied losses the mean of their ranks, so equal
    losses get equal utilities whatever the sample order; ``ties="first"`` ranks a tie group in
    sample order, the earlier sample getting the lower rank (a stable sort, as ``argsort``).
    Both keep Σ u_i = 0.

    Raises ``ValueError`` for fewer than two losses (λ_π < 2), non-finite losses or an unknown
    ``ties``.
    """
    l = np.asarray(losses, dtype=np.float64)
    if l.ndim != 1 or l.size < 2:
        raise ValueError(f"rank utilities need a 1-D array of lambda_pi >= 2 losses, got shape {l.shape}")
    if not np.all(np.isfinite(l)):
        raise ValueError("losses must be finite to be ranked")
    if ties not in ("average", "first"):
        raise ValueError(f"ties must be 'average' or 'first', got {ties!r}")
    lam = l.size
    # descending ranks: rank 1 for the largest loss (rankdata ranks ascending, hence −l)
    rank = rankdata(-l, method="average" if ties == "average" else "ordinal")
    return 2.0 * (rank - 1.0) / (lam - 1.0) - 1.0


# --------------------------------------------------------------------------------------------
# Natural gradient and the NES update (Eqs. 8.15, 8.18, 8.44; Algorithm 6 lines 3–13)
# --------------------------------------------------------------------------------------------

def log_derivative(pi, a, *, form: str = "full") -> np.ndarray:
    """The natural gradient of log p(a|π) (Eqs. 8.15, 8.44), one per sample.

    ``form="expectation"``: T(a) − μ with ``mu (*shape, K − 1)`` -> ``(λ, *shape, K − 1)``;
    ``form="full"``: onehot(a) − π with ``pi (*shape, K)`` -> ``(λ, *shape, K)``.
    ``a`` is ``(λ, *shape)`` ints in [0, K) (``ValueError`` otherwise).
    """
    full = _as_full(pi, form)
    k = full.shape[-1]
    a = np.asarray(a)
    if a.shape[1:] != full.shape[:-1]:
        raise ValueError(f"samples must have shape (lambda, {', '.join(map(str, full.shape[:-1]))}), "
                         f"got {a.shape}")
    if form == "expectation":
        return sufficient_statistic(a, k) - np.asarray(pi, dtype=np.float64)
    return one_hot(a, k) - full


def search_gradient(pi, a, utilities, *, form: str = "full") -> np.ndarray:
    """∇_π J ≈ (1/λ)·Σ_i u_i·∇_π log p(a_i|π) (Eq. 8.18 with Eq. 8.44): the shape of ``pi``.

    ``a (λ, *shape)``, ``utilities (λ,)``. Because the rank utilities sum to zero the −π term
    cancels and the result equals (1/λ)·Σ u_i·T(a_i) (resp. onehot(a_i)).
    """
    u = np.asarray(utilities, dtype=np.float64)
    g = log_derivative(pi, a, form=form)
    if u.shape != (g.shape[0],):
        raise ValueError(f"need one utility per sample: {g.shape[0]} samples, utilities of shape {u.shape}")
    if not np.isfinite(u).all():
        raise ValueError("the utilities must be finite, got NaN or ±∞")
    return np.tensordot(u, g, axes=1) / g.shape[0]


def clamp_renormalise(pi, p_min: float = 0.001) -> np.ndarray:
    """Clamp every probability at ``p_min`` from below, then renormalise each categorical to sum 1
    (Sec. 8.5: "clamped above 0.1 %"). Full form ``(*shape, K)``. Renormalising can leave a clamped
    entry below ``p_min`` (when the step pushed others below zero, the clamp adds mass), but never
    at 0: after a step of size η it is at least p_min/(1 + K·(p_min + η))."""
    if not 0 <= p_min < 1:
        raise ValueError(f"p_min must lie in [0, 1), got {p_min}")
    pi = np.maximum(np.asarray(pi, dtype=np.float64), p_min)
    return pi / pi.sum(-1, keepdims=True)


def update(pi, a, utilities, lr: float, *, p_min: float = 0.001, form: str = "full") -> np.ndarray:
    """One NES step π ← π + η_π·∇_π J (Algorithm 6, line 12), then the clamp of Sec. 8.5.

    ``pi`` in ``form`` (full ``(*shape, K)`` or expectation ``(*shape, K − 1)``), ``a (λ, *shape)``,
    ``utilities (λ,)``; returns the new parameters in the same form. The clamp acts on all K
    probabilities (μ_K included), so the expectation form converts, clamps and converts back.

    Raises ``ValueError`` if ``lr <= 0``, ``pi`` is not a distribution, a sample lies outside [0, K),
    or a utility is not finite.
    """
    if not lr > 0:
        raise ValueError(f"the NES learning rate eta_pi must be > 0, got {lr}")
    _check_form(form)
    new = np.asarray(pi, dtype=np.float64) + lr * search_gradient(pi, a, utilities, form=form)
    full = clamp_renormalise(new if form == "full" else full_parameters(new), p_min)
    return full if form == "full" else expectation_parameters(full)


def step(pi, loss_fn: Callable[[np.ndarray], np.ndarray], lam: int, lr: float, rng: np.random.Generator,
         *, p_min: float = 0.001, form: str = "full", ties: str = "average") -> tuple[np.ndarray, dict]:
    """StepNES of Algorithm 6 (lines 3–13) for any black-box loss over categorical samples.

    Draws ``lam`` samples a_i ~ p(a|π), calls ``loss_fn(a)`` once with all of them
    (``(λ, *shape)`` ints -> ``(λ,)`` losses, lower is better), shapes them into rank utilities
    (Eq. 8.19) and takes one natural-gradient step (Eqs. 8.18, 8.44) with clamping.

    Returns ``(new_pi, {"samples", "losses", "utilities"})``. Raises ``ValueError`` if
    ``lam < 2`` or ``lr <= 0`` (before drawing anything), or if ``loss_fn`` returns the wrong shape
    or a NaN.
    """
    if not (isinstance(lam, (int, np.integer)) and lam >= 2):
        raise ValueError(f"NES needs lambda_pi >= 2 samples (utilities divide by lambda - 1), got {lam!r}")
    if not lr > 0:
        raise ValueError(f"the NES learning rate eta_pi must be > 0, got {lr}")
    a = sample(pi, lam, rng, form=form)
    losses = np.asarray(loss_fn(a), dtype=np.float64)
    if losses.shape != (lam,):
        raise ValueError(f"loss_fn must return one loss per sample, shape ({lam},), got {losses.shape}")
    if np.isnan(losses).any():
        raise ValueError("loss_fn returned NaN for some samples: they cannot be ranked")
    u = rank_utilities(losses, ties=ties)
    return update(pi, a, u, lr, p_min=p_min, form=form), {"samples": a, "losses": losses, "utilities": u}


# --------------------------------------------------------------------------------------------
# Read-outs
# --------------------------------------------------------------------------------------------

def entropy(pi, *, form: str = "full") -> np.ndarray:
    """Entropy −Σ_k π_k log π_k (nats) of every categorical: ``(*shape,)``; 0·log 0 = 0."""
    full = _as_full(pi, form)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(np.where(full > 0, full * np.log(full), 0.0), axis=-1)


def mode(pi, *, form: str = "full") -> np.ndarray:
    """argmax_a p(a|π), the assignment used for inference (Sec. 8.4.5): ``(*shape,)`` int64.
    Ties go to the lowest category index."""
    return np.argmax(_as_full(pi, form), axis=-1).astype(np.int64)
