"""Document ``thesis``: Prellberg, *Evolving Deep Neural Networks: Optimization of Weights and
Architectures* (PhD thesis, Oldenburg 2020).

The building blocks of ch. 2 (dense, conv, pooling, batch norm) are the core's
(:mod:`refimpl.nn`, :mod:`refimpl.model`). This package holds one module group per chapter:

=================  ==============================================================================
module             what it holds
=================  ==============================================================================
``se_resnext``     ch. 3, Sec. 3.3: SE module (Eqs. 3.3–3.5), SE-ResNeXt bottleneck (Eqs. 3.1–3.2),
                   the network (mini, SE-ResNeXt-50 32×4d); ``cnmc``: Sec. 3.4's recipe, C-NMC loader
``operators``      ch. 4 and Sec. 5.2: crossover (Eqs. 4.1–4.2), mutation (Eq. 4.3), σ control
                   (Eqs. 5.3–5.4), fitness inheritance (Eq. 5.2), truncation / (μ, λ) / (μ + λ)
                   selection, offspring counts
``population``     Sec. 5.2.3 and 5.3.1: the chapter's network and the batched evaluation of a
                   whole population (the GPU-batching argument of ch. 5)
``ea``             Algorithm 2: the limited-evaluation EA, its configuration (Table 5.1),
                   checkpoints and resumption
``atari_*``        ch. 6: the agent network and seed-list genomes (``atari_net``), the ALE
                   vector-env scheduler (``atari_env``), Algorithm 3 and Table 6.1 (``atari_ga``)
``nas_space``      ch. 7, Secs. 7.3.2–7.3.3: genotypes of conv blocks and their phenotypes,
                   the six mutations, forced novelty, weight inheritance (Eqs. 7.1–7.6)
``nas``            ch. 7, Algorithm 4: the (1+1)-EA with niching and an epoch budget, the three
                   arms of Sec. 7.4.1, checkpoints, final training, resumption
``nas_golden``     ch. 7: golden cases of mutation and inheritance (Eqs. 7.3–7.6)
``nes``            Secs. 8.3–8.4: NES over independent categoricals — parameterisations (Eqs.
                   8.21–8.43), rank utilities (Eq. 8.19), natural gradient (Eq. 8.44), the update
``routed``         Sec. 8.4: the routed multi-task network, one forward pass grouped by module
``lws``            ch. 8: Monte Carlo SGD (Eq. 8.20), the chapter's networks and baselines,
                   Algorithm 6 with checkpoints, the Fig. 8.4 histogram
=================  ==============================================================================

Readings and the author's code's departures: ``docs/thesis.md``.
Uses only the core; imports no other document package. Import the modules themselves
(``from refimpl.thesis import ea, operators``): each chapter is its own namespace.
"""
from __future__ import annotations

from . import cnmc, ea, lws, nas, nas_golden, nas_space, nes, operators, population, routed, se_resnext

__all__ = ["cnmc", "ea", "lws", "nas", "nas_golden", "nas_space", "nes", "operators", "population", "routed",
           "se_resnext"]
