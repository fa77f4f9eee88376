"""Golden cases of document ``accountability`` (Pan, Nguyen, Ahmed; ``refimpl.accountability``).

Algorithm 1 trains a network per trial; the cases replace that objective by a stated formula of the
shifts (a quadratic, see :data:`KINDS`) and give the uniform draws P' as inputs, so the walk itself —
the shift (lines 7–8), Obj (line 10), P and the exit rule (lines 11–17) — is checked exactly.
"""
from __future__ import annotations

import numpy as np

from .. import accountability as acc
from . import Kind, make_case, network, unpack

KINDS = {
    "shift_initialization": Kind("shift_initialization(weights, biases, offsets) -> {weights, biases}",
                                 "add offsets[i] to every weight and bias of layer i (Algorithm 1, lines 7-8)"),
    "asa_step": Kind("asa_step(current_loss, new_loss, p_draw, exit_rule) -> {obj, P, decision}",
                     "Obj = current_loss - new_loss (line 10); Obj <= 0: P = None, 'worse: continue'; else "
                     "P = exp(-Obj/new_loss) (0 if new_loss = 0) and, rule 'text', 'better: continue' if p_draw <= P "
                     "else 'better: exit'; rule 'literal': 'better: continue (literal)'"),
    "asa_walk": Kind("asa_walk(objective, n_layers, delta, draws, max_trial, domain, exit_rule) -> {trials, "
                     "stop_reason, best_accuracy, gain}",
                     "Algorithm 1 as read in refimpl.accountability.asa_search: trial 0 at zero shift, then per layer "
                     "i a walk with shift k*delta (k = 1, 2, ..., rounded to 12 decimals) while it lies in domain "
                     "(lo, hi), earlier layers keeping their last shift; each 'better' step consumes the next draw. "
                     "objective = {'a0', 'c', 't'}: accuracy(o) = min(1, max(0, a0 - sum_i c_i*(o_i - t_i)^2)), "
                     "loss = 1 - accuracy. trials: list of {layer, offsets, accuracy, obj, P, P_draw, decision}"),
    "expected_restart_gain": Kind("expected_restart_gain(first, pool, budget) -> gain",
                                  "E[max(first, best of budget-1 restarts drawn without replacement from pool)] - "
                                  "first, exact by order statistics (the restart baseline)"),
}


class ScriptedDraws:
    """A scripted stream for P' = Random() (asa_search accepts any object with ``random()``)."""

    def __init__(self, values):
        self.values, self.used = list(values), 0

    def random(self):
        self.used += 1
        return self.values[self.used - 1]


def quadratic_accuracy(objective: dict):
    """The stand-in objective of the walk cases: offsets -> accuracy (see ``KINDS['asa_walk']``)."""
    a0, c, t = float(objective["a0"]), np.asarray(objective["c"], float), np.asarray(objective["t"], float)
    return lambda seed, offsets: float(min(1.0, max(0.0, a0 - np.sum(c * (np.asarray(offsets) - t) ** 2))))


def _trials(result):
    return [{"layer": t.layer, "offsets": np.array(t.offsets, dtype=np.float64), "accuracy": t.accuracy,
             "obj": t.obj, "P": t.P, "P_draw": t.P_draw, "decision": t.decision} for t in result.trials]


def _step_cases():
    out = []
    for name, cur, new, draw, rule, desc in (
            ("asa_step_worse", 0.20, 0.25, 0.5, "text", "a worse point continues the walk; no draw is used"),
            ("asa_step_better_continue", 0.30, 0.20, 0.3, "text", "P = exp(-0.1/0.2) = 0.6065 >= P' = 0.3"),
            ("asa_step_better_exit", 0.30, 0.20, 0.9, "text", "P' = 0.9 > P = 0.6065: exit the layer's walk"),
            ("asa_step_perfect", 0.10, 0.0, 0.0, "text", "new loss 0: P = 0 and P' = 0 <= P continues"),
            ("asa_step_literal", 0.30, 0.20, 0.9, "literal", "the literal pseudo-code never exits")):
        accs = iter([1.0 - cur, 1.0 - new])
        res = acc.asa_search(lambda s, o: next(accs), 1, 0.1, intent=acc.UserIntent(max_trial=2),
                             rng=ScriptedDraws([draw]), exit_rule=rule)
        t = res.trials[1]
        out.append(make_case(name, "asa_step", "Algorithm 1, lines 10-17", "refimpl.accountability.asa_search "
                             "(one step, scripted objective and draw)",
                             {"current_loss": cur, "new_loss": new, "p_draw": draw, "exit_rule": rule},
                             {"obj": t.obj, "P": t.P, "decision": t.decision}, description=desc))
    return out


def _walk_cases():
    out = []
    specs = [  # name, objective, n_layers, delta, draws, max_trial, domain, rule, description
        ("asa_walk_two_layers", {"a0": 0.9, "c": [2.0, 5.0], "t": [0.25, -0.1]}, 2, 0.1,
         [0.2, 0.95, 0.1, 0.3], 12, [-0.35, 0.45], "text",
         "layer 0 improves towards t_0 = 0.25 and exits on a high draw; layer 1 walks upwards, away from "
         "t_1 = -0.1, until the domain ends"),
        ("asa_walk_negative_delta", {"a0": 0.8, "c": [1.0, 3.0], "t": [-0.2, 0.3]}, 2, -0.05,
         [0.5, 0.5, 0.99, 0.2], 9, [-0.3, 0.3], "text", "delta < 0 walks downwards; max_trial stops the search"),
        ("asa_walk_literal", {"a0": 0.9, "c": [2.0], "t": [0.15]}, 1, 0.1, [0.9, 0.9, 0.9], 10, [-1.0, 0.35],
         "literal", "the literal rule ignores the draws' outcome: the walk ends at the domain boundary"),
    ]
    for name, objective, n_layers, delta, draws, max_trial, domain, rule, desc in specs:
        stream = ScriptedDraws(draws)
        res = acc.asa_search(quadratic_accuracy(objective), n_layers, delta, intent=acc.UserIntent(max_trial=max_trial),
                             weight_domain=tuple(domain), bias_domain=tuple(domain), rng=stream, exit_rule=rule)
        out.append(make_case(name, "asa_walk", "Algorithm 1 (lines 3-21)", "refimpl.accountability.asa_search "
                             "(scripted objective and draws)",
                             {"objective": objective, "n_layers": n_layers, "delta": delta, "draws": np.array(draws),
                              "max_trial": max_trial, "domain": np.array(domain), "exit_rule": rule},
                             {"trials": _trials(res), "stop_reason": res.stop_reason,
                              "best_accuracy": res.best_accuracy, "gain": res.gain},
                             description=desc + f"; {stream.used} of {len(draws)} draws used"))
    return out


def cases() -> list[dict]:
    """Every accountability case."""
    rng = np.random.default_rng(60)
    weights = [np.round(rng.uniform(-1, 1, (3, 4)), 3), np.round(rng.uniform(-1, 1, (4, 2)), 3)]
    biases = [np.zeros(4), np.round(rng.uniform(-0.1, 0.1, 2), 3)]
    model, params = network(weights, biases, ["relu", "linear"])
    offsets = [0.0025, -0.5]
    shifted = unpack(model, acc.shift_initialization(model, params, offsets))
    shift = make_case("shift_initialization", "shift_initialization", "Algorithm 1, lines 7-8",
                      "refimpl.accountability.shift_initialization",
                      {"weights": weights, "biases": biases, "offsets": offsets},
                      {"weights": shifted["weights"], "biases": shifted["biases"]})
    pool = np.array([0.91, 0.935, 0.9, 0.925, 0.94, 0.915])
    gain = make_case("expected_restart_gain_budget4", "expected_restart_gain", "restart baseline (order statistics)",
                     "refimpl.accountability.expected_restart_gain", {"first": 0.92, "pool": pool, "budget": 4},
                     {"gain": acc.expected_restart_gain(0.92, pool, 4)},
                     description="first run 0.92; 3 restarts drawn from a pool of 6")
    return [shift] + _step_cases() + _walk_cases() + [gain]
