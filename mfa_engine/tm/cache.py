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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mfa_engine.errors import ConfigError, MFAError, plain
from mfa_engine.tm.cache_model import batches, check_device, hidden_batch, load_model, tokenize_texts

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


#: meta.json larger than this is not a replay cache's (it holds a few hundred bytes).
_META_BYTES = 1 << 20


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _read_meta(path: Path) -> dict:
    """meta.json of a replay cache, parsed and checked field by field (one-line errors).

    Raises:
        MFAError: missing, unreadable, not JSON, too large or too deep, another format or
            version, or a field of the wrong type or out of range (named).
    """
    meta_file = path / "meta.json"
    if not meta_file.is_file():
        raise MFAError(f"{path} is not a replay cache: meta.json is missing")
    try:
        with meta_file.open("rb") as f:
            raw = f.read(_META_BYTES + 1)
        if len(raw) > _META_BYTES:
            raise MFAError(f"{meta_file} is larger than {_META_BYTES} bytes; not a replay cache's meta.json")
        meta = json.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise MFAError(f"cannot read {meta_file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise MFAError(f"{meta_file} is not UTF-8 text; the replay cache is damaged") from None
    except json.JSONDecodeError as exc:
        raise MFAError(f"{meta_file} is not valid JSON ({exc.msg} at line {exc.lineno}); the replay cache is "
                       "damaged or truncated") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, an integer too long
        raise MFAError(f"{meta_file} cannot be parsed ({type(exc).__name__}); the replay cache is damaged") from None
    if not isinstance(meta, dict):
        raise MFAError(f"{meta_file} must hold a JSON object, got {type(meta).__name__}")
    if meta.get("format") != CACHE_FORMAT:
        raise MFAError(f"{meta_file}: format is {plain(meta.get('format'))}, expected {CACHE_FORMAT!r}")
    if meta.get("version") != _VERSION or not _is_int(meta.get("version")):
        raise MFAError(f"{meta_file}: version is {plain(meta.get('version'))}; this mfa-engine reads version "
                       f"{_VERSION}")

    def field(name: str, ok: bool, want: str) -> None:
        if not ok:
            raise MFAError(f"{meta_file}: field {name!r} must be {want}; the replay cache is damaged or was edited")

    k = meta.get("k")
    field("k", isinstance(k, (int, float)) and not isinstance(k, bool) and math.isfinite(k) and k > 0,
          f"a finite number > 0 (thresholds mu +- k sigma), got {plain(k)}")
    field("layer", _is_int(meta.get("layer")), f"an integer, got {plain(meta.get('layer'))}")
    h = meta.get("hidden_size")
    field("hidden_size", _is_int(h) and h >= 1, f"an integer >= 1, got {plain(h)}")
    for name in ("n_samples", "n_tokens"):
        v = meta.get(name)
        field(name, _is_int(v) and v >= 0, f"an integer >= 0, got {plain(v)}")
    tok, trunc = meta.get("tokenizer"), meta.get("truncation")
    field("tokenizer", isinstance(tok, dict), "an object")
    pad = tok.get("pad_token_id")
    field("tokenizer.pad_token_id", pad is None or (_is_int(pad) and pad >= 0),
          f"an integer >= 0 or null, got {plain(pad)}")
    field("truncation", isinstance(trunc, dict), "an object")
    ml = trunc.get("max_length")
    field("truncation.max_length", _is_int(ml) and ml >= 1, f"an integer >= 1, got {plain(ml)}")
    return meta


def _load_array(path: Path, name: str, kinds: str, ndim: int, size: int | None = None,
                mmap: bool = False) -> np.ndarray:
    """One .npy file of a replay cache, its dtype kind, dimensions and length checked."""
    f = path / name
    if not f.is_file():
        raise MFAError(f"replay cache {path} is incomplete: {name} is missing")
    try:
        arr = np.load(f, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise MFAError(f"{f} is not a readable .npy array ({first}); the replay cache is damaged or truncated") from None
    if arr.dtype.kind not in kinds or arr.ndim != ndim or (size is not None and arr.shape[0] != size):
        want = f"{ndim}-D {'integer' if 'i' in kinds else 'float'}" + (f" of length {size}" if size is not None else "")
        raise MFAError(f"{f} holds {arr.dtype} {list(arr.shape)}, expected {want}; the replay cache is damaged")
    return arr


def _check_samples(path: Path, meta: dict, lengths: np.ndarray, offsets: np.ndarray, tokens: np.ndarray,
                   H: int) -> None:
    """Sample lengths, token ids and count, and states offsets agree with each other and with meta.json."""
    n_tokens = tokens.shape[0]
    n = lengths.shape[0]
    ml = meta["truncation"]["max_length"]
    if n and (int(lengths.min()) < 1 or int(lengths.max()) > ml):
        raise MFAError(f"{path / 'lengths.npy'}: sample lengths must be 1..{ml} (truncation.max_length), got "
                       f"{int(lengths.min())}..{int(lengths.max())}")
    total = int(lengths.sum())
    if total != n_tokens or meta["n_tokens"] != total or meta["n_samples"] != n:
        raise MFAError(f"replay cache {path}: meta.json has n_samples {meta['n_samples']} and n_tokens "
                       f"{meta['n_tokens']}, lengths.npy counts {n} samples of {total} tokens, tokens.npy holds "
                       f"{n_tokens}; the replay cache is damaged")
    if tokens.size and int(tokens.min()) < 0:
        raise MFAError(f"{path / 'tokens.npy'} holds negative token ids; the replay cache is damaged")
    want = np.zeros(n + 1, np.int64)
    np.cumsum((lengths * H + 3) // 4, out=want[1:])
    if not np.array_equal(offsets, want):
        raise MFAError(f"{path / 'offsets.npy'} does not match the sample lengths and hidden size {H}; "
                       "the replay cache is damaged")


def _check_statistics(path: Path, mu: np.ndarray, sigma: np.ndarray, k: float) -> None:
    """mu finite, sigma finite and >= 0, and thresholds ``mu +- k sigma`` finite in float32."""
    from mfa_engine.tm.stats import thresholds_from_stats

    if not np.isfinite(mu).all():
        raise MFAError(f"{path / 'mu.npy'} holds non-finite values; the replay cache is damaged")
    if not np.isfinite(sigma).all() or (sigma < 0).any():
        raise MFAError(f"{path / 'sigma.npy'} must hold finite values >= 0; the replay cache is damaged")
    with np.errstate(over="ignore"):
        pos, neg = thresholds_from_stats(mu, sigma, k)
    if not (np.isfinite(pos).all() and np.isfinite(neg).all()):
        raise MFAError(f"replay cache {path}: thresholds mu +- k sigma overflow float32")


class ReplayCache:
    """Read-only view of a replay cache directory (memory-mapped).

    Args:
        path: cache directory written by :func:`build_replay_cache`.

    Raises:
        MFAError: if the directory is missing files or has another format.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.meta: dict = _read_meta(self.path)
        self.hidden_size = self.meta["hidden_size"]
        H = self.hidden_size
        self.lengths = _load_array(self.path, "lengths.npy", "iu", 1)
        n = self.lengths.shape[0]
        self.offsets = _load_array(self.path, "offsets.npy", "iu", 1, n + 1)
        self.tokens = _load_array(self.path, "tokens.npy", "iu", 1, mmap=True)
        self.mu = _load_array(self.path, "mu.npy", "f", 1, H)
        self.sigma = _load_array(self.path, "sigma.npy", "f", 1, H)
        self.lengths, self.offsets = self.lengths.astype(np.int64), self.offsets.astype(np.int64)
        _check_samples(self.path, self.meta, self.lengths, self.offsets, self.tokens, H)
        _check_statistics(self.path, self.mu, self.sigma, self.meta["k"])
        self.token_offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        expect = int(self.offsets[-1])
        size = (self.path / "states.bin").stat().st_size if (self.path / "states.bin").is_file() else -1
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
            pad_token_id = self.meta["tokenizer"]["pad_token_id"] or 0
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
