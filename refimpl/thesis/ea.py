"""Population-based evolutionary algorithm for network weights (Prellberg, thesis ch. 4–5).

The operators are in :mod:`refimpl.thesis.operators` and the batched fitness evaluation in
:mod:`refimpl.thesis.population`; this module holds the algorithm that combines them:
the limited-evaluation EA of Algorithm 2 is :func:`generation` (one generation) and :func:`evolve`
(the loop with validation tracking, checkpoints and resumption), configured by :class:`EAConfig`
(defaults: Table 5.1, validation column).

Readings of the text and of the author's code (gpuea; see docs/thesis.md)
-------------------------------------------------------------------------
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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import nn
from ..atomic import atomic_file
from ..backend import as_generator, asnumpy, is_gpu_module, raw_module, to_device, tree_leaves, tree_map
from ..model import Sequential
from ..train import evaluate
from .operators import (CROSSOVERS, SIGMA_CONTROLS, _check_lambda, _xp_of, arithmetic_crossover,
                        decayed_sigma, individual, inherit_fitness, n_truncation, normal_mutation, offspring_counts,
                        population_size, self_adapt_sigma, take, truncation_selection, uniform_crossover)
from .population import _check_population_model, evaluate_population

__all__ = ["EAConfig", "EAState", "EAResult", "GenerationInfo", "init_ea", "generation", "evolve",
           "save_checkpoint", "load_checkpoint", "variation_block_size", "CPU_VARIATION_BLOCK"]

#: Genes one block of the variation step of :func:`generation` may hold per array on a CPU
#: (2**20 float32 = 4 MiB: a block's parents, mask and child stay in the last-level cache
#: together). Measured on a 2-core EPYC (2 MiB L2, 32 MiB L3) for the 92,234-gene network,
#: λ = 1000: blocks of 6–12 individuals took 0.31 s per generation's variation, blocks of 2
#: (2**18 genes) 0.36 s — fewer, larger NumPy calls — and blocks of 16–32 0.53–0.69 s.
CPU_VARIATION_BLOCK = 2**20


def variation_block_size(pop, xp=np, budget: int = CPU_VARIATION_BLOCK) -> int:
    """Individuals per block of crossover/mutation in :func:`generation`: on a CPU the most whose
    genes number at most ``budget`` (at least 1); on a GPU (``xp`` is ``cupy``) the whole
    population in one block. The block size fixes the order of the random draws (block by
    block, each block leaf by leaf), so it is part of what a seed reproduces."""
    lam = population_size(pop)
    if is_gpu_module(xp):
        return lam
    genes = sum(int(np.prod(a.shape[1:])) for a in tree_leaves(pop))
    return int(max(1, min(lam, budget // max(genes, 1))))

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
    rng = as_generator(rng)
    lam = config.population_size
    pop = to_device(model.init(rng, dtype=dtype, population=lam), device)
    return EAState(population=pop, sigma=np.full(lam, float(config.sigma)),
                   inherited=np.full(lam, np.nan), generation=0, rng=rng)


def generation(model: Sequential, state: EAState, x, y, config: EAConfig, *,
               chunk_size: int | None | str = "auto", out=None) -> tuple[EAState, GenerationInfo]:
    """One generation of Algorithm 2 (lines 5–10) on the batch ``x (B, ...)``, ``y (B,)``.

    Evaluate u = −L_(x,y)(θ) for all θ by batched passes (Eq. 5.1; :func:`evaluate_population`
    with ``chunk_size``) and adjust it by fitness inheritance (Eq. 5.2); T = the ⌊ρλ⌋ best
    (truncation); E = the n_E best (elites, unchanged); C = n_C children of parent pairs drawn
    uniformly with replacement from T (fitter parent first); M = n_M mutants (Eq. 4.3) of
    parents drawn uniformly from T; P ← E ∪ C ∪ M. The mutation strength follows
    ``config.sigma_control`` (module docstring). Returns the new state and a
    :class:`GenerationInfo` about the evaluated population.

    Devices: ``x``, ``y`` and the population on one device; everything per gene stays there, the
    (λ,) fitness and σ bookkeeping is on the host. Labels on the GPU are not range-checked here
    (:func:`evolve` checks them once). CPU and GPU runs with the same seed differ: the crossover
    masks and mutation noise come from different generators (NumPy's, CuPy's; see
    :mod:`refimpl.thesis.operators`) and the losses are rounded differently, so selections
    diverge after a few generations. Each backend is reproducible on its own.

    ``out``: a population of the same structure, shapes and device to write the new population
    into (not ``state.population``, whose individuals are the parents); by default new arrays.
    :func:`evolve` passes the population of two generations before (double buffering): fresh
    arrays of a few hundred MiB cost a page fault per 4 KiB page when first written, in the
    benchmark of λ = 1000 more than the copying itself. The numbers do not depend on ``out``.
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

    # P ← E ∪ C ∪ M, written straight into the new population's arrays: the elites copied once,
    # then the children and the mutants made block by block of individuals (on a CPU a block
    # is cache-sized, so parents, mask and noise of a block stay hot; on a GPU it is everybody).
    pop = state.population
    xp = raw_module(*tree_leaves(pop))
    if out is None:
        new_pop = tree_map(xp.empty_like, pop)
    else:
        if any(o is a or o.shape != a.shape or o.dtype != a.dtype
               for o, a in zip(tree_leaves(out), tree_leaves(pop))) or len(tree_leaves(out)) != len(tree_leaves(pop)):
            raise ValueError("out must be a population of the same shapes and dtypes, other arrays than state.population")
        new_pop = out
    block = variation_block_size(pop, xp)
    # The operators below take any pytree; the flat lists of leaves (same order) spare the
    # hundreds of small blocks a walk through the model's nested dicts each.
    src, dst = tree_leaves(pop), tree_leaves(new_pop)

    def rows(lo, hi):  # individuals lo..hi-1 of the new population (views)
        return [a[lo:hi] for a in dst]

    take(src, elites, out=rows(0, n_e))  # elites, unchanged
    # Crossover children (not mutated): the second parent is copied into place, then the genes
    # the mask takes from the fitter first parent are written over it.
    for lo in range(0, n_c, block):
        hi = min(n_c, lo + block)
        child = take(src, p2[lo:hi], out=rows(n_e + lo, n_e + hi))
        if cfg.crossover == "uniform":
            uniform_crossover(take(src, p1[lo:hi]), child, rng, p=cfg.crossover_rate, out=child)
        else:
            arithmetic_crossover(take(src, p1[lo:hi]), child, w=0.5, out=child)

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
    sigma_used = sigma_m_next if cfg.sigma_order == "first" else sigma_m
    # Mutants: parent + σ·ε, the noise drawn in place into the new population.
    for lo in range(0, n_m, block):
        hi = min(n_m, lo + block)
        normal_mutation(take(src, mutants[lo:hi]), sigma_used[lo:hi], rng, out=rows(n_e + n_c + lo, n_e + n_c + hi))

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
    every generation; ``info.evaluated`` is valid until the callback returns: its arrays are
    recycled for the population two generations on (see ``out`` in :func:`generation`), so a
    callback that keeps it must copy it. ``chunk_size``: see :func:`evaluate_population`. Raises ``ValueError``
    for bad data (NaN or infinite inputs included) or settings, or labels outside [0, n_classes)
    (checked once, on the host); ``TypeError`` for complex inputs or non-integer labels.

    ``device="gpu"`` follows a different random path than ``"cpu"`` with the same seed (see
    :func:`generation`): the two give statistically equivalent runs, not equal ones; a
    checkpoint resumes bit for bit only on the device it was written on.
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
    nn.check_labels(y_train, model.output_shape[-1])  # once, on the host (the GPU loss skips it)
    nn.check_finite(x_train, "x_train")
    if y_val is not None:
        nn.check_labels(y_val, model.output_shape[-1])
        nn.check_finite(np.asarray(x_val), "x_val")

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
    spare = None  # the population of two generations before: its arrays receive the next one
    while state.generation < generations:
        idx = state.rng.choice(len(y_train), size=config.batch_size, replace=False)
        idx = xp.asarray(idx)  # to the data's device
        new_state, info = generation(model, state, xs[idx], ys[idx], config, chunk_size=chunk_size, out=spare)
        t = new_state.generation
        last = t == generations
        if last or t % record_every == 0:
            best_params = tree_map(lambda a: a.copy(), individual(info.evaluated, info.best))  # recycled later
            history["generation"].append(t)
            history["best_loss"].append(float(info.loss[info.best]))
            history["mean_loss"].append(float(np.mean(info.loss)))
            history["val_accuracy"].append(evaluate(model, best_params, xv, yv)["accuracy"] if xv is not None else None)
            history["sigma_mean"].append(float(np.mean(info.sigma)))
            history["sigma_std"].append(float(np.std(info.sigma)))
            history["seconds"].append(time.perf_counter() - start)
            if progress and history["val_accuracy"][-1] is not None:
                bar.set_postfix(val_acc=f"{history['val_accuracy'][-1]:.4f}")
        state = new_state
        if callback is not None:
            callback(state, info)
        spare = info.evaluated
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
    with atomic_file(path, suffix=".tmp.npz") as tmp:
        np.savez(tmp, sigma=state.sigma, inherited=state.inherited,
                 meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
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
