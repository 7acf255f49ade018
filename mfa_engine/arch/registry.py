"""The explicit registry of architecture adapters, keyed by ``config["model_type"]``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mfa_engine.arch.base import Adapter
from mfa_engine.arch.bert import BertAdapter
from mfa_engine.arch.gpt2 import GPT2Adapter
from mfa_engine.arch.gpt_neox import GPTNeoXAdapter
from mfa_engine.arch.llama import LlamaAdapter
from mfa_engine.errors import ArchitectureError

__all__ = ["ADAPTERS", "get_adapter", "supported_model_types"]

ADAPTERS: dict[str, type[Adapter]] = {
    "gpt_neox": GPTNeoXAdapter,
    "gpt2": GPT2Adapter,
    "llama": LlamaAdapter,
    "bert": BertAdapter,
}


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", list: "array", dict: "object"}.get(type(value),
                                                                                               type(value).__name__)


def supported_model_types() -> list[str]:
    """The registered ``model_type`` values, sorted."""
    return sorted(ADAPTERS)


def get_adapter(config: Mapping[str, Any] | Any) -> Adapter:
    """Build the adapter for a model config.

    Args:
        config: the ``config.json`` dict (or an opened checkpoint, whose ``.config`` is used).

    Returns:
        The :class:`Adapter` of ``config["model_type"]``.

    Raises:
        ArchitectureError: unknown or missing ``model_type`` (the message names the supported
            ones), or a config field the adapter needs is missing or invalid.
    """
    if not isinstance(config, Mapping) and isinstance(getattr(config, "config", None), Mapping):
        config = config.config
    if not isinstance(config, Mapping):
        raise ArchitectureError(
            f"expected a config dict, got {type(config).__name__}"
        )
    model_type = config.get("model_type")
    supported = ", ".join(supported_model_types())
    if model_type is None or model_type == "":
        raise ArchitectureError(f"config has no 'model_type'; supported model types: {supported}")
    if not isinstance(model_type, str):
        raise ArchitectureError(f"config field 'model_type' = {model_type!r} is a JSON {_json_type(model_type)}; "
                                f"expected a string, one of: {supported}")
    if model_type not in ADAPTERS:
        raise ArchitectureError(
            f"unsupported model_type {model_type!r}; supported model types: {supported}"
        )
    return ADAPTERS[model_type](config)
