"""A model's in-memory weights behind the checkpoint read contract, and small snapshots of them.

:class:`StateDictCheckpoint` reads a live ``state_dict`` (torch tensors on any device, or NumPy
arrays) with the interface of :class:`mfa_engine.checkpoints.Checkpoint` (``config``, ``keys``,
``shape``, ``dtype``, ``read_block``, ...): values come back as float32 exactly as a saved
checkpoint of the same weights gives them (fp16/bf16 upcasts are exact), so an analysis of it
equals the analysis of the checkpoint file. Reads gather the requested rows and columns on the
tensor's device; nothing else is copied.

:func:`take_snapshot` is the hand-over of a training step: it copies the sub-blocks that a
recorded read plan asks for (per tensor, the union of the requested rows x columns) into a
:class:`WeightSnapshot`, which holds no reference to the live tensors and serves the analysis
from memory on another thread while training goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mfa_engine.checkpoints.gather import as_index
from mfa_engine.errors import CheckpointError, ConfigError

__all__ = ["StateDictCheckpoint", "WeightSnapshot", "model_state", "take_snapshot"]

_FLOAT = frozenset({"float64", "float32", "float16", "bfloat16"})


def _dtype_name(t: Any) -> str:
    """Canonical dtype name (``"float32"``, ``"bfloat16"``, ...) of a torch tensor or array."""
    dtype = getattr(t, "dtype", None)
    text = str(dtype)
    return text[len("torch."):] if text.startswith("torch.") else str(np.dtype(dtype))


def _unwrap(model: Any) -> Any:
    """The module under DDP/FSDP-style (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    for _ in range(8):
        inner = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
        if inner is None or inner is model:
            return model
        model = inner
    return model


def model_state(model: Any, config: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The named tensors and the config dict of a model.

    Args:
        model: A ``torch.nn.Module`` (a transformers model, possibly wrapped by DDP or
            ``torch.compile``), or a mapping of names to tensors.
        config: The model's ``config.json`` as a dict; default ``model.config.to_dict()``.

    Returns:
        ``(tensors, config)``; ``tensors`` are the live tensors of ``state_dict()`` (no copy).

    Raises:
        ConfigError: No config is given and the model has none, or it names no ``model_type``.
    """
    if isinstance(model, Mapping):
        tensors = dict(model)
    else:
        model = _unwrap(model)
        tensors = dict(model.state_dict(keep_vars=False))
        if config is None and getattr(model, "config", None) is not None:
            config = model.config.to_dict()
    if config is None:
        raise ConfigError(f"{type(model).__name__} has no .config; pass config= (the model's "
                          "config.json as a dict with model_type)")
    config = dict(config)
    if not config.get("model_type"):
        raise ConfigError("the model's config has no model_type; expected one of the supported "
                          "architectures (gpt_neox, gpt2, llama, bert)")
    return tensors, config


class StateDictCheckpoint:
    """Live in-memory weights behind the checkpoint read contract.

    Args:
        tensors: Name -> tensor (torch, any device) or NumPy array. Not copied.
        config: The config dict (``model_type`` and the shape fields).
        path: Name used in messages (a run name); not a file.
        step: Training step of the weights.
    """

    def __init__(self, tensors: Mapping[str, Any], config: Mapping[str, Any], *,
                 path: str | Path = "<in-memory model>", step: int | None = None) -> None:
        self.tensors = dict(tensors)
        self.config = dict(config)
        self.model_type = str(self.config.get("model_type") or "")
        self.path = Path(path)
        self.step = step
        self.revision = None
        self.commit = None

    def keys(self) -> list[str]:
        """All tensor names, sorted."""
        return sorted(self.tensors)

    def __contains__(self, name: object) -> bool:
        return name in self.tensors

    def _tensor(self, name: str) -> Any:
        try:
            return self.tensors[name]
        except KeyError:
            raise CheckpointError(f"tensor {name!r} not found in the in-memory model {self.path} "
                                  f"({len(self.tensors)} tensors)") from None

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of tensor ``name``."""
        return tuple(int(d) for d in self._tensor(name).shape)

    def dtype(self, name: str) -> str:
        """Dtype of ``name`` as a canonical name (``"float32"``, ``"bfloat16"``, ...)."""
        return _dtype_name(self._tensor(name))

    def gather(self, name: str, rows: Any, cols: Any) -> np.ndarray:
        """``tensor[rows][:, cols]`` of a 2-D floating-point tensor as a new float32 array.

        The rows and columns are selected on the tensor's device; only the result is copied to
        host memory. Values are not checked (see :meth:`read_block`).

        Raises:
            CheckpointError: Not a 2-D floating-point tensor, or an index out of range.
        """
        t = self._tensor(name)
        dtype = _dtype_name(t)
        if dtype not in _FLOAT:
            raise CheckpointError(f"tensor {name!r} is stored as {dtype}; expected a floating-point weight")
        if len(t.shape) != 2:
            raise CheckpointError(f"tensor {name!r} has shape {tuple(t.shape)}; read_block expects a 2-D tensor")
        r = as_index(rows, int(t.shape[0]), f"rows of tensor {name!r} {tuple(t.shape)}")
        c = as_index(cols, int(t.shape[1]), f"columns of tensor {name!r} {tuple(t.shape)}")
        if isinstance(t, np.ndarray):
            return np.array(t[np.ix_(r, c)], dtype=np.float32)
        import torch

        with torch.no_grad():
            dev = t.device
            block = t.detach().index_select(0, torch.from_numpy(r).to(dev))
            block = block.index_select(1, torch.from_numpy(c).to(dev))
            return block.to(torch.float32).cpu().numpy().copy()

    def read_block(self, name: str, rows: Any, cols: Any) -> np.ndarray:
        """``tensor[rows][:, cols]`` as float32 ``[len(rows), len(cols)]``.

        Raises:
            CheckpointError: As :meth:`gather`, or the values read hold NaN/inf.
        """
        return _check_finite(name, self.gather(name, rows, cols), self.path)

    def read_rows(self, name: str, rows: Any) -> np.ndarray:
        """Rows of a 2-D tensor as float32 ``[len(rows), m]``."""
        return self.read_block(name, rows, np.arange(self.shape(name)[1]))

    def read(self, name: str) -> np.ndarray:
        """A whole 2-D tensor as float32."""
        n, m = self.shape(name)
        return self.read_block(name, np.arange(n), np.arange(m))

    def close(self) -> None:
        """Nothing to release (the tensors belong to the model)."""



def _check_finite(name: str, values: np.ndarray, where: Path) -> np.ndarray:
    if values.size and not np.isfinite(values).all():
        raise CheckpointError(f"tensor {name!r} of {where} has {int((~np.isfinite(values)).sum())} "
                              "NaN/inf values in the data read; expected finite weights")
    return values


class WeightSnapshot:
    """Copied sub-blocks of a model's weights, served with the checkpoint read contract.

    Holds, per tensor, sorted unique rows and columns and the float32 block of their product;
    any ``read_block`` inside those rows and columns is served (the finite check is made on the
    served values, as a checkpoint file does). Metadata (keys, shapes, dtypes, config) is a
    copy, so the snapshot is independent of the live model.

    Attributes:
        nbytes: Bytes of the held blocks.
    """

    def __init__(self, source: StateDictCheckpoint,
                 blocks: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        self.config = dict(source.config)
        self.model_type = source.model_type
        self.path = source.path
        self.step = source.step
        self.revision = None
        self.commit = None
        names = source.keys()
        self._shapes = {k: source.shape(k) for k in names}
        self._dtypes = {k: source.dtype(k) for k in names}
        self._blocks = blocks
        self.nbytes = int(sum(b.nbytes for _, _, b in blocks.values()))

    def keys(self) -> list[str]:
        """All tensor names of the model, sorted."""
        return sorted(self._shapes)

    def __contains__(self, name: object) -> bool:
        return name in self._shapes

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of tensor ``name`` in the model."""
        if name not in self._shapes:
            raise CheckpointError(f"tensor {name!r} not found in the in-memory model {self.path}")
        return self._shapes[name]

    def dtype(self, name: str) -> str:
        """Dtype name of tensor ``name`` in the model."""
        self.shape(name)
        return self._dtypes[name]

    def read_block(self, name: str, rows: Any, cols: Any) -> np.ndarray:
        """``tensor[rows][:, cols]`` as float32, from the copied block.

        Raises:
            CheckpointError: The snapshot does not hold those rows or columns (the read was not
                in the recorded plan), or the values hold NaN/inf.
        """
        shape = self.shape(name)
        if name not in self._blocks or len(shape) != 2:
            raise CheckpointError(f"tensor {name!r} was not copied into the snapshot of step {self.step}; "
                                  "only the reads recorded by the analysis plan are held")
        held_r, held_c, block = self._blocks[name]
        r = as_index(rows, shape[0], f"rows of tensor {name!r} {shape}")
        c = as_index(cols, shape[1], f"columns of tensor {name!r} {shape}")
        pr, pc = np.searchsorted(held_r, r), np.searchsorted(held_c, c)
        ok_r = pr < held_r.size
        ok_c = pc < held_c.size
        if not (ok_r.all() and ok_c.all() and np.array_equal(held_r[pr], r) and np.array_equal(held_c[pc], c)):
            raise CheckpointError(f"read of tensor {name!r} outside the rows/columns copied into the "
                                  f"snapshot of step {self.step}; only recorded reads are held")
        return _check_finite(name, block[np.ix_(pr, pc)], self.path)

    def read_rows(self, name: str, rows: Any) -> np.ndarray:
        """Rows of a 2-D tensor (served only if the snapshot holds every column)."""
        return self.read_block(name, rows, np.arange(self.shape(name)[1]))

    def read(self, name: str) -> np.ndarray:
        """A whole 2-D tensor (served only if the snapshot holds all of it)."""
        n, m = self.shape(name)
        return self.read_block(name, np.arange(n), np.arange(m))

    def close(self) -> None:
        """Nothing to release."""



def take_snapshot(source: StateDictCheckpoint,
                  requests: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> WeightSnapshot:
    """Copy what a recorded read plan asks for out of the live weights.

    Args:
        source: The live weights.
        requests: ``(name, rows, cols)`` of a read plan
            (:func:`mfa_engine.checkpoints.prefetch.record_requests`).

    Returns:
        The snapshot: per tensor the block of the union of requested rows x columns.
    """
    wanted: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for name, r, c in requests:
        rs, cs = wanted.setdefault(name, ([], []))
        rs.append(np.asarray(r, dtype=np.int64).reshape(-1))
        cs.append(np.asarray(c, dtype=np.int64).reshape(-1))
    blocks = {}
    for name, (rs, cs) in wanted.items():
        rows, cols = np.unique(np.concatenate(rs)), np.unique(np.concatenate(cs))
        blocks[name] = (rows, cols, source.gather(name, rows, cols))
    return WeightSnapshot(source, blocks)
