"""The :class:`Checkpoint` object: tensor metadata and streamed float32 reads."""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mfa_engine.checkpoints.gather import as_index, gather_all, gather_block, gather_rows
from mfa_engine.errors import CheckpointError

__all__ = ["Checkpoint", "WeightFile"]

_FLOAT_DTYPES = frozenset({"float64", "float32", "float16", "bfloat16"})


class _Entry(Protocol):
    shape: tuple[int, ...]
    dtype: str


class WeightFile(Protocol):
    """One weight file backend (safetensors or torch ``.bin``)."""

    path: Path
    entries: dict[str, _Entry]

    def raw(self, key: str) -> np.ndarray:
        """Stored values of ``key`` as an array-like (positioned reads of safetensors files; the
        ``.bin`` reader's torch memory map)."""
        ...

    def close(self) -> None:
        """Release open file handles (and a ``.bin`` file's memory map)."""
        ...


class Checkpoint:
    """An opened checkpoint: config plus tensors streamed from the weight files.

    Nothing is read until a ``read*`` method is called, and those touch only the requested
    rows. All reads return float32 (fp16/bf16 upcasts are exact) and raise
    :class:`~mfa_engine.errors.CheckpointError` if the values read contain NaN or inf.

    Attributes:
        path: directory holding ``config.json`` and the weight files (a snapshot directory
            for the HF cache layout).
        config: the parsed ``config.json``.
        model_type: ``config["model_type"]`` (empty string if absent).
        step: training step parsed from the revision or directory name, else None.
        revision: revision asked for or chosen (``"main"``), else None.
        commit: HF cache snapshot hash, else None.
        files: the weight files, in load order.
    """

    def __init__(
        self,
        path: Path,
        config: dict[str, Any],
        files: list[WeightFile],
        *,
        step: int | None = None,
        revision: str | None = None,
        commit: str | None = None,
        weight_map: dict[str, str] | None = None,
    ) -> None:
        self.path = path
        self.config = config
        self.model_type = str(config.get("model_type") or "")
        self.step = step
        self.revision = revision
        self.commit = commit
        self.files = files
        self._where: dict[str, WeightFile] = {}
        #: Tensors stored in more than one file: name -> the other files (checked on first use).
        self._copies: dict[str, list[WeightFile]] = {}
        by_name = {f.path.name: f for f in files}
        self._indexed = set(weight_map or ())
        for file in files:
            for key in file.entries:
                if key in self._where:
                    self._copies.setdefault(key, []).append(file)
                else:
                    self._where[key] = file
        for key, shard in (weight_map or {}).items():  # the index names the one file to read from
            named = by_name.get(Path(shard).name)
            if key in self._where and named is not None and key in named.entries and self._where[key] is not named:
                first = self._where[key]
                self._where[key] = named
                self._copies[key] = [first, *(f for f in self._copies[key] if f is not named)]
        for key in self._copies:
            kept = self._where[key].entries[key]
            for other in self._copies[key]:
                entry = other.entries[key]
                if tuple(entry.shape) != tuple(kept.shape) or entry.dtype != kept.dtype:
                    raise CheckpointError(
                        f"tensor {key!r} is stored in both {self._where[key].path.name} ({kept.dtype} "
                        f"{list(kept.shape)}) and {other.path.name} ({entry.dtype} {list(entry.shape)}); expected "
                        "each tensor in one file"
                    )

    # ----------------------------------------------------------------- metadata
    def keys(self) -> list[str]:
        """All tensor names, sorted."""
        return sorted(self._where)

    def __contains__(self, name: object) -> bool:
        return name in self._where

    def _file(self, name: str) -> WeightFile:
        try:
            file = self._where[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._where), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise CheckpointError(
                f"tensor {name!r} not found in checkpoint {self.path} "
                f"({len(self._where)} tensors){hint}"
            ) from None
        if name in self._copies:
            self._check_copies(name, file)
        return file

    def _check_copies(self, name: str, file: WeightFile) -> None:
        """Compare the copies of a tensor stored in several files, byte for byte (first use only).

        Raises:
            CheckpointError: a copy differs from the one read (the file the index names, else the
                first file holding it).
        """
        kept = np.ascontiguousarray(np.asarray(file.raw(name))).view(np.uint8)
        for other in self._copies[name]:
            if not np.array_equal(kept, np.ascontiguousarray(np.asarray(other.raw(name))).view(np.uint8)):
                raise CheckpointError(
                    f"tensor {name!r} is stored in both {file.path.name} and {other.path.name} with different "
                    f"values; expected each tensor in one file"
                    + (f" (the index names {file.path.name})" if name in self._indexed else "")
                )
        others = ", ".join(f.path.name for f in self._copies.pop(name))
        warnings.warn(f"tensor {name!r} is stored in {file.path.name} and again in {others} (identical copies); "
                      f"reading {file.path.name}", UserWarning, stacklevel=4)

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of tensor ``name`` as stored."""
        return tuple(self._file(name).entries[name].shape)

    def dtype(self, name: str) -> str:
        """Stored dtype of ``name`` as a canonical name: ``"float32"``, ``"float16"``,
        ``"bfloat16"``, ``"float64"``, or an integer/bool name."""
        return self._file(name).entries[name].dtype

    def file_of(self, name: str) -> Path:
        """The weight file holding tensor ``name``."""
        return self._file(name).path

    # ----------------------------------------------------------------- reads
    def _raw(self, name: str) -> tuple[np.ndarray, str]:
        file = self._file(name)
        return file.raw(name), file.entries[name].dtype

    def _weight(self, name: str) -> tuple[np.ndarray, str]:
        """Like :meth:`_raw`, for a weight: integer or bool storage is an error."""
        file = self._file(name)
        dtype = file.entries[name].dtype
        if dtype not in _FLOAT_DTYPES:
            raise CheckpointError(
                f"tensor {name!r} in {file.path.name} is stored as {dtype}; expected a "
                "floating-point weight (float16, bfloat16, float32 or float64)"
            )
        return file.raw(name), dtype

    def _check_finite(
        self,
        name: str,
        values: np.ndarray,
        dtype: str,
        rows: np.ndarray | None = None,
        cols: np.ndarray | None = None,
    ) -> np.ndarray:
        """Raise if ``values`` (read from ``name`` at ``rows``/``cols``) holds NaN or inf."""
        if dtype in _FLOAT_DTYPES and values.size and not np.isfinite(values).all():
            bad = ~np.isfinite(values)
            first = [int(i) for i in np.argwhere(bad)[0]]
            if rows is not None and first:
                first[0] = int(rows[first[0]])
            if cols is not None and len(first) > 1:
                first[1] = int(cols[first[1]])
            raise CheckpointError(
                f"tensor {name!r} in {self._file(name).path.name} has {int(bad.sum())} NaN/inf "
                f"values in the data read (first at tensor index {tuple(first)}); expected "
                "finite weights"
            )
        return values

    def _release(self, name: str) -> None:
        release = getattr(self._file(name), "release", None)
        if release is not None:
            release(name)

    def read(self, name: str) -> np.ndarray:
        """Read a full tensor.

        Args:
            name: tensor name.

        Returns:
            float32 array of the tensor's shape.
        """
        raw, dtype = self._raw(name)
        prefetch = getattr(self._file(name), "prefetch", None)
        if prefetch is not None:
            prefetch(name)
        try:
            out = gather_all(raw, dtype)
        finally:
            self._release(name)
        return self._check_finite(name, out, dtype)

    def read_stored(self, name: str, rows: Any = None, buf: np.ndarray | None = None) -> tuple[np.ndarray, str]:
        """Read a full tensor (or some of its rows) as stored, unconverted (for a compiled
        reader that converts and checks the values itself in one pass).

        Args:
            name: tensor name of a floating-point weight.
            rows: Optional int indices [k] of the rows (first axis) to read, in that order.
            buf: Optional contiguous uint8 buffer the whole tensor is read into when the
                file is read with positioned reads (reused by the caller: no fresh pages);
                the result is then a view of it. Ignored with ``rows``.

        Returns:
            (array of the tensor's shape in its storage dtype: float16, uint16 bit patterns
            for bfloat16, float32 or float64; the canonical dtype name). NaN/inf are NOT
            checked here.

        Raises:
            CheckpointError: the tensor is not stored as floating point.
        """
        raw, dtype = self._weight(name)
        prefetch = getattr(self._file(name), "prefetch", None)
        if prefetch is not None and rows is None:
            prefetch(name)
        try:
            if rows is not None:
                out = np.asarray(raw[np.asarray(rows, np.int64).reshape(-1)])
            elif buf is not None and hasattr(raw, "read_into"):
                out = raw.read_into(buf)
            else:
                out = np.asarray(raw)
        finally:
            self._release(name)
        return out, dtype

    def read_rows(self, name: str, rows: Any) -> np.ndarray:
        """Read selected rows (entries of the first axis) of a tensor.

        Args:
            name: tensor name (at least 1-D).
            rows: int indices [k] in any order, duplicates allowed.

        Returns:
            float32 array [k, *shape[1:]] with ``out[i] = tensor[rows[i]]``.

        Raises:
            CheckpointError: the tensor is not stored as floating point, or a bad index.
        """
        raw, dtype = self._weight(name)
        if raw.ndim == 0:
            raise CheckpointError(f"tensor {name!r} is a scalar; read_rows expects >= 1-D")
        idx = as_index(rows, raw.shape[0], f"rows of tensor {name!r} {raw.shape}")
        try:
            out = gather_rows(raw, idx, dtype)
        finally:
            self._release(name)
        return self._check_finite(name, out, dtype, idx)

    def read_block(self, name: str, rows: Any, cols: Any) -> np.ndarray:
        """Read the sub-matrix ``tensor[rows][:, cols]`` of a 2-D tensor.

        Args:
            name: tensor name of a 2-D tensor [n, m].
            rows: row indices [k] in any order.
            cols: column indices [l] in any order.

        Returns:
            float32 array [k, l] with ``out[i, j] = tensor[rows[i], cols[j]]``.

        Raises:
            CheckpointError: the tensor is not stored as floating point, or a bad index.
        """
        raw, dtype = self._weight(name)
        if raw.ndim != 2:
            raise CheckpointError(
                f"tensor {name!r} has shape {raw.shape}; read_block expects a 2-D tensor"
            )
        r = as_index(rows, raw.shape[0], f"rows of tensor {name!r} {raw.shape}")
        c = as_index(cols, raw.shape[1], f"columns of tensor {name!r} {raw.shape}")
        try:
            out = gather_block(raw, r, c, dtype)
        finally:
            self._release(name)
        return self._check_finite(name, out, dtype, r, c)

    # ----------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Release the files' handles (the checkpoint can still be read; files are reopened)."""
        for file in self.files:
            file.close()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        self.close()  # open files are not picklable; they are reopened lazily
        return self.__dict__.copy()

    def __repr__(self) -> str:
        step = "" if self.step is None else f", step={self.step}"
        return (
            f"Checkpoint({str(self.path)!r}, model_type={self.model_type!r}{step}, "
            f"tensors={len(self._where)})"
        )
