"""Golden cases of document ``thesis`` ch. 8 (learned weight sharing; ``refimpl.thesis.nes``,
``refimpl.thesis.routed``).

The cases are :func:`refimpl.thesis.lws.golden_cases` (rank utilities with ties, one NES update in
both parameterisations, one routed forward pass), with their JSON lists turned into typed arrays.
Their draws are inputs already: the NES samples a_i and their losses, the routed net's weights,
batch-norm statistics and inputs.
"""
from __future__ import annotations

import numpy as np

from ..thesis import lws
from . import Kind, arrays, make_case

__all__ = ["KINDS", "cases"]

KINDS = {
    "rank_utilities": Kind(
        "rank_utilities(losses) -> {average, first}",
        "u_i = 2*(rank(l_i) - 1)/(lambda - 1) - 1 (Eq. 8.19; Algorithm 6 line 10), ranks descending (the largest "
        "loss has rank 1, u = -1); ties: 'average' gives tied losses the mean of their ranks, 'first' ranks a tie "
        "group in sample order (the earlier sample gets the lower rank)"),
    "nes_update": Kind(
        "nes_update(pi, samples, losses, lr, p_min) -> {utilities, pi, mu}",
        "one NES step of Algorithm 6 lines 10-12: utilities = rank_utilities(losses) (ties averaged); full form "
        "pi (*shape, K) <- pi + lr*(1/lambda)*sum_i u_i*(onehot(a_i) - pi) (Eqs. 8.18, 8.44), samples (lambda, "
        "*shape) ints in [0, K); then clamp every probability at p_min from below and renormalise (Sec. 8.5). "
        "mu: the same step in expectation parameters mu = pi[..., :K-1] (mu <- mu + lr*(1/lambda)*sum_i "
        "u_i*(T(a_i) - mu), clamp and renormalise on the full K), returned as (*shape, K-1)"),
    "routed_forward": Kind(
        "routed_forward(net, params, state, xs, assignment) -> {logits_eval, logits_train, state_after_train}",
        "the routed multi-task network of Sec. 8.4 (Fig. 8.2) under one assignment (n_routed, T): per block i and "
        "task t the module m = assignment[i, t] ('routed'), 0 ('shared') or t ('task'); ConvBlock = conv k x k "
        "'same' stride s without bias (W (C_out, C_in, k, k)) -> batch norm (gamma, beta, eps 1e-5) -> ReLU -> "
        "2x2 max-pool if pool; DenseBlock = flatten -> dense (W (in, out), b) -> ReLU; then head t (flatten, "
        "dense W, b). logits_eval: batch norm with the module's running mean/var; logits_train: with each task's "
        "batch statistics (biased variance), and state_after_train: every used module's running statistics <- "
        "0.9*running + 0.1*(mean of the statistics of the tasks that use it)"),
}

_EQUATION = {"rank_utilities": "thesis Eq. 8.19",
             "nes_update": "thesis Algorithm 6 lines 10-12; Eqs. 8.18, 8.19, 8.44; clamp and renormalise (Sec. 8.5)",
             "routed_forward": "thesis Sec. 8.4 (Fig. 8.2)"}


def _typed(case: dict) -> tuple[dict, dict]:
    """Inputs and expected outputs of a golden case of lws, with arrays where the JSON had lists."""
    inp, exp = case["inputs"], case["expected"]
    f64 = lambda v: np.asarray(v, dtype=np.float64)  # noqa: E731
    if case["kind"] == "rank_utilities":
        return {"losses": f64(inp["losses"])}, {k: f64(v) for k, v in exp.items()}
    if case["kind"] == "nes_update":
        return ({"pi": f64(inp["pi"]), "samples": np.asarray(inp["samples"], dtype=np.int64),
                 "losses": f64(inp["losses"]), "lr": inp["lr"], "p_min": inp["p_min"]},
                {k: f64(v) for k, v in exp.items()})
    return ({"net": inp["net"], "params": arrays(inp["params"]), "state": arrays(inp["state"]),
             "xs": [f64(x) for x in inp["xs"]], "assignment": np.asarray(inp["assignment"], dtype=np.int64)},
            {"logits_eval": [f64(z) for z in exp["logits_eval"]], "logits_train": [f64(z) for z in exp["logits_train"]],
             "state_after_train": arrays(exp["state_after_train"])})


_DESCRIPTION = {
    "rank_utilities": "six losses with two tie groups",
    "nes_update": "two categoricals with K = 3, lambda = 4 samples (the draws a_i ~ p(a|pi), given); the second "
                  "categorical has an entry at the clamp p_min",
    "routed_forward": "2 tasks (3 and 2 classes), K = 2 modules per routed layer, a conv block (2 channels) and a dense "
                      "block (3 units), 1x4x4 inputs, 2 examples per task; float64 weights rounded to 2 decimals",
}


def cases() -> list[dict]:
    """Every ch. 8 case, in the order of :func:`refimpl.thesis.lws.golden_cases`."""
    out = []
    for case in lws.golden_cases():
        inputs, expected = _typed(case)
        equation = _EQUATION[case["kind"]]
        out.append(make_case(case["name"], case["kind"], equation, case["produced_by"], inputs, expected,
                             description=_DESCRIPTION[case["kind"]]))
    return out
