"""Architecture adapters: map each model type's parameters to NIN node layers and edges.

``get_adapter(config)`` looks up ``config["model_type"]`` in an explicit registry
(``gpt_neox``, ``gpt2``, ``llama``, ``bert``). See :class:`~mfa_engine.arch.base.Adapter` for the
canonical node orders and the adapter contract.
"""

from __future__ import annotations

from mfa_engine.arch.base import EDGES, LAYERS, Adapter, WeightSpec
from mfa_engine.arch.registry import ADAPTERS, get_adapter, supported_model_types

__all__ = [
    "get_adapter",
    "supported_model_types",
    "ADAPTERS",
    "Adapter",
    "WeightSpec",
    "EDGES",
    "LAYERS",
]
