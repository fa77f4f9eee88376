"""Document ``extremal``: Patel & Rummel, *Extremal learning: extremizing the output of a neural
network in regression problems*.

============  ===================================================================================
module        what it holds
============  ===================================================================================
``learning``  Sec. 2: the max/min losses (Eqs. 2.3–2.4), the constraint losses (Eqs. 2.5–2.8) and
              :func:`extremize` — freeze θ, train the input x (vectorized multi-start, GD or Adam);
              an L-BFGS-B baseline
``milp``      beyond the paper: a mixed-integer certificate of a ReLU network's maximum over a box
============  ===================================================================================

The Sec. 3 toy data (Eq. 3.1) are in :mod:`refimpl.data.synthetic`. Readings and the authors'
notebook's departures: ``docs/extremal.md``. ``milp`` imports the ``interval`` document's public
``Interval`` and ``relu``: its big-M constants must enclose every pre-activation the network can
compute, which is what that package's outward-rounded enclosures guarantee.
"""
from __future__ import annotations

from .learning import (ExtremalResult, extrapolation_loss, extremize, extremize_lbfgs, maximization_loss,
                       minimization_loss, network_output, positive_input_loss, positive_output_loss,
                       total_loss)
from .milp import (MILPResult, dense_relu_layers, forward, interval_bounds, maximize_relu_network,
                   tighten_bounds)

__all__ = [
    "maximization_loss", "minimization_loss", "extrapolation_loss", "positive_output_loss",
    "positive_input_loss", "total_loss", "network_output", "extremize", "extremize_lbfgs", "ExtremalResult",
    "dense_relu_layers", "interval_bounds", "tighten_bounds", "forward", "maximize_relu_network",
    "MILPResult"
]
