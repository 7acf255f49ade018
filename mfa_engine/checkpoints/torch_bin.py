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


def _reason(exc: BaseException) -> str:
    """One line from a torch.load failure (torch's multi-line weights_only advice dropped)."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "Weights only load failed" in text or "weights_only" in text:
        core = next((line for line in lines if "Unsupported global" in line or "Unsupported operand" in line),
                    None)
        detail = f" ({core.split(' Please ')[0].split(' by default')[0][:160]})" if core else ""
        return f"it holds objects other than tensors{detail}; expected a state dict of tensors"
    reason = lines[0] if lines else type(exc).__name__
    return reason[:200]


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
        self._identity: tuple[int, int] = (0, 0)
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
        try:
            size = self.path.stat().st_size
        except OSError as exc:
            raise CheckpointError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        if size == 0:
            raise CheckpointError(f"{self.path} is empty (0 bytes); expected a torch state dict")
        self._identity = (self.path.stat().st_ino, size)
        import torch

        try:
            state = torch.load(self.path, map_location="cpu", mmap=True, weights_only=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc) or "Weights only load failed" in str(exc):
                raise CheckpointError(f"cannot load {self.path}: {_reason(exc)}") from None
            warnings.warn(
                f"{self.path} is in the legacy (non-zip) torch format and cannot be "
                "memory-mapped; loading it fully into memory",
                stacklevel=3,
            )
            try:
                state = torch.load(self.path, map_location="cpu", weights_only=True)
            except Exception as exc2:  # noqa: BLE001 - any unpickling failure is a bad file
                raise CheckpointError(f"cannot load {self.path}: {_reason(exc2)}") from None
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
            raise CheckpointError(f"cannot load {self.path}: {_reason(exc)}") from None
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
        self._check_unchanged()
        view_as = _TORCH_DTYPES[self.entries[key].dtype][1]
        if view_as is not None:
            import torch

            return tensor.view(getattr(torch, view_as)).numpy().view(np.uint16)
        return tensor.numpy()

    def _check_unchanged(self) -> None:
        """Refuse to touch the mapped tensors of a file that shrank or was replaced since it was
        loaded (reading them would fault with SIGBUS). A change between this check and the read
        is not caught: torch maps the file itself."""
        try:
            st = self.path.stat()
        except OSError as exc:
            raise CheckpointError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        if (st.st_ino, st.st_size) != self._identity:
            raise CheckpointError(
                f"{self.path} changed or was truncated while being read (now {st.st_size} bytes, "
                f"{self._identity[1]} when loaded); expected an unchanged file"
            )

    def close(self) -> None:
        """Drop the loaded state dict (it is reloaded lazily on the next read)."""
        self._state = None
