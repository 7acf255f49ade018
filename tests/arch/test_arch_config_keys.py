"""Adapters declare the config fields they read as data (config_keys), read by one method."""

from __future__ import annotations

import pytest

from mfa_engine.arch.base import Adapter
from mfa_engine.arch.registry import ADAPTERS
from mfa_engine.errors import ArchitectureError

SHAPE = ("n_blocks", "hidden", "n_heads", "n_kv_heads", "ffn", "head_dim")


@pytest.mark.parametrize("model_type", sorted(ADAPTERS))
def test_every_adapter_declares_every_shape_field(model_type) -> None:
    cls = ADAPTERS[model_type]
    assert set(cls.config_keys) == set(SHAPE)
    assert "_read_config" not in vars(cls)  # one reader: Adapter._read_config
    assert all(isinstance(v, tuple) for v in cls.config_keys.values())


def test_keys_are_read_in_order_with_the_declared_defaults() -> None:
    gpt2 = ADAPTERS["gpt2"]({"model_type": "gpt2", "n_layer": 3, "n_embd": 64, "n_head": 4})
    assert (gpt2.n_blocks, gpt2.hidden, gpt2.n_heads, gpt2.n_kv_heads, gpt2.ffn, gpt2.head_dim) == (3, 64, 4, 4, 256, 16)
    llama = ADAPTERS["llama"]({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
                               "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 96,
                               "head_dim": 16})
    assert (llama.n_kv_heads, llama.head_dim, llama.ffn) == (2, 16, 96)
    with pytest.raises(ArchitectureError, match="bert config lacks 'intermediate_size'"):
        ADAPTERS["bert"]({"model_type": "bert", "num_hidden_layers": 2, "hidden_size": 64,
                          "num_attention_heads": 4})
    assert Adapter.ffn_default_factor is None and ADAPTERS["gpt_neox"].ffn_default_factor == 4
