"""Shape and alignment checks shared by every GPU launcher (Triton and CuPy).

The register-tiled kernels have no bound checks in their K loops, so a launch that breaks the
contract would silently drop rows or read out of bounds; these checks refuse it instead. Light
module: no torch, triton or cupy import (works on torch tensors and CuPy arrays alike).
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_minplus_aligned", "check_csr_round", "check_count"]


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in x.shape)


def _strides_bytes(x: Any) -> tuple[int, ...]:
    if hasattr(x, "element_size"):  # torch: strides in elements
        item = x.element_size()
        return tuple(int(s) * item for s in x.stride())
    return tuple(int(s) for s in x.strides)  # CuPy / NumPy: bytes


def _ptr(x: Any) -> int:
    if hasattr(x, "data_ptr"):
        return int(x.data_ptr())
    return int(x.data.ptr) if hasattr(x, "data") and hasattr(x.data, "ptr") else 0


def _itemsize(x: Any) -> int:
    return int(x.element_size()) if hasattr(x, "element_size") else int(x.itemsize)


def check_minplus_aligned(d: Any, w: Any, out: Any, s_n: int, j_n: int, *, k_tile: int, s_tile: int, j_tile: int,
                          what: str = "launch_aligned") -> None:  # fmt: skip
    """Refuse a min-plus launch whose tensors break the aligned launchers' contract.

    Args:
        d: [K, Sp] distances. w: [K, Jp] edge lengths. out: [Jp, Sp] result.
        s_n: Live sources (<= Sp). j_n: Live targets (<= Jp).
        k_tile: K must be a multiple of it (the K loop has no tail: a partial tile would be dropped).
        s_tile, j_tile: Sp and Jp must be multiples of them.
        what: Launcher name for messages.

    Raises:
        ValueError: Wrong rank or shapes, K / Sp / Jp not multiples of the tile, s_n or j_n out of
            range, mixed dtypes, non-unit column stride, or rows / pointers not 16-byte aligned.
    """
    if len(_shape(d)) != 2 or len(_shape(w)) != 2 or len(_shape(out)) != 2:
        raise ValueError(f"{what}: d, w and out must be 2-D")
    (k_n, sp), (kw, jp) = _shape(d), _shape(w)
    if kw != k_n or _shape(out) != (jp, sp):
        raise ValueError(f"{what}: shapes d {_shape(d)}, w {_shape(w)}, out {_shape(out)} do not match "
                         "d [K, Sp], w [K, Jp], out [Jp, Sp]")  # fmt: skip
    if k_n % k_tile or sp % s_tile or jp % j_tile:
        raise ValueError(f"{what}: K={k_n} must be a multiple of {k_tile}, Sp={sp} of {s_tile}, Jp={jp} of "
                         f"{j_tile} (pad with +inf; a partial K tile would be dropped)")  # fmt: skip
    if not (0 <= s_n <= sp and 0 <= j_n <= jp):
        raise ValueError(f"{what}: s_n={s_n}, j_n={j_n} outside the tensors (Sp={sp}, Jp={jp})")
    if not (d.dtype == w.dtype == out.dtype):
        raise ValueError(f"{what}: d, w and out must share one dtype")
    for name, x in (("d", d), ("w", w), ("out", out)):
        st = _strides_bytes(x)
        if st[1] != _itemsize(x) and _shape(x)[1] > 1 or st[0] % 16 or _ptr(x) % 16:
            raise ValueError(f"{what}: {name} needs unit column stride and 16-byte aligned rows and pointer")


def check_csr_round(indptr: Any, cols: Any, w: Any, bits: Any, act_in: Any, act_out: Any, node_in: Any,
                    node_out: Any, block_s: int, what: str = "csr_relax_round") -> None:  # fmt: skip
    """Refuse a CSR relaxation round with inconsistent shapes (see ``csr_relax_round``).

    Raises:
        ValueError: ``indptr`` not [N + 1], ``cols``/``w`` not [nnz], ``act_*`` not [N, S] like
            ``bits``, or ``node_*`` not [N, ceil(S / block_s)].
    """
    n, s_n = _shape(bits)
    nb = -(-s_n // block_s)
    if _shape(indptr) != (n + 1,) or len(_shape(cols)) != 1 or _shape(w) != _shape(cols):
        raise ValueError(f"{what}: indptr must be [{n + 1}] and cols, w one [nnz] each")
    for name, x, want in (("act_in", act_in, (n, s_n)), ("act_out", act_out, (n, s_n)),
                          ("node_in", node_in, (n, nb)), ("node_out", node_out, (n, nb))):  # fmt: skip
        if _shape(x) != want:
            raise ValueError(f"{what}: {name} is {_shape(x)}, expected {want}")


def check_count(bits: Any, hist: Any, radii: Any, what: str = "count_distances") -> None:
    """Refuse a counting launch whose histogram is not [S, R + 1] for bits [N, S] and radii [R].

    Raises:
        ValueError: On a shape mismatch.
    """
    _n, s_n = _shape(bits)
    r_n = _shape(radii)[0]
    if _shape(hist) != (s_n, r_n + 1):
        raise ValueError(f"{what}: hist is {_shape(hist)}, expected ({s_n}, {r_n + 1})")
