"""The real MiniLM checkpoint (sentence-transformers/all-MiniLM-L6-v2, BERT)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mfa_engine.arch import get_adapter
from mfa_engine.checkpoints import open_checkpoint


def test_minilm_reads_match_safetensors(minilm_path: Path) -> None:
    from safetensors import safe_open

    with open_checkpoint(minilm_path) as ckpt, safe_open(str(minilm_path / "model.safetensors"), "np") as ref:
        assert ckpt.model_type == "bert" and ckpt.step is None
        assert ckpt.keys() == sorted(ref.keys())
        assert len(ckpt.keys()) == 104
        name = "encoder.layer.3.intermediate.dense.weight"
        assert ckpt.shape(name) == (1536, 384) and ckpt.dtype(name) == "float32"
        full = ref.get_tensor(name)
        np.testing.assert_array_equal(ckpt.read(name), full)
        rows = np.random.default_rng(0).choice(1536, 64, replace=False)
        cols = np.random.default_rng(1).choice(384, 32, replace=False)
        np.testing.assert_array_equal(ckpt.read_rows(name, rows), full[rows])
        np.testing.assert_array_equal(ckpt.read_block(name, rows, cols), full[np.ix_(rows, cols)])
        np.testing.assert_array_equal(ckpt.read("embeddings.position_ids"), np.arange(512, dtype=np.float32)[None])


def test_minilm_bert_adapter(minilm_path: Path) -> None:
    from safetensors import safe_open

    with open_checkpoint(minilm_path) as ckpt, safe_open(str(minilm_path / "model.safetensors"), "np") as ref:
        adapter = get_adapter(ckpt.config)
        adapter.validate(ckpt)
        assert adapter.block_prefix(ckpt) == "encoder.layer."
        assert (adapter.n_blocks, adapter.n_heads, adapter.head_dim) == (6, 12, 32)
        assert adapter.layer_sizes() == {"x": 384, "qkv": 1152, "ctx": 384, "attn_out": 384, "mlp": 1536}
        x_idx = np.array([5, 0, 383])
        qkv_idx = np.array([0, 383, 384, 800, 1151])
        w = adapter.edge_weights(ckpt, 4, "x_qkv", x_idx, qkv_idx)
        layer = "encoder.layer.4.attention.self."
        expected = np.stack(
            [
                ref.get_tensor(layer + "query.weight")[0, x_idx],
                ref.get_tensor(layer + "query.weight")[383, x_idx],
                ref.get_tensor(layer + "key.weight")[0, x_idx],
                ref.get_tensor(layer + "value.weight")[800 - 768, x_idx],
                ref.get_tensor(layer + "value.weight")[383, x_idx],
            ],
            axis=1,
        )
        np.testing.assert_array_equal(w, expected)
        w_out = adapter.edge_weights(ckpt, 5, "mlp_x", [1535, 7], [2, 100])
        np.testing.assert_array_equal(w_out, ref.get_tensor("encoder.layer.5.output.dense.weight")[np.ix_([2, 100], [1535, 7])].T)
