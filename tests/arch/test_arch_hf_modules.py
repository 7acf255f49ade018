"""Adapters against the HF modules' own computation (tiny seeded models, saved and reopened).

For each architecture the attention module is run on random inputs with position 0 rotary
embeddings (the identity), and the per-head q/k/v that the module's own split/reshape code
hands to its attention function are captured. They must equal ``x @`` the adapter's canonical
QKV columns of that head. Output projection and MLP edges are checked against the modules'
``Linear``/``Conv1D`` outputs (bias removed by subtracting the output at zero input).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from mfa_engine.arch import get_adapter  # noqa: E402
from mfa_engine.checkpoints import open_checkpoint  # noqa: E402

from .._models import build_tiny_model  # noqa: E402

B, T = 2, 5
CASES = {
    "gpt_neox": dict(n_layers=2, hidden=32, heads=4),
    "gpt2": dict(n_layers=2, hidden=32, heads=4),
    "llama": dict(n_layers=2, hidden=32, heads=4, kv_heads=2, ffn=48),
    "bert": dict(n_layers=2, hidden=32, heads=4),
}


def _blocks(model: Any, model_type: str) -> Any:
    if model_type == "gpt_neox":
        return model.gpt_neox.layers
    if model_type == "gpt2":
        return model.transformer.h
    if model_type == "llama":
        return model.model.layers
    return model.bert.encoder.layer


def _rotary(model: Any, model_type: str, x: Any) -> Any:
    """Position-0 rotary embeddings from the model's own rotary module (cos = 1, sin = 0)."""
    base = model.gpt_neox if model_type == "gpt_neox" else model.model
    pos = torch.zeros((x.shape[0], x.shape[1]), dtype=torch.long)
    cos, sin = base.rotary_emb(x, position_ids=pos)
    assert torch.all(cos == 1) and torch.all(sin == 0)
    return cos, sin


class _Capture:
    """Wraps a modeling module's eager attention function and records its q, k, v, output."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, model: Any, model_type: str) -> None:
        module = importlib.import_module(f"transformers.models.{model_type}.modeling_{model_type}")
        original = module.eager_attention_forward
        self.calls: list[dict[str, Any]] = []

        def wrapper(mod: Any, query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
            out, weights = original(mod, query, key, value, *args, **kwargs)
            self.calls.append({"q": query, "k": key, "v": value, "out": out})
            return out, weights

        monkeypatch.setattr(module, "eager_attention_forward", wrapper)
        model.config._attn_implementation = "eager"


def _run_attention(model: Any, model_type: str, block: int, x: Any) -> Any:
    layer = _blocks(model, model_type)[block]
    if model_type == "gpt_neox":
        return layer.attention(x, attention_mask=None, position_embeddings=_rotary(model, model_type, x))[0]
    if model_type == "llama":
        return layer.self_attn(x, position_embeddings=_rotary(model, model_type, x), attention_mask=None)[0]
    if model_type == "gpt2":
        return layer.attn(x, attention_mask=None)[0]
    return layer.attention.self(x, attention_mask=None)[0]


def _linear_modules(model: Any, model_type: str, block: int) -> dict[str, Any]:
    layer = _blocks(model, model_type)[block]
    if model_type == "gpt_neox":
        return {"o": layer.attention.dense, "in": layer.mlp.dense_h_to_4h, "out": layer.mlp.dense_4h_to_h}
    if model_type == "gpt2":
        return {"o": layer.attn.c_proj, "in": layer.mlp.c_fc, "out": layer.mlp.c_proj}
    if model_type == "llama":
        m = layer.mlp
        return {"o": layer.self_attn.o_proj, "gate": m.gate_proj, "up": m.up_proj, "out": m.down_proj}
    return {"o": layer.attention.output.dense, "in": layer.intermediate.dense, "out": layer.output.dense}


def _apply(module: Any, x: np.ndarray) -> np.ndarray:
    """module(x) - module(0): the weight part of a Linear/Conv1D applied to rows of x."""
    with torch.no_grad():
        t = torch.from_numpy(x.astype(np.float32))
        return (module(t) - module(torch.zeros_like(t))).numpy().astype(np.float64)


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, Path]:
    model_type = request.param
    model = build_tiny_model(model_type, seed=7, **CASES[model_type])
    path = tmp_path_factory.mktemp(f"hf-{model_type}")
    model.save_pretrained(path, safe_serialization=True)
    return model_type, model, path


def test_qkv_columns_match_module_split(case: tuple[str, Any, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    model_type, model, path = case
    capture = _Capture(monkeypatch, model, model_type)
    with open_checkpoint(path) as ckpt:
        adapter = get_adapter(ckpt.config)
        adapter.validate(ckpt)
        sizes = adapter.layer_sizes()
        role, head, dim = adapter.qkv_roles()
        rng = np.random.default_rng(1)
        for block in range(adapter.n_blocks):
            w = adapter.edge_weights(ckpt, block, "x_qkv", np.arange(sizes["x"]), np.arange(sizes["qkv"]))
            assert w.shape == (adapter.hidden, sizes["qkv"]) and w.dtype == np.float32
            x = rng.normal(size=(B, T, adapter.hidden)).astype(np.float32)
            capture.calls.clear()
            with torch.no_grad():
                _run_attention(model, model_type, block, torch.from_numpy(x))
                _run_attention(model, model_type, block, torch.zeros((B, T, adapter.hidden)))
            (at_x, at_0) = capture.calls
            for r, key in enumerate("qkv"):
                got = (at_x[key] - at_0[key]).numpy().astype(np.float64)  # [B, heads, T, hd]
                n_heads = adapter.n_heads if r == 0 else adapter.n_kv_heads
                assert got.shape == (B, n_heads, T, adapter.head_dim)
                for hh in range(n_heads):
                    cols = np.flatnonzero((role == r) & (head == hh))
                    assert np.array_equal(dim[cols], np.arange(adapter.head_dim))
                    expected = x.astype(np.float64) @ w[:, cols].astype(np.float64)
                    np.testing.assert_allclose(got[:, hh], expected, rtol=1e-4, atol=1e-6)


def test_context_order_feeds_output_projection(case: tuple[str, Any, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The module's attention output (after its own reshape and o-projection) equals
    canonical ctx (head-major) @ the adapter's ctx_attn_out weights."""
    model_type, model, path = case
    capture = _Capture(monkeypatch, model, model_type)
    with open_checkpoint(path) as ckpt:
        adapter = get_adapter(ckpt.config)
        sizes = adapter.layer_sizes()
        block = adapter.n_blocks - 1
        w_o = adapter.edge_weights(ckpt, block, "ctx_attn_out", np.arange(sizes["ctx"]), np.arange(sizes["attn_out"]))
        x = np.random.default_rng(2).normal(size=(B, T, adapter.hidden)).astype(np.float32)
        with torch.no_grad():
            out = _run_attention(model, model_type, block, torch.from_numpy(x))
        ctx = capture.calls[-1]["out"].numpy().astype(np.float64)  # [B, T, heads, hd]
        ctx = ctx.reshape(B, T, adapter.n_heads * adapter.head_dim)
        o_mod = _linear_modules(model, model_type, block)["o"]
        if model_type == "bert":  # BertSelfAttention returns the context; project it here
            with torch.no_grad():
                out = o_mod(out)
        bias = _apply_bias(o_mod, adapter.hidden)
        np.testing.assert_allclose(out.numpy() - bias, ctx @ w_o.astype(np.float64), rtol=1e-4, atol=1e-6)


def _apply_bias(module: Any, n_in: int) -> np.ndarray:
    with torch.no_grad():
        return module(torch.zeros((1, n_in))).numpy()[0].astype(np.float64)


def test_output_and_mlp_edges_match_modules(case: tuple[str, Any, Path]) -> None:
    model_type, model, path = case
    with open_checkpoint(path) as ckpt:
        adapter = get_adapter(ckpt.config)
        sizes = adapter.layer_sizes()
        rng = np.random.default_rng(3)
        for block in range(adapter.n_blocks):
            mods = _linear_modules(model, model_type, block)
            full = {
                edge: adapter.edge_weights(ckpt, block, edge, np.arange(sizes[a]), np.arange(sizes[b]))
                for edge, a, b in (
                    ("ctx_attn_out", "ctx", "attn_out"),
                    ("attn_out_mlp", "attn_out", "mlp"),
                    ("mlp_x", "mlp", "x"),
                )
            }
            x_ctx = rng.normal(size=(6, sizes["ctx"]))
            x_h = rng.normal(size=(6, sizes["attn_out"]))
            x_m = rng.normal(size=(6, sizes["mlp"]))
            np.testing.assert_allclose(x_ctx @ full["ctx_attn_out"], _apply(mods["o"], x_ctx), rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(x_m @ full["mlp_x"], _apply(mods["out"], x_m), rtol=1e-4, atol=1e-6)
            if model_type == "llama":
                # identity input: module output rows are the weights in input x output orientation
                eye = np.eye(sizes["attn_out"])
                gate, up = _apply(mods["gate"], eye), _apply(mods["up"], eye)
                expected = np.where(np.abs(gate) >= np.abs(up), gate, up)
                np.testing.assert_array_equal(full["attn_out_mlp"].astype(np.float64), expected)
                assert np.any(np.abs(gate) > np.abs(up)) and np.any(np.abs(up) > np.abs(gate))
            else:
                np.testing.assert_allclose(x_h @ full["attn_out_mlp"], _apply(mods["in"], x_h), rtol=1e-4, atol=1e-6)


def test_sampled_edges_equal_full_submatrix(case: tuple[str, Any, Path]) -> None:
    _, _, path = case
    with open_checkpoint(path) as ckpt:
        adapter = get_adapter(ckpt.config)
        sizes = adapter.layer_sizes()
        rng = np.random.default_rng(4)
        layers = {"x_qkv": ("x", "qkv"), "ctx_attn_out": ("ctx", "attn_out"),
                  "attn_out_mlp": ("attn_out", "mlp"), "mlp_x": ("mlp", "x")}
        for edge, (a, b) in layers.items():
            full = adapter.edge_weights(ckpt, 1, edge, np.arange(sizes[a]), np.arange(sizes[b]))
            i = rng.choice(sizes[a], 7, replace=False)
            o = rng.choice(sizes[b], 9, replace=False)
            np.testing.assert_array_equal(adapter.edge_weights(ckpt, 1, edge, i, o), full[np.ix_(i, o)])
