"""Accountable accuracy: seed variance, initialization search and user intent (Pan, Nguyen, Ahmed).

Document ``accountability``: *Towards Building Accountable Deep Neural Model by Interpreting
Classification Accuracy*. The paper observes (Sec. 2) that one model trained twice with the same
setup reaches different accuracies because its initial weights and biases are random, and
proposes to search the initialization for the best accuracy (Algorithm 1, "adaptive simulated
annealing"), bounded by the user's intent (Sec. 5.2: ``max_time``, ``max_trial``, ``max_gain``).

What is here
------------
* The objective both searches call is any callable with the signature below; the network one,
  :class:`refimpl.accountability.objective.NetworkObjective`, trains from an initialization and
  measures the accuracy; tests and users can inject a cheap scripted objective instead.
* :func:`seed_variance` — the study of Sec. 2: the same model trained with N seeds.
* :func:`asa_search` — Algorithm 1 as the text describes it (δ really shifts the initial weights
  and biases; the acceptance rule really acts). Every ambiguous line is read as documented there,
  including two readings worth knowing: the acceptance rule follows the pseudo-code's sign, the
  reverse of textbook simulated annealing (a worse step always continues the walk, an improving
  one with probability exp(−Obj/L′)); and a finished layer keeps its last shift, not its best.
* :func:`restart_search` — the baseline that the authors' published numbers actually measure
  (docs/accountability.md: their code never adds δ and re-draws every weight in every trial, so the
  reported gain is *best of N independent random restarts minus the first run*).
* :class:`UserIntent` — the limits of Sec. 5.2, honoured by both searches, which log every trial.
* :func:`expected_restart_gain` — the restart baseline's expected gain at a given trial budget,
  computed exactly from a pool of restarts (order statistics), for equal-budget comparisons.

Objective convention
--------------------
An objective is ``objective(init_seed: int, offsets: tuple[float, ...]) -> accuracy`` where
``init_seed`` selects the random draw of the initial parameters and ``offsets[i]`` is the value δ·k
added to every initial weight *and* bias of the i-th weight layer (Algorithm 1, lines 7–8). It
returns the accuracy in [0, 1] as a float, or a mapping with key ``"accuracy"`` (other keys are
kept in the trial log). The loss of Algorithm 1 is ``L(W, B) = 1 − accuracy`` (Sec. 5.1, after Algorithm 1: "we use
the probability as the output metric and 1-loss represents the accuracy").
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from ..backend import as_generator

__all__ = [
    "UserIntent", "TrialRecord", "SearchResult", "SeedVariance",
    "seed_variance", "asa_search", "restart_search", "expected_restart_gain", "GAIN_TOLERANCE",
]

#: Absolute tolerance (in accuracy, a fraction) with which ``max_gain`` counts as reached; see
#: :class:`UserIntent`. Accuracies are counts divided by the number of images, so two that differ
#: at all differ by at least 1 / n_images (1.7e-5 for 60,000); 1e-9 only absorbs rounding.
GAIN_TOLERANCE = 1e-9

# --------------------------------------------------------------------------------------------
# Sec. 5.2: user intent, and the trial log shared by both searches
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UserIntent:
    """The user-intent limits of Sec. 5.2 (``None`` = no limit).

    max_time : seconds; no new trial *starts* once this much time has passed since the search
        began (a running training is not interrupted, so the total may exceed it by one trial).
    max_trial : the most objective evaluations (trainings), the first run included.
    max_gain : accuracy gain (a fraction, 0.02 = 2 points) at which the user is satisfied: the
        search stops as soon as best − first ≥ max_gain − :data:`GAIN_TOLERANCE` (1e-9). The
        tolerance makes a gain of exactly max_gain count: 0.9 − 0.8 is 0.09999999999999998 in
        floating point, which a raw ``>= 0.1`` misses. It is far below the smallest real
        difference of two accuracies (one image in 60,000 is 1.7e-5).

    Raises ``ValueError`` for a negative/NaN time or gain or a ``max_trial`` below 1.
    """
    max_time: float | None = None
    max_trial: int | None = None
    max_gain: float | None = None

    def __post_init__(self):
        if self.max_time is not None and not (isinstance(self.max_time, (int, float)) and self.max_time >= 0
                                              and math.isfinite(self.max_time)):
            raise ValueError(f"max_time must be a finite number of seconds >= 0, got {self.max_time!r}")
        if self.max_trial is not None and not (isinstance(self.max_trial, (int, np.integer))
                                               and not isinstance(self.max_trial, bool) and self.max_trial >= 1):
            raise ValueError(f"max_trial must be an int >= 1, got {self.max_trial!r}")
        if self.max_gain is not None and not (isinstance(self.max_gain, (int, float)) and 0 <= self.max_gain <= 1):
            raise ValueError(f"max_gain must be an accuracy gain in [0, 1], got {self.max_gain!r}")

    @property
    def bounded(self) -> bool:
        """True if ``max_time`` or ``max_trial`` guarantees that a search ends."""
        return self.max_time is not None or self.max_trial is not None


@dataclass(frozen=True)
class TrialRecord:
    """One objective evaluation.

    index : 0-based trial number (trial 0 is the first run, the reference of the gain).
    init_seed, offsets : the initialization evaluated (offsets per weight layer).
    accuracy, loss : the objective's accuracy and L = 1 − accuracy.
    started, seconds : start time since the search began, and duration (seconds, search clock).
    layer : (ASA) the layer i being shifted, ``None`` for the first run and for restarts.
    obj, P, P_draw : (ASA) Obj = L(W_i, B_i) − L(W', B'), the probability P = exp(−Obj / L(W', B'))
        and the uniform draw P' (``None`` where Algorithm 1 does not compute them).
    decision : ``"first"``, ``"restart"``, ``"worse: continue"``, ``"better: continue"`` (P' ≤ P),
        ``"better: exit"`` (P' > P), ``"better: continue (literal)"``.
    info : whatever else the objective returned (e.g. held-out accuracy).
    """
    index: int
    init_seed: int
    offsets: tuple[float, ...]
    accuracy: float
    loss: float
    started: float
    seconds: float
    layer: int | None = None
    obj: float | None = None
    P: float | None = None
    P_draw: float | None = None
    decision: str = "first"
    info: dict = field(default_factory=dict)


@dataclass
class SearchResult:
    """A search's outcome and full trial log.

    method : ``"asa"`` or ``"restart"``. trials : every :class:`TrialRecord`, in order.
    stop_reason : ``"max_trial"``, ``"max_time"``, ``"max_gain"``, ``"target"`` (the caller's
    ``stop_when`` held), or ``"finished"`` (the algorithm ended by itself).
    config : the search's settings. elapsed : seconds on the search clock.
    """
    method: str
    trials: list[TrialRecord]
    stop_reason: str
    config: dict
    elapsed: float

    @property
    def first_accuracy(self) -> float:
        if not self.trials:
            raise ValueError(f"no trial ran (stop reason: {self.stop_reason})")
        return self.trials[0].accuracy

    @property
    def best_trial(self) -> TrialRecord:
        """The trial with the highest accuracy (the earliest among ties)."""
        self.first_accuracy  # raises if no trial ran
        return max(self.trials, key=lambda t: (t.accuracy, -t.index))

    @property
    def best_accuracy(self) -> float:
        return self.best_trial.accuracy

    @property
    def gain(self) -> float:
        """best − first accuracy: the paper's "gain of accuracy" (a fraction; ×100 for %)."""
        return self.best_accuracy - self.first_accuracy

    def gain_curve(self) -> np.ndarray:
        """float64 ``(n_trials,)``: the gain best-so-far − first after each trial (Figs. 5–6)."""
        acc = np.array([t.accuracy for t in self.trials], dtype=np.float64)
        return np.maximum.accumulate(acc) - acc[0] if acc.size else acc

    def to_dict(self) -> dict:
        """JSON-ready summary and log."""
        out = {"method": self.method, "stop_reason": self.stop_reason, "config": self.config,
               "elapsed": self.elapsed, "n_trials": len(self.trials)}
        if self.trials:
            out.update(first_accuracy=self.first_accuracy, best_accuracy=self.best_accuracy,
                       gain=self.gain, best_index=self.best_trial.index)
        out["trials"] = [asdict(t) for t in self.trials]
        return out


def _accuracy_of(value) -> tuple[float, dict]:
    if isinstance(value, Mapping):
        if "accuracy" not in value:
            raise ValueError(f"an objective returning a mapping must include 'accuracy', got keys {list(value)}")
        info = {k: v for k, v in value.items() if k != "accuracy"}
        value = value["accuracy"]
    else:
        info = {}
    acc = float(value)
    if not (0.0 <= acc <= 1.0):
        raise ValueError(f"the objective must return an accuracy in [0, 1], got {acc!r}")
    return acc, info


class _Runner:
    """Evaluates trials, enforces the user intent, and keeps the log (shared by both searches)."""

    def __init__(self, objective, intent: UserIntent, clock, stop_when):
        if not callable(objective):
            raise TypeError(f"objective must be callable, got {type(objective).__name__}")
        if not isinstance(intent, UserIntent):
            raise TypeError(f"intent must be a UserIntent, got {type(intent).__name__}")
        self.objective, self.intent, self.clock, self.stop_when = objective, intent, clock, stop_when
        self.t0 = clock()
        self.trials: list[TrialRecord] = []
        self.best = -math.inf
        self.stop_reason: str | None = None

    def may_start(self) -> bool:
        """Check the limits that forbid a new trial (max_trial, max_time)."""
        if self.stop_reason is not None:
            return False
        if self.intent.max_trial is not None and len(self.trials) >= self.intent.max_trial:
            self.stop_reason = "max_trial"
        elif self.intent.max_time is not None and self.clock() - self.t0 >= self.intent.max_time:
            self.stop_reason = "max_time"
        return self.stop_reason is None

    def evaluate(self, init_seed: int, offsets: tuple[float, ...], **fields) -> TrialRecord:
        started = self.clock() - self.t0
        acc, info = _accuracy_of(self.objective(int(init_seed), tuple(offsets)))
        rec = TrialRecord(index=len(self.trials), init_seed=int(init_seed), offsets=tuple(offsets),
                          accuracy=acc, loss=1.0 - acc, started=started,
                          seconds=self.clock() - self.t0 - started, info=info, **fields)
        self.trials.append(rec)
        self.best = max(self.best, acc)
        # limits that a finished trial can satisfy
        if (self.intent.max_gain is not None
                and self.best - self.trials[0].accuracy >= self.intent.max_gain - GAIN_TOLERANCE):
            self.stop_reason = "max_gain"
        elif self.stop_when is not None and self.stop_when(acc):
            self.stop_reason = "target"
        return rec

    def replace_last(self, rec: TrialRecord) -> None:
        self.trials[-1] = rec

    def result(self, method: str, config: dict) -> SearchResult:
        return SearchResult(method=method, trials=self.trials, stop_reason=self.stop_reason or "finished",
                            config=config, elapsed=self.clock() - self.t0)


def _check_domain(domain, name):
    if domain is None:
        return (-math.inf, math.inf)
    lo, hi = (float(v) for v in domain)
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise ValueError(f"{name} must be an interval (lo, hi) with lo <= hi, got {domain!r}")
    return lo, hi


# --------------------------------------------------------------------------------------------
# Algorithm 1: adaptive-simulated-annealing-based search over the initialization
# --------------------------------------------------------------------------------------------

def asa_search(objective: Callable, n_layers: int, delta: float, *, init_seed: int = 0,
               intent: UserIntent = UserIntent(), weight_domain: tuple[float, float] | None = None,
               bias_domain: tuple[float, float] | None = None, exit_rule: str = "text",
               rng: int | np.random.Generator = 0, clock: Callable[[], float] = time.perf_counter,
               stop_when: Callable[[float], bool] | None = None) -> SearchResult:
    """Algorithm 1 (ASA), read as the text describes it, bounded by the user intent (Sec. 5.2).

    Parameters
    ----------
    objective : ``objective(init_seed, offsets) -> accuracy`` (see the module docstring);
        L(W, B) = 1 − accuracy.
    n_layers : m, the number of weight layers (``len(offsets)``).
    delta : δ, the step size (line 2: δ = C, a constant fixed per run; RQ1 varies it over runs).
    init_seed : the random draw of the initial parameters that δ shifts (fixed for the whole
        search, so only the shift changes between trials).
    intent : :class:`UserIntent` (max_time, max_trial, max_gain).
    weight_domain, bias_domain : W_d and B_d, intervals (lo, hi) of admissible shifts; ``None``
        is unbounded. One of them bounded, or ``intent.bounded``, is required.
    exit_rule : ``"text"`` (default; the reading below) or ``"literal"`` (the pseudo-code exactly:
        exit_flag is never set to True, so each layer's walk ends only at the domain boundary and
        the search only by the user intent).
    rng : seed or Generator for P' = Random() (line 15; any object with a ``random()`` method
        returning floats in [0, 1) is accepted, e.g. a scripted stream in tests). clock : time source for ``max_time``.
    stop_when : optional predicate on a trial's accuracy that ends the search (used by the spec
        language, :mod:`refimpl.spec`); the stop reason is then ``"target"``.

    Returns a :class:`SearchResult`; its ``best_accuracy`` is the returned 1 − L(W, B) (line 21)
    and ``gain`` = best − first, the paper's "gain of accuracy".

    Reading of the pseudo-code (every ambiguous line)
    -------------------------------------------------
    * Trial 0 evaluates the unshifted draw, L(W_0, B_0): the "first run" and reference of the gain.
    * Line 3, ``for each i ∈ m``: i runs over the m weight layers, first to last; layers are
      searched one after another (coordinate-wise), earlier layers keep their final shift
      (reading (b) below).
    * Lines 4–5, ``W_i = 0, B_i = 0``: the *shift* of layer i starts at zero — the initial values
      are the random draw plus a shift (the text: "increase the value of the weight and bias
      initializing value with the step size δ"), not the constant 0, which Sec. 4 itself warns
      against. exit_flag is reset to False for every layer (otherwise only layer 1 is searched).
    * Lines 7–8: W' and B' add the same δ to all weights and all biases of layer i
      (:func:`shift_initialization`); the step is always +δ (δ < 0 walks downwards).
    * Line 9, ``W' ∈ W_d and B' ∈ B_d``: the shift must lie in both domains. Line 19, ``Go to 6``,
      would loop forever since nothing changes; we read it as "layer i's walk ends".
    * Line 10: Obj = L(W_i, B_i) − L(W', B') compares consecutive points of the walk (the
      current point, not the best so far); Obj > 0 means W' is better.
    * Lines 11–12: a worse or equal W' (Obj ≤ 0) continues the walk.
    * Lines 13–17, with the prose ("if we get a better result, we validate that [it does] not
      represent a local minima ... we compute the process again [if] the probability is greater
      than [the] random value"): after an improvement, P = exp(−Obj / L(W', B')) and P' ~ U[0, 1);
      P' ≤ P continues the walk, otherwise exit_flag becomes True (the implicit else). The
      temperature is L(W', B') itself, which shrinks as the search improves — our reading of the
      "adaptive" in the name. If L(W', B') = 0 (a perfect accuracy), P = 0 and the walk exits.
    * **Reading (a): the acceptance rule is the reverse of textbook simulated annealing.** Following
      the pseudo-code's sign, a *worse* step always continues the walk, and an *improving* step
      continues it only with probability exp(−Obj / L(W', B')). Textbook annealing always accepts
      improvements and accepts worse points with a probability. We keep the pseudo-code's sign.
    * Line 20: W_i = W', B_i = B' unconditionally — the walk always moves on, worse or not.
    * **Reading (b): a finished layer keeps its last shift, not its best one.** When layer i's walk
      ends, its shift stays where the walk stopped (line 20 moved it there), even if an earlier
      shift of that layer scored better; layer i + 1 is then searched on top of that last shift.
      The best trial of the whole search is still what line 21 returns.
    * Line 21, ``return 1 − L(W, B)``: the accuracy of the best trial seen (RQ1 "pick the best
      gain"); the last position is in the log too.
    * A trial = one evaluation of L (one training). The user intent is checked before every trial
      (max_trial, max_time) and after it (max_gain). When every layer's walk has ended the search
      finishes (``stop_reason = "finished"``), possibly with trials to spare.

    Consequences worth knowing (measured in ``chapters/accountable_accuracy.py``)
    --------------------------------------------------------------------------
    * Shifting the *output* layer adds δ·(Σ_j h_j + 1) to every logit alike, so softmax, the
      cross-entropy and the argmax are unchanged: that layer's walk cannot change the result
      (up to float rounding) and only spends trials.
    * Shifting a hidden layer adds δ·(Σ_j x_j + 1) to every pre-activation of the layer — about
      0.57 per step of δ = 0.0025 on Fashion-MNIST pixels — so the walk drifts monotonically away
      from the drawn initialization; worse points never end a walk (lines 11–12).
    * Without a domain bound, a layer's walk ends only when an improving step draws P' > P, and P
      is close to 1 (Obj is a fraction of a point, L' is 0.05–0.25), so a short budget is spent on
      layer 0: with 8 trials, nearly every shifted trial of the quick-scale searches shifted layer 0
      (docs/accountability.md has the counts, and what 50 trials reach).

    Raises ``ValueError`` for δ = 0 or non-finite, n_layers < 1, an unknown exit rule, a bad
    domain, or an unbounded search; ``TypeError`` for a non-callable objective.
    """
    if not (isinstance(delta, (int, float, np.floating)) and math.isfinite(delta) and delta != 0):
        raise ValueError(f"delta must be a finite non-zero number, got {delta!r}")
    if not (isinstance(n_layers, (int, np.integer)) and n_layers >= 1):
        raise ValueError(f"n_layers must be a positive int, got {n_layers!r}")
    if exit_rule not in ("text", "literal"):
        raise ValueError(f"exit_rule must be 'text' or 'literal', got {exit_rule!r}")
    w_lo, w_hi = _check_domain(weight_domain, "weight_domain")
    b_lo, b_hi = _check_domain(bias_domain, "bias_domain")
    lo, hi = max(w_lo, b_lo), min(w_hi, b_hi)
    if not intent.bounded and not math.isfinite(hi if delta > 0 else lo):
        raise ValueError("unbounded search: give intent.max_trial or intent.max_time, or a bounded domain")
    rng = rng if hasattr(rng, "random") else as_generator(rng)  # any object with .random() (tests script it)
    delta = float(delta)
    config = {"delta": delta, "n_layers": int(n_layers), "init_seed": int(init_seed), "exit_rule": exit_rule,
              "weight_domain": [w_lo, w_hi] if weight_domain is not None else None,
              "bias_domain": [b_lo, b_hi] if bias_domain is not None else None, "intent": asdict(intent)}
    run = _Runner(objective, intent, clock, stop_when)
    shift = [0.0] * n_layers                              # current W_i, B_i shifts (lines 4–5)
    if run.may_start():
        current = run.evaluate(init_seed, tuple(shift)).loss      # L(W_i, B_i) of the first run
    for i in range(n_layers):                             # line 3
        exit_flag = False                                 # reset per layer (our reading)
        steps = 0
        while not exit_flag:                              # line 6
            if not run.may_start():
                return run.result("asa", config)
            steps += 1
            candidate = round(steps * delta, 12)          # W' = W_i + δ without drift (lines 7–8)
            if not (lo <= candidate <= hi):               # line 9 false -> line 19: the walk ends
                break
            trial_shift = tuple(shift[:i] + [candidate] + shift[i + 1:])
            rec = run.evaluate(init_seed, trial_shift, layer=i)
            new = rec.loss
            obj = current - new                           # line 10
            P = P_draw = None
            if obj <= 0:                                  # lines 11–12
                decision = "worse: continue"
            else:                                         # lines 13–17
                P = math.exp(-obj / new) if new > 0 else 0.0
                P_draw = float(rng.random())
                if exit_rule == "literal":
                    decision = "better: continue (literal)"
                elif P_draw <= P:
                    decision = "better: continue"
                else:
                    decision, exit_flag = "better: exit", True
            run.replace_last(TrialRecord(**{**asdict(rec), "obj": obj, "P": P, "P_draw": P_draw,
                                            "decision": decision}))
            shift[i], current = candidate, new            # line 20
            if run.stop_reason is not None:               # max_gain / target reached
                return run.result("asa", config)
    return run.result("asa", config)


# --------------------------------------------------------------------------------------------
# The restart baseline (what the authors' numbers measure) and the seed-variance study
# --------------------------------------------------------------------------------------------

def restart_search(objective: Callable, n_layers: int, *, first_seed: int = 0,
                   intent: UserIntent = UserIntent(), clock: Callable[[], float] = time.perf_counter,
                   stop_when: Callable[[float], bool] | None = None) -> SearchResult:
    """Independent random restarts: trial j trains the unshifted draw ``first_seed + j``.

    This is what the authors' code measured (docs/accountability.md: δ is never added and all weights
    are re-drawn in every trial); its gain is best − first run, with trial 0 the same first run
    as :func:`asa_search` with ``init_seed=first_seed``, so both searches share their reference.
    ``intent`` must bound the search (max_trial or max_time). Returns a :class:`SearchResult`.
    """
    if not intent.bounded:
        raise ValueError("unbounded search: give intent.max_trial or intent.max_time")
    if not (isinstance(n_layers, (int, np.integer)) and n_layers >= 1):
        raise ValueError(f"n_layers must be a positive int, got {n_layers!r}")
    run = _Runner(objective, intent, clock, stop_when)
    zero = (0.0,) * n_layers
    j = 0
    while run.may_start():
        run.evaluate(first_seed + j, zero, decision="first" if j == 0 else "restart")
        j += 1
    return run.result("restart", {"first_seed": int(first_seed), "n_layers": int(n_layers),
                                   "intent": asdict(intent)})


@dataclass(frozen=True)
class SeedVariance:
    """Sec. 2: accuracies of one model trained with different seeds (float64 ``(N,)``)."""
    seeds: tuple[int, ...]
    accuracies: np.ndarray

    @property
    def summary(self) -> dict:
        a = self.accuracies
        return {"n": int(a.size), "mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
                "min": float(a.min()), "max": float(a.max()), "range": float(a.max() - a.min())}


def seed_variance(objective: Callable, n_layers: int, seeds: Sequence[int]) -> SeedVariance:
    """Train the same model once per seed (no shift) and collect the accuracies (Sec. 2, Fig. 1)."""
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    zero = (0.0,) * int(n_layers)
    return SeedVariance(seeds, np.array([_accuracy_of(objective(s, zero))[0] for s in seeds]))


def expected_restart_gain(first: float, pool: Sequence[float], budget: int) -> float:
    """Expected gain of the restart baseline with ``budget`` trials (the first run included).

    With ``pool`` the accuracies of R independent restarts (not containing the first run), the
    baseline's best after ``budget`` trials is max(first, best of k = budget − 1 restarts). Its
    expectation over a uniformly random k-subset of the pool is exact by order statistics:
    P(max = a_(j)) = C(j−1, k−1) / C(R, k) for the ascending order a_(1) ≤ … ≤ a_(R).
    Returns E[best] − first. Raises ``ValueError`` if budget < 1 or budget − 1 > R.
    """
    a = np.sort(np.asarray(pool, dtype=np.float64))
    k, R = int(budget) - 1, a.size
    if k < 0 or k > R:
        raise ValueError(f"budget must be in [1, {R + 1}] for a pool of {R} restarts, got {budget}")
    if k == 0:
        return 0.0
    j = np.arange(1, R + 1)
    # C(j-1, k-1) / C(R, k) in log space (exact enough and overflow-free)
    from scipy.special import gammaln  # noqa: PLC0415
    logc = lambda n, r: gammaln(n + 1) - gammaln(r + 1) - gammaln(n - r + 1)  # noqa: E731
    w = np.where(j >= k, np.exp(logc(np.maximum(j - 1, 0), k - 1) - logc(R, k)), 0.0)
    return float(np.sum(w * np.maximum(a, first)) - first)
