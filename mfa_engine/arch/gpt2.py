"""GPT-2: ``Conv1D`` weights stored [in, out]; ``c_attn`` columns are [q; k; v]."""

from __future__ import annotations

import numpy as np

from mfa_engine.arch.base import Adapter, WeightSpec

__all__ = ["GPT2Adapter"]


class GPT2Adapter(Adapter):
    """Adapter for ``model_type == "gpt2"``.

    ``attn.c_attn.weight`` is [h, 3h]; HF splits its output into q, k, v of h columns each and
    views each as [..., heads, head_dim], so column c is canonical QKV neuron c.
    ``attn.c_proj``, ``mlp.c_fc`` and ``mlp.c_proj`` are ``Conv1D`` [in, out] as well.
    """

    model_type = "gpt2"
    config_keys = {"n_blocks": ("n_layer", "num_hidden_layers"), "hidden": ("n_embd", "hidden_size"),
                   "n_heads": ("n_head", "num_attention_heads"), "n_kv_heads": (), "ffn": ("n_inner",),
                   "head_dim": ()}
    ffn_default_factor = 4
    blocks_container = "h"
    probe = "attn.c_attn.weight"

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
