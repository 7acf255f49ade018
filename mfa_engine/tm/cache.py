"""Replay cache: packed reference states of a base model over replay texts, memory-mapped on disk.

Layout of a cache directory (written to a temporary sibling, then renamed into place)::

    meta.json      provenance: model, layer, k, tokenizer, truncation, texts file, counts
    tokens.npy     int32 [total tokens]   token ids of all samples, concatenated
    lengths.npy    int64 [n]              tokens per sample
    offsets.npy    int64 [n + 1]          byte offset of each sample in states.bin
    states.bin     uint8                  per sample: its [L, H] codes packed 2 bits / element
    mu.npy         float64 [H]            per-dimension mean of the reference activations
    sigma.npy      float64 [H]            per-dimension population std

Building streams the model over the texts twice: first the statistics (float64 Chan/Welford),
then the states against the float32 thresholds ``mu +- k sigma`` (so the loss of the unchanged
model on the same inputs is exactly 0). Nothing full-size is kept in memory.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mfa_engine.errors import ConfigError, plain
from mfa_engine.tm.cache_model import batches, check_device, hidden_batch, load_model, tokenize_texts
from mfa_engine.tm.replay_cache import CACHE_FORMAT, CACHE_VERSION, ReplayCache

__all__ = ["CACHE_FORMAT", "build_replay_cache", "ReplayCache", "read_texts"]



def read_texts(path: str | Path, text_field: str = "text") -> list[str]:
    """Texts of a jsonl file: each line an object with ``text_field`` or a JSON string.

    Raises:
        ConfigError: if the file is missing, a line is not JSON, or lacks the field.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"replay texts file {p} does not exist; expected a .jsonl file")
    texts: list[str] = []
    try:
        return _read_lines(p, text_field, texts)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p} is not UTF-8 text (byte {exc.start} of a line); expected a .jsonl file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read replay texts file {p}: {exc.strerror or exc}") from None


def _read_lines(p: Path, text_field: str, texts: list[str]) -> list[str]:
    with p.open("r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{p}: line {lineno} is not valid JSON ({exc.msg})") from None
            if isinstance(obj, str):
                texts.append(obj)
            elif isinstance(obj, dict) and isinstance(obj.get(text_field), str):
                texts.append(obj[text_field])
            else:
                raise ConfigError(f"{p}: line {lineno} has no string field {text_field!r}")
    if not texts:
        raise ConfigError(f"{p} contains no texts")
    return texts


def _check_out(out: Path, overwrite: bool, texts: str | Path | None) -> None:
    """Refuse an output path that is not ours to replace, before any work.

    An existing OUT is replaced (with ``overwrite``) only when it is an empty folder or a replay
    cache (its meta.json names this format): never a file, a foreign folder, or a folder
    holding the texts file.
    """
    if not (out.exists() or out.is_symlink()):
        return
    if not overwrite:
        raise ConfigError(f"cache directory {out} already exists; pass overwrite=True (--overwrite)")
    if out.is_symlink() or not out.is_dir():
        raise ConfigError(f"refusing to replace {out}: it is not a folder; expected a replay cache "
                          "directory or a new path")
    if texts is not None:
        try:
            inside = Path(texts).resolve().is_relative_to(out.resolve())
        except OSError:
            inside = False
        if inside:
            raise ConfigError(f"refusing to replace {out}: it holds the texts file {texts}")
    try:
        empty = not any(out.iterdir())
        meta = json.loads((out / "meta.json").read_text()) if (out / "meta.json").is_file() else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        meta = None
        empty = False
    if not empty and not (isinstance(meta, dict) and meta.get("format") == CACHE_FORMAT):
        raise ConfigError(f"refusing to replace {out}: it is not a replay cache (no meta.json of "
                          f"format {CACHE_FORMAT!r}); choose another OUT")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _checked_inputs(
    out: Path, texts: str | Path | Sequence[str], *, k: float, max_length: int, batch_size: int,
    text_field: str, device: str, overwrite: bool,
) -> tuple[list[str], dict[str, Any]]:
    """Validate the arguments of :func:`build_replay_cache` (OUT first, before any work) and read the texts.

    Returns:
        ``(texts, texts_info)``: the replay texts and their provenance for meta.json.

    Raises:
        ConfigError: on an OUT that may not be replaced, an invalid argument, or missing texts.
        BackendError: if ``device`` is CUDA and none is available.
    """
    _check_out(out, overwrite, texts if isinstance(texts, (str, Path)) else None)
    if max_length < 1 or batch_size < 1:
        raise ConfigError(f"max_length and batch_size must be >= 1, got {max_length} and {batch_size}")
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not (math.isfinite(k) and k > 0):
        raise ConfigError(f"k must be a finite number > 0 (thresholds mu +- k sigma), got {plain(k)}")
    check_device(device)
    if isinstance(texts, (str, Path)):
        tp = Path(texts)
        text_list = read_texts(tp, text_field)
        return text_list, {"path": str(tp.resolve()), "sha256": _sha256(tp), "n": len(text_list)}
    text_list = [str(t) for t in texts]
    if not text_list:
        raise ConfigError("no replay texts given")
    digest = hashlib.sha256("\n".join(text_list).encode()).hexdigest()
    return text_list, {"path": None, "sha256": digest, "n": len(text_list)}


@dataclass(frozen=True)
class _Forward:
    """What both passes over the replay texts share: the model, the token ids and the batching."""

    model: Any
    ids: list[np.ndarray]
    batches: list[range]
    layer: int
    pad_id: int
    device: Any
    progress: bool

    def hidden(self, rows: range) -> tuple[Any, Any]:
        """Hidden states fp32 ``[B, T, H]`` (CPU) and attention mask ``[B, T]`` of samples ``rows``."""
        return hidden_batch(self.model, self.ids, rows, self.layer, self.pad_id, self.device)


def _statistics_pass(fwd: _Forward) -> Any:
    """First pass: float64 per-dimension statistics of the reference activations (an ActivationStats)."""
    from tqdm.auto import tqdm

    from mfa_engine.tm.stats import ActivationStats

    stats = ActivationStats()
    for rows in tqdm(fwd.batches, desc="tm cache: statistics", file=sys.stderr, disable=not fwd.progress):
        h, attn = fwd.hidden(rows)
        stats.update(h, attn)
    return stats


def _states_pass(fwd: _Forward, lengths: np.ndarray, pos: np.ndarray, neg: np.ndarray, path: Path) -> np.ndarray:
    """Second pass: write each sample's packed states to ``path``; returns offsets int64 ``[n + 1]``."""
    import torch
    from tqdm.auto import tqdm

    from mfa_engine.tm.states import codes_from_reference, pack_states

    pos_t, neg_t = torch.from_numpy(pos), torch.from_numpy(neg)
    offsets = np.zeros(len(fwd.ids) + 1, dtype=np.int64)
    with path.open("wb") as f:
        for rows in tqdm(fwd.batches, desc="tm cache: states", file=sys.stderr, disable=not fwd.progress):
            h, _ = fwd.hidden(rows)
            for j, i in enumerate(rows):
                packed = pack_states(codes_from_reference(h[j, : lengths[i]], pos_t, neg_t))
                f.write(packed.data.numpy().tobytes())
                offsets[i + 1] = offsets[i] + packed.nbytes
    return offsets


def _manifest(
    model: Any, model_path: str | None, tokenizer: Any, pad_id: int, *, layer: int, k: float,
    max_length: int, n_truncated: int, texts_info: dict[str, Any], lengths: np.ndarray, stats: Any,
) -> dict[str, Any]:
    """Contents of meta.json: format, provenance (model, tokenizer, texts), settings and counts."""
    from mfa_engine import __version__

    cfg = getattr(model, "config", None)
    return {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "mfa_engine_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": {
            "path": str(Path(model_path).resolve()) if model_path and Path(model_path).exists() else model_path,
            "name_or_path": getattr(cfg, "_name_or_path", None),
            "model_type": getattr(cfg, "model_type", None),
            "class": type(model).__name__,
        },
        "layer": int(layer),
        "k": float(k),
        "hidden_size": int(stats.hidden_size or 0),
        "tokenizer": {
            "name_or_path": getattr(tokenizer, "name_or_path", None),
            "class": type(tokenizer).__name__,
            "vocab_size": getattr(tokenizer, "vocab_size", None),
            "pad_token_id": pad_id,
            "add_special_tokens": True,
        },
        "truncation": {"max_length": int(max_length), "truncated_samples": int(n_truncated)},
        "texts": texts_info,
        "n_samples": len(lengths),
        "n_tokens": int(lengths.sum()),
        "stats_count": int(stats.count),
        "states": {
            "codes": {"neg": 0, "neutral": 1, "pos": 2, "pad": 3},
            "packing": "2 bits, element i at bits 2*(i%4) of byte i//4, per sample [L, H] row-major",
        },
    }


def _temporary_dir(out: Path) -> Path:
    """A new sibling folder of ``out`` to write the cache into, with the umask's permissions."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    return tmp


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished cache ``tmp`` to ``out``, replacing an existing ``out`` (already checked)."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / "cache")
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def build_replay_cache(
    model: str | Path | Any,
    texts: str | Path | Sequence[str],
    out_dir: str | Path,
    *,
    tokenizer: Any = None,
    layer: int = -1,
    k: float = 1.0,
    max_length: int = 512,
    batch_size: int = 8,
    text_field: str = "text",
    device: str = "cpu",
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Build a replay cache by streaming a Hugging Face model over replay texts.

    Args:
        model: model directory (loaded with ``AutoModel`` + ``AutoTokenizer``) or a loaded model
            (then ``tokenizer`` is required).
        texts: a ``.jsonl`` file (objects with ``text_field``, or strings) or a list of texts.
        out_dir: cache directory to create.
        tokenizer: tokenizer, if ``model`` is a model object.
        layer: index into the model's ``hidden_states`` (0 = embeddings, -1 = last layer).
        k: threshold width, ``mu +- k sigma``.
        max_length: truncation length in tokens.
        batch_size: samples per forward pass.
        text_field: field of the jsonl objects holding the text.
        device: torch device of the forward passes.
        overwrite: replace an existing cache directory.
        progress: show tqdm progress bars on stderr.

    Returns:
        Path of the cache directory.
    """
    from mfa_engine.tm.stats import thresholds_from_stats

    out = Path(out_dir)
    text_list, texts_info = _checked_inputs(out, texts, k=k, max_length=max_length, batch_size=batch_size,
                                            text_field=text_field, device=device, overwrite=overwrite)
    model_path = None
    if isinstance(model, (str, Path)):
        model_path = str(model)
        model, tokenizer = load_model(model_path, tokenizer, progress)
    elif tokenizer is None:
        raise ConfigError("a tokenizer is required when passing a loaded model")
    model.eval()
    model.to(device)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids, n_truncated = tokenize_texts(tokenizer, text_list, max_length)
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    fwd = _Forward(model, ids, batches(len(ids), batch_size), layer, pad_id, device, progress)

    stats = _statistics_pass(fwd)
    mu, sigma = stats.mean, stats.std
    pos, neg = thresholds_from_stats(mu, sigma, k)
    tmp = _temporary_dir(out)
    try:
        offsets = _states_pass(fwd, lengths, pos, neg, tmp / "states.bin")
        np.save(tmp / "tokens.npy", np.concatenate(ids).astype(np.int32))
        np.save(tmp / "lengths.npy", lengths)
        np.save(tmp / "offsets.npy", offsets)
        np.save(tmp / "mu.npy", mu)
        np.save(tmp / "sigma.npy", sigma)
        meta = _manifest(model, model_path, tokenizer, pad_id, layer=layer, k=k, max_length=max_length,
                         n_truncated=n_truncated, texts_info=texts_info, lengths=lengths, stats=stats)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
