"""Llama: separate q/k/v projections with grouped KV heads and a gated MLP."""

from __future__ import annotations

import numpy as np

from mfa_engine.arch.base import Adapter, WeightSpec
from mfa_engine.arch.separate_qkv import split_qkv

__all__ = ["LlamaAdapter"]


class LlamaAdapter(Adapter):
    """Adapter for ``model_type == "llama"``.

    ``self_attn.{q,k,v,o}_proj`` and ``mlp.{gate,up,down}_proj`` are ``nn.Linear`` [out, in].
    q has ``num_attention_heads * head_dim`` outputs, k and v ``num_key_value_heads *
    head_dim``; ``head_dim`` comes from the config when given (it may differ from
    hidden / heads), else hidden / heads.
    """

    model_type = "llama"
    config_keys = {**Adapter.config_keys, "n_kv_heads": ("num_key_value_heads",), "head_dim": ("head_dim",)}
    blocks_container = "layers"
    probe = "self_attn.q_proj.weight"

    def weight_specs(self) -> dict[str, WeightSpec]:
        h, f, nq, nkv = self.hidden, self.ffn, self.n_q, self.n_kv
        return {
            "q": WeightSpec("self_attn.q_proj.weight", "out_in", h, nq),
            "k": WeightSpec("self_attn.k_proj.weight", "out_in", h, nkv),
            "v": WeightSpec("self_attn.v_proj.weight", "out_in", h, nkv),
            "o": WeightSpec("self_attn.o_proj.weight", "out_in", nq, h),
            "gate": WeightSpec("mlp.gate_proj.weight", "out_in", h, f),
            "up": WeightSpec("mlp.up_proj.weight", "out_in", h, f),
            "out": WeightSpec("mlp.down_proj.weight", "out_in", f, h),
        }

    def qkv_storage(self, qkv_idx: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return split_qkv(qkv_idx, self.n_q, self.n_kv)
