"""Registry, config errors, layer sizes, QKV roles, structural mask (GQA) and validate()."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mfa_engine.arch import get_adapter, supported_model_types
from mfa_engine.checkpoints import open_checkpoint
from mfa_engine.errors import ArchitectureError, CheckpointError, ConfigError

LLAMA_GQA = {
    "model_type": "llama",
    "num_hidden_layers": 2,
    "hidden_size": 8,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 12,
}


def test_registry_lists_the_four_architectures() -> None:
    assert supported_model_types() == ["bert", "gpt2", "gpt_neox", "llama"]


def test_unknown_model_type_names_supported() -> None:
    with pytest.raises(ArchitectureError, match=r"unsupported model_type 'mamba'.*bert, gpt2, gpt_neox, llama"):
        get_adapter({"model_type": "mamba"})
    with pytest.raises(ArchitectureError, match=r"no 'model_type'.*gpt_neox"):
        get_adapter({"hidden_size": 8})


def test_missing_or_bad_config_fields() -> None:
    cfg = dict(LLAMA_GQA)
    del cfg["num_attention_heads"]
    with pytest.raises(ArchitectureError, match=r"llama config lacks 'num_attention_heads'"):
        get_adapter(cfg)
    with pytest.raises(ArchitectureError, match=r"'n_layer' or 'num_hidden_layers'"):
        get_adapter({"model_type": "gpt2", "n_embd": 8, "n_head": 2})
    with pytest.raises(ArchitectureError, match=r"not divisible by 3 attention heads"):
        get_adapter({**LLAMA_GQA, "num_attention_heads": 3, "num_key_value_heads": 3})
    with pytest.raises(ArchitectureError, match=r"4 attention heads is not a multiple of 3"):
        get_adapter({**LLAMA_GQA, "num_key_value_heads": 3})
    with pytest.raises(ArchitectureError, match=r"'hidden_size' = -8"):
        get_adapter({**LLAMA_GQA, "hidden_size": -8})


def test_sizes_per_architecture() -> None:
    gpt2 = get_adapter({"model_type": "gpt2", "n_layer": 3, "n_embd": 16, "n_head": 4, "n_inner": None})
    assert (gpt2.n_blocks, gpt2.ffn, gpt2.head_dim) == (3, 64, 4)
    assert gpt2.layer_sizes() == {"x": 16, "qkv": 48, "ctx": 16, "attn_out": 16, "mlp": 64}
    llama = get_adapter(LLAMA_GQA)
    assert (llama.n_heads, llama.n_kv_heads, llama.head_dim) == (4, 2, 2)
    assert llama.layer_sizes() == {"x": 8, "qkv": 8 + 2 * 4, "ctx": 8, "attn_out": 8, "mlp": 12}
    wide = get_adapter({**LLAMA_GQA, "head_dim": 3})  # head_dim decoupled from hidden/heads
    assert wide.layer_sizes() == {"x": 8, "qkv": 12 + 2 * 6, "ctx": 12, "attn_out": 8, "mlp": 12}


def test_qkv_roles_gqa_by_hand() -> None:
    role, head, dim = get_adapter(LLAMA_GQA).qkv_roles()  # 4 q heads, 2 kv heads, head_dim 2
    assert role.dtype == np.int8 and head.dtype == np.int64 and dim.dtype == np.int64
    assert role.tolist() == [0] * 8 + [1] * 4 + [2] * 4
    assert head.tolist() == [0, 0, 1, 1, 2, 2, 3, 3] + [0, 0, 1, 1] * 2
    assert dim.tolist() == [0, 1] * 8


def _expected_mask_by_hand(qkv_idx: list[int], ctx_idx: list[int]) -> np.ndarray:
    """Definition for 4 query heads, 2 kv heads (group g = query heads 2g, 2g+1), head_dim 2."""
    nodes = [("q", h, d) for h in range(4) for d in range(2)]
    nodes += [("k", g, d) for g in range(2) for d in range(2)]
    nodes += [("v", g, d) for g in range(2) for d in range(2)]
    group_of = {0: 0, 1: 0, 2: 1, 3: 1}
    out = np.zeros((len(qkv_idx), len(ctx_idx)), bool)
    for a, qi in enumerate(qkv_idx):
        kind, hh, dd = nodes[qi]
        for b, ci in enumerate(ctx_idx):
            ch, cd = divmod(ci, 2)
            if kind == "q":
                out[a, b] = hh == ch
            elif kind == "k":
                out[a, b] = group_of[ch] == hh
            else:
                out[a, b] = group_of[ch] == hh and dd == cd
    return out


def test_structural_mask_gqa_by_hand() -> None:
    adapter = get_adapter(LLAMA_GQA)
    full = adapter.structural_mask(np.arange(16), np.arange(8))
    assert full.dtype == bool and full.shape == (16, 8)
    np.testing.assert_array_equal(full, _expected_mask_by_hand(list(range(16)), list(range(8))))
    # v of kv head 1, dim 0 feeds ctx (2, 0) and (3, 0) only
    assert np.flatnonzero(full[8 + 4 + 2]).tolist() == [4, 6]
    # k of kv head 0 feeds every ctx of query heads 0 and 1
    assert np.flatnonzero(full[8 + 1]).tolist() == [0, 1, 2, 3]
    qi, ci = [15, 0, 9, 12, 9], [7, 3, 0]
    np.testing.assert_array_equal(adapter.structural_mask(qi, ci), _expected_mask_by_hand(qi, ci))
    with pytest.raises(ConfigError, match="qkv indices out of range"):
        adapter.structural_mask([16], [0])


@pytest.mark.parametrize(
    ("model_type", "config"),
    [
        ("llama", {**LLAMA_GQA, "hidden_size": 16}),  # 4 query heads, 2 kv heads, head_dim 4
        ("gpt_neox", {"model_type": "gpt_neox", "num_hidden_layers": 1, "hidden_size": 12,
                      "num_attention_heads": 3, "intermediate_size": 8}),
    ],
)
def test_structural_mask_equals_attention_dependence(model_type: str, config: dict) -> None:
    """Oracle: which context outputs of HF's own attention function depend on which q/k/v."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    module = importlib.import_module(f"transformers.models.{model_type}.modeling_{model_type}")
    adapter = get_adapter(config)
    nq, nkv, hd = adapter.n_heads, adapter.n_kv_heads, adapter.head_dim
    fake = SimpleNamespace(num_key_value_groups=nq // nkv, training=False)
    g = torch.Generator().manual_seed(0)
    tokens = 3
    q = torch.randn(1, nq, tokens, hd, generator=g, dtype=torch.float64)
    k = torch.randn(1, nkv, tokens, hd, generator=g, dtype=torch.float64)
    v = torch.randn(1, nkv, tokens, hd, generator=g, dtype=torch.float64)

    def ctx(qq, kk, vv):  # [tokens, nq * hd], head-major as the modules reshape it
        out, _ = module.eager_attention_forward(fake, qq, kk, vv, None, scaling=hd**-0.5)
        return out.reshape(tokens, nq * hd)

    jac = torch.autograd.functional.jacobian(ctx, (q, k, v))
    blocks = []
    for j in jac:  # [tokens, ctx, 1, heads, tokens, hd] -> [heads * hd, ctx]
        dep = j.abs().sum(dim=(0, 2, 4))  # [ctx, heads, hd]
        blocks.append(dep.permute(1, 2, 0).reshape(-1, nq * hd) > 1e-12)
    oracle = torch.cat(blocks).numpy()
    sizes = adapter.layer_sizes()
    np.testing.assert_array_equal(
        adapter.structural_mask(np.arange(sizes["qkv"]), np.arange(sizes["ctx"])), oracle
    )


@pytest.fixture()
def llama_copy(tiny_checkpoint, tmp_path: Path) -> Path:
    src = tiny_checkpoint("llama", kv_heads=2)
    dst = tmp_path / "ck"
    shutil.copytree(src, dst)
    return dst


def _rewrite(path: Path, change) -> None:
    from safetensors.numpy import load_file, save_file

    state = load_file(str(path / "model.safetensors"))
    change(state)
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})


def test_validate_passes_and_detects_prefixes(tiny_checkpoint) -> None:
    for model_type in ("gpt_neox", "gpt2", "llama", "bert"):
        prefixed = open_checkpoint(tiny_checkpoint(model_type, seed=3))
        bare = open_checkpoint(tiny_checkpoint(model_type, seed=3, bare=True))
        adapter = get_adapter(prefixed.config)
        adapter.validate(prefixed)
        adapter.validate(bare)
        assert adapter.block_prefix(prefixed) != adapter.block_prefix(bare)
        assert {k for k in bare.keys() if ".0." in k} != {k for k in prefixed.keys() if ".0." in k}
        sizes = adapter.layer_sizes()
        for edge, a, b in (("x_qkv", "x", "qkv"), ("mlp_x", "mlp", "x")):
            np.testing.assert_array_equal(
                adapter.edge_weights(prefixed, 1, edge, np.arange(sizes[a]), np.arange(sizes[b])),
                adapter.edge_weights(bare, 1, edge, np.arange(sizes[a]), np.arange(sizes[b])),
            )


def test_validate_wrong_shape_names_tensor_and_shapes(llama_copy: Path) -> None:
    name = "model.layers.1.self_attn.k_proj.weight"
    _rewrite(llama_copy, lambda s: s.__setitem__(name, np.zeros((32, 32), np.float32)))
    ckpt = open_checkpoint(llama_copy)
    with pytest.raises(CheckpointError, match=rf"tensor '{name}' has shape \(32, 32\), expected \(16, 32\)"):
        get_adapter(ckpt.config).validate(ckpt)


def test_validate_missing_tensor(llama_copy: Path) -> None:
    name = "model.layers.0.mlp.up_proj.weight"
    _rewrite(llama_copy, lambda s: s.pop(name))
    ckpt = open_checkpoint(llama_copy)
    with pytest.raises(CheckpointError, match=rf"tensor '{name}' is missing .* implies shape \(96, 32\)"):
        get_adapter(ckpt.config).validate(ckpt)


def test_validate_config_block_count_mismatch(llama_copy: Path) -> None:
    cfg = json.loads((llama_copy / "config.json").read_text())
    cfg["num_hidden_layers"] = 3
    (llama_copy / "config.json").write_text(json.dumps(cfg))
    ckpt = open_checkpoint(llama_copy)
    with pytest.raises(CheckpointError, match=r"'model.layers.2.self_attn.q_proj.weight' is missing"):
        get_adapter(ckpt.config).validate(ckpt)
    cfg["num_hidden_layers"] = 1
    (llama_copy / "config.json").write_text(json.dumps(cfg))
    ckpt = open_checkpoint(llama_copy)
    with pytest.raises(CheckpointError, match=r"has tensor 'model.layers.1.self_attn.q_proj.weight' but the config says 1 blocks"):
        get_adapter(ckpt.config).validate(ckpt)


def test_wrong_architecture_weights(tiny_checkpoint) -> None:
    ckpt = open_checkpoint(tiny_checkpoint("gpt2"))
    adapter = get_adapter({**ckpt.config, "model_type": "bert", "hidden_size": 32,
                           "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 128})
    with pytest.raises(CheckpointError, match=r"no bert block weights: expected a tensor named \[prefix.\]encoder.layer.0.attention.self.query.weight"):
        adapter.validate(ckpt)


def test_edge_argument_errors(tiny_checkpoint) -> None:
    ckpt = open_checkpoint(tiny_checkpoint("gpt2"))
    adapter = get_adapter(ckpt.config)
    with pytest.raises(ConfigError, match="unknown edge 'x_ctx'"):
        adapter.edge_weights(ckpt, 0, "x_ctx", [0], [0])
    with pytest.raises(ConfigError, match=r"block 2 out of range; expected 0 <= block < 2"):
        adapter.edge_weights(ckpt, 2, "x_qkv", [0], [0])
    with pytest.raises(ConfigError, match=r"mlp indices out of range: expected 0 <= index < 128"):
        adapter.edge_weights(ckpt, 0, "attn_out_mlp", [0], [128])
    assert adapter.edge_weights(ckpt, 0, "x_qkv", [], [1, 2]).shape == (0, 2)
