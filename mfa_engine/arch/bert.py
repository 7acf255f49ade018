"""BERT: separate ``attention.self.{query,key,value}`` projections."""

from __future__ import annotations

import numpy as np

from mfa_engine.arch.base import Adapter, WeightSpec
from mfa_engine.arch.separate_qkv import split_qkv

__all__ = ["BertAdapter"]


class BertAdapter(Adapter):
    """Adapter for ``model_type == "bert"`` (blocks under ``[bert.]encoder.layer``).

    All weights are ``nn.Linear`` [out, in]: ``attention.self.query/key/value``,
    ``attention.output.dense``, ``intermediate.dense`` and ``output.dense``.
    """

    model_type = "bert"
    blocks_container = "encoder.layer"
    probe = "attention.self.query.weight"

    def weight_specs(self) -> dict[str, WeightSpec]:
        h, f = self.hidden, self.ffn
        return {
            "q": WeightSpec("attention.self.query.weight", "out_in", h, h),
            "k": WeightSpec("attention.self.key.weight", "out_in", h, h),
            "v": WeightSpec("attention.self.value.weight", "out_in", h, h),
            "o": WeightSpec("attention.output.dense.weight", "out_in", h, h),
            "in": WeightSpec("intermediate.dense.weight", "out_in", h, f),
            "out": WeightSpec("output.dense.weight", "out_in", f, h),
        }

    def qkv_storage(self, qkv_idx: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return split_qkv(qkv_idx, self.n_q, self.n_kv)
