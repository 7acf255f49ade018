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
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from mfa_engine.errors import ConfigError, MFAError, plain

__all__ = ["CACHE_FORMAT", "build_replay_cache", "ReplayCache", "read_texts"]

CACHE_FORMAT = "mfa-tm-replay-cache"
_VERSION = 1


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


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
                    "tokenizer.model", "spiece.model", "sentencepiece.bpe.model")


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


def _check_device(device: Any) -> None:
    import torch

    from mfa_engine.errors import BackendError

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device {device!r} is not a torch device: {str(exc).splitlines()[0]}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"device {device!r} was asked for, but no CUDA device is available here")


def _load_model(model_path: str, tokenizer: Any, progress: bool) -> tuple[Any, Any]:
    """Model and tokenizer of a Hugging Face model directory (or hub id), one-line errors."""
    from transformers import AutoModel, AutoTokenizer

    p = Path(model_path)
    if not p.exists() and (os.environ.get("HF_HUB_OFFLINE") == "1" or p.is_absolute()
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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _batches(n: int, batch_size: int) -> list[range]:
    return [range(i, min(n, i + batch_size)) for i in range(0, n, batch_size)]


def _hidden_batch(model: Any, ids: list[np.ndarray], rows: range, layer: int, pad_id: int, device: Any):
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
    import torch
    from tqdm.auto import tqdm

    from mfa_engine import __version__
    from mfa_engine.tm.states import codes_from_reference, pack_states
    from mfa_engine.tm.stats import ActivationStats, thresholds_from_stats

    out = Path(out_dir)
    _check_out(out, overwrite, texts if isinstance(texts, (str, Path)) else None)
    if max_length < 1 or batch_size < 1:
        raise ConfigError(f"max_length and batch_size must be >= 1, got {max_length} and {batch_size}")
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not (math.isfinite(k) and k > 0):
        raise ConfigError(f"k must be a finite number > 0 (thresholds mu +- k sigma), got {plain(k)}")
    _check_device(device)
    texts_info: dict[str, Any]
    if isinstance(texts, (str, Path)):
        tp = Path(texts)
        text_list = read_texts(tp, text_field)
        texts_info = {"path": str(tp.resolve()), "sha256": _sha256(tp), "n": len(text_list)}
    else:
        text_list = [str(t) for t in texts]
        if not text_list:
            raise ConfigError("no replay texts given")
        digest = hashlib.sha256("\n".join(text_list).encode()).hexdigest()
        texts_info = {"path": None, "sha256": digest, "n": len(text_list)}

    model_path = None
    if isinstance(model, (str, Path)):
        model_path = str(model)
        model, tokenizer = _load_model(model_path, tokenizer, progress)
    elif tokenizer is None:
        raise ConfigError("a tokenizer is required when passing a loaded model")
    model.eval()
    model.to(device)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    ids: list[np.ndarray] = []
    n_truncated = 0
    for t in text_list:
        full = tokenizer(t, truncation=False, add_special_tokens=True)["input_ids"]
        n_truncated += len(full) > max_length
        enc = tokenizer(t, truncation=True, max_length=max_length, add_special_tokens=True)["input_ids"]
        if len(enc) == 0:
            raise ConfigError(
                f"replay text {len(ids) + 1} ({t[:40]!r}) tokenizes to zero tokens with "
                f"{type(tokenizer).__name__}; expected a tokenizer that adds at least one token"
            )
        ids.append(np.asarray(enc, dtype=np.int32))
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    batches = _batches(len(ids), batch_size)

    stats = ActivationStats()
    for rows in tqdm(batches, desc="tm cache: statistics", file=sys.stderr, disable=not progress):
        h, attn = _hidden_batch(model, ids, rows, layer, pad_id, device)
        stats.update(h, attn)
    H = int(stats.hidden_size or 0)
    mu, sigma = stats.mean, stats.std
    pos, neg = thresholds_from_stats(mu, sigma, k)
    pos_t, neg_t = torch.from_numpy(pos), torch.from_numpy(neg)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        with (tmp / "states.bin").open("wb") as f:
            for rows in tqdm(batches, desc="tm cache: states", file=sys.stderr, disable=not progress):
                h, _ = _hidden_batch(model, ids, rows, layer, pad_id, device)
                for j, i in enumerate(rows):
                    packed = pack_states(codes_from_reference(h[j, : lengths[i]], pos_t, neg_t))
                    f.write(packed.data.numpy().tobytes())
                    offsets[i + 1] = offsets[i] + packed.nbytes
        np.save(tmp / "tokens.npy", np.concatenate(ids).astype(np.int32))
        np.save(tmp / "lengths.npy", lengths)
        np.save(tmp / "offsets.npy", offsets)
        np.save(tmp / "mu.npy", mu)
        np.save(tmp / "sigma.npy", sigma)
        cfg = getattr(model, "config", None)
        meta = {
            "format": CACHE_FORMAT,
            "version": _VERSION,
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
            "hidden_size": H,
            "tokenizer": {
                "name_or_path": getattr(tokenizer, "name_or_path", None),
                "class": type(tokenizer).__name__,
                "vocab_size": getattr(tokenizer, "vocab_size", None),
                "pad_token_id": pad_id,
                "add_special_tokens": True,
            },
            "truncation": {"max_length": int(max_length), "truncated_samples": int(n_truncated)},
            "texts": texts_info,
            "n_samples": len(ids),
            "n_tokens": int(lengths.sum()),
            "stats_count": int(stats.count),
            "states": {
                "codes": {"neg": 0, "neutral": 1, "pos": 2, "pad": 3},
                "packing": "2 bits, element i at bits 2*(i%4) of byte i//4, per sample [L, H] row-major",
            },
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "cache")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


class ReplayCache:
    """Read-only view of a replay cache directory (memory-mapped).

    Args:
        path: cache directory written by :func:`build_replay_cache`.

    Raises:
        MFAError: if the directory is missing files or has another format.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        meta_file = self.path / "meta.json"
        if not meta_file.is_file():
            raise MFAError(f"{self.path} is not a replay cache: meta.json is missing")
        self.meta: dict = json.loads(meta_file.read_text())
        if self.meta.get("format") != CACHE_FORMAT:
            raise MFAError(f"{meta_file}: format is {self.meta.get('format')!r}, expected {CACHE_FORMAT!r}")
        try:
            self.lengths = np.load(self.path / "lengths.npy")
            self.offsets = np.load(self.path / "offsets.npy")
            self.tokens = np.load(self.path / "tokens.npy", mmap_mode="r")
            self.mu = np.load(self.path / "mu.npy")
            self.sigma = np.load(self.path / "sigma.npy")
        except FileNotFoundError as exc:
            raise MFAError(f"replay cache {self.path} is incomplete: {Path(exc.filename).name} is missing") from None
        self.hidden_size = int(self.meta["hidden_size"])
        self.token_offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        expect = int(self.offsets[-1])
        size = (self.path / "states.bin").stat().st_size if (self.path / "states.bin").exists() else -1
        if size != expect:
            raise MFAError(f"{self.path / 'states.bin'} has {size} bytes, offsets.npy expects {expect}")
        self.states_data = (
            np.memmap(self.path / "states.bin", dtype=np.uint8, mode="r") if expect else np.zeros(0, np.uint8)
        )

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def layer(self) -> int:
        """Index into the model's hidden states that the cache was built from."""
        return int(self.meta["layer"])

    def thresholds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(pos, neg)`` float32 ``[H]``, exactly the thresholds the states were labelled with."""
        from mfa_engine.tm.stats import thresholds_from_stats

        return thresholds_from_stats(self.mu, self.sigma, float(self.meta["k"]))

    def input_ids(self, i: int) -> np.ndarray:
        """Token ids of sample ``i``: int64 ``[L]``."""
        a, b = self.token_offsets[i], self.token_offsets[i + 1]
        return np.asarray(self.tokens[a:b], dtype=np.int64)

    def packed_bytes(self, i: int) -> np.ndarray:
        """Packed states of sample ``i`` (uint8, ``ceil(L*H/4)`` bytes)."""
        return np.asarray(self.states_data[self.offsets[i] : self.offsets[i + 1]])

    def states(self, i: int, packed: bool = False) -> Any:
        """States of sample ``i``: int8 codes ``[L, H]`` (torch) or :class:`PackedStates`."""
        import torch

        from mfa_engine.tm.states import PackedStates

        ps = PackedStates(torch.from_numpy(self.packed_bytes(i).copy()), (int(self.lengths[i]), self.hidden_size))
        return ps if packed else ps.unpack()

    def batch(self, indices: Iterable[int], pad_token_id: int | None = None, packed: bool = True) -> dict:
        """Collate samples into a right-padded batch.

        Args:
            indices: sample indices.
            pad_token_id: id for padding (default: the tokenizer's, from meta.json).
            packed: return states as :class:`PackedStates` (else int8 codes).

        Returns:
            dict with ``input_ids`` long ``[B, T]``, ``attention_mask`` long ``[B, T]`` and
            ``states`` of shape ``[B, T, H]`` (padding positions hold code 3).
        """
        import torch

        from mfa_engine.tm.states import PackedStates, pack_states

        idx = [int(i) for i in indices]
        if pad_token_id is None:
            pad_token_id = int(self.meta["tokenizer"].get("pad_token_id") or 0)
        B, H = len(idx), self.hidden_size
        T = int(max(self.lengths[i] for i in idx)) if idx else 0
        input_ids = torch.full((B, T), pad_token_id, dtype=torch.long)
        attn = torch.zeros((B, T), dtype=torch.long)
        for j, i in enumerate(idx):
            L = int(self.lengths[i])
            input_ids[j, :L] = torch.from_numpy(self.input_ids(i))
            attn[j, :L] = 1
        if H % 4 == 0:
            row_bytes = T * H // 4
            buf = np.full(B * row_bytes, 0xFF, dtype=np.uint8)
            for j, i in enumerate(idx):
                b = self.packed_bytes(i)
                buf[j * row_bytes : j * row_bytes + b.shape[0]] = b
            states: Any = PackedStates(torch.from_numpy(buf), (B, T, H))
            if not packed:
                states = states.unpack()
        else:
            codes = torch.full((B, T, H), 3, dtype=torch.int8)
            for j, i in enumerate(idx):
                codes[j, : int(self.lengths[i])] = self.states(i)
            states = pack_states(codes) if packed else codes
        return {"input_ids": input_ids, "attention_mask": attn, "states": states}
