"""Shared QKV mapping for architectures with separate q, k and v projections."""

from __future__ import annotations

import numpy as np

__all__ = ["split_qkv"]


def split_qkv(qkv_idx: np.ndarray, n_q: int, n_kv: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Map canonical QKV indices to rows of separate ``q``, ``k``, ``v`` weights.

    Args:
        qkv_idx: canonical indices [k] (q block of ``n_q``, then k and v blocks of ``n_kv``).
        n_q: number of q neurons.
        n_kv: number of k (and v) neurons.

    Returns:
        ``[(role, stored rows [m], positions [m])]`` for roles ``"q"``, ``"k"``, ``"v"``.
    """
    parts = []
    for role, start, size in (("q", 0, n_q), ("k", n_q, n_kv), ("v", n_q + n_kv, n_kv)):
        pos = np.flatnonzero((qkv_idx >= start) & (qkv_idx < start + size))
        parts.append((role, qkv_idx[pos] - start, pos))
    return parts
