"""Lamarckian neural architecture search: the (1+1)-EA with niching of Algorithm 4 (Prellberg,
thesis Sec. 7.3.1 and 7.4), on the search space of :mod:`refimpl.thesis.nas_space`.

Algorithm 4, as listed::

    def EvoNAS(θ, a, steps, allowNiching):
        for i in 1..steps:
            θ', a' ← mutate (θ, a) with weight inheritance
            θ* ← minimise L(θ', a') for e epochs (Adam, a' fixed)
            if allowNiching and V(θ*, a') ≤ V(θ, a) and rnd() < ω:
                θ*, a' ← EvoNAS(θ*, a', k, False)
            if V(θ*, a') > V(θ, a):                      # strictly better (V: Eq. 7.7)
                θ, a ← θ*, a'
        return θ, a
    θ, a ← one random block, random weights;  EvoNAS(θ, a, maxSteps, True)

V is the validation accuracy (Eq. 7.7); ω = 0.1, k = 5 (Sec. 7.4.1). The run ends when the
budget of n training epochs is spent: every training, niching included, counts once, and no
evaluation starts that would overrun it (maxSteps is therefore implied by n). :func:`evonas`
is that recursion, written out literally. :func:`run` executes the same algorithm as a flat
state machine, one evaluation per :func:`step`, so that a run can be checkpointed after any
evaluation and resumed exactly (:func:`save_run`/:func:`load_run`). The niching call never
niches again, so the recursion is one level deep and its state is the niching parent and the
number of niching steps left. With the same seed, both give identical runs (tested).

The best solution so far (highest V, first found) is what the algorithm would return if stopped
now; it is copied at the budget points ``checkpoints`` (the thesis's 128 and 512 epochs) and each
copy is later trained 30 more epochs (:func:`final_training`: lr 1e-3, 1e-4 from epoch 10, 1e-5
from epoch 20) before its test accuracy is measured.

Readings (docs/thesis.md): the untrained initial network's V is the first comparison value, as
written (``train_initial=True`` trains it for e epochs, counted in the budget); each evaluation
starts a fresh Adam state; the final training continues from the checkpoint's weights and
batch-norm statistics on the training set (not training + validation).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from ..atomic import atomic_file
from ..backend import as_generator
from ..model import Sequential
from ..optim import Adam
from ..train import evaluate, fit
from .nas_golden import golden_cases  # re-exported: the golden cases of Eqs. 7.3-7.6
from .nas_space import (NOVELTY, REINIT, Block, SearchSpace, as_genotype, inherit_weights, novel_child)

__all__ = ["NASConfig", "ARMS", "Solution", "NASState", "Evaluator", "FitEvaluator", "check_evaluator",
           "init_run", "step", "run", "evonas", "save_run", "load_run", "final_training", "best_curve",
           "FINAL_SCHEDULE", "golden_cases"]

#: the three arms of Sec. 7.4.1: (weight inheritance, e)
ARMS = {"inheritance": (True, 4), "baseline I": (False, 4), "baseline II": (False, 16)}
#: final training of a checkpoint (Sec. 7.4): (epochs, learning rate) segments
FINAL_SCHEDULE = ((10, 1e-3), (10, 1e-4), (10, 1e-5))


@dataclass(frozen=True)
class NASConfig:
    """Settings of Algorithm 4 (defaults: Sec. 7.4, the proposed arm on CIFAR).

    epochs_per_eval : e, training epochs per fitness evaluation (≥ 1).
    budget : n, total training epochs of the run (≥ e), niching included.
    inherit : weight inheritance (Eqs. 7.3–7.6); ``False``: re-initialise all weights (baselines).
    niching_rate, niching_depth : ω ∈ [0, 1] and k ≥ 1.
    batch_size, lr : Adam's minibatch size and learning rate during evaluations (512, 1e-3).
    checkpoints : budget points at which the best solution so far is kept (each in 1..n).
    reinit : ``"equations"`` or ``"shape"`` (k_{i+1}; see :mod:`~refimpl.thesis.nas_space`).
    novelty : ``"redraw"`` or ``"accumulate"`` (forced novelty, ditto).
    train_initial : train the initial network for e epochs before its first V (not in the text).

    Raises ``ValueError`` naming the setting for any invalid value.
    """
    epochs_per_eval: int = 4
    budget: int = 512
    inherit: bool = True
    niching_rate: float = 0.1
    niching_depth: int = 5
    batch_size: int = 512
    lr: float = 1e-3
    checkpoints: tuple[int, ...] = (128, 512)
    reinit: str = "equations"
    novelty: str = "redraw"
    train_initial: bool = False

    def __post_init__(self):
        def is_int(v):
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)
        e, n = self.epochs_per_eval, self.budget
        if not (is_int(e) and e >= 1):
            raise ValueError(f"epochs_per_eval (e) must be an int >= 1, got {e!r}")
        if not (is_int(n) and n >= e):
            raise ValueError(f"budget (n = {n!r}) must be an int of at least e = {e} epochs: "
                             f"no evaluation would fit")
        if not 0.0 <= self.niching_rate <= 1.0:
            raise ValueError(f"niching_rate (ω) must lie in [0, 1], got {self.niching_rate}")
        if not (is_int(self.niching_depth) and self.niching_depth >= 1):
            raise ValueError(f"niching_depth (k) must be an int >= 1, got {self.niching_depth!r}")
        if not (is_int(self.batch_size) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be an int >= 1, got {self.batch_size!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        cps = tuple(int(c) for c in self.checkpoints)
        if any(not 1 <= c <= n for c in cps):
            raise ValueError(f"checkpoints must lie in 1..budget ({n}), got {cps}")
        object.__setattr__(self, "checkpoints", tuple(sorted(set(cps))))
        if self.reinit not in REINIT:
            raise ValueError(f"reinit must be one of {REINIT}, got {self.reinit!r}")
        if self.novelty not in NOVELTY:
            raise ValueError(f"novelty must be one of {NOVELTY}, got {self.novelty!r}")

    @classmethod
    def arm(cls, name: str, **changes) -> "NASConfig":
        """The configuration of an arm of Sec. 7.4.1 (``inheritance``, ``baseline I``, ``baseline II``)."""
        if name not in ARMS:
            raise ValueError(f"unknown arm {name!r}; known: {', '.join(ARMS)}")
        inherit, e = ARMS[name]
        return cls(**{"inherit": inherit, "epochs_per_eval": e, **changes})

    def replace(self, **changes) -> "NASConfig":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Solution:
    """An evaluated solution (θ, a): genotype, parameters, batch-norm state, V and when it was found."""
    genotype: tuple[Block, ...]
    params: list
    state: list
    fitness: float
    epoch: int = 0


class Evaluator(Protocol):
    """What Algorithm 4 needs from training: ``train`` (line 5) and ``fitness`` (V, Eq. 7.7)."""

    def train(self, model: Sequential, params: list, state: list, epochs: int, seed: int) -> tuple[list, list]: ...

    def fitness(self, model: Sequential, params: list, state: list) -> float: ...


@dataclass
class FitEvaluator:
    """Training with :func:`refimpl.train.fit` (Adam, fresh state per evaluation) on
    ``(x_train, y_train)``; V = accuracy on ``(x_val, y_val)`` in evaluation mode."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    batch_size: int = 512
    lr: float = 1e-3
    progress: bool = False

    def train(self, model, params, state, epochs, seed):
        r = fit(model, params, self.x_train, self.y_train, epochs=epochs, batch_size=self.batch_size,
                optimizer=Adam(lr=self.lr), seed=seed, state=state, progress=self.progress, desc="NAS eval")
        return r.params, r.state

    def fitness(self, model, params, state):
        return float(evaluate(model, params, self.x_val, self.y_val, state=state)["accuracy"])


@dataclass
class NASState:
    """Everything a run needs to continue: the current solution (``parent``), the niching parent
    and its remaining steps while a niching call is in progress, the best solution so far, the
    epochs spent, the history of evaluated architectures, the checkpoints, a log line per
    evaluation and the random generator."""
    parent: Solution
    best: Solution
    rng: np.random.Generator
    history: set = field(default_factory=set)
    epochs: int = 0
    niche: Solution | None = None
    niche_left: int = 0
    checkpoints: dict = field(default_factory=dict)
    log: list = field(default_factory=list)

    @property
    def n_evaluations(self) -> int:
        return len(self.log)


# --------------------------------------------------------------------------------------------
# The pieces of one iteration (lines 4, 5 and the bookkeeping)
# --------------------------------------------------------------------------------------------

def _mutate_and_train(base: Solution, st: NASState, space: SearchSpace, cfg: NASConfig,
                      evaluator: Evaluator, niching: bool) -> Solution:
    """Lines 4–5 plus bookkeeping: a novel child of ``base`` with inherited (or fresh) weights,
    trained e epochs (counted in the budget), its V, the history, the best and the checkpoints."""
    child_g, chain = novel_child(base.genotype, space, st.history, st.rng, novelty=cfg.novelty)
    g, params, state = base.genotype, base.params, base.state
    for m in chain:                                   # one mutation unless novelty="accumulate"
        g, params, state = inherit_weights(g, params, state, m, space, st.rng, inherit=cfg.inherit,
                                           reinit=cfg.reinit)
    model = space.phenotype(g)
    params, state = evaluator.train(model, params, state, cfg.epochs_per_eval, int(st.rng.integers(2**31)))
    st.epochs += cfg.epochs_per_eval
    v = float(evaluator.fitness(model, params, state))
    st.history.add(g)
    child = Solution(g, params, state, v, st.epochs)
    if v > st.best.fitness:
        st.best = child
    for c in cfg.checkpoints:
        if c not in st.checkpoints and st.epochs >= c:
            st.checkpoints[c] = st.best
    st.log.append({"epoch": st.epochs, "fitness": v, "base_fitness": base.fitness, "best": st.best.fitness,
                   "blocks": len(g), "best_blocks": len(st.best.genotype), "niching": niching,
                   "mutations": [m.kind for m in chain], "genotype": [list(b) for b in g]})
    return child


def _budget_left(st: NASState, cfg: NASConfig) -> bool:
    return st.epochs + cfg.epochs_per_eval <= cfg.budget


def check_evaluator(cfg: NASConfig, evaluator: Evaluator) -> None:
    """``cfg.batch_size`` and ``cfg.lr`` describe the run; the evaluator is what trains. Raises
    ``ValueError`` if an evaluator that states its ``batch_size`` or ``lr`` (as
    :class:`FitEvaluator`) trains with other values than ``cfg`` (one without them is not checked)."""
    for name in ("batch_size", "lr"):
        mine = getattr(evaluator, name, None)
        if mine is not None and mine != getattr(cfg, name):
            raise ValueError(f"{name}: the configuration says {getattr(cfg, name)}, but the evaluator trains "
                             f"with {mine}; build both with the same value")


def init_run(space: SearchSpace, cfg: NASConfig, evaluator: Evaluator, rng) -> NASState:
    """Line 16: one random block (stride 1) with random weights, its V (untrained unless
    ``cfg.train_initial``), the history holding it. Raises ``ValueError`` if the evaluator trains
    with another batch size or learning rate than ``cfg`` (:func:`check_evaluator`)."""
    check_evaluator(cfg, evaluator)
    rng = as_generator(rng)
    g = space.initial(rng)
    params, state = space.init_weights(g, rng)
    model = space.phenotype(g)
    epochs = 0
    if cfg.train_initial:
        params, state = evaluator.train(model, params, state, cfg.epochs_per_eval, int(rng.integers(2**31)))
        epochs = cfg.epochs_per_eval
    sol = Solution(g, params, state, float(evaluator.fitness(model, params, state)), epochs)
    st = NASState(parent=sol, best=sol, rng=rng, history={g}, epochs=epochs)
    for c in cfg.checkpoints:
        if epochs >= c:
            st.checkpoints[c] = sol
    return st


def _close_niche(st: NASState) -> None:
    """The recursive call returns its best; line 9 compares it with the parent."""
    returned, st.niche, st.niche_left = st.niche, None, 0
    if returned.fitness > st.parent.fitness:
        st.parent = returned


def step(st: NASState, space: SearchSpace, cfg: NASConfig, evaluator: Evaluator) -> NASState:
    """One evaluation of Algorithm 4 (one iteration of the outer loop, or of the niching call).

    ``ValueError`` if the budget cannot pay for another evaluation, or if the evaluator trains with
    another batch size or learning rate than ``cfg`` (:func:`check_evaluator`).
    """
    check_evaluator(cfg, evaluator)
    if not _budget_left(st, cfg):
        raise ValueError(f"budget spent: {st.epochs} of {cfg.budget} epochs used, an evaluation needs "
                         f"{cfg.epochs_per_eval}")
    if st.niche is None:                                   # outer loop, allowNiching = True
        child = _mutate_and_train(st.parent, st, space, cfg, evaluator, niching=False)
        if child.fitness <= st.parent.fitness and st.rng.random() < cfg.niching_rate:   # line 6
            st.niche, st.niche_left = child, cfg.niching_depth                          # line 7
        elif child.fitness > st.parent.fitness:                                          # line 9
            st.parent = child
    else:                                                  # inside EvoNAS(θ*, a', k, False)
        child = _mutate_and_train(st.niche, st, space, cfg, evaluator, niching=True)
        if child.fitness > st.niche.fitness:
            st.niche = child
        st.niche_left -= 1
        if st.niche_left == 0:
            _close_niche(st)
    if st.niche is not None and not _budget_left(st, cfg):
        _close_niche(st)                                   # the budget ends the niching call too
    return st


def run(space: SearchSpace, cfg: NASConfig, evaluator: Evaluator, seed, *,
        checkpoint: str | os.PathLike | None = None, max_evaluations: int | None = None,
        callback: Callable | None = None) -> NASState:
    """Algorithm 4 until the budget is spent; returns the final :class:`NASState`.

    ``checkpoint``: a ``.npz`` path; an existing file is resumed (its configuration and search
    space must match) and the state is saved after every evaluation. ``max_evaluations`` stops
    early after that many evaluations in this call (to test resumption). ``callback(state)`` runs
    after every evaluation.
    """
    if checkpoint is not None and Path(checkpoint).exists():
        st = load_run(checkpoint, space=space, cfg=cfg)
    else:
        st = init_run(space, cfg, evaluator, seed)
    done = 0
    while _budget_left(st, cfg) and (max_evaluations is None or done < max_evaluations):
        step(st, space, cfg, evaluator)
        done += 1
        if checkpoint is not None:
            save_run(checkpoint, st, space, cfg)
        if callback is not None:
            callback(st)
    return st


def evonas(space: SearchSpace, cfg: NASConfig, evaluator: Evaluator, seed) -> NASState:
    """Algorithm 4 as the literal recursion (not resumable mid-run); gives the same run as
    :func:`run` for the same seed. Returns the state; its ``parent`` is the returned (θ, a)."""
    st = init_run(space, cfg, evaluator, seed)

    def evo(sol: Solution, steps: int | None, allow_niching: bool) -> Solution:
        i = 0
        while (steps is None or i < steps) and _budget_left(st, cfg):
            i += 1
            child = _mutate_and_train(sol, st, space, cfg, evaluator, niching=not allow_niching)
            if allow_niching and child.fitness <= sol.fitness and st.rng.random() < cfg.niching_rate:
                child = evo(child, cfg.niching_depth, False)
            if child.fitness > sol.fitness:
                sol = child
        return sol

    st.parent = evo(st.parent, None, True)
    return st


def best_curve(st: NASState, budget: int, initial: float | None = None) -> np.ndarray:
    """Best validation accuracy so far at every epoch 0..budget (Figs. 7.3–7.6, the dots)."""
    curve = np.full(budget + 1, np.nan)
    first = st.log[0]["base_fitness"] if initial is None and st.log else initial
    curve[0] = first if first is not None else np.nan
    for rec in st.log:
        curve[rec["epoch"]] = rec["best"]
    for t in range(1, budget + 1):
        if np.isnan(curve[t]):
            curve[t] = curve[t - 1]
    return curve


# --------------------------------------------------------------------------------------------
# Final training (Sec. 7.4)
# --------------------------------------------------------------------------------------------

def final_training(space: SearchSpace, sol: Solution, x, y, *, schedule=FINAL_SCHEDULE, batch_size: int = 512,
                   seed=0, progress: bool = False) -> tuple[list, list]:
    """Train a checkpoint further with Adam on ``schedule`` ((epochs, lr) segments; the thesis's
    30 epochs: 1e-3, then 1e-4 from epoch 10 and 1e-5 from epoch 20), continuing from its weights
    and batch-norm statistics; Adam's moments carry over between segments. Returns ``(params, state)``."""
    model = space.phenotype(sol.genotype)
    rng = as_generator(seed)
    params, state, opt_state = sol.params, sol.state, None
    for epochs, lr in schedule:
        r = fit(model, params, x, y, epochs=int(epochs), batch_size=batch_size, optimizer=Adam(lr=lr),
                seed=int(rng.integers(2**31)), state=state, opt_state=opt_state, progress=progress,
                desc=f"final lr {lr:g}")
        params, state, opt_state = r.params, r.state, r.opt_state
    return params, state


# --------------------------------------------------------------------------------------------
# Checkpoints of a run
# --------------------------------------------------------------------------------------------

def save_run(path: str | os.PathLike, st: NASState, space: SearchSpace, cfg: NASConfig) -> Path:
    """Write the state (every distinct solution's genotype and weights, the history, the log, the
    generator's state) with the search space and configuration to ``path`` (.npz, atomically)."""
    sols, index = [], {}

    def ref(sol):
        if sol is None:
            return None
        if id(sol) not in index:
            index[id(sol)] = len(sols)
            sols.append(sol)
        return index[id(sol)]
    meta = {"parent": ref(st.parent), "best": ref(st.best), "niche": ref(st.niche), "niche_left": st.niche_left,
            "checkpoints": {str(c): ref(s) for c, s in st.checkpoints.items()}, "epochs": st.epochs,
            "history": sorted([list(b) for b in g] for g in st.history), "log": st.log,
            "rng": st.rng.bit_generator.state, "bit_generator": type(st.rng.bit_generator).__name__,
            "space": space.to_dict(), "config": dataclasses.asdict(cfg)}
    arrays = {}
    meta["solutions"] = []
    for s_i, sol in enumerate(sols):
        meta["solutions"].append({"genotype": [list(b) for b in sol.genotype], "fitness": sol.fitness,
                                  "epoch": sol.epoch})
        for layer, (p, s) in enumerate(zip(sol.params, sol.state)):
            for k, v in p.items():
                arrays[f"s{s_i}_p{layer}_{k}"] = v
            for k, v in s.items():
                arrays[f"s{s_i}_s{layer}_{k}"] = v
    path = Path(path)
    with atomic_file(path, suffix=".tmp.npz") as tmp:
        np.savez(tmp, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    return path


def load_run(path: str | os.PathLike, *, space: SearchSpace | None = None,
             cfg: NASConfig | None = None) -> NASState:
    """Read a state written by :func:`save_run`. ``ValueError`` if ``space`` or ``cfg`` are given
    and differ from the saved ones; ``FileNotFoundError`` if there is no file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no NAS checkpoint at {path}")
    with np.load(path) as f:
        meta = json.loads(bytes(f["meta"]).decode())
        arrays = {k: f[k] for k in f.files if k != "meta"}
    saved_space = SearchSpace(**{**meta["space"], "input_shape": tuple(meta["space"]["input_shape"])})
    saved_cfg = NASConfig(**{**meta["config"], "checkpoints": tuple(meta["config"]["checkpoints"])})
    if space is not None and saved_space != space:
        raise ValueError(f"{path} was written for another search space: {meta['space']}")
    if cfg is not None and saved_cfg != cfg:
        raise ValueError(f"{path} was written with another configuration: {meta['config']}")
    sols = []
    for s_i, d in enumerate(meta["solutions"]):
        g = as_genotype(d["genotype"])
        model = saved_space.phenotype(g)
        params = [{k: arrays[f"s{s_i}_p{layer}_{k}"] for k in shapes}
                  for layer, shapes in enumerate(model.param_shapes())]
        state = [{k: arrays[f"s{s_i}_s{layer}_{k}"] for k in s} for layer, s in enumerate(model.init_state())]
        sols.append(Solution(g, params, state, float(d["fitness"]), int(d["epoch"])))
    bitgen = getattr(np.random, meta["bit_generator"])()
    bitgen.state = meta["rng"]

    def get(i):
        return None if i is None else sols[i]
    return NASState(parent=get(meta["parent"]), best=get(meta["best"]), rng=np.random.Generator(bitgen),
                    history={as_genotype(g) for g in meta["history"]}, epochs=int(meta["epochs"]),
                    niche=get(meta["niche"]), niche_left=int(meta["niche_left"]),
                    checkpoints={int(c): get(i) for c, i in meta["checkpoints"].items()}, log=meta["log"])

