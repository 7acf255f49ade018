"""Tensor dtypes of checkpoint files and their exact conversion to float32."""

from __future__ import annotations

import numpy as np

__all__ = ["SAFETENSORS_DTYPES", "storage_numpy_dtype", "to_float32"]

# safetensors dtype code -> (canonical name, numpy storage dtype). BF16 is stored as uint16
# and widened bit-exactly in to_float32.
SAFETENSORS_DTYPES: dict[str, tuple[str, np.dtype]] = {
    "F64": ("float64", np.dtype("<f8")),
    "F32": ("float32", np.dtype("<f4")),
    "F16": ("float16", np.dtype("<f2")),
    "BF16": ("bfloat16", np.dtype("<u2")),
    "I64": ("int64", np.dtype("<i8")),
    "I32": ("int32", np.dtype("<i4")),
    "I16": ("int16", np.dtype("<i2")),
    "I8": ("int8", np.dtype("i1")),
    "U64": ("uint64", np.dtype("<u8")),
    "U32": ("uint32", np.dtype("<u4")),
    "U16": ("uint16", np.dtype("<u2")),
    "U8": ("uint8", np.dtype("u1")),
    "BOOL": ("bool", np.dtype("?")),
}


def storage_numpy_dtype(code: str) -> np.dtype:
    """Return the NumPy dtype that holds the raw bytes of a safetensors dtype code.

    Args:
        code: safetensors dtype code such as ``"F32"`` or ``"BF16"``.

    Returns:
        The little-endian NumPy storage dtype (``uint16`` for ``BF16``).

    Raises:
        KeyError: the code is not supported.
    """
    return SAFETENSORS_DTYPES[code][1]


def to_float32(raw: np.ndarray, name: str) -> np.ndarray:
    """Convert raw stored values to float32 (exact for F16, BF16 and F32).

    Args:
        raw: array of any shape in the storage dtype of ``name`` (``uint16`` bit patterns
            for bfloat16).
        name: canonical dtype name (``"float32"``, ``"bfloat16"``, ...).

    Returns:
        float32 array of the same shape (a new array, never a view of ``raw``).
    """
    if name == "bfloat16":
        bits = raw.astype(np.uint32)
        bits <<= 16
        return bits.view(np.float32)
    return np.array(raw, dtype=np.float32, copy=True)
