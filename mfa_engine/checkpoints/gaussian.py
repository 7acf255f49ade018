"""Null model ``gaussian``: every weight matrix replaced by iid Normal(0, sigma) draws.

``sigma`` is the standard deviation (population, ddof=0) of the real matrix, computed from
every entry (the matrix is read once, in row chunks of at most 8 MiB). The null keeps the
architecture (which neurons connect, the matrices' shapes and scales) and nothing of the
trained values: it is the architecture null, next to ``shuffle`` (same values, random places).

Draws are counter-based, so the value at ``(i, j)`` depends only on the sample's seed, the
tensor's name and the position, never on which entries are read or in which order: row ``i``
of a tensor is ``sigma * z`` with ``z`` the first ``m`` standard normals of a Philox generator
keyed by ``(tag, seed, crc32(name))`` (through NumPy's ``SeedSequence``) whose counter starts at
row ``i`` (the row sits in the counter's second word, so rows never share a stream). Sample
``s`` of every checkpoint of a series draws the same ``z``; only ``sigma`` follows the
checkpoint. Tensors that are not 2-D are read unchanged; structural (non-weight) edges are not
affected.

Plans: the reads are the sigma pass over each matrix asked for (fixed row chunks) and nothing
else, so a plan against a recorder (whose reads return zeros: sigma 0) makes the very reads of
the run.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from mfa_engine.checkpoints.null_base import NullCheckpoint

__all__ = ["GaussianCheckpoint", "matrix_std"]

#: First word of the null generator's key (keeps it apart from the other generators).
_TAG = zlib.crc32(b"mfa-engine gaussian null model")
_CHUNK_BYTES = 8 << 20


def matrix_std(ckpt: Any, name: str, shape: tuple[int, int]) -> float:
    """Population standard deviation of a 2-D tensor, read in row chunks of at most 8 MiB.

    The chunks' means and sums of squared deviations are merged exactly (Chan et al.), in
    float64, so the result does not depend on the chunk size beyond rounding.

    Args:
        ckpt: Checkpoint with ``read_block(name, rows, cols)``.
        name: Tensor name.
        shape: Its shape ``(n, m)``.

    Returns:
        sigma >= 0 (0 for an empty matrix).
    """
    n, m = (int(v) for v in shape)
    if n * m == 0:
        return 0.0
    step = max(1, _CHUNK_BYTES // max(1, 4 * m))
    cols = np.arange(m, dtype=np.int64)
    count, mean, m2 = 0, 0.0, 0.0
    for a in range(0, n, step):
        rows = np.arange(a, min(n, a + step), dtype=np.int64)
        block = np.asarray(ckpt.read_block(name, rows, cols), dtype=np.float64)
        k = block.size
        bmean = float(block.mean())
        bm2 = float(((block - bmean) ** 2).sum())
        delta = bmean - mean
        total = count + k
        mean += delta * k / total
        m2 += bm2 + delta * delta * count * k / total
        count = total
    return float(np.sqrt(max(m2, 0.0) / count))


class GaussianCheckpoint(NullCheckpoint):
    """A checkpoint whose 2-D tensors read as iid Normal(0, sigma) with the real matrix's sigma.

    Wraps an opened checkpoint (the ``open_checkpoint`` contract); metadata is passed through.

    Args:
        ckpt: The opened checkpoint.
        seed: The sample's seed.
    """

    def __init__(self, ckpt: Any, seed: int) -> None:
        super().__init__(ckpt, seed)
        self._sigma: dict[str, float] = {}
        self._keys: dict[str, np.ndarray] = {}

    def sigma(self, name: str) -> float:
        """The standard deviation of the real matrix ``name`` (computed once per wrapper)."""
        if name not in self._sigma:
            self._sigma[name] = matrix_std(self._ckpt, name, tuple(self._ckpt.shape(name)))
        return self._sigma[name]

    def _key(self, name: str) -> np.ndarray:
        if name not in self._keys:
            ss = np.random.SeedSequence([_TAG, self.seed, zlib.crc32(name.encode("utf-8"))])
            self._keys[name] = ss.generate_state(2, np.uint64)
        return self._keys[name]

    def normals(self, name: str, rows: np.ndarray, n_cols: int) -> np.ndarray:
        """Standard normals of whole rows ``rows`` of tensor ``name``: float64 ``[len(rows), n_cols]``."""
        key = self._key(name)
        out = np.empty((rows.size, n_cols), dtype=np.float64)
        for k, row in enumerate(rows.tolist()):
            bits = np.random.Philox(key=key, counter=np.array([0, row, 0, 0], dtype=np.uint64))
            out[k] = np.random.Generator(bits).standard_normal(n_cols)
        return out

    def _matrix_block(self, name: str, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """``null[rows][:, cols]`` as float32 ``[len(rows), len(cols)]``."""
        urows, inverse = np.unique(rows, return_inverse=True)
        z = self.normals(name, urows, shape[1])
        return (self.sigma(name) * z[np.ix_(inverse.reshape(-1), cols)]).astype(np.float32)
