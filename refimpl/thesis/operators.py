"""Evolutionary operators on whole populations (Prellberg, thesis ch. 4 and Sec. 5.2).

A *population* is a parameter pytree (e.g. ``model.init(rng, population=λ)``) whose every leaf
carries a leading population axis of length λ. The operators act on whole populations at once —
broadcasting, never a Python loop over individuals — and take their array module from their
arguments (:func:`refimpl.backend.array_module`), so the same code runs on NumPy and on CuPy.

========================  ==================================================================
:func:`uniform_crossover`     Eq. 4.1: each gene from parent 1 with probability p (0.5)
:func:`arithmetic_crossover`  Eq. 4.2: z = w·x1 + (1 − w)·x2 (w = ½)
:func:`normal_mutation`       Eq. 4.3: z = x + σ·ε, ε ~ N(0, 1), σ scalar or one per individual
:func:`decayed_sigma`         Eq. 5.3: σ_i = 0.99^(i/k)·σ_0
:func:`self_adapt_sigma`      Eq. 5.4: σ_(i+1) = σ_i·exp(τ·ε)
:func:`inherit_fitness`       Eq. 5.2: u_adj = (1 − α)·u_inh + α·u_(x,y)(θ)
:func:`truncation_selection`  Sec. 4.5: the n best, best first
:func:`comma_selection`,      (μ, λ) and (μ + λ) selection (Sec. 4.5, Algorithm 1)
:func:`plus_selection`
:func:`offspring_counts`      elite / crossover / mutation counts from p_E, p_C, p_M
========================  ==================================================================

Randomness: small draws (parent indices, σ-genes) are made on the host with the given
``np.random.Generator``; large draws (crossover masks, mutation noise: one value per gene) on the
device of the genome — for NumPy directly from the generator, for CuPy from a
``cupy.random.RandomState`` seeded with one 63-bit draw of the host generator. Runs are
reproducible bit for bit per seed on either backend, but the two backends' streams differ.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import array_module, asnumpy, is_gpu_module, raw_module, tree_leaves, tree_map

__all__ = [
    "CROSSOVERS", "SIGMA_CONTROLS", "population_size", "take", "concatenate", "individual",
    "uniform_crossover", "arithmetic_crossover", "normal_mutation", "decayed_sigma",
    "self_adapt_sigma", "inherit_fitness", "truncation_selection", "comma_selection",
    "plus_selection", "offspring_counts", "n_truncation",
]

CROSSOVERS = ("uniform", "arithmetic")
SIGMA_CONTROLS = ("constant", "decay", "self-adaptive")

# --------------------------------------------------------------------------------------------
# Population pytrees
# --------------------------------------------------------------------------------------------

def population_size(pop) -> int:
    """λ, the common length of the leading axis of every leaf of the population pytree ``pop``.

    Raises ``ValueError`` if ``pop`` has no array leaves, a leaf is 0-d, or the leading axes differ.
    """
    leaves = tree_leaves(pop)
    if not leaves:
        raise ValueError("a population needs at least one array leaf")
    sizes = {int(a.shape[0]) if getattr(a, "ndim", 0) >= 1 else None for a in leaves}
    if None in sizes:
        raise ValueError("every leaf of a population needs a leading population axis (got a 0-d leaf)")
    if len(sizes) != 1:
        raise ValueError(f"population leaves disagree on the population size: {sorted(sizes)}")
    return sizes.pop()


def _xp_of(pop):
    return array_module(*tree_leaves(pop))


def take(pop, idx, *, out=None):
    """The individuals ``idx`` (int array, host or device) of ``pop``: a new population, same
    device; or, with ``out`` (a population of ``len(idx)`` individuals, same structure), written
    into ``out`` in place (one copy, no temporary) and ``out`` returned. Raises ``IndexError``
    for an index outside ``[-λ, λ)``."""
    leaves = tree_leaves(pop)
    xp = raw_module(*leaves)
    idx = xp.asarray(idx)
    if out is None:
        return tree_map(lambda a: a[idx], pop)
    if xp is np:
        # np.take's default mode="raise" copies through a temporary buffer when given ``out``
        # (4x slower for rows of a population); check the bounds once, then take directly.
        n = population_size(pop)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"take: indices must lie in [-{n}, {n}), got {idx.min()}..{idx.max()}")
        for a, o in zip(leaves, tree_leaves(out)):
            np.take(a, idx, axis=0, out=o, mode="wrap")
    else:
        for a, o in zip(leaves, tree_leaves(out)):
            xp.take(a, idx, axis=0, out=o)
    return out


def individual(pop, i: int):
    """Individual ``i`` of ``pop`` as a single network's parameters (population axis dropped)."""
    return tree_map(lambda a: a[int(i)], pop)


def concatenate(pops):
    """Concatenate populations of equal structure along the population axis (order kept)."""
    pops = list(pops)
    xp = _xp_of(pops[0])
    return tree_map(lambda *leaves: xp.concatenate(leaves, axis=0), pops[0], *pops[1:])


def _check_pair(x1, x2) -> int:
    n = population_size(x1)
    if population_size(x2) != n:
        raise ValueError(f"parents must be populations of equal size, got {n} and {population_size(x2)}")
    for a, b in zip(tree_leaves(x1), tree_leaves(x2)):
        if a.shape != b.shape:
            raise ValueError(f"parent leaves differ in shape: {a.shape} vs {b.shape}")
    return n


def _per_individual(xp, value, leaf):
    """``value`` (scalar or (n,)) shaped to broadcast against ``leaf`` (n, ...), in its dtype."""
    v = xp.asarray(value, dtype=leaf.dtype)
    return v.reshape(v.shape + (1,) * (leaf.ndim - 1)) if v.ndim == 1 else v


def _draw(xp, rng: np.random.Generator, kind: str, shape, dtype):
    """Standard normal (``kind="normal"``) or U[0, 1) (``"uniform"``) values on ``xp``'s device.

    NumPy: straight from ``rng`` (float32 draws for float32 genomes). CuPy: one seed from ``rng``
    seeds a ``cupy.random.RandomState`` (see the module docstring).
    """
    dtype = np.dtype(dtype)
    draw_dtype = np.float32 if dtype == np.float32 else np.float64
    if is_gpu_module(xp):
        rs = xp.random.RandomState(int(rng.integers(2**63 - 1)))
        out = rs.standard_normal(shape, dtype=draw_dtype) if kind == "normal" else \
            rs.random_sample(shape, dtype=draw_dtype)
    else:
        out = rng.standard_normal(shape, dtype=draw_dtype) if kind == "normal" else \
            rng.random(shape, dtype=draw_dtype)
    return out.astype(dtype, copy=False)


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")


# --------------------------------------------------------------------------------------------
# Variation operators (Sec. 4.4, Eqs. 4.1–4.3) and mutation-strength control (Eqs. 5.3, 5.4)
# --------------------------------------------------------------------------------------------

def uniform_crossover(x1, x2, rng: np.random.Generator, *, p: float = 0.5, out=None):
    """Uniform crossover (thesis Eq. 4.1): each gene of child k comes from ``x1[k]`` with
    probability ``p`` and from ``x2[k]`` otherwise, independently per gene.

    ``x1``, ``x2``: populations (pytrees with leading axis n) of equal structure and shapes,
    any float dtype, NumPy or CuPy; the child population has the same shapes, dtypes, device.
    The thesis uses p = ½; the authors' code passes the fitter parent as ``x1``.
    The mask is drawn on the genome's device, so NumPy and CuPy give different children for the
    same ``rng`` (module docstring). ``out``: a population of the same structure to write the
    children into (it may be ``x2`` itself: then only the genes taken from ``x1`` are written);
    the same mask is drawn with or without it. Raises ``ValueError`` for mismatched parents or p
    outside [0, 1], ``TypeError`` for a bad rng.
    """
    _check_rng(rng)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"crossover probability p must lie in [0, 1], got {p}")
    _check_pair(x1, x2)
    xp = raw_module(*tree_leaves(x1))
    result = tree_map(xp.empty_like, x1) if out is None else out
    for a, b, o in zip(tree_leaves(x1), tree_leaves(x2), tree_leaves(result)):
        if _word_select_applies(xp, p, a, b, o):
            # p = ½ on NumPy: the mask as machine words (all ones where the gene comes from
            # x1), then z = x2 ^ ((x1 ^ x2) & mask) on the genes' bit patterns: exactly the
            # selected parent's gene, a few fast integer passes instead of a masked copy.
            u = np.dtype(f"u{a.dtype.itemsize}")
            av, bv, ov = (z.reshape(-1).view(u) for z in (a, b, o))
            m = _mask_words(rng, a.size, u)
            m &= np.bitwise_xor(av, bv)
            np.bitwise_xor(bv, m, out=ov)
        else:
            mask = _mask(xp, rng, a.shape, p)
            if o is not b:
                xp.copyto(o, b)
            xp.copyto(o, a, where=mask)  # z = x1 where the mask is set, x2 elsewhere
    return result


def _mask(xp, rng, shape, p):
    """Boolean array of ``shape``, each entry True with probability p. On NumPy with p = ½ it
    unpacks random bytes (8 fair bits per byte, several times faster than comparing uniforms)."""
    if p == 0.5 and not is_gpu_module(xp):
        n = int(np.prod(shape))
        bits = np.unpackbits(rng.integers(0, 256, size=(n + 7) // 8, dtype=np.uint8), count=n)
        return bits.view(bool).reshape(shape)
    return _draw(xp, rng, "uniform", shape, np.float32) < p


#: Byte → its 8 bits as words, most significant bit first (``np.unpackbits``' order): row v of
#: ``_BYTE_WORDS[u]`` is all ones in the words whose bit of v is set, zeros elsewhere.
_BYTE_WORDS = {np.dtype(u): ((np.arange(256)[:, None] >> np.arange(7, -1, -1)) & 1).astype(u) * u(np.iinfo(u).max)
               for u in (np.uint16, np.uint32, np.uint64)}


def _mask_words(rng, n: int, u: np.dtype) -> np.ndarray:
    """The p = ½ mask of :func:`_mask` for ``n`` genes (the same random bytes, the same bits) as
    unsigned words of dtype ``u``: all ones where the mask is True, 0 elsewhere."""
    nbytes = (n + 7) // 8
    words = np.take(_BYTE_WORDS[u], rng.integers(0, 256, size=nbytes, dtype=np.uint8), axis=0)
    return words.reshape(-1)[:n]


def _word_select_applies(xp, p, a, b, o) -> bool:
    return (p == 0.5 and not is_gpu_module(xp) and a.dtype == b.dtype == o.dtype
            and np.dtype(f"u{a.dtype.itemsize}") in _BYTE_WORDS
            and a.flags.c_contiguous and b.flags.c_contiguous and o.flags.c_contiguous)


def arithmetic_crossover(x1, x2, *, w=0.5, out=None):
    """Arithmetic crossover (thesis Eq. 4.2): ``z = w·x1 + (1 − w)·x2``.

    ``w`` is a scalar or an ``(n,)`` array (one weight per child) in [0, 1]; Eq. 4.2 is w = ½,
    a fitness-biased w is the variant mentioned after it. Shapes/dtypes/device as ``x1``.
    ``out``: a population of the same structure to write the children into (same numbers).
    Raises ``ValueError`` for mismatched parents or w outside [0, 1].
    """
    n = _check_pair(x1, x2)
    w_host = np.asarray(asnumpy(w), dtype=np.float64)
    if w_host.ndim > 1 or (w_host.ndim == 1 and w_host.shape[0] != n):
        raise ValueError(f"w must be a scalar or have shape ({n},), got shape {w_host.shape}")
    if not np.all((w_host >= 0) & (w_host <= 1)):
        raise ValueError(f"crossover weights w must lie in [0, 1], got {w_host.min()}..{w_host.max()}")
    xp = _xp_of(x1)

    def mix(a, b):
        wa = _per_individual(xp, w_host, a)
        return wa * a + (1 - wa) * b
    if out is None:
        return tree_map(mix, x1, x2)
    xp = raw_module(*tree_leaves(x1))
    for a, b, o in zip(tree_leaves(x1), tree_leaves(x2), tree_leaves(out)):
        wa = _per_individual(xp, w_host, a)
        xp.multiply(1 - wa, b, out=o)          # (1 − w)·x2
        o += wa * a                            # + w·x1 (same operations as ``mix``)
    return out


def _check_sigma(sigma, name="sigma") -> np.ndarray:
    s = np.asarray(asnumpy(sigma), dtype=np.float64)
    if s.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a (n,) array, got shape {s.shape}")
    if s.size == 0 or not np.all(np.isfinite(s)) or not np.all(s > 0):
        raise ValueError(f"mutation strength {name} must be finite and > 0, got {s if s.ndim == 0 else s.min()}")
    return s


def normal_mutation(x, sigma, rng: np.random.Generator, *, out=None):
    """Random normal mutation (thesis Eq. 4.3): ``z = x + σ·ε`` with ε ~ N(0, 1) per gene.

    ``x``: population (leading axis n), float32/float64, NumPy or CuPy. ``sigma``: the mutation
    strength, a scalar or an ``(n,)`` array (one σ per individual, for self-adaptation); > 0.
    Noise is drawn in the genome's dtype on its device (NumPy and CuPy give different noise for
    the same ``rng``, see the module docstring). Returns the mutated population: new arrays, or
    ``out`` (a population of the same structure, not ``x`` itself) written in place. On NumPy the
    float32/float64 noise is drawn straight into the result (``standard_normal(dtype=...,
    out=...)``), scaled by σ and added to ``x`` there: no temporary; the numbers are the same
    with or without ``out``. Raises ``ValueError`` for σ ≤ 0 or a σ array of the wrong length.
    """
    _check_rng(rng)
    s = _check_sigma(sigma)
    n = population_size(x)
    if s.ndim == 1 and s.shape[0] != n:
        raise ValueError(f"sigma has {s.shape[0]} entries but the population has {n} individuals")
    xp = raw_module(*tree_leaves(x))
    result = tree_map(xp.empty_like, x) if out is None else out
    for a, o in zip(tree_leaves(x), tree_leaves(result)):
        if o is a:
            raise ValueError("normal_mutation: out must not be x itself")
        if not is_gpu_module(xp) and o.dtype in (np.float32, np.float64):
            rng.standard_normal(dtype=o.dtype, out=o)     # ε, drawn in place in the genome's dtype
        else:
            o[...] = _draw(xp, rng, "normal", a.shape, a.dtype)
        o *= _per_individual(xp, s, a)                    # σ·ε
        o += a                                            # z = x + σ·ε
    return result


def decayed_sigma(sigma0: float, generation, k: float = 100.0):
    """Exponentially decaying mutation strength (thesis Eq. 5.3): ``σ_i = 0.99^(i/k)·σ_0``.

    ``generation`` i ≥ 0 (int or array), ``k`` > 0 generations per factor 0.99 (the code: 100,
    applied continuously). Raises ``ValueError`` for σ_0 ≤ 0, k ≤ 0 or a negative generation.
    """
    _check_sigma(sigma0, "sigma0")
    if not k > 0:
        raise ValueError(f"decay constant k must be > 0, got {k}")
    i = np.asarray(generation, dtype=np.float64)
    if np.any(i < 0):
        raise ValueError(f"generation must be >= 0, got {generation}")
    out = 0.99 ** (i / k) * float(sigma0)
    return float(out) if out.ndim == 0 else out


def self_adapt_sigma(sigma, tau: float, rng: np.random.Generator) -> np.ndarray:
    """Self-adaptive mutation of the σ-genes (thesis Eq. 5.4): ``σ' = σ·exp(τ·ε)``, ε ~ N(0, 1)
    drawn independently per individual.

    ``sigma``: (n,) float array of positive σ-genes (host NumPy; it is tiny). ``tau`` > 0
    (the code: 0.01). Returns a new float64 (n,) array, log-normally scattered around σ.
    Raises ``ValueError`` for τ ≤ 0 or non-positive σ.
    """
    _check_rng(rng)
    s = _check_sigma(sigma)
    if not (tau > 0 and math.isfinite(tau)):
        raise ValueError(f"self-adaptation rate tau must be finite and > 0, got {tau}")
    return s * np.exp(tau * rng.standard_normal(s.shape))


def inherit_fitness(inherited, evaluated, alpha: float) -> np.ndarray:
    """Fitness inheritance (thesis Eq. 5.2): ``u_adj = (1 − α)·u_inh + α·u_(x,y)(θ)``.

    ``inherited`` (n,) the fitness passed down from the parents (mean of two for crossover, the
    parent's for mutation, the elite's own previous value); NaN means "no parent" (the initial
    population) and then u_adj = u_(x,y). ``evaluated`` (n,) this generation's batch fitness.
    α ∈ [0, 1]; α = 1 disables inheritance. Host float64 in and out. ``ValueError`` otherwise.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"fitness inheritance weight alpha must lie in [0, 1], got {alpha}")
    inh = np.asarray(inherited, dtype=np.float64)
    ev = np.asarray(evaluated, dtype=np.float64)
    if inh.shape != ev.shape or ev.ndim != 1:
        raise ValueError(f"inherited and evaluated fitness must be (n,) of equal length, "
                         f"got {inh.shape} and {ev.shape}")
    return np.where(np.isnan(inh), ev, (1.0 - alpha) * inh + alpha * ev)


# --------------------------------------------------------------------------------------------
# Selection (Sec. 4.5) and the offspring bookkeeping of Algorithm 2
# --------------------------------------------------------------------------------------------

def truncation_selection(fitness, n: int) -> np.ndarray:
    """Indices of the ``n`` individuals with the highest fitness, best first (Sec. 4.5).

    ``fitness`` (λ,) host array (maximised; NaN counts as worst). Ties keep the lower index
    first (stable). Raises ``ValueError`` unless 1 ≤ n ≤ λ.
    """
    u = np.asarray(asnumpy(fitness), dtype=np.float64)
    if u.ndim != 1:
        raise ValueError(f"fitness must be 1-D, got shape {u.shape}")
    if not 1 <= int(n) <= u.shape[0]:
        raise ValueError(f"cannot select {n} of {u.shape[0]} individuals (need 1 <= n <= λ)")
    u = np.where(np.isnan(u), -np.inf, u)
    return np.argsort(-u, kind="stable")[: int(n)]


def comma_selection(offspring_fitness, mu: int) -> np.ndarray:
    """(μ, λ) selection: indices of the μ best offspring; parents never survive (Sec. 4.5)."""
    return truncation_selection(offspring_fitness, mu)


def plus_selection(parent_fitness, offspring_fitness, mu: int) -> np.ndarray:
    """(μ + λ) selection: indices into ``concatenate([parents, offspring])`` of the μ best of
    parents and offspring together (Algorithm 1, line 6). Ties favour parents (stable order)."""
    both = np.concatenate([np.asarray(asnumpy(parent_fitness), np.float64).ravel(),
                           np.asarray(asnumpy(offspring_fitness), np.float64).ravel()])
    return truncation_selection(both, mu)


def offspring_counts(lam: int, p_elite: float, p_crossover: float, p_mutation: float) -> tuple[int, int, int]:
    """Numbers of elites, crossover children and mutants (n_E, n_C, n_M) for λ individuals.

    The shares must be in [0, 1] and sum to 1 (within 1e-9). The counts are the largest-remainder
    apportionment of λ: each is ⌊λ·p⌋ or ⌈λ·p⌉, a zero share gives zero, and n_E + n_C + n_M = λ
    exactly (the authors' code rounds each share on its own, which can miss λ by one).
    Raises ``ValueError`` otherwise.
    """
    _check_lambda(lam)
    shares = np.array([p_elite, p_crossover, p_mutation], dtype=np.float64)
    if not np.all((shares >= 0) & (shares <= 1)):
        raise ValueError(f"p_E, p_C, p_M must each lie in [0, 1], got {tuple(shares)}")
    if abs(shares.sum() - 1.0) > 1e-9:
        raise ValueError(f"p_E + p_C + p_M must sum to 1, got {shares.sum():.12g} = "
                         f"{p_elite} + {p_crossover} + {p_mutation}")
    exact = lam * shares
    counts = np.floor(exact + 1e-9).astype(int)
    remainder = exact - counts
    for j in np.argsort(-remainder, kind="stable")[: lam - counts.sum()]:
        counts[j] += 1
    return int(counts[0]), int(counts[1]), int(counts[2])


def n_truncation(lam: int, rho: float) -> int:
    """|T| = ⌊ρλ⌋, the number of individuals eligible as parents (Algorithm 2, line 6).

    Raises ``ValueError`` unless 0 < ρ ≤ 1 and ρλ ≥ 1.
    """
    _check_lambda(lam)
    if not 0.0 < rho <= 1.0:
        raise ValueError(f"selection proportion rho must lie in (0, 1], got {rho}")
    n = int(math.floor(rho * lam + 1e-9))
    if n < 1:
        raise ValueError(f"rho·λ = {rho}·{lam} = {rho * lam:g} < 1: no individual would be selected as parent")
    return n


def _check_lambda(lam):
    if isinstance(lam, bool) or not isinstance(lam, (int, np.integer)) or lam < 1:
        raise ValueError(f"population size λ must be an int >= 1, got {lam!r}")
