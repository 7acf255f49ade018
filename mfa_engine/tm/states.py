"""Three-state labels of reference activations, packed 2 bits per element.

Codes: 0 = neg (ref <= neg_thr), 1 = neutral, 2 = pos (ref >= pos_thr), 3 = padding (ignored by
the loss). Packing is row-major over the flat element index ``i``: byte ``i >> 2`` holds the
element at bits ``2 * (i & 3)``; unused trailing slots hold 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mfa_engine.errors import ConfigError

__all__ = [
    "NEG",
    "NEUTRAL",
    "POS",
    "PAD",
    "PackedStates",
    "pack_states",
    "unpack_states",
    "states_from_reference",
    "codes_from_reference",
    "packed_nbytes",
]

NEG, NEUTRAL, POS, PAD = 0, 1, 2, 3

_SHIFTS = (0, 2, 4, 6)


def packed_nbytes(numel: int) -> int:
    """Bytes needed to pack ``numel`` states (4 per byte)."""
    return (int(numel) + 3) // 4


@dataclass(frozen=True)
class PackedStates:
    """States packed 2 bits per element.

    Attributes:
        data: ``uint8 [ceil(prod(shape) / 4)]`` packed codes (any device).
        shape: shape of the unpacked code tensor, e.g. ``(B, T, H)``.
    """

    data: torch.Tensor
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.data.dtype != torch.uint8 or self.data.dim() != 1:
            raise ConfigError(
                f"PackedStates.data must be a 1-D uint8 tensor, got {self.data.dtype} {tuple(self.data.shape)}"
            )
        need = packed_nbytes(int(np.prod(self.shape, dtype=np.int64)))
        if self.data.numel() != need:
            raise ConfigError(f"PackedStates.data has {self.data.numel()} bytes, shape {self.shape} needs {need}")

    @property
    def numel(self) -> int:
        """Number of packed elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """Bytes of packed data."""
        return int(self.data.numel())

    @property
    def device(self) -> torch.device:
        return self.data.device

    def to(self, device: Any) -> PackedStates:
        """Copy to ``device``."""
        return PackedStates(self.data.to(device), self.shape)

    def unpack(self) -> torch.Tensor:
        """Codes as ``int8`` of :attr:`shape`."""
        return unpack_states(self)


def pack_states(codes: torch.Tensor | np.ndarray) -> PackedStates:
    """Pack integer codes (0 = neg, 1 = neutral, 2 = pos, 3 = padding) 2 bits per element.

    Args:
        codes: integer tensor or array of any shape with values in 0..3.

    Returns:
        PackedStates with ``shape == codes.shape`` on the codes' device.
    """
    if isinstance(codes, np.ndarray):
        codes = torch.from_numpy(np.ascontiguousarray(codes))
    if codes.dtype.is_floating_point or codes.dtype == torch.bool:
        raise TypeError(f"pack_states expects integer codes, got {codes.dtype}")
    shape = tuple(codes.shape)
    flat = codes.reshape(-1)
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) > 3):
        raise ConfigError("state codes must be in 0..3 (0=neg, 1=neutral, 2=pos, 3=padding)")
    flat = flat.to(torch.uint8)
    pad = (-flat.numel()) % 4
    if pad:
        flat = torch.cat([flat, torch.full((pad,), PAD, dtype=torch.uint8, device=flat.device)])
    q = flat.view(-1, 4)
    data = q[:, 0] | (q[:, 1] << 2) | (q[:, 2] << 4) | (q[:, 3] << 6)
    return PackedStates(data.contiguous(), shape)


def unpack_byte_range(data: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Codes of flat elements ``[start, stop)`` of packed ``data`` as ``uint8 [stop - start]``."""
    b0, b1 = start >> 2, (stop + 3) >> 2
    chunk = data[b0:b1]
    shifts = torch.tensor(_SHIFTS, dtype=torch.uint8, device=data.device)
    codes = ((chunk[:, None] >> shifts[None, :]) & 3).reshape(-1)
    return codes[start - 4 * b0 : stop - 4 * b0]


def unpack_states(packed: PackedStates) -> torch.Tensor:
    """Inverse of :func:`pack_states`: ``int8`` codes of ``packed.shape``."""
    return unpack_byte_range(packed.data, 0, packed.numel).to(torch.int8).reshape(packed.shape)


def codes_from_reference(
    ref_hidden: torch.Tensor, pos_thr: Any, neg_thr: Any
) -> torch.Tensor:
    """Per-element state codes of reference activations.

    Args:
        ref_hidden: ``[..., H]`` reference hidden states (compared in float32, or float64 if given).
        pos_thr: ``[H]`` upper thresholds.
        neg_thr: ``[H]`` lower thresholds.

    Returns:
        ``int8 [..., H]``: 0 where ref <= neg, 2 where ref >= pos (neg wins a double tie), else 1.
    """
    dt = torch.float64 if ref_hidden.dtype == torch.float64 else torch.float32
    ref = ref_hidden.to(dt)
    pos = torch.as_tensor(pos_thr, device=ref.device).to(dt)
    neg = torch.as_tensor(neg_thr, device=ref.device).to(dt)
    codes = torch.full(ref.shape, NEUTRAL, dtype=torch.int8, device=ref.device)
    codes[ref >= pos] = POS
    codes[ref <= neg] = NEG
    return codes


def states_from_reference(ref_hidden: torch.Tensor, pos_thr: Any, neg_thr: Any) -> PackedStates:
    """Packed states of reference activations (see :func:`codes_from_reference`)."""
    return pack_states(codes_from_reference(ref_hidden, pos_thr, neg_thr))
