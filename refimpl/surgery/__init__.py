"""Document ``surgery``: Schiessler, Aydin, Linka, Cyron, *Neural network surgery: Combining
training with topology optimization* (Neural Networks 144, 2021).

==================  =============================================================================
module              what it holds
==================  =============================================================================
``modifications``   Sec. 3.1, the modification module: add/remove neurons (Net2WiderNet, Eqs. 4–8;
                    truncated SVD, Eqs. 9–10), add/remove layers (Eqs. 3, 11–12), truncated SVD
``recommendation``  Sec. 3.2, the recommendation module: n_r (Eq. 13), scores and ranking
                    (Eqs. 14–15), selection, the composite score of Eq. 16
``genetic``         Sec. 3.3, Algorithm 1: the Surgeon genetic algorithm, and the baseline
==================  =============================================================================

Readings of ambiguous passages and the authors' code's departures: ``docs/surgery.md``.
Uses only the core (``refimpl.model``, ``optim``, ``train``); imports no other document package.
"""
from __future__ import annotations

from .modifications import (ELEMENTWISE, HOMOGENEOUS, IDEMPOTENT, NONNEGATIVE, OPERATIONS, Surgery, add_layer,
                            add_layer_refusal, add_neurons, add_neurons_refusal, check_mlp, count_params,
                            default_inserted_activation, hidden_layers, identity, low_rank, remove_layer,
                            remove_neurons, truncate)
from .recommendation import (Proposal, eq16_score, neuron_amounts, recommend, refused_modifications, removable_count,
                             select)
from .genetic import (CANDIDATE_LOG_KEYS, DECISION_LOG_KEYS, RECOVERY_CODE, RECOVERY_TEXT, Branch, Candidate,
                      SurgeonConfig, SurgeonResult, summarize_log, surgeon, topology, train_baseline)

__all__ = [
    "OPERATIONS", "Surgery", "hidden_layers", "check_mlp", "count_params", "identity", "add_neurons",
    "add_layer", "remove_neurons", "truncate", "remove_layer", "low_rank", "ELEMENTWISE", "HOMOGENEOUS",
    "IDEMPOTENT", "NONNEGATIVE", "add_neurons_refusal", "add_layer_refusal", "default_inserted_activation", "Proposal", "removable_count",
    "neuron_amounts", "recommend", "refused_modifications", "select", "eq16_score", "SurgeonConfig", "Branch", "SurgeonResult",
    "surgeon", "train_baseline", "topology", "summarize_log", "RECOVERY_TEXT", "RECOVERY_CODE", "Candidate",
    "DECISION_LOG_KEYS", "CANDIDATE_LOG_KEYS"
]
