"""NetworkX backend ``mfa``: NetworkX's shortest-path-length functions on the engine's kernels.

Installed with mfa-engine, the backend is registered through the ``networkx.backends`` and
``networkx.backend_info`` entry points (both named ``mfa``). Use it per call
(``nx.single_source_dijkstra_path_length(G, s, backend="mfa")``), for every call
(``nx.config.backend_priority = ["mfa"]`` or ``NETWORKX_BACKEND_PRIORITY=mfa``), or convert once
(``H = mfa_engine.nx.from_networkx(G)``) and pass ``H``. See docs/networkx.md.

Also NetworkX-style dispatchable functions for the engine's own algorithms:
:func:`ball_sizes` (nodes within each radius of each source) and :func:`multifractal_spectrum`
(box-growing or sandbox spectrum of any graph).

This package imports NetworkX only when one of its functions is used: NetworkX reads
``mfa_engine.nx.info`` while it is itself being imported.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "MfaGraph",
    "from_networkx",
    "to_networkx",
    "ball_sizes",
    "multifractal_spectrum",
    "backend_interface",
]

_LAZY = {
    "MfaGraph": ("mfa_engine.nx.graph", "MfaGraph"),
    "from_networkx": ("mfa_engine.nx.convert", "convert_from_nx"),
    "to_networkx": ("mfa_engine.nx.convert", "convert_to_nx"),
    "ball_sizes": ("mfa_engine.nx.engine", "ball_sizes"),
    "multifractal_spectrum": ("mfa_engine.nx.engine", "multifractal_spectrum"),
    "backend_interface": ("mfa_engine.nx.interface", "backend_interface"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'mfa_engine.nx' has no attribute {name!r}")
    mod, attr = _LAZY[name]
    return getattr(importlib.import_module(mod), attr)
