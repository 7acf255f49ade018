"""Reading a replay cache (:mod:`mfa_engine.tm.cache` builds it): ``meta.json`` and every array
are checked on opening (types, ranges, shapes, counts, offsets, finite thresholds), and a damaged
or edited cache is a one-line error naming the file and field."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from mfa_engine.errors import MFAError, plain

__all__ = ["CACHE_FORMAT", "CACHE_VERSION", "ReplayCache"]

#: ``meta.json`` "format" and "version" of a replay cache.
CACHE_FORMAT = "mfa-tm-replay-cache"
CACHE_VERSION = 1


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
    if meta.get("version") != CACHE_VERSION or not _is_int(meta.get("version")):
        raise MFAError(f"{meta_file}: version is {plain(meta.get('version'))}; this mfa-engine reads version "
                       f"{CACHE_VERSION}")

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
