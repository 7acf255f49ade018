"""Null model ``shuffle``: every weight matrix permuted uniformly at random (docs/science.md).

A shuffled matrix holds exactly the values of the real one (same weight distribution) at
random positions (no structure). The analysis only reads the entries of the sampled neurons,
so the permutation is never built: for a uniform random permutation ``pi`` of the ``n*m``
entries of a matrix and any fixed set of ``k`` distinct positions, the values found at those
positions are a uniform draw of ``k`` entries **without replacement** from the whole matrix, in
random order. :class:`ShuffledCheckpoint` realises the permutation lazily: each position asked
for is given a source entry drawn uniformly among the entries not yet given out, and keeps it
(asking twice returns the same value). For the full network (``neurons_per_layer = "all"``)
this is a whole permutation.

Draws are seeded per sample and per tensor (``default_rng([tag, seed, crc32(name)])``), so a
sample's null does not depend on the order in which tensors are read, and sample ``s`` of every
checkpoint uses the same generator. Within a tensor, positions get their sources in the order
they are asked for (sorted within each request), so another read order draws another, equally
uniform, permutation. Structural (non-weight) edges are not affected.

Reading: the source entries of a draw are scattered over the matrix, so the rows holding them
are read (``read_block`` over row chunks of at most 8 MiB); for a sampled NIN this touches most
rows of each matrix, so a null costs about one full read of each weight matrix per sample.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from mfa_engine.checkpoints.null_base import NullCheckpoint

__all__ = ["ShuffledCheckpoint"]

#: First word of the null generator's seed sequence (keeps it apart from the neuron sampling).
_TAG = zlib.crc32(b"mfa-engine shuffle null model")
_CHUNK_BYTES = 8 << 20


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique(a)`` by one sort (NumPy 2's hash-based ``unique`` is ~30x slower on the
    half-million-entry position sets of a whole matrix); already sorted input is returned as is."""
    if a.size < 2:
        return a.copy()
    if bool(np.all(a[1:] > a[:-1])):  # a read_block's positions: sorted rows x sorted columns
        return a
    s = np.sort(a)
    return s[np.concatenate(([True], s[1:] != s[:-1]))]


class _LazyPermutation:
    """A uniform random permutation of ``total`` entries, realised only where asked."""

    def __init__(self, total: int, rng: np.random.Generator) -> None:
        self.total = total
        self.rng = rng
        self.used = np.zeros(total, dtype=bool)
        self.n_used = 0
        self.pos = np.zeros(0, np.int64)  # sorted positions assigned so far
        self.src = np.zeros(0, np.int64)  # their source entries

    def _fresh(self, need: int) -> np.ndarray:
        """``need`` distinct sources drawn uniformly (in random order) among the unused."""
        free = self.total - self.n_used
        if need > free // 2:  # dense: choose from the explicit remainder
            out = self.rng.choice(np.flatnonzero(~self.used), size=need, replace=False)
        else:  # sparse: rejection of repeats and used entries keeps each next draw uniform
            parts, got = [], 0
            while got < need:
                cand = self.rng.integers(0, self.total, size=need - got + (need - got) // 4 + 8)
                _, first = np.unique(cand, return_index=True)
                cand = cand[np.sort(first)]
                cand = cand[~self.used[cand]][: need - got]
                self.used[cand] = True
                parts.append(cand)
                got += cand.size
            out = np.concatenate(parts)
        self.used[out] = True
        self.n_used += out.size
        return out.astype(np.int64)

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        """Source entry of each position (int64, same shape)."""
        flat = positions.ravel()
        uniq = _sorted_unique(flat)
        if self.pos.size:
            at = np.minimum(np.searchsorted(self.pos, uniq), self.pos.size - 1)
            new = uniq[self.pos[at] != uniq]
        else:
            new = uniq
        if new.size:
            pos = np.concatenate([self.pos, new])
            src = np.concatenate([self.src, self._fresh(new.size)])
            order = np.argsort(pos, kind="stable")
            self.pos, self.src = pos[order], src[order]
        return self.src[np.searchsorted(self.pos, flat)].reshape(positions.shape)


class ShuffledCheckpoint(NullCheckpoint):
    """A checkpoint whose 2-D tensors read as if every matrix were uniformly permuted.

    Wraps an opened checkpoint (the ``open_checkpoint`` contract); metadata is passed through.
    Tensors that are not 2-D are read unchanged (the NIN reads matrices only).

    Args:
        ckpt: The opened checkpoint.
        seed: The sample's seed.
    """

    def __init__(self, ckpt: Any, seed: int) -> None:
        super().__init__(ckpt, seed)
        self._perms: dict[str, _LazyPermutation] = {}

    def _perm(self, name: str, total: int) -> _LazyPermutation:
        if name not in self._perms:
            rng = np.random.default_rng([_TAG, self.seed, zlib.crc32(name.encode("utf-8"))])
            self._perms[name] = _LazyPermutation(total, rng)
        return self._perms[name]

    def _entries(self, name: str, src: np.ndarray, n_cols: int) -> np.ndarray:
        """float32 values of flat entries ``src`` of ``name`` (any shape), read by row chunks."""
        flat = src.ravel()
        rows, cols = np.divmod(flat, n_cols)
        urows = _sorted_unique(rows)
        out = np.empty(flat.size, dtype=np.float32)
        step = max(1, _CHUNK_BYTES // max(1, 4 * n_cols))
        all_cols = np.arange(n_cols, dtype=np.int64)
        for a in range(0, urows.size, step):
            chunk = urows[a : a + step]
            block = np.asarray(self._ckpt.read_block(name, chunk, all_cols))
            sel = (rows >= chunk[0]) & (rows <= chunk[-1])
            out[sel] = block[np.searchsorted(chunk, rows[sel]), cols[sel]]
        return out.reshape(src.shape)

    def _matrix_block(self, name: str, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """``shuffled[rows][:, cols]`` as float32 ``[len(rows), len(cols)]``."""
        positions = rows[:, None] * shape[1] + cols[None, :]
        src = self._perm(name, shape[0] * shape[1])(positions)
        return self._entries(name, src, shape[1])
