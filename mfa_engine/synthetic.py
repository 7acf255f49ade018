"""Synthetic checkpoints with real architectures' parameter names and shapes (no model hub).

Used by ``mfa demo`` when no real checkpoint is installed, by tests, and by benchmarks that need
large checkpoints (e.g. Pythia-2.8B shapes, fp16, sharded safetensors).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["gpt_neox_config", "write_gpt_neox_checkpoint", "PYTHIA_2P8B", "PYTHIA_70M"]

#: Pythia-2.8B shapes.
PYTHIA_2P8B = dict(hidden_size=2560, num_hidden_layers=32, num_attention_heads=32,
                   intermediate_size=10240, vocab_size=50304)
#: Pythia-70M shapes.
PYTHIA_70M = dict(hidden_size=512, num_hidden_layers=6, num_attention_heads=8,
                  intermediate_size=2048, vocab_size=50304)


def gpt_neox_config(hidden_size: int = 64, num_hidden_layers: int = 2, num_attention_heads: int = 4,
                    intermediate_size: int | None = None, vocab_size: int = 128) -> dict:
    """A GPT-NeoX ``config.json`` dictionary (parallel residual, rotary, as Pythia)."""
    return {
        "architectures": ["GPTNeoXForCausalLM"],
        "model_type": "gpt_neox",
        "hidden_size": hidden_size,
        "num_hidden_layers": num_hidden_layers,
        "num_attention_heads": num_attention_heads,
        "intermediate_size": intermediate_size or 4 * hidden_size,
        "vocab_size": vocab_size,
        "max_position_embeddings": 2048,
        "rotary_pct": 0.25,
        "rotary_emb_base": 10000,
        "use_parallel_residual": True,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-5,
        "tie_word_embeddings": False,
        "torch_dtype": "float16",
    }


def _gpt_neox_tensors(cfg: dict, rng: np.random.Generator, dtype: np.dtype) -> Iterator[tuple[str, np.ndarray]]:
    h, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]

    def normal(*shape: int, std: float = 0.02) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * std).astype(dtype)

    yield "gpt_neox.embed_in.weight", normal(v, h)
    for b in range(cfg["num_hidden_layers"]):
        p = f"gpt_neox.layers.{b}"
        yield f"{p}.input_layernorm.weight", np.ones(h, dtype)
        yield f"{p}.input_layernorm.bias", np.zeros(h, dtype)
        yield f"{p}.post_attention_layernorm.weight", np.ones(h, dtype)
        yield f"{p}.post_attention_layernorm.bias", np.zeros(h, dtype)
        yield f"{p}.attention.query_key_value.weight", normal(3 * h, h)
        yield f"{p}.attention.query_key_value.bias", np.zeros(3 * h, dtype)
        yield f"{p}.attention.dense.weight", normal(h, h)
        yield f"{p}.attention.dense.bias", np.zeros(h, dtype)
        yield f"{p}.mlp.dense_h_to_4h.weight", normal(f, h)
        yield f"{p}.mlp.dense_h_to_4h.bias", np.zeros(f, dtype)
        yield f"{p}.mlp.dense_4h_to_h.weight", normal(h, f)
        yield f"{p}.mlp.dense_4h_to_h.bias", np.zeros(h, dtype)
    yield "gpt_neox.final_layer_norm.weight", np.ones(h, dtype)
    yield "gpt_neox.final_layer_norm.bias", np.zeros(h, dtype)
    yield "embed_out.weight", normal(v, h)


def write_gpt_neox_checkpoint(
    out_dir: str | Path,
    *,
    seed: int = 0,
    dtype: str = "float16",
    max_shard_bytes: int | None = None,
    **shape: int,
) -> Path:
    """Write a random GPT-NeoX checkpoint (config.json + safetensors, sharded if asked).

    Tensors are generated and written one shard at a time, so memory stays near one shard.

    Args:
        out_dir: Output directory (created).
        seed: Seed of the weights.
        dtype: ``"float16"`` or ``"float32"``.
        max_shard_bytes: Split into shards of at most this many bytes (with an index json).
        **shape: Overrides of ``gpt_neox_config`` (hidden_size, num_hidden_layers, ...).

    Returns:
        The checkpoint directory.
    """
    from safetensors.numpy import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = gpt_neox_config(**shape)
    cfg["torch_dtype"] = dtype
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    rng = np.random.default_rng(seed)
    np_dtype = np.dtype(dtype)
    if not max_shard_bytes:
        save_file(dict(_gpt_neox_tensors(cfg, rng, np_dtype)), str(out / "model.safetensors"),
                  metadata={"format": "pt"})
        return out
    shards: list[dict[str, np.ndarray]] = [{}]
    size = 0
    names: list[list[str]] = [[]]
    files: list[str] = []

    def flush() -> None:
        i = len(files)
        name = f"model-{i + 1:05d}.safetensors"
        save_file(shards[-1], str(out / name), metadata={"format": "pt"})
        files.append(name)

    total = 0
    for name, arr in _gpt_neox_tensors(cfg, rng, np_dtype):
        if size and size + arr.nbytes > max_shard_bytes:
            flush()
            shards[-1] = {}
            names.append([])
            size = 0
        shards[-1][name] = arr
        names[-1].append(name)
        size += arr.nbytes
        total += arr.nbytes
    flush()
    n = len(files)
    final = [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
    weight_map = {}
    for i, (tmp, dst) in enumerate(zip(files, final)):
        (out / tmp).rename(out / dst)
        for t in names[i]:
            weight_map[t] = dst
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    return out
