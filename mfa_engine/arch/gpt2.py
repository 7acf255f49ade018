"""GPT-2: ``Conv1D`` weights stored [in, out]; ``c_attn`` columns are [q; k; v]."""

from __future__ import annotations

from typing import Any

import numpy as np

from mfa_engine.arch.base import Adapter, WeightSpec, config_int

__all__ = ["GPT2Adapter"]


class GPT2Adapter(Adapter):
    """Adapter for ``model_type == "gpt2"``.

    ``attn.c_attn.weight`` is [h, 3h]; HF splits its output into q, k, v of h columns each and
    views each as [..., heads, head_dim], so column c is canonical QKV neuron c.
    ``attn.c_proj``, ``mlp.c_fc`` and ``mlp.c_proj`` are ``Conv1D`` [in, out] as well.
    """

    model_type = "gpt2"
    blocks_container = "h"
    probe = "attn.c_attn.weight"

    def _read_config(self, config: dict[str, Any]) -> None:
        t = self.model_type
        self.n_blocks = config_int(config, t, "n_layer", "num_hidden_layers")
        self.hidden = config_int(config, t, "n_embd", "hidden_size")
        self.n_heads = config_int(config, t, "n_head", "num_attention_heads")
        self.n_kv_heads = self.n_heads
        self.ffn = config_int(config, t, "n_inner", default=4 * self.hidden)
        self.head_dim = self._head_dim_divides()

    def weight_specs(self) -> dict[str, WeightSpec]:
        h, f = self.hidden, self.ffn
        return {
            "qkv": WeightSpec("attn.c_attn.weight", "in_out", h, 3 * h),
            "o": WeightSpec("attn.c_proj.weight", "in_out", h, h),
            "in": WeightSpec("mlp.c_fc.weight", "in_out", h, f),
            "out": WeightSpec("mlp.c_proj.weight", "in_out", f, h),
        }

    def qkv_storage(self, qkv_idx: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return [("qkv", qkv_idx, np.arange(qkv_idx.size))]
