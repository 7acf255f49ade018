"""mfa-engine: multifractal analysis of neuron interaction networks in LLM checkpoints.

``import mfa_engine`` is light: torch, triton, cupy and transformers are imported lazily,
only by the functions that need them.

Public API (contract):
    analyze_graph(graph, ...) -> Spectrum      multifractal spectrum of a SciPy sparse graph
    analyze_checkpoint(path, options=None, **overrides) -> dict   the JSON document of
                                               ``mfa analyze --json``
    AnalysisOptions                            every analysis option, validated
    Spectrum                                   result record of one spectrum
    track(model, step, store=..., options=...) analyse a training model's weights in the
                                               background (mfa_engine.tracking)
    MFACallback                                transformers.Trainer callback doing the same
"""

from __future__ import annotations

from typing import Any

from mfa_engine.threads import configure_wait_policy as _configure_wait_policy

_configure_wait_policy()  # idle OpenMP workers sleep (before any runtime starts); see threads.py

__version__ = "0.1.0"

__all__ = [
    "AnalysisOptions",
    "MFACallback",
    "Spectrum",
    "__version__",
    "analyze_checkpoint",
    "analyze_graph",
    "errors",
    "track",
]

_LAZY = {
    "analyze_graph": ("mfa_engine.api", "analyze_graph"),
    "analyze_checkpoint": ("mfa_engine.api", "analyze_checkpoint"),
    "AnalysisOptions": ("mfa_engine.options", "AnalysisOptions"),
    "Spectrum": ("mfa_engine.analysis.spectrum", "Spectrum"),
    "track": ("mfa_engine.tracking.loop", "track"),
    "MFACallback": ("mfa_engine.tracking.callback", "MFACallback"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name == "errors":
        import importlib

        return importlib.import_module("mfa_engine.errors")
    raise AttributeError(f"module 'mfa_engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
