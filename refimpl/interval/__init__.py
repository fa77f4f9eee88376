"""Document ``interval``: Afghan & Naumann, *Interval Adjoint Significance Analysis for Neural
Networks* (ICCS 2020).

================  ===============================================================================
module            what it holds
================  ===============================================================================
``arithmetic``    Sec. 2.1–2.2: the :class:`Interval` type with outward rounding, its elementary
                  functions and a tape for reverse-mode interval adjoints; the Sec. 2.3 example
``stacked``       rounded primitives on stacked (lower, upper) bound arrays: outward steps without
                  ``np.nextafter``, σ and softmax with their derivatives (for ``sweep``)
``sweep``         Sec. 3.2: fused forward and reverse sweeps of a dense network (no tape; a batch
                  of seeds per reverse sweep), and the same steps recorded on the tape
``significance``  Sec. 3: interval forward/adjoint sweeps through a dense network, significance
                  S = w[V]·max|∇_V y| (Eq. 1), node ranking, pruning of input and hidden nodes with
                  the bias update of Sec. 3.3, and the random / weight-magnitude baselines
================  ===============================================================================

Readings of ambiguous passages and the measured discrepancies: ``docs/interval.md``.
Uses only the core (``refimpl.model``); imports no other document package.
"""
from __future__ import annotations

from .arithmetic import (ACTIVATIONS, Interval, absolute, cos, exp, get_activation, hull, interval, log,
                         log_softmax, matmul, maximum, minimum, point, relu, sigmoid, sin, softmax, sqrt, tanh)
from .significance import (Analysis, Pruned, analyse, input_box, interval_forward,
                           magnitude_scores, n_removed, prune, random_scores, ranking, remove_nodes)

__all__ = [
    "Interval", "interval", "point", "hull", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu",
    "absolute", "maximum", "minimum", "matmul", "softmax", "log_softmax", "ACTIVATIONS", "get_activation",
    "Analysis", "Pruned", "input_box", "interval_forward", "analyse", "ranking",
    "magnitude_scores", "random_scores", "remove_nodes", "prune", "n_removed"
]
