"""GPT-NeoX (Pythia): fused ``query_key_value`` with rows interleaved per head."""

from __future__ import annotations

import numpy as np

from mfa_engine.arch.base import Adapter, WeightSpec

__all__ = ["GPTNeoXAdapter"]


class GPTNeoXAdapter(Adapter):
    """Adapter for ``model_type == "gpt_neox"``.

    ``attention.query_key_value.weight`` is ``nn.Linear`` [3h, h]; HF views its output as
    [..., heads, 3 * head_dim] and chunks the last axis into q | k | v, so stored row
    ``head * 3 * hd + role * hd + dim`` is canonical neuron ``role * h + head * hd + dim``.
    """

    model_type = "gpt_neox"
    ffn_default_factor = 4
    blocks_container = "layers"
    probe = "attention.query_key_value.weight"

    def weight_specs(self) -> dict[str, WeightSpec]:
        h, f = self.hidden, self.ffn
        return {
            "qkv": WeightSpec("attention.query_key_value.weight", "out_in", h, 3 * h),
            "o": WeightSpec("attention.dense.weight", "out_in", h, h),
            "in": WeightSpec("mlp.dense_h_to_4h.weight", "out_in", h, f),
            "out": WeightSpec("mlp.dense_4h_to_h.weight", "out_in", f, h),
        }

    def qkv_storage(self, qkv_idx: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
        hd = self.head_dim
        role, local = np.divmod(qkv_idx, self.hidden)
        head, dim = np.divmod(local, hd)
        stored = head * 3 * hd + role * hd + dim
        return [("qkv", stored, np.arange(qkv_idx.size))]
