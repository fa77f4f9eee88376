"""Document ``accountability``: Pan, Nguyen, Ahmed, *Towards Building Accountable Deep Neural Model
by Interpreting Classification Accuracy*.

=============  ==================================================================================
module         what it holds
=============  ==================================================================================
``objective``  Sec. 5.1.1 initializer catalogue, Sec. 6.1 models, the train-and-measure objective
``search``     Algorithm 1 (adaptive simulated annealing over the initialization), the restart
               baseline the authors' numbers measure, user intent (Sec. 5.2), the Sec. 2 study
``spec``       the specification language (Sec. 5.2's intents written as text) and its checker
=============  ==================================================================================

Readings of ambiguous passages and the authors' code's departures: ``docs/accountability.md``.
Uses only the core (``refimpl.nn``, ``model``, ``optim``, ``train``); imports no other document package.
"""
from __future__ import annotations

from .objective import (CODE_INIT, INITIALIZER_DISTRIBUTIONS, MODEL_NAMES, TEXT_INIT, InitScheme,
                        NetworkObjective, draw_initialization, paper_model, shift_initialization)
from .search import (GAIN_TOLERANCE, SearchResult, SeedVariance, TrialRecord, UserIntent, asa_search,
                     expected_restart_gain, restart_search, seed_variance)
from .spec import (Spec, SpecSyntaxError, Verdict, default_objective, parse_spec, parse_specs, verify)

__all__ = [
    "INITIALIZER_DISTRIBUTIONS", "InitScheme", "TEXT_INIT", "CODE_INIT", "MODEL_NAMES", "paper_model",
    "draw_initialization", "shift_initialization", "NetworkObjective", "UserIntent", "GAIN_TOLERANCE", "TrialRecord",
    "SearchResult", "SeedVariance", "seed_variance", "asa_search", "restart_search",
    "expected_restart_gain", "Spec", "SpecSyntaxError", "Verdict", "parse_spec", "parse_specs", "verify",
    "default_objective"
]
