"""Thesis ch. 6: Algorithm 3 (a (μ, λ) GA with κ re-evaluated elites), Table 6.1, checkpoints, the
final protocol, and a noisy-fitness test bed.

Algorithm 3, as implemented by :func:`init_ga` (lines 1–3) and :func:`generation` (lines 5–10):

1–3. P ← the best μ of λ random genomes, each evaluated once.
5.   E ← the κ best of P (by fitness = mean of its evaluations).
6.   every member of E with fewer than ``max_evals`` evaluations plays one more episode.
7–8. Q ← λ genomes drawn uniformly with replacement from P, each mutated θ + σ·N(0, I) (one new
     mutation seed appended to the genome; elites are not mutated).
9.   every member of Q plays one episode.
10.  P ← the best μ of E ∪ Q (``selection="text"``); the author's code keeps all κ elites and adds
     the best μ − κ offspring (``selection="code"``).

The loop stops before a generation once the budget is spent (agent steps for Atari, evaluations
for the test bed; every episode counts, re-evaluations included). A generation can overshoot.

*Best agent.* The text takes "the single best agent from the union of all generations according to
their fitness values". refimpl reads a generation as its elite set E after line 6: the archive
holds every genome that was ever an elite, with its latest fitness, and a last pass of lines 5–6
re-evaluates the final elites (counted in the budget), so offspring of the last generation are not
picked on one unrepeated episode. ``final_pick="elite_mean"`` is the author's code: every
generation's best elite also plays ``elite_episodes`` (50) episodes, outside the budget; the final
agent is the generation elite with the best such mean. These per-generation scores are Fig. 6.1.
The ensemble (Table 6.2, "*") is the top-3 unique genomes of the archive by fitness.

Problems implement ``evaluate(genomes, seeds) -> (scores, costs)``: :class:`AtariProblem` plays
episodes on an :class:`~refimpl.thesis.atari_env.Evaluator`; :class:`NoisyTestBed` scores a
synthetic genome whose true fitness is known under heavy-tailed "lucky episode" noise.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..atomic import write_atomic
from . import atari_net

__all__ = ["GAConfig", "Individual", "GAState", "check_sigma", "init_ga", "generation", "finalize", "run_ga",
           "best_agent", "top_unique", "save_checkpoint", "load_checkpoint", "check_budget",
           "AtariProblem", "NoisyTestBed"]

SEED_BOUND = 2**31 - 1


@dataclass(frozen=True)
class GAConfig:
    """Algorithm 3's hyperparameters (Table 6.1) and the code's variants as options."""
    kappa: int          # elites κ
    mu: int             # parents μ
    lam: int            # offspring λ
    sigma: float = 0.005
    max_evals: int = 1
    selection: str = "text"        # "text": best μ of E ∪ Q; "code": all κ elites + best μ − κ of Q
    final_pick: str = "fitness"    # "fitness" (text) or "elite_mean" (code: best 50-episode generation elite)
    elite_episodes: int = 50       # per-generation evaluation of the best elite (Fig. 6.1), outside the budget
    max_episode_steps: int | None = 3000  # cap of training episodes (agent steps)

    def __post_init__(self):
        for name in ("kappa", "mu", "lam", "max_evals"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.kappa > self.mu:
            raise ValueError(f"κ (elites, {self.kappa}) must not exceed μ (parents, {self.mu})")
        if self.mu > self.lam:
            raise ValueError(f"μ (parents, {self.mu}) must not exceed λ (offspring, {self.lam})")
        if not self.sigma > 0:
            raise ValueError(f"σ must be > 0, got {self.sigma}")
        if self.selection not in ("text", "code"):
            raise ValueError(f"selection must be 'text' or 'code', got {self.selection!r}")
        if self.final_pick not in ("fitness", "elite_mean"):
            raise ValueError(f"final_pick must be 'fitness' or 'elite_mean', got {self.final_pick!r}")

    @classmethod
    def table_6_1(cls, which: str, **overrides) -> "GAConfig":
        """Table 6.1: ``"baseline"`` (Such et al.: κ 1, μ 10, λ 5,000, 1 evaluation) or ``"proposal"``
        (κ 10, μ 40, λ 2,000, up to 20 evaluations); σ 0.005 for both. ``"code_v1"`` is the
        proposal with the author's code's 100 parents and 40 elites."""
        table = {"baseline": dict(kappa=1, mu=10, lam=5000, max_evals=1),
                 "proposal": dict(kappa=10, mu=40, lam=2000, max_evals=20),
                 "code_v1": dict(kappa=40, mu=100, lam=2000, max_evals=20)}
        if which not in table:
            raise ValueError(f"unknown configuration {which!r}; choose from {', '.join(table)}")
        return cls(**{**table[which], "sigma": 0.005, **overrides})

    def as_dict(self) -> dict:
        return asdict(self)


def check_budget(config: GAConfig, budget: float, max_cost_per_episode: float) -> None:
    """``ValueError`` if ``budget`` cannot hold the initial population (λ episodes of up to
    ``max_cost_per_episode`` each: one generation)."""
    need = config.lam * max_cost_per_episode
    if budget < need:
        raise ValueError(f"budget {budget:g} is smaller than one generation: λ = {config.lam} episodes of up to "
                         f"{max_cost_per_episode:g} agent steps need {need:g}")


@dataclass
class Individual:
    """A genome (seed list, Sec. 6.2) and the returns of every episode it has played; fitness is
    their mean (Table 6.1's "fitness = mean of the evaluations")."""
    genome: tuple
    scores: list = field(default_factory=list)

    @property
    def fitness(self) -> float:
        return float(np.mean(self.scores)) if self.scores else -math.inf

    @property
    def n_evals(self) -> int:
        return len(self.scores)


@dataclass
class GAState:
    """Everything needed to resume: the parents P (seed lists and scores), the elite archive,
    the per-generation log, budget used and the generator's state."""
    parents: list
    archive: dict          # genome -> Individual (every genome that was an elite), latest fitness
    rng: np.random.Generator
    generation: int = 0
    used: float = 0.0      # budget units spent (agent steps / evaluations), re-evaluations included
    episodes: int = 0
    log: list = field(default_factory=list)
    finalized: bool = False


def _sorted(inds: Sequence[Individual]) -> list:
    return sorted(inds, key=lambda i: -i.fitness)  # stable: ties keep their order


def _evaluate(problem, inds: Sequence[Individual], state: GAState) -> None:
    if not inds:
        return
    seeds = state.rng.integers(0, SEED_BOUND, size=len(inds))
    scores, costs = problem.evaluate([i.genome for i in inds], [int(s) for s in seeds])
    for ind, s in zip(inds, scores):
        ind.scores.append(float(s))
    state.used += float(np.sum(costs))
    state.episodes += len(inds)


def check_sigma(config: GAConfig, problem) -> None:
    """A genome is a list of seeds; σ enters only when the problem replays it (θ + σ·N(0, I),
    Algorithm 3, line 8). Raises ``ValueError`` if the problem says it replays with another σ than
    ``config.sigma`` (a problem without a ``sigma`` attribute is not checked)."""
    s = getattr(problem, "sigma", None)
    if s is not None and s != config.sigma:
        raise ValueError(f"σ: the configuration says {config.sigma}, but the problem replays genomes with "
                         f"σ = {s}; build its genome builder or evaluator with GAConfig.sigma")


def init_ga(config: GAConfig, problem, seed: int) -> GAState:
    """Algorithm 3, lines 1–3: λ random genomes (one init seed each), one episode each, best μ kept.
    Raises ``ValueError`` if the problem's σ is not the configuration's (:func:`check_sigma`)."""
    check_sigma(config, problem)
    rng = np.random.default_rng(seed)
    pop = [Individual((int(s),)) for s in rng.integers(0, SEED_BOUND, size=config.lam)]
    state = GAState(parents=[], archive={}, rng=rng)
    _evaluate(problem, pop, state)
    state.parents = _sorted(pop)[:config.mu]
    state.log.append({"generation": 0, "used": state.used, "episodes": state.episodes,
                      "best_fitness": state.parents[0].fitness, "elite_evals": 1})
    return state


def _reevaluate_elites(config: GAConfig, problem, state: GAState) -> list:
    elites = _sorted(state.parents)[:config.kappa]                      # line 5
    _evaluate(problem, [e for e in elites if e.n_evals < config.max_evals], state)  # line 6
    for e in elites:
        state.archive[e.genome] = e
    return _sorted(elites)


def generation(config: GAConfig, problem, state: GAState, *,
               elite_eval: Callable[[tuple], np.ndarray] | None = None) -> GAState:
    """One pass of Algorithm 3, lines 5–10 (in place; returns ``state``). Raises ``ValueError`` if
    the problem's σ is not the configuration's (:func:`check_sigma`)."""
    check_sigma(config, problem)
    elites = _reevaluate_elites(config, problem, state)
    rng = state.rng
    picks = rng.integers(0, len(state.parents), size=config.lam)          # line 7
    mut_seeds = rng.integers(0, SEED_BOUND, size=config.lam)
    offspring = [Individual(state.parents[p].genome + (int(s),)) for p, s in zip(picks, mut_seeds)]  # line 8
    _evaluate(problem, offspring, state)                                   # line 9
    if config.selection == "text":                                         # line 10
        state.parents = _sorted(elites + offspring)[:config.mu]
    else:
        state.parents = elites + _sorted(offspring)[:config.mu - config.kappa]
    state.generation += 1
    entry = {"generation": state.generation, "used": state.used, "episodes": state.episodes,
             "elite": list(elites[0].genome), "elite_fitness": elites[0].fitness,
             "elite_evals": elites[0].n_evals, "best_fitness": _sorted(state.parents)[0].fitness}
    if elite_eval is not None:
        s = np.asarray(elite_eval(elites[0].genome), float)
        entry.update(elite_eval_mean=float(s.mean()), elite_eval_std=float(s.std()))
    state.log.append(entry)
    return state


def finalize(config: GAConfig, problem, state: GAState) -> GAState:
    """The last pass of lines 5–6 (see the module docstring), counted in the budget."""
    if not state.finalized:
        _reevaluate_elites(config, problem, state)
        state.finalized = True
    return state


def best_agent(config: GAConfig, state: GAState) -> tuple:
    """The final agent: best archive fitness (text) or best per-generation elite mean (code)."""
    if config.final_pick == "elite_mean":
        rows = [e for e in state.log if "elite_eval_mean" in e]
        if rows:
            return tuple(max(rows, key=lambda e: e["elite_eval_mean"])["elite"])
    return top_unique(state, 1)[0]


def top_unique(state: GAState, k: int = 3) -> list:
    """The ``k`` best distinct genomes of the archive by fitness (the ensemble of Table 6.2)."""
    pool = state.archive or {i.genome: i for i in state.parents}
    return [i.genome for i in _sorted(list(pool.values()))[:k]]


# ------------------------------------------------------------------------------------------------
# Checkpoints: the population is a list of seed lists, so a checkpoint is a small JSON file.
# ------------------------------------------------------------------------------------------------

def _ind_json(i: Individual) -> dict:
    return {"genome": list(i.genome), "scores": i.scores}


def save_checkpoint(path, config: GAConfig, state: GAState, extra: dict | None = None) -> Path:
    """Write the run's state (configuration, generation, budget used, parents and elite archive as
    seed lists with their scores, the generator's state, ``extra``) to the JSON file ``path``
    atomically; :func:`load_checkpoint` resumes it exactly. Returns ``path``."""
    doc = {"config": config.as_dict(), "generation": state.generation, "used": state.used,
           "episodes": state.episodes, "finalized": state.finalized,
           "parents": [_ind_json(i) for i in state.parents],
           "archive": [_ind_json(i) for i in state.archive.values()],
           "log": state.log, "rng": state.rng.bit_generator.state, "extra": extra or {}}
    return write_atomic(path, json.dumps(doc, default=float) + "\n")


def load_checkpoint(path, config: GAConfig) -> GAState | None:
    """The state saved at ``path``, or ``None`` if there is none; ``ValueError`` if it was written
    with a different configuration."""
    path = Path(path)
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    if doc["config"] != json.loads(json.dumps(config.as_dict())):
        raise ValueError(f"checkpoint {path} was written with another configuration: {doc['config']}")
    rng = np.random.default_rng()
    rng.bit_generator.state = doc["rng"]
    mk = lambda d: Individual(tuple(d["genome"]), list(d["scores"]))  # noqa: E731
    archive = {}
    for d in doc["archive"]:
        ind = mk(d)
        archive[ind.genome] = ind
    # parents that are also archived elites share one object, as in a run that was not interrupted
    parents = [archive.get(tuple(d["genome"]), None) or mk(d) for d in doc["parents"]]
    for p, d in zip(parents, doc["parents"]):
        p.scores = list(d["scores"])
    return GAState(parents=parents, archive=archive, rng=rng, generation=doc["generation"], used=doc["used"],
                   episodes=doc["episodes"], log=doc["log"], finalized=doc["finalized"])


def run_ga(config: GAConfig, problem, *, seed: int, budget: float, max_cost_per_episode: float = 1.0,
           checkpoint: str | Path | None = None, elite_eval: Callable | None = None,
           on_generation: Callable[[GAState], None] | None = None, max_generations: int | None = None) -> GAState:
    """Algorithm 3 until ``budget`` is spent (checked before each generation), then :func:`finalize`.
    ``max_generations`` stops earlier without finalising (as an interruption would).

    With ``checkpoint`` the state is written after every generation and a run is resumed from it.
    Raises ``ValueError`` if the budget cannot hold one generation (:func:`check_budget`).
    """
    check_budget(config, budget, max_cost_per_episode)
    state = load_checkpoint(checkpoint, config) if checkpoint is not None else None
    if state is None:
        state = init_ga(config, problem, seed)
        if checkpoint is not None:
            save_checkpoint(checkpoint, config, state)
    while (not state.finalized and state.used < budget
           and (max_generations is None or state.generation < max_generations)):
        generation(config, problem, state, elite_eval=elite_eval)
        if checkpoint is not None:
            save_checkpoint(checkpoint, config, state)
        if on_generation is not None:
            on_generation(state)
    if state.used >= budget:  # stopped by max_generations: an interruption, resumable as it stands
        finalize(config, problem, state)
        if checkpoint is not None:
            save_checkpoint(checkpoint, config, state)
    return state


# ------------------------------------------------------------------------------------------------
# Problems
# ------------------------------------------------------------------------------------------------

class AtariProblem:
    """Episodes on an :class:`~refimpl.thesis.atari_env.Evaluator`: score = unclipped return,
    cost = agent steps (``max_steps`` caps training episodes; ``on_step(n)`` sees every GA agent step,
    e.g. a progress bar)."""

    def __init__(self, evaluator, max_steps: int | None = 3000, on_step: Callable[[int], None] | None = None):
        self.evaluator, self.max_steps, self.on_step = evaluator, max_steps, on_step

    @property
    def sigma(self) -> float | None:
        """σ with which the evaluator replays genomes (its policy's genome builder, or the Ray
        actors'); ``None`` if it does not say (a random-action evaluator)."""
        ev = self.evaluator
        builder = getattr(getattr(ev, "policy", None), "builder", None)
        return getattr(ev, "sigma", None) if builder is None else builder.sigma

    def evaluate(self, genomes, seeds):
        returns, steps = self.evaluator.evaluate([((tuple(g),), int(s)) for g, s in zip(genomes, seeds)],
                                                 max_steps=self.max_steps, on_step=self.on_step)
        return returns, steps

    def play(self, agent: tuple, seeds, max_steps=None):
        """Returns of one agent (a tuple of genomes) on ``seeds`` (not counted by the GA)."""
        return self.evaluator.evaluate([(agent, int(s)) for s in seeds], max_steps=max_steps)[0]


class NoisyTestBed:
    """A synthetic problem with known true fitness, for the chapter's claim (Sec. 6.3).

    θ ∈ R^d is a genome replayed by :class:`~refimpl.thesis.atari_net.GenomeBuilder` (init:
    ``init_scale``·N(0, I)); true fitness F(θ) = −‖θ‖²/(d·init_scale²) (about −1 at
    initialisation, 0 at the optimum). An evaluation with seed s observes
    F(θ) + ``noise``·N(0, 1) + B, where the "lucky episode" bonus B is ``bonus``·Exp(1) with
    probability ``p_lucky`` (heavy right tail), else 0. The cost of an evaluation is 1.
    """

    def __init__(self, d: int = 16, *, sigma: float = 0.005, init_scale: float = 0.05, noise: float = 0.1,
                 p_lucky: float = 0.05, bonus: float = 1.0, cache_size: int = 256):
        self.d, self.init_scale, self.noise, self.p_lucky, self.bonus = d, init_scale, noise, p_lucky, bonus
        init = lambda seed: (np.float32(init_scale) *  # noqa: E731
                             np.random.default_rng(seed).standard_normal(d, dtype=np.float32))
        self.builder = atari_net.GenomeBuilder(None, sigma, cache_size=cache_size, init=init)
        self.sigma = self.builder.sigma

    def true_fitness(self, genome) -> float:
        theta = self.builder.build(genome).astype(np.float64)
        return float(-np.sum(theta**2) / (self.d * self.init_scale**2))

    def evaluate(self, genomes, seeds):
        scores = np.empty(len(genomes))
        for k, (g, s) in enumerate(zip(genomes, seeds)):
            r = np.random.default_rng([int(s), 7])
            z, u, e = r.standard_normal(), r.random(), r.exponential()
            scores[k] = self.true_fitness(g) + self.noise * z + (self.bonus * e if u < self.p_lucky else 0.0)
        return scores, np.ones(len(genomes))
