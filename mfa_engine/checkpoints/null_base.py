"""What every null-model checkpoint shares: metadata passed through, 2-D reads replaced.

A null wrapper (:mod:`mfa_engine.checkpoints.shuffled`, :mod:`mfa_engine.checkpoints.gaussian`)
answers the reads of the ``open_checkpoint`` contract. Tensors that are not 2-D are read
unchanged (the NIN reads matrices only); for a matrix, :meth:`NullCheckpoint.read_block` checks
the indices once and hands the subclass's :meth:`~NullCheckpoint._matrix_block` non-empty,
in-range int64 rows and columns; ``read_rows`` and ``read`` are ``read_block`` over every column
(and row).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from mfa_engine.errors import ConfigError

__all__ = ["NullCheckpoint"]


class NullCheckpoint(ABC):
    """Base of the null-model wrappers of an opened checkpoint, seeded per sample.

    Args:
        ckpt: The opened checkpoint.
        seed: The sample's seed.
    """

    def __init__(self, ckpt: Any, seed: int) -> None:
        self._ckpt = ckpt
        self.seed = int(seed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ckpt, name)

    def __contains__(self, name: object) -> bool:
        return name in self._ckpt

    @abstractmethod
    def _matrix_block(self, name: str, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The null's ``[rows][:, cols]`` of matrix ``name`` (indices checked, both non-empty)."""

    def read_block(self, name: str, rows: Any, cols: Any) -> np.ndarray:
        """``null[rows][:, cols]`` as float32 ``[len(rows), len(cols)]`` (other tensors unchanged)."""
        shape = tuple(self._ckpt.shape(name))
        if len(shape) != 2:
            return self._ckpt.read_block(name, rows, cols)
        r = np.asarray(rows, dtype=np.int64).reshape(-1)
        c = np.asarray(cols, dtype=np.int64).reshape(-1)
        for idx, bound, what in ((r, shape[0], "rows"), (c, shape[1], "columns")):
            if idx.size and (idx.min() < 0 or idx.max() >= bound):
                raise ConfigError(f"{what} of tensor {name!r} {shape}: expected indices in [0, {bound})")
        if r.size == 0 or c.size == 0:
            return np.zeros((r.size, c.size), dtype=np.float32)
        return self._matrix_block(name, r, c, (int(shape[0]), int(shape[1])))

    def read_rows(self, name: str, rows: Any) -> np.ndarray:
        """Rows of the null tensor (2-D), as float32 ``[len(rows), m]``."""
        shape = tuple(self._ckpt.shape(name))
        if len(shape) != 2:
            return self._ckpt.read_rows(name, rows)
        return self.read_block(name, rows, np.arange(shape[1]))

    def read(self, name: str) -> np.ndarray:
        """The whole null tensor (2-D; other tensors unchanged)."""
        shape = tuple(self._ckpt.shape(name))
        if len(shape) != 2:
            return self._ckpt.read(name)
        return self.read_block(name, np.arange(shape[0]), np.arange(shape[1]))
