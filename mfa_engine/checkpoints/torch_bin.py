"""``pytorch_model.bin`` fallback: torch.load with mmap, exposed as NumPy views (lazy torch)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mfa_engine.errors import CheckpointError

__all__ = ["TorchBinFile"]

# torch dtype name -> (canonical name, dtype of the NumPy view of the storage)
_TORCH_DTYPES: dict[str, tuple[str, str | None]] = {
    "float64": ("float64", None),
    "float32": ("float32", None),
    "float16": ("float16", None),
    "bfloat16": ("bfloat16", "int16"),
    "int64": ("int64", None),
    "int32": ("int32", None),
    "int16": ("int16", None),
    "int8": ("int8", None),
    "uint8": ("uint8", None),
    "bool": ("bool", None),
}


class TensorMeta:
    """Shape and canonical dtype of one tensor of a ``.bin`` file."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype: str) -> None:
        self.shape = shape
        self.dtype = dtype


class TorchBinFile:
    """A PyTorch pickle state dict opened with ``torch.load(mmap=True, weights_only=True)``.

    Tensors stay memory-mapped (zip-format files); they are exposed as NumPy views of their
    storage so that row gathers touch only the requested rows.

    Args:
        path: the ``.bin`` file.

    Raises:
        CheckpointError: the file cannot be loaded or is not a dict of tensors.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._state: dict[str, Any] | None = None
        self.entries: dict[str, TensorMeta] = {}
        for key, tensor in self._load().items():
            dtype = str(tensor.dtype).removeprefix("torch.")
            if dtype not in _TORCH_DTYPES:
                raise CheckpointError(
                    f"tensor {key!r} in {self.path}: unsupported dtype {dtype}, expected one of "
                    f"{', '.join(_TORCH_DTYPES)}"
                )
            self.entries[key] = TensorMeta(tuple(int(s) for s in tensor.shape), dtype)

    def _load(self) -> dict[str, Any]:
        if self._state is not None:
            return self._state
        import torch

        try:
            state = torch.load(self.path, map_location="cpu", mmap=True, weights_only=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise CheckpointError(f"cannot load {self.path}: {exc}") from None
            warnings.warn(
                f"{self.path} is in the legacy (non-zip) torch format and cannot be "
                "memory-mapped; loading it fully into memory",
                stacklevel=3,
            )
            try:
                state = torch.load(self.path, map_location="cpu", weights_only=True)
            except Exception as exc2:  # noqa: BLE001 - any unpickling failure is a bad file
                raise CheckpointError(f"cannot load {self.path}: {exc2}") from None
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
            raise CheckpointError(f"cannot load {self.path}: {exc}") from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(
            state["state_dict"], dict
        ):
            state = state["state_dict"]
        if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()
        ):
            raise CheckpointError(
                f"{self.path} is not a state dict: expected a dict of tensor names to tensors"
            )
        self._state = state
        return state

    def raw(self, key: str) -> np.ndarray:
        """NumPy view of a tensor's storage (bfloat16 as ``uint16`` bit patterns).

        Args:
            key: tensor name present in :attr:`entries`.

        Returns:
            Array of the tensor's shape sharing memory with the mapped file.
        """
        tensor = self._load()[key]
        view_as = _TORCH_DTYPES[self.entries[key].dtype][1]
        if view_as is not None:
            import torch

            return tensor.view(getattr(torch, view_as)).numpy().view(np.uint16)
        return tensor.numpy()

    def close(self) -> None:
        """Drop the loaded state dict (it is reloaded lazily on the next read)."""
        self._state = None
