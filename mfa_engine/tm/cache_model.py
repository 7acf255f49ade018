"""Model side of building a replay cache: the device check, loading a Hugging Face model and its
tokenizer, tokenizing the replay texts, and batched forward passes returning one layer's hidden
states. Used by :func:`mfa_engine.tm.cache.build_replay_cache`; the cache layout is described in
:mod:`mfa_engine.tm.cache`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mfa_engine.errors import ConfigError

__all__ = ["batches", "check_device", "hidden_batch", "load_model", "tokenize_texts"]

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
                    "tokenizer.model", "spiece.model", "sentencepiece.bpe.model")


def check_device(device: Any) -> None:
    """Refuse a device that is not a torch device, or CUDA where none is available.

    Raises:
        ConfigError: if ``device`` is not a torch device.
        BackendError: if ``device`` is a CUDA device and CUDA is not available.
    """
    import torch

    from mfa_engine.errors import BackendError

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device {device!r} is not a torch device: {str(exc).splitlines()[0]}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"device {device!r} was asked for, but no CUDA device is available here")


def load_model(model_path: str, tokenizer: Any, progress: bool) -> tuple[Any, Any]:
    """Model and tokenizer of a Hugging Face model directory (or hub id), one-line errors.

    Args:
        model_path: model directory or hub id.
        tokenizer: a tokenizer to use instead of the model's own, or None.
        progress: show transformers' loading bars.

    Returns:
        ``(model, tokenizer)``.

    Raises:
        ConfigError: if the directory is missing, has no tokenizer files, or does not load.
    """
    from huggingface_hub import constants
    from transformers import AutoModel, AutoTokenizer

    p = Path(model_path)
    if not p.exists() and (constants.is_offline_mode() or p.is_absolute()
                           or model_path.startswith(".") or model_path.count("/") > 1):
        raise ConfigError(f"model directory {model_path} does not exist")
    if p.is_dir() and tokenizer is None and not any((p / f).is_file() for f in _TOKENIZER_FILES):
        raise ConfigError(f"model directory {model_path} has no tokenizer ({', '.join(_TOKENIZER_FILES[:4])}, "
                          "...); expected a Hugging Face model directory with its tokenizer files")
    import transformers

    if not progress:  # also silences transformers' "Loading weights" bars
        transformers.utils.logging.disable_progress_bar()
    try:
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_path)
        model = AutoModel.from_pretrained(model_path)
    except (OSError, ValueError, KeyError) as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ConfigError(f"cannot load model {model_path}: {first[:200]}") from None
    finally:
        if not progress:
            transformers.utils.logging.enable_progress_bar()
    return model, tokenizer


def tokenize_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> tuple[list[np.ndarray], int]:
    """Token ids of each text, truncated to ``max_length``, with special tokens.

    Returns:
        ``(ids, n_truncated)``: int32 ``[L_i]`` per text, and how many texts were truncated.

    Raises:
        ConfigError: if a text tokenizes to zero tokens, or to more than ``max_length`` (a
            tokenizer keeps its special tokens when ``max_length`` is shorter than them).
    """
    ids: list[np.ndarray] = []
    n_truncated = 0
    for t in texts:
        full = tokenizer(t, truncation=False, add_special_tokens=True)["input_ids"]
        n_truncated += len(full) > max_length
        enc = tokenizer(t, truncation=True, max_length=max_length, add_special_tokens=True)["input_ids"]
        if len(enc) == 0:
            raise ConfigError(
                f"replay text {len(ids) + 1} ({t[:40]!r}) tokenizes to zero tokens with "
                f"{type(tokenizer).__name__}; expected a tokenizer that adds at least one token"
            )
        if len(enc) > max_length:
            extra = getattr(tokenizer, "num_special_tokens_to_add", None)
            need = f"at least {extra()}, the special tokens it adds" if callable(extra) else "a larger max_length"
            raise ConfigError(
                f"max_length {max_length} cannot be honoured: replay text {len(ids) + 1} keeps {len(enc)} tokens "
                f"with {type(tokenizer).__name__}; expected {need}"
            )
        ids.append(np.asarray(enc, dtype=np.int32))
    return ids, n_truncated


def batches(n: int, batch_size: int) -> list[range]:
    """Consecutive index ranges of at most ``batch_size`` covering ``range(n)``."""
    return [range(i, min(n, i + batch_size)) for i in range(0, n, batch_size)]


def hidden_batch(model: Any, ids: list[np.ndarray], rows: range, layer: int, pad_id: int, device: Any):
    """Run the model on samples ``rows``; returns (hidden fp32 [B, T, H] on CPU, attention mask)."""
    import torch

    T = max(len(ids[i]) for i in rows)
    input_ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    attn = torch.zeros((len(rows), T), dtype=torch.long)
    for j, i in enumerate(rows):
        input_ids[j, : len(ids[i])] = torch.from_numpy(ids[i].astype(np.int64))
        attn[j, : len(ids[i])] = 1
    with torch.no_grad():
        out = model(input_ids=input_ids.to(device), attention_mask=attn.to(device), output_hidden_states=True)
    hs = out.hidden_states
    if not -len(hs) <= layer < len(hs):
        raise ConfigError(f"layer {layer} out of range: the model returns {len(hs)} hidden states")
    return hs[layer].float().cpu(), attn
