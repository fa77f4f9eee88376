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
=================  ==============================================================================

Chapters 3 (SE-ResNeXt recipe), 6 (GA for Atari), 7 (Lamarckian NAS) and 8 (learned weight
sharing) are not implemented yet. Readings and the author's code's departures: ``docs/thesis.md``.
Uses only the core; imports no other document package. Import the modules themselves
(``from refimpl.thesis import ea, operators``): each chapter is its own namespace.
"""
from __future__ import annotations

from . import ea, operators, population

__all__ = ["ea", "operators", "population"]
