"""Reference mode: what the published NeuroMFA code computes, reproduced exactly.

The published pipeline's semantics (sampling, node ids, edges, arithmetic, window, spectrum)
and the documented differences are in docs/reference-mode.md. The package follows its
sections:

* :mod:`~mfa_engine.reference.sampling`: the published RNG sequence of sampled neurons;
* :mod:`~mfa_engine.reference.lists`: per-node one-hop distance lists in the window
  ``1 < d <= T``, each weight block read once for all seeds;
* :mod:`~mfa_engine.reference.spectrum`: ``wnfd_llm`` + ``nspectrum`` of one sample;
* :mod:`~mfa_engine.reference.zsum`: the compiled partition sums (published summation order);
* :mod:`~mfa_engine.reference.pipeline`: several seeds, sample filters, emergence (the mode
  interface ``plan`` / ``run`` is :mod:`mfa_engine.modes.reference`).

Only ``gpt_neox`` checkpoints are supported, as in the published code.
"""

from __future__ import annotations

from mfa_engine.reference.lists import (
    NODE_KINDS,
    REFERENCE_THRESHOLD,
    DistanceLists,
    reference_distance_lists,
    reference_lists_from_raw,
)
from mfa_engine.reference.pipeline import analyze_reference, reference_emergence
from mfa_engine.reference.sampling import ReferenceSample, reference_sample_indices
from mfa_engine.reference.spectrum import REFERENCE_Q, reference_counts, reference_q_grid, reference_spectrum

__all__ = [
    "REFERENCE_Q",
    "REFERENCE_THRESHOLD",
    "NODE_KINDS",
    "ReferenceSample",
    "DistanceLists",
    "reference_q_grid",
    "reference_sample_indices",
    "reference_distance_lists",
    "reference_lists_from_raw",
    "reference_counts",
    "reference_spectrum",
    "analyze_reference",
    "reference_emergence",
]
