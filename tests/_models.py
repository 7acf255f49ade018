"""Tiny seeded checkpoints for the test suite (transformers configs, safetensors files).

Stable helpers other test modules import::

    write_tiny_checkpoint(directory, model_type, *, seed=0, n_layers=2, hidden=32, heads=4,
                          kv_heads=None, ffn=None, dtype="float32", bare=False) -> Path
    shard_checkpoint(src, dst, max_shard_size) -> Path          sharded safetensors + index
    write_pytorch_bin(src, dst) -> Path                         pytorch_model.bin fallback
    write_hf_cache(cache_root, repo_id, revisions, main=None) -> Path   models--Org--Name
    load_state(directory) -> dict[str, np.ndarray]              float32 oracle via safetensors

Weights are drawn from ``numpy.random.default_rng([seed, crc32(name)])`` per parameter
(name without the base-model prefix; N(0, 0.02) for matrices and biases, 1 + N(0, 0.02) for
norm weights), so they do not depend on transformers' initialisation code, and the bare and
LM-head variants of one seed hold identical block weights. transformers and torch are
imported lazily.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MODEL_TYPES",
    "tiny_config",
    "build_tiny_model",
    "write_tiny_checkpoint",
    "shard_checkpoint",
    "write_pytorch_bin",
    "write_hf_cache",
    "load_state",
]

MODEL_TYPES = ("gpt_neox", "gpt2", "llama", "bert")

_VOCAB = 64
_POSITIONS = 64


def tiny_config(
    model_type: str,
    *,
    n_layers: int = 2,
    hidden: int = 32,
    heads: int = 4,
    kv_heads: int | None = None,
    ffn: int | None = None,
) -> Any:
    """A transformers config of a tiny model.

    Args:
        model_type: one of :data:`MODEL_TYPES`.
        n_layers: number of blocks.
        hidden: hidden size.
        heads: attention heads.
        kv_heads: key/value heads (llama only; default ``heads``).
        ffn: MLP hidden size (default 4 * hidden; 3 * hidden for llama).

    Returns:
        A ``transformers.PretrainedConfig``.
    """
    import transformers as tf

    if kv_heads is not None and model_type != "llama":
        raise ValueError(f"kv_heads is only supported for llama, not {model_type}")
    if model_type == "gpt_neox":
        return tf.GPTNeoXConfig(
            hidden_size=hidden,
            num_attention_heads=heads,
            num_hidden_layers=n_layers,
            intermediate_size=ffn or 4 * hidden,
            vocab_size=_VOCAB,
            max_position_embeddings=_POSITIONS,
        )
    if model_type == "gpt2":
        return tf.GPT2Config(
            n_embd=hidden,
            n_head=heads,
            n_layer=n_layers,
            n_inner=ffn,
            vocab_size=_VOCAB,
            n_positions=_POSITIONS,
            bos_token_id=0,
            eos_token_id=0,
        )
    if model_type == "llama":
        return tf.LlamaConfig(
            hidden_size=hidden,
            num_attention_heads=heads,
            num_key_value_heads=kv_heads or heads,
            num_hidden_layers=n_layers,
            intermediate_size=ffn or 3 * hidden,
            vocab_size=_VOCAB,
            max_position_embeddings=_POSITIONS,
        )
    if model_type == "bert":
        return tf.BertConfig(
            hidden_size=hidden,
            num_attention_heads=heads,
            num_hidden_layers=n_layers,
            intermediate_size=ffn or 4 * hidden,
            vocab_size=_VOCAB,
            max_position_embeddings=_POSITIONS,
        )
    raise ValueError(f"unknown model_type {model_type!r}; expected one of {MODEL_TYPES}")


def build_tiny_model(model_type: str, *, seed: int = 0, bare: bool = False, **sizes: Any) -> Any:
    """Instantiate a tiny HF model with seeded random weights (float32, eval mode).

    Args:
        model_type: one of :data:`MODEL_TYPES`.
        seed: seed of the weight RNG.
        bare: the base model (``GPT2Model``: unprefixed names) instead of the LM-head model
            (``GPT2LMHeadModel``: ``transformer.`` prefix, like Pythia's ``gpt_neox.``).
        **sizes: forwarded to :func:`tiny_config`.

    Returns:
        The ``torch.nn.Module``.
    """
    import torch
    import transformers as tf

    config = tiny_config(model_type, **sizes)
    classes = {
        "gpt_neox": (tf.GPTNeoXForCausalLM, tf.GPTNeoXModel),
        "gpt2": (tf.GPT2LMHeadModel, tf.GPT2Model),
        "llama": (tf.LlamaForCausalLM, tf.LlamaModel),
        "bert": (tf.BertForMaskedLM, tf.BertModel),
    }
    model = classes[model_type][int(bare)](config)
    prefix = f"{model.base_model_prefix}."
    with torch.no_grad():
        for name, param in model.named_parameters():
            # one stream per parameter, keyed by its name without the base-model prefix, so the
            # bare and the LM-head model of a seed share all block weights
            key = name.removeprefix(prefix)
            rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
            values = rng.normal(0.0, 0.02, size=tuple(param.shape))
            if param.ndim == 1 and "norm" in name.lower() and name.endswith("weight"):
                values += 1.0
            param.copy_(torch.from_numpy(values.astype(np.float32)))
    return model.eval()


def write_tiny_checkpoint(
    directory: str | Path,
    model_type: str,
    *,
    seed: int = 0,
    n_layers: int = 2,
    hidden: int = 32,
    heads: int = 4,
    kv_heads: int | None = None,
    ffn: int | None = None,
    dtype: str = "float32",
    bare: bool = False,
) -> Path:
    """Write a tiny seeded checkpoint with ``save_pretrained(safe_serialization=True)``.

    Args:
        directory: output directory (created).
        model_type: one of :data:`MODEL_TYPES`.
        seed: weight seed.
        n_layers: blocks.
        hidden: hidden size.
        heads: attention heads.
        kv_heads: key/value heads (llama).
        ffn: MLP hidden size.
        dtype: ``"float32"``, ``"float16"`` or ``"bfloat16"`` (weights are drawn in float32 and
            cast, so the files hold exactly representable values).
        bare: save the base model (no ``transformer.``/``gpt_neox.``/``model.``/``bert.``
            prefix).

    Returns:
        The directory (holding ``config.json`` and ``model.safetensors``).
    """
    import torch

    directory = Path(directory)
    model = build_tiny_model(
        model_type,
        seed=seed,
        bare=bare,
        n_layers=n_layers,
        hidden=hidden,
        heads=heads,
        kv_heads=kv_heads,
        ffn=ffn,
    )
    model = model.to(getattr(torch, dtype))
    model.save_pretrained(directory, safe_serialization=True)
    return directory


def _copy_config(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "generation_config.json"):
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)


def load_state(directory: str | Path) -> dict[str, np.ndarray]:
    """All tensors of a safetensors checkpoint as float32, read with the safetensors library.

    An oracle independent of :mod:`mfa_engine.checkpoints` (handles single and sharded files).
    """
    import torch
    from safetensors.torch import load_file

    directory = Path(directory)
    files = sorted(directory.glob("*.safetensors"))
    state: dict[str, np.ndarray] = {}
    for file in files:
        for key, tensor in load_file(str(file)).items():
            if tensor.is_floating_point():
                tensor = tensor.to(torch.float32)
            state[key] = tensor.numpy()
    return state


def shard_checkpoint(src: str | Path, dst: str | Path, max_shard_size: int) -> Path:
    """Re-save a single-file checkpoint as sharded safetensors with an index.

    Tensors are packed in name order; a new shard starts when adding the next tensor would
    pass ``max_shard_size`` bytes (a single larger tensor gets its own shard).

    Args:
        src: directory with ``config.json`` and ``model.safetensors``.
        dst: output directory (created).
        max_shard_size: shard size limit in bytes.

    Returns:
        ``dst`` holding ``model-0000i-of-0000n.safetensors`` and
        ``model.safetensors.index.json``.
    """
    from safetensors.torch import load_file, save_file

    src, dst = Path(src), Path(dst)
    _copy_config(src, dst)
    state = load_file(str(src / "model.safetensors"))
    groups: list[list[str]] = [[]]
    size = 0
    for key in sorted(state):
        nbytes = state[key].numel() * state[key].element_size()
        if groups[-1] and size + nbytes > max_shard_size:
            groups.append([])
            size = 0
        groups[-1].append(key)
        size += nbytes
    weight_map: dict[str, str] = {}
    total = 0
    for i, keys in enumerate(groups):
        name = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        shard = {k: state[k].contiguous() for k in keys}
        save_file(shard, str(dst / name), metadata={"format": "pt"})
        for k in keys:
            weight_map[k] = name
            total += state[k].numel() * state[k].element_size()
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (dst / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return dst


def write_pytorch_bin(src: str | Path, dst: str | Path) -> Path:
    """Re-save a safetensors checkpoint as ``pytorch_model.bin`` (``torch.save`` of the state).

    Args:
        src: directory with ``config.json`` and ``model.safetensors``.
        dst: output directory (created).

    Returns:
        ``dst``.
    """
    import torch
    from safetensors.torch import load_file

    src, dst = Path(src), Path(dst)
    _copy_config(src, dst)
    torch.save(load_file(str(src / "model.safetensors")), dst / "pytorch_model.bin")
    return dst


def write_hf_cache(
    cache_root: str | Path,
    repo_id: str,
    revisions: Mapping[str, str | Path],
    *,
    main: str | None = None,
) -> Path:
    """Lay out checkpoints in the offline HF hub cache format.

    Each revision gets a commit hash (sha1 of the revision name), ``refs/<revision>`` holding
    it, and ``snapshots/<hash>/`` whose files are symlinks into ``blobs/`` (as huggingface_hub
    does).

    Args:
        cache_root: the hub cache root (created).
        repo_id: ``"Org/Name"``.
        revisions: ref name -> source model directory.
        main: ref whose commit ``refs/main`` points to (no ``refs/main`` when None).

    Returns:
        The repository directory ``<cache_root>/models--Org--Name``.
    """
    repo = Path(cache_root) / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    commits: dict[str, str] = {}
    for ref, src in revisions.items():
        commit = hashlib.sha1(ref.encode()).hexdigest()
        commits[ref] = commit
        snapshot = repo / "snapshots" / commit
        snapshot.mkdir(parents=True, exist_ok=True)
        for file in sorted(Path(src).iterdir()):
            if not file.is_file():
                continue
            digest = hashlib.sha256(file.read_bytes()).hexdigest()
            blob = repo / "blobs" / digest
            if not blob.exists():
                shutil.copyfile(file, blob)
            link = snapshot / file.name
            if not link.exists():
                link.symlink_to(Path("..", "..", "blobs", digest))
        ref_file = repo / "refs" / ref
        ref_file.parent.mkdir(parents=True, exist_ok=True)
        ref_file.write_text(commit)
    if main is not None:
        (repo / "refs" / "main").write_text(commits[main])
    return repo


