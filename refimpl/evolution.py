"""Population-based evolutionary algorithm for network weights (Prellberg, thesis ch. 4–5).

A *population* is a parameter pytree (e.g. ``model.init(rng, population=λ)``) whose every leaf
carries a leading population axis of length λ. The operators below act on whole populations
at once — broadcasting, never a Python loop over individuals — and take their array module
from their arguments (:func:`refimpl.backend.array_module`), so the same code runs on NumPy
and on CuPy. The population of Dense-only networks is evaluated by batched forward passes
(thesis Sec. 5.2.3): each Dense layer is one product of the activations ``(λ, B, in)`` (or the
shared input batch ``(B, in)``) with ``W (λ, in, out)``, as ``model.apply(population, x)`` does;
:func:`evaluate_population` does the same with in-place bias and ReLU, all individuals in one
pass on CuPy and in cache-sized chunks of individuals on a CPU (:func:`default_chunk_size`).

Operators (ch. 4 and Sec. 5.2)
------------------------------
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

The limited-evaluation EA of Algorithm 2 is :func:`generation` (one generation) and
:func:`evolve` (the loop with validation tracking, checkpoints and resumption), configured by
:class:`EAConfig` (defaults: Table 5.1, validation column).

Randomness
----------
Every drawing function takes a ``np.random.Generator``. Small draws (parent indices, the
σ-genes, batch indices) are always made on the host with that generator. Large draws (the
crossover masks and mutation noise, one value per gene) are made on the device of the genome:
for NumPy arrays directly from the generator; for CuPy arrays each call draws one 63-bit seed
from the host generator and seeds a ``cupy.random.RandomState`` with it. Runs are therefore
reproducible bit for bit from the seed on either backend, but the CuPy stream differs from the
NumPy stream (the two backends do not give identical populations).

Readings of the text and of the authors' code (gpuea, see REFERENCE-NOTES.md)
------------------------------------------------------------------------------
* Counts: ``offspring_counts`` apportions λ by largest remainders so that the three groups sum
  to exactly λ; the code rounds each share separately (which can give λ ± 1).
* Parent pairs are drawn uniformly with replacement from the ρλ best and ordered fitter-first
  (the code); crossover children are not mutated (text and code agree).
* σ-gene on crossover: the arithmetic mean of the parents' σ (text, Sec. 5.2.2,
  ``sigma_crossover="mean"``); the code crosses σ with the same operator as the weights
  (``sigma_crossover="operator"``).
* Self-adaptation order: a mutant's weights are perturbed with its parent's σ_i and it carries
  σ_(i+1) = σ_i·exp(τε) into the next generation (Eq. 5.4's indices; the code does the same:
  "the update takes effect one generation later", ``sigma_order="lagged"``). Classic ES
  self-adaptation mutates σ first and uses the new value at once (``sigma_order="first"``).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import nn
from .backend import array_module, asnumpy, is_cupy, raw_module, to_device, tree_leaves, tree_map
from .model import Activation, BatchNorm, Conv2D, Dense, Flatten, MaxPool2D, Sequential

__all__ = [
    "CROSSOVERS", "SIGMA_CONTROLS", "EAConfig", "EAState", "EAResult", "GenerationInfo",
    "population_size", "take", "concatenate", "individual",
    "uniform_crossover", "arithmetic_crossover", "normal_mutation", "decayed_sigma",
    "self_adapt_sigma", "inherit_fitness", "truncation_selection", "comma_selection",
    "plus_selection", "offspring_counts", "n_truncation",
    "thesis_network", "evaluate_population", "default_chunk_size", "CPU_ACTIVATION_BUDGET",
    "init_ea", "generation", "evolve",
    "save_checkpoint", "load_checkpoint",
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


def take(pop, idx):
    """The individuals ``idx`` (int array, host or device) of ``pop``: a new population, same device."""
    xp = _xp_of(pop)
    idx = xp.asarray(idx)
    return tree_map(lambda a: a[idx], pop)


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
    if getattr(xp, "__name__", "") == "cupy":
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

def uniform_crossover(x1, x2, rng: np.random.Generator, *, p: float = 0.5):
    """Uniform crossover (thesis Eq. 4.1): each gene of child k comes from ``x1[k]`` with
    probability ``p`` and from ``x2[k]`` otherwise, independently per gene.

    ``x1``, ``x2``: populations (pytrees with leading axis n) of equal structure and shapes,
    any float dtype, NumPy or CuPy; the child population has the same shapes, dtypes, device.
    The thesis uses p = ½; the authors' code passes the fitter parent as ``x1``.
    Raises ``ValueError`` for mismatched parents or p outside [0, 1], ``TypeError`` for a bad rng.
    """
    _check_rng(rng)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"crossover probability p must lie in [0, 1], got {p}")
    _check_pair(x1, x2)
    xp = _xp_of(x1)
    return tree_map(lambda a, b: xp.where(_mask(xp, rng, a.shape, p), a, b), x1, x2)


def _mask(xp, rng, shape, p):
    """Boolean array of ``shape``, each entry True with probability p. On NumPy with p = ½ it
    unpacks random bytes (8 fair bits per byte, several times faster than comparing uniforms)."""
    if p == 0.5 and getattr(xp, "__name__", "") != "cupy":
        n = int(np.prod(shape))
        bits = np.unpackbits(rng.integers(0, 256, size=(n + 7) // 8, dtype=np.uint8), count=n)
        return bits.view(bool).reshape(shape)
    return _draw(xp, rng, "uniform", shape, np.float32) < p


def arithmetic_crossover(x1, x2, *, w=0.5):
    """Arithmetic crossover (thesis Eq. 4.2): ``z = w·x1 + (1 − w)·x2``.

    ``w`` is a scalar or an ``(n,)`` array (one weight per child) in [0, 1]; Eq. 4.2 is w = ½,
    a fitness-biased w is the variant mentioned after it. Shapes/dtypes/device as ``x1``.
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
    return tree_map(mix, x1, x2)


def _check_sigma(sigma, name="sigma") -> np.ndarray:
    s = np.asarray(asnumpy(sigma), dtype=np.float64)
    if s.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a (n,) array, got shape {s.shape}")
    if s.size == 0 or not np.all(np.isfinite(s)) or not np.all(s > 0):
        raise ValueError(f"mutation strength {name} must be finite and > 0, got {s if s.ndim == 0 else s.min()}")
    return s


def normal_mutation(x, sigma, rng: np.random.Generator):
    """Random normal mutation (thesis Eq. 4.3): ``z = x + σ·ε`` with ε ~ N(0, 1) per gene.

    ``x``: population (leading axis n), float32/float64, NumPy or CuPy. ``sigma``: the mutation
    strength, a scalar or an ``(n,)`` array (one σ per individual, for self-adaptation); > 0.
    Noise is drawn in the genome's dtype on its device. Returns the mutated population.
    Raises ``ValueError`` for σ ≤ 0 or a σ array of the wrong length.
    """
    _check_rng(rng)
    s = _check_sigma(sigma)
    n = population_size(x)
    if s.ndim == 1 and s.shape[0] != n:
        raise ValueError(f"sigma has {s.shape[0]} entries but the population has {n} individuals")
    xp = _xp_of(x)
    return tree_map(lambda a: a + _per_individual(xp, s, a) * _draw(xp, rng, "normal", a.shape, a.dtype), x)


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


# --------------------------------------------------------------------------------------------
# Configuration (Table 5.1)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EAConfig:
    """Hyperparameters of the limited-evaluation EA (Algorithm 2). Defaults: Table 5.1,
    validation column; ``EAConfig.table_5_1("test")`` gives the final experiment's column.

    Attributes
    ----------
    population_size : λ (= μ), ≥ 1.
    batch_size : examples per generation's fitness evaluation (Eq. 5.5), ≥ 1.
    p_elite, p_crossover, p_mutation : p_E, p_C, p_M, shares of the λ offspring; sum to 1.
    selection_proportion : ρ ∈ (0, 1]; parents come from the ⌊ρλ⌋ best; ρλ ≥ 1.
    fitness_inheritance : α ∈ [0, 1] of Eq. 5.2 (1 = no inheritance).
    sigma : σ (σ_0 for the decay and self-adaptation), > 0.
    sigma_control : ``"constant"``, ``"decay"`` (Eq. 5.3) or ``"self-adaptive"`` (Eq. 5.4).
    decay_k : k of Eq. 5.3 (> 0; the code: 100).
    tau : τ of Eq. 5.4 (> 0; the code: 0.01).
    crossover : ``"uniform"`` (Eq. 4.1) or ``"arithmetic"`` (Eq. 4.2).
    crossover_rate : p of the uniform crossover (probability of the fitter parent's gene), ½.
    sigma_crossover : ``"mean"`` (text) or ``"operator"`` (code): how a child's σ-gene is formed.
    sigma_order : ``"lagged"`` (Eq. 5.4 indices, code) or ``"first"`` (classic ES), see module doc.

    Raises ``ValueError`` (naming the parameter) for any invalid value.
    """
    population_size: int = 1000
    batch_size: int = 512
    p_elite: float = 0.05
    p_crossover: float = 0.50
    p_mutation: float = 0.45
    selection_proportion: float = 0.5
    fitness_inheritance: float = 1.0
    sigma: float = 1e-3
    sigma_control: str = "constant"
    decay_k: float = 100.0
    tau: float = 0.01
    crossover: str = "uniform"
    crossover_rate: float = 0.5
    sigma_crossover: str = "mean"
    sigma_order: str = "lagged"

    def __post_init__(self):
        _check_lambda(self.population_size)
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, (int, np.integer)) \
                or self.batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {self.batch_size!r}")
        offspring_counts(self.population_size, self.p_elite, self.p_crossover, self.p_mutation)
        n_truncation(self.population_size, self.selection_proportion)
        if not 0.0 <= self.fitness_inheritance <= 1.0:
            raise ValueError(f"fitness_inheritance alpha must lie in [0, 1], got {self.fitness_inheritance}")
        if not (self.sigma > 0 and math.isfinite(self.sigma)):
            raise ValueError(f"sigma must be finite and > 0, got {self.sigma}")
        if self.sigma_control not in SIGMA_CONTROLS:
            raise ValueError(f"sigma_control must be one of {SIGMA_CONTROLS}, got {self.sigma_control!r}")
        if not self.decay_k > 0:
            raise ValueError(f"decay_k must be > 0, got {self.decay_k}")
        if not (self.tau > 0 and math.isfinite(self.tau)):
            raise ValueError(f"tau must be finite and > 0, got {self.tau}")
        if self.crossover not in CROSSOVERS:
            raise ValueError(f"crossover must be one of {CROSSOVERS}, got {self.crossover!r}")
        if not 0.0 <= self.crossover_rate <= 1.0:
            raise ValueError(f"crossover_rate must lie in [0, 1], got {self.crossover_rate}")
        if self.sigma_crossover not in ("mean", "operator"):
            raise ValueError(f"sigma_crossover must be 'mean' or 'operator', got {self.sigma_crossover!r}")
        if self.sigma_order not in ("lagged", "first"):
            raise ValueError(f"sigma_order must be 'lagged' or 'first', got {self.sigma_order!r}")

    @property
    def counts(self) -> tuple[int, int, int]:
        """(n_E, n_C, n_M), see :func:`offspring_counts`."""
        return offspring_counts(self.population_size, self.p_elite, self.p_crossover, self.p_mutation)

    @property
    def n_parents(self) -> int:
        """|T| = ⌊ρλ⌋, see :func:`n_truncation`."""
        return n_truncation(self.population_size, self.selection_proportion)

    def replace(self, **changes) -> "EAConfig":
        """A validated copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def table_5_1(cls, column: str = "validation") -> "EAConfig":
        """The settings of Table 5.1: ``"validation"`` (exploratory experiments) or ``"test"``
        (final comparison with Adam: batch 1024, p_C 0.75, p_M 0.20, λ 2000)."""
        if column == "validation":
            return cls()
        if column == "test":
            return cls(population_size=2000, batch_size=1024, p_crossover=0.75, p_mutation=0.20)
        raise ValueError(f"column must be 'validation' or 'test', got {column!r}")


# --------------------------------------------------------------------------------------------
# The network of Sec. 5.3.1 and batched fitness evaluation
# --------------------------------------------------------------------------------------------

def thesis_network(input_shape=(1, 28, 28), *, pool: int = 2, hidden=(256, 128, 64), n_out: int = 10,
                   kernel_init: str = "glorot_uniform") -> Sequential:
    """The network of thesis Sec. 5.3.1: ``pool``×``pool`` max-pooling of the input, then dense
    layers 256-128-64-10 with ReLU (linear output = logits), Glorot-uniform weights, zero biases.

    For MNIST input ``(1, 28, 28)`` this is 196-256-128-64-10 with 92,234 parameters.
    ``pool=1`` drops the pooling (used for the 8×8 digits, where pooling would leave 16 inputs).
    """
    layers: list = [MaxPool2D(pool)] if pool > 1 else []
    layers.append(Flatten())
    layers += [Dense(int(h), "relu", kernel_init=kernel_init) for h in hidden]
    layers.append(Dense(int(n_out), "linear", kernel_init=kernel_init))
    return Sequential(tuple(input_shape), tuple(layers))


def _check_population_model(model: Sequential):
    for i, layer in enumerate(model.layers):
        if isinstance(layer, (Conv2D, BatchNorm)):
            raise ValueError(f"population evaluation needs a Dense-only network (pooling/flatten of the "
                             f"input allowed); layer {i} is {type(layer).__name__}")
    if not any(isinstance(layer, Dense) for layer in model.layers):
        raise ValueError("population evaluation needs at least one Dense layer")
    seen_dense = False
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Dense):
            seen_dense = True
        elif seen_dense and not isinstance(layer, (Flatten, Activation)):
            raise ValueError(f"layer {i} ({type(layer).__name__}) after a Dense layer cannot take a "
                             f"population axis")


#: Activation memory one CPU chunk of :func:`evaluate_population` may use (bytes, all layers of
#: the chunk together): small enough to stay in the CPU caches, see ``chunk_size``.
CPU_ACTIVATION_BUDGET = 8 * 2**20


def default_chunk_size(model: Sequential, lam: int, batch: int, xp=np,
                       budget: int = CPU_ACTIVATION_BUDGET, itemsize: int = 4) -> int:
    """The chunk size :func:`evaluate_population` uses by default.

    CuPy (``xp`` is ``cupy``): ``lam``, the whole population in one pass (Sec. 5.2.3). NumPy: the
    largest number of individuals whose activations (``batch`` × the summed widths of the Dense
    layers × ``itemsize`` bytes each) fit in ``budget`` bytes, at least 1. On a CPU, activations
    of the whole population (gigabytes at λ = 2000, batch 1024) stream through main memory
    between the matrix products, so one pass over everybody is slower than cache-sized chunks.
    """
    if getattr(xp, "__name__", "") == "cupy":
        return lam
    per_individual = batch * itemsize * sum(layer.units for layer in model.layers if isinstance(layer, Dense))
    return int(max(1, min(lam, budget // per_individual)))


def evaluate_population(model: Sequential, pop, x, y, *, chunk_size: int | None | str = "auto",
                        loss: Callable = nn.cross_entropy) -> np.ndarray:
    """Loss of every individual on one batch (Eq. 5.5), by batched forward passes (Sec. 5.2.3).

    ``pop``: population parameters (leading axis λ) of a Dense-only ``model`` (pooling/flatten
    of the input allowed), NumPy or CuPy; ``x (B, *input_shape)`` shared by all individuals, on
    the same device; ``y (B,)`` int labels. ``loss(logits (n, B, C), y) -> (n,)``, default mean
    cross-entropy. The parameterless input layers run once on ``x``; then each Dense layer is one
    batched product of ``(B, in)`` (first layer) or ``(n, B, in)`` with ``W (n, in, out)`` over
    ``n`` individuals, the bias and ReLU applied in place (same numbers as ``model.apply``).

    ``chunk_size``: individuals per batched pass. ``"auto"`` (default): see
    :func:`default_chunk_size` (whole population on CuPy, cache-sized chunks on NumPy); ``None``:
    all λ at once; an int ≥ 1: that many. The losses do not depend on it.
    Returns host float64 (λ,). Raises ``ValueError`` for an unsuitable model, bad shapes or
    chunk size.
    """
    _check_population_model(model)
    lam = population_size(pop)
    if len(pop) != len(model.layers):
        raise ValueError(f"pop has {len(pop)} layer entries but the model has {len(model.layers)} layers")
    k = len(model.input_shape)
    if x.ndim != k + 1 or tuple(x.shape[1:]) != model.input_shape:
        raise ValueError(f"x must be (B, *{model.input_shape}), shared by the population; got {tuple(x.shape)}")
    xp = raw_module(x, *tree_leaves(pop))
    start = next(i for i, layer in enumerate(model.layers) if isinstance(layer, Dense))
    h0 = x  # the parameterless input layers (pooling, flatten), once for everybody
    for layer, in_shape in zip(model.layers[:start], model.shapes[:start]):
        h0, _ = layer.apply({}, h0, in_shape, None, False)
    B, dtype = x.shape[0], xp.result_type(h0, *tree_leaves(pop))
    if chunk_size == "auto":
        chunk_size = default_chunk_size(model, lam, B, xp, itemsize=dtype.itemsize)
    elif chunk_size is None:
        chunk_size = lam
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be 'auto', None or an int >= 1, got {chunk_size!r}")
    chunk_size = min(int(chunk_size), lam)
    # one (chunk, B, units) buffer per Dense layer, reused by every chunk
    buffers = {i: xp.empty((chunk_size, B, layer.units), dtype=dtype)
               for i, layer in enumerate(model.layers) if isinstance(layer, Dense)}
    out = np.empty(lam, dtype=np.float64)
    for s in range(0, lam, chunk_size):
        n = min(chunk_size, lam - s)
        h = h0
        for i, layer in enumerate(model.layers[start:], start):
            if isinstance(layer, Dense):
                p = pop[i]
                z = buffers[i][:n]
                xp.matmul(h, p["W"][s:s + n], out=z)
                if "b" in p:
                    z += p["b"][s:s + n, None, :]
                if layer.activation == "relu":  # z·[z > 0] (nn.relu) in place: faster than maximum
                    h = xp.multiply(z, z > 0, out=z)
                else:
                    h = nn.get_activation(layer.activation)(z)
            else:  # Flatten / Activation after the Dense stack
                h, _ = layer.apply({}, h, model.shapes[i], None, False)
        out[s:s + n] = asnumpy(loss(h, y))
    return out


# --------------------------------------------------------------------------------------------
# Algorithm 2: the limited-evaluation EA
# --------------------------------------------------------------------------------------------

@dataclass
class EAState:
    """Everything needed to continue a run (and to checkpoint it).

    population : pytree, leading axis λ, on the run's device (float32 by default).
    sigma : (λ,) host float64, the σ each individual mutates its children with (σ-genes under
        self-adaptation; all equal to the schedule's value otherwise).
    inherited : (λ,) host float64, u_inh of Eq. 5.2 (NaN for the initial population).
    generation : number of generations completed.
    rng : the run's ``np.random.Generator`` (its state is part of the checkpoint).
    """
    population: Any
    sigma: np.ndarray
    inherited: np.ndarray
    generation: int
    rng: np.random.Generator


@dataclass
class GenerationInfo:
    """What one generation measured: ``loss`` (λ,) batch losses of the evaluated population,
    ``fitness`` (λ,) adjusted fitness (Eq. 5.2), ``best`` index of the fittest, ``evaluated`` the
    evaluated population (before variation), ``sigma`` (λ,) its σ values."""
    loss: np.ndarray
    fitness: np.ndarray
    best: int
    evaluated: Any
    sigma: np.ndarray


def init_ea(model: Sequential, config: EAConfig, rng: np.random.Generator | int, *,
            device: str = "cpu", dtype=np.float32) -> EAState:
    """The initial population (Algorithm 2, line 2): λ independent draws of ``model.init`` (its
    initializers, e.g. Glorot-uniform), moved to ``device`` (``"cpu"`` or ``"gpu"``).

    Raises ``ValueError`` for a model that cannot be population-batched, ``GPUUnavailableError``
    for ``device="gpu"`` without CuPy/CUDA.
    """
    if not isinstance(config, EAConfig):
        raise TypeError(f"config must be an EAConfig, got {type(config).__name__}")
    _check_population_model(model)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    lam = config.population_size
    pop = to_device(model.init(rng, dtype=dtype, population=lam), device)
    return EAState(population=pop, sigma=np.full(lam, float(config.sigma)),
                   inherited=np.full(lam, np.nan), generation=0, rng=rng)


def generation(model: Sequential, state: EAState, x, y, config: EAConfig, *,
               chunk_size: int | None | str = "auto") -> tuple[EAState, GenerationInfo]:
    """One generation of Algorithm 2 (lines 5–10) on the batch ``x (B, ...)``, ``y (B,)``.

    Evaluate u = −L_(x,y)(θ) for all θ by batched passes (Eq. 5.1; :func:`evaluate_population`
    with ``chunk_size``) and adjust it by fitness inheritance (Eq. 5.2); T = the ⌊ρλ⌋ best
    (truncation); E = the n_E best (elites, unchanged); C = n_C children of parent pairs drawn
    uniformly with replacement from T (fitter parent first); M = n_M mutants (Eq. 4.3) of
    parents drawn uniformly from T; P ← E ∪ C ∪ M. The mutation strength follows
    ``config.sigma_control`` (module docstring). Returns the new state and a
    :class:`GenerationInfo` about the evaluated population.
    """
    cfg = config
    rng = state.rng
    lam = population_size(state.population)
    if lam != cfg.population_size:
        raise ValueError(f"state holds {lam} individuals but config.population_size is {cfg.population_size}")
    n_e, n_c, n_m = cfg.counts
    n_t = cfg.n_parents

    loss = evaluate_population(model, state.population, x, y, chunk_size=chunk_size)
    u = inherit_fitness(state.inherited, -loss, cfg.fitness_inheritance)
    order = truncation_selection(u, lam)
    parents_t = order[:n_t]
    elites = order[:n_e]

    # Parent choice (host): pairs from T × T ordered fitter-first, mutation parents from T.
    pairs = parents_t[rng.integers(0, n_t, size=(n_c, 2))]
    swap = u[pairs[:, 1]] > u[pairs[:, 0]]
    pairs[swap] = pairs[swap][:, ::-1]
    p1, p2 = pairs[:, 0], pairs[:, 1]
    mutants = parents_t[rng.integers(0, n_t, size=n_m)]

    pop = state.population
    # Crossover children (not mutated).
    if cfg.crossover == "uniform":
        children = uniform_crossover(take(pop, p1), take(pop, p2), rng, p=cfg.crossover_rate)
    else:
        children = arithmetic_crossover(take(pop, p1), take(pop, p2), w=0.5)

    # Mutation strength of this generation.
    t = state.generation
    if cfg.sigma_control == "constant":
        sigma_now = np.full(lam, float(cfg.sigma))
    elif cfg.sigma_control == "decay":
        sigma_now = np.full(lam, decayed_sigma(cfg.sigma, t, cfg.decay_k))
    else:
        sigma_now = state.sigma
    sigma_m = sigma_now[mutants]
    sigma_m_next = self_adapt_sigma(sigma_m, cfg.tau, rng) if cfg.sigma_control == "self-adaptive" else sigma_m
    mutated = normal_mutation(take(pop, mutants), sigma_m_next if cfg.sigma_order == "first" else sigma_m, rng)

    # σ-genes of the next generation (only meaningful under self-adaptation).
    if cfg.sigma_control == "self-adaptive" and n_c:
        if cfg.sigma_crossover == "mean":
            sigma_c = 0.5 * (sigma_now[p1] + sigma_now[p2])
        elif cfg.crossover == "uniform":
            sigma_c = uniform_crossover(sigma_now[p1], sigma_now[p2], rng, p=cfg.crossover_rate)
        else:
            sigma_c = arithmetic_crossover(sigma_now[p1], sigma_now[p2], w=0.5)
    else:
        sigma_c = sigma_now[p1]

    new_pop = concatenate([take(pop, elites), children, mutated])
    new_sigma = np.concatenate([sigma_now[elites], sigma_c, sigma_m_next]).astype(np.float64)
    new_inherited = np.concatenate([u[elites], 0.5 * (u[p1] + u[p2]), u[mutants]])
    info = GenerationInfo(loss=loss, fitness=u, best=int(order[0]), evaluated=pop, sigma=sigma_now)
    return EAState(new_pop, new_sigma, new_inherited, t + 1, rng), info


@dataclass
class EAResult:
    """Outcome of :func:`evolve`.

    best_params : the fittest individual of the last evaluated generation (single network,
        host NumPy), i.e. the code's "lowest last loss" choice.
    state : the final :class:`EAState` (population after the last variation).
    history : lists keyed ``generation, best_loss, mean_loss, val_accuracy, sigma_mean,
        sigma_std, seconds`` (one entry per ``record_every`` generations and at the end).
    """
    best_params: list
    state: EAState
    history: dict = field(default_factory=dict)


def _empty_history() -> dict:
    return {k: [] for k in ("generation", "best_loss", "mean_loss", "val_accuracy",
                            "sigma_mean", "sigma_std", "seconds")}


def _single_accuracy(model, params, x, y, batch: int = 2048) -> float:
    correct = 0.0
    for s in range(0, len(y), batch):
        logits = model.apply(params, x[s:s + batch])
        correct += float(asnumpy(nn.accuracy(logits, y[s:s + batch]))) * len(y[s:s + batch])
    return correct / len(y)


def evolve(model: Sequential, x_train, y_train, config: EAConfig, *, generations: int,
           seed: int | np.random.Generator = 0, x_val=None, y_val=None, record_every: int = 100,
           device: str = "cpu", chunk_size: int | None | str = "auto", checkpoint: str | os.PathLike | None = None,
           checkpoint_every: int = 1000, progress: bool = False, desc: str = "EA",
           callback: Callable | None = None) -> EAResult:
    """Run the limited-evaluation EA (thesis Algorithm 2) for ``generations`` generations.

    Each generation draws a fresh batch of ``config.batch_size`` training examples (uniformly
    without replacement within the batch) and calls :func:`generation`. Every ``record_every``
    generations (and at the last) the fittest individual's validation accuracy on
    ``(x_val, y_val)`` is recorded (if given) together with the batch losses and σ statistics.

    Data: ``x_train (N, *model.input_shape)`` float32, ``y_train (N,)`` int, host NumPy; they
    are moved to ``device`` once. ``checkpoint``: a ``.npz`` path; if it exists the run resumes
    from it (bit-identical to an uninterrupted run), and it is rewritten atomically every
    ``checkpoint_every`` generations and at the end. ``callback(state, info)`` is called after
    every generation. ``chunk_size``: see :func:`evaluate_population`. Raises ``ValueError``
    for bad data or settings.
    """
    if not isinstance(generations, (int, np.integer)) or generations < 0:
        raise ValueError(f"generations must be an int >= 0, got {generations!r}")
    if record_every < 1 or checkpoint_every < 1:
        raise ValueError("record_every and checkpoint_every must be >= 1")
    x_train = np.asarray(x_train)
    y_train = np.asarray(y_train)
    if x_train.shape[1:] != model.input_shape or y_train.shape != x_train.shape[:1]:
        raise ValueError(f"x_train must be (N, *{model.input_shape}) and y_train (N,), got "
                         f"{x_train.shape} and {y_train.shape}")
    if config.batch_size > len(y_train):
        raise ValueError(f"batch_size {config.batch_size} exceeds the {len(y_train)} training examples")
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")

    history = _empty_history()
    if checkpoint is not None and Path(checkpoint).exists():
        state, history, saved_cfg = load_checkpoint(checkpoint, device=device)
        if saved_cfg != dataclasses.asdict(config):
            raise ValueError(f"checkpoint {checkpoint} was written with a different EAConfig: {saved_cfg}")
    else:
        state = init_ea(model, config, seed, device=device)
    xs, ys = to_device([x_train, y_train], device)
    xv, yv = (to_device([np.asarray(x_val), np.asarray(y_val)], device) if x_val is not None else (None, None))
    xp = _xp_of(state.population)

    from tqdm.auto import tqdm  # noqa: PLC0415
    bar = tqdm(total=generations, initial=min(state.generation, generations), desc=desc,
               disable=not progress, leave=False)
    start = time.perf_counter() - (history["seconds"][-1] if history["seconds"] else 0.0)
    best_params = None
    while state.generation < generations:
        idx = state.rng.choice(len(y_train), size=config.batch_size, replace=False)
        idx_dev = xp.asarray(idx) if is_cupy(xs) else idx
        new_state, info = generation(model, state, xs[idx_dev], ys[idx_dev], config, chunk_size=chunk_size)
        t = new_state.generation
        last = t == generations
        if last or t % record_every == 0:
            best_params = individual(info.evaluated, info.best)
            history["generation"].append(t)
            history["best_loss"].append(float(info.loss[info.best]))
            history["mean_loss"].append(float(np.mean(info.loss)))
            history["val_accuracy"].append(_single_accuracy(model, best_params, xv, yv) if xv is not None else None)
            history["sigma_mean"].append(float(np.mean(info.sigma)))
            history["sigma_std"].append(float(np.std(info.sigma)))
            history["seconds"].append(time.perf_counter() - start)
            if progress and history["val_accuracy"][-1] is not None:
                bar.set_postfix(val_acc=f"{history['val_accuracy'][-1]:.4f}")
        state = new_state
        if callback is not None:
            callback(state, info)
        if checkpoint is not None and (last or t % checkpoint_every == 0):
            save_checkpoint(checkpoint, state, history, config)
        bar.update(1)
    bar.close()
    if best_params is None:  # resumed from a finished checkpoint, or generations == 0
        if config.counts[0] == 0 or state.generation == 0:
            raise ValueError("nothing to report: no generation was run in this call and the best "
                             "individual is not known (it is only kept as elite 0 when p_E > 0)")
        best_params = individual(state.population, 0)  # elite 0 = fittest of the last generation
    return EAResult(best_params=asnumpy(best_params), state=state, history=history)


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------

def save_checkpoint(path: str | os.PathLike, state: EAState, history: dict, config: EAConfig) -> Path:
    """Write ``state`` (population on host, σ, u_inh, generation, the generator's state),
    ``history`` and ``config`` to the ``.npz`` file ``path`` atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    leaves = [np.asarray(a) for a in tree_leaves(asnumpy(state.population))]
    meta = {"generation": state.generation, "rng": state.rng.bit_generator.state,
            "bit_generator": type(state.rng.bit_generator).__name__, "history": history,
            "config": dataclasses.asdict(config),
            "structure": json.loads(json.dumps(tree_map(lambda a: None, state.population)))}
    arrays = {f"leaf{i}": a for i, a in enumerate(leaves)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, sigma=state.sigma, inherited=state.inherited,
                 meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_checkpoint(path: str | os.PathLike, *, device: str = "cpu") -> tuple[EAState, dict, dict]:
    """Read a checkpoint of :func:`save_checkpoint`: ``(state, history, config_dict)``, the
    population moved to ``device``. Raises ``FileNotFoundError`` if ``path`` does not exist."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no EA checkpoint at {path}")
    with np.load(path) as f:
        meta = json.loads(bytes(f["meta"]).decode())
        leaves = iter([f[f"leaf{i}"] for i in range(sum(k.startswith("leaf") for k in f.files))])
        pop = tree_map(lambda _: next(leaves), meta["structure"])
        sigma, inherited = f["sigma"], f["inherited"]
    bitgen = getattr(np.random, meta["bit_generator"])()
    bitgen.state = meta["rng"]
    state = EAState(to_device(pop, device), sigma, inherited, int(meta["generation"]), np.random.Generator(bitgen))
    return state, meta["history"], meta["config"]
