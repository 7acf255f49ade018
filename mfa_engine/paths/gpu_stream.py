"""GPU driver streamed: exact ball counts over level blocks that arrive one at a time.

The in-memory GPU DAG driver (:mod:`mfa_engine.paths.gpu`) takes every block in host memory.
:func:`stream_histogram` takes the :class:`~mfa_engine.layered.LevelBlock` iterator of
:func:`mfa_engine.paths.stream.stream_counts` instead (e.g. :func:`mfa_engine.nin.iter_nin_blocks`,
straight from the checkpoint reader): each block is uploaded as it comes, double-buffered (on
CUDA the next block is read on the host and copied on a side stream while the kernels of the
current block run; two blocks are on the device at most), and the distance panel of the current
and next level stays on the device. Host memory: the block being read; device memory: two
blocks and the panel ``S x (n_l + n_{l+1})``.

Exactness: the float64 pass makes the additions of float64 Dijkstra, so its counts are
identical. When the caller can stream the blocks twice (``blocks`` a callable), the Triton and
CuPy backends first run the float32 kernel with per-source rounding flags (as the in-memory
driver), then recompute the flagged sources exactly in float64 over a second stream of the
blocks (only when a source is flagged; a block with weights outside float32's safe range sends
every source to it). Backend ``torch`` (plain float64 min-plus, CUDA or CPU) runs everywhere,
and the Triton kernels run on CPU tensors under ``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from mfa_engine.errors import ConfigError
from mfa_engine.layered import LevelBlock
from mfa_engine.paths.gpu import _F32_HI, _F32_LO, _PAD, _launcher, _thr32, device_budget

__all__ = ["STREAM_BACKENDS", "stream_histogram", "last_stream_stats"]

#: Backends of :func:`stream_histogram`.
STREAM_BACKENDS = ("triton", "cupy", "torch")
_EPS32 = 2.0**-24
#: float64 elements of the torch backend's broadcast temporary ``[B, k, J]``.
_TMP_ELEMS = 1 << 22

#: Statistics of the last :func:`stream_histogram` call (passes, flagged sources, uploads).
last_stream_stats: dict[str, Any] = {}


def _device() -> Any:
    from mfa_engine._device import torch_device

    return torch_device()


class _Uploads:
    """The blocks of one stream on the device, padded to ``rows(l) x rows(l + 1)`` with +inf.

    Iterating yields ``(block, device tensor)``; the next block is read and its copy started
    only after the caller has launched the work of the current one (CUDA: on a side stream, from
    pinned memory, so the host read and the copy overlap the kernels).
    """

    def __init__(self, blocks: Iterable[LevelBlock], dev: Any, tdt: Any, rows: Callable[[int], int]) -> None:
        import torch

        self.it, self.dev, self.tdt, self.rows = iter(blocks), dev, tdt, rows
        self.copy = torch.cuda.Stream(dev) if dev.type == "cuda" else None
        self.count = 0
        self.out_of_range = False  # a positive weight outside [2^-100, 2^100] (float32 unsafe)

    def _start(self) -> tuple[LevelBlock, Any, Any] | None:
        import torch

        blk = next(self.it, None)
        if blk is None:
            return None
        w = np.asarray(blk.weights)
        pos = w[np.isfinite(w) & (w > 0)]
        if pos.size and (float(pos.min()) < _F32_LO or float(pos.max()) > _F32_HI):
            self.out_of_range = True
        host = torch.from_numpy(np.ascontiguousarray(w, np.float64)).to(self.tdt)
        shape = (self.rows(blk.level), self.rows(blk.level + 1))
        self.count += 1
        if self.copy is None:
            t = torch.full(shape, float("inf"), dtype=self.tdt, device=self.dev)
            t[: w.shape[0], : w.shape[1]] = host
            return blk, t, None
        host = host.pin_memory()
        with torch.cuda.stream(self.copy):
            t = torch.full(shape, float("inf"), dtype=self.tdt, device=self.dev)
            t[: w.shape[0], : w.shape[1]].copy_(host, non_blocking=True)
            ev = torch.cuda.Event()
            ev.record(self.copy)
        return blk, t, (ev, host)

    def __iter__(self) -> Iterator[tuple[LevelBlock, Any]]:
        import torch

        cur = self._start()
        while cur is not None:
            blk, t, sync = cur
            if sync is not None:
                torch.cuda.current_stream(self.dev).wait_event(sync[0])
                t.record_stream(torch.cuda.current_stream(self.dev))
            yield blk, t
            cur = self._start()


def _check_levels(blk: LevelBlock, expect: int, sizes: list[int]) -> None:
    shape = np.shape(blk.weights)
    if blk.level != expect or expect + 1 >= len(sizes) or shape != (sizes[expect], sizes[expect + 1]):
        raise ConfigError(f"stream_histogram: block {expect} expected of shape "
                          f"({sizes[expect] if expect < len(sizes) else '?'}, "
                          f"{sizes[expect + 1] if expect + 1 < len(sizes) else '?'}), got level {blk.level} {shape}")


def _minplus(d: Any, w: Any) -> Any:
    """``min_k d[:, k] + w[k, :]`` ([B, J]), chunked over k to bound the temporary."""
    import torch

    b_n, k_n = d.shape
    out = torch.full((b_n, w.shape[1]), float("inf"), dtype=d.dtype, device=d.device)
    step = max(1, _TMP_ELEMS // max(b_n * w.shape[1], 1))
    for k0 in range(0, k_n, step):
        out = torch.minimum(out, (d[:, k0 : k0 + step, None] + w[None, k0 : k0 + step, :]).amin(dim=1))
    return out


def _torch_pass(sizes, blocks, src, lvl, off, rs):
    """float64 min-plus in torch, source-major panel; hist int64 [S, R + 1] (bucket: radii < d)."""
    import torch

    dev = _device()
    s_n, r_n = src.size, rs.size
    rs_t = torch.as_tensor(rs, dtype=torch.float64, device=dev)
    hist = torch.zeros((s_n, r_n + 1), dtype=torch.int64, device=dev)
    upto = np.searchsorted(lvl, np.arange(len(sizes)), side="right")
    cur = torch.full((s_n, sizes[0]), float("inf"), dtype=torch.float64, device=dev)
    _place(cur, src, lvl, off, 0, node_major=False)
    rmax = float(rs[-1])
    up = _Uploads(blocks, dev, torch.float64, lambda l: sizes[l])
    level = 0
    for blk, w in up:
        _check_levels(blk, level, sizes)
        a, nb = int(upto[level]), sizes[level + 1]
        nxt = torch.full((s_n, nb), float("inf"), dtype=torch.float64, device=dev)
        if a and nb:
            out = _minplus(cur[:a], w)
            out = torch.where(out > rmax, float("inf"), out)
            nxt[:a] = out
            fin = torch.isfinite(out)
            b = torch.searchsorted(rs_t, torch.where(fin, out, torch.zeros_like(out)).contiguous(), side="left")
            b = torch.where(fin, b, torch.full_like(b, r_n))
            hist[:a].scatter_add_(1, b, torch.ones_like(b))
        level += 1
        _place(nxt, src, lvl, off, level, node_major=False)
        cur = nxt
    _check_end(level, sizes)
    return hist.cpu().numpy(), np.zeros(s_n, bool), up


def _place(panel: Any, src: np.ndarray, lvl: np.ndarray, off: np.ndarray, level: int, node_major: bool) -> None:
    """Distance 0 for the sources of ``level`` (source-major ``[S, n]`` or node-major ``[n, Sp]``)."""
    import torch

    idx = np.flatnonzero(lvl == level)
    if idx.size:
        cols = torch.as_tensor(idx, device=panel.device)
        rows = torch.as_tensor(src[idx] - off[level], device=panel.device)
        if node_major:
            panel[rows, cols] = 0.0
        else:
            panel[cols, rows] = 0.0


def _check_end(level: int, sizes: list[int]) -> None:
    if level != max(len(sizes) - 1, 0):
        raise ConfigError(f"stream_histogram: the stream ended after {level} blocks, expected {len(sizes) - 1}")


def _kernel_pass(sizes, blocks, src, lvl, off, rs, backend, dtype, thr, with_flags):
    """One pass of the aligned min-plus kernel over node-major padded panels ``[rows_l, Sp]``.

    Returns (hist int64 [S, R + 1], flags bool [S], uploads).
    """
    import torch

    dev = _device()
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    s_n, r_n = src.size, rs.size
    sp = -(-s_n // _PAD) * _PAD
    psize = [-(-n // _PAD) * _PAD for n in sizes]
    item = 8 if dtype == np.float64 else 4
    pairs = list(zip(psize[:-1], psize[1:]))
    need = item * (2 * max((a * b for a, b in pairs), default=0) + sp * max((a + b for a, b in pairs), default=0))
    if dev.type == "cuda" and need > device_budget(dev):
        raise ConfigError(f"stream_histogram: {s_n} sources need about {need / 1e9:.2f} GB of device memory (two "
                          f"blocks and the panel), above the {device_budget(dev) / 1e9:.2f} GB free for it; "
                          "give fewer sources per call")
    radii_t = torch.as_tensor(rs, dtype=tdt, device=dev)
    h_t = torch.zeros((sp, r_n + 1), dtype=torch.int32, device=dev)
    f_t = torch.zeros(sp, dtype=torch.int8, device=dev)
    g_t = torch.zeros(sp, dtype=torch.float32, device=dev)
    g_t[:s_n] = torch.as_tensor(lvl * _EPS32, dtype=torch.float32, device=dev)
    upto = np.searchsorted(lvl, np.arange(len(sizes)), side="right")
    launch = _launcher(backend, dtype)
    cur = torch.full((psize[0], sp), float("inf"), dtype=tdt, device=dev)
    _place(cur, src, lvl, off, 0, node_major=True)
    up = _Uploads(blocks, dev, tdt, lambda l: psize[l])
    level = 0
    for blk, w in up:
        _check_levels(blk, level, sizes)
        b = level + 1
        nxt = torch.full((psize[b], sp), float("inf"), dtype=tdt, device=dev)
        a = int(upto[level])
        if a and sizes[b]:
            launch(cur, w, nxt, a, sizes[b], thr=thr, accumulate=False, finalize=True, hist=h_t,
                   flags=f_t if with_flags else None, gsrc=g_t, radii=radii_t, gamma=(b + 2) * _EPS32)
        level = b
        _place(nxt, src, lvl, off, level, node_major=True)
        cur = nxt
    _check_end(level, sizes)
    return h_t[:s_n].cpu().numpy().astype(np.int64), f_t[:s_n].cpu().numpy() != 0, up


def stream_histogram(
    sizes: list[int],
    blocks: Iterable[LevelBlock] | Callable[[], Iterable[LevelBlock]],
    sources: np.ndarray,
    radii: np.ndarray,
    *,
    backend: str = "triton",
) -> np.ndarray:
    """Exact ball counts from level-order sources over a streamed layered network, on a GPU backend.

    The counterpart of :func:`mfa_engine.paths.stream.stream_counts` (same arguments, same
    result) for the device: the panel stays on the device and each block is uploaded as it comes.

    Args:
        sizes: Level sizes ``[n_0, ..., n_L]``.
        blocks: The L blocks in level order, read once (one exact float64 pass); or a callable
            returning a fresh iterable of them each call (Triton and CuPy: a float32 pass with
            rounding flags, then a float64 pass over a second stream for the flagged sources).
        sources: int64 ``[S]`` node ids in level order (``sum(sizes[:l]) + i``).
        radii: float64 ``[R]`` radius grid (any order).
        backend: ``"triton"``, ``"cupy"`` or ``"torch"``.

    Returns:
        int64 ``[S, R]``: ``#{v : d(s, v) <= radii[k]}``, identical to float64 Dijkstra.

    Raises:
        ConfigError: Unknown backend, a block of the wrong level or shape, a stream of the wrong
            length, or (CUDA) sources whose panel does not fit the device.
    """
    if backend not in STREAM_BACKENDS:
        raise ConfigError(f"stream_histogram: backend must be one of {', '.join(STREAM_BACKENDS)}, got {backend!r}")
    sizes = [int(n) for n in sizes]
    src = np.asarray(sources, np.int64).ravel()
    r_in = np.asarray(radii, np.float64).ravel()
    order_r = np.argsort(r_in, kind="stable")
    rs = r_in[order_r]
    off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    if src.size and (src.min() < 0 or src.max() >= off[-1]):
        raise ConfigError(f"stream_histogram: sources must be node ids in [0, {int(off[-1])})")
    lvl = np.searchsorted(off, src, side="right") - 1
    order = np.argsort(lvl, kind="stable")
    src_s, lvl_s = src[order], lvl[order]
    last_stream_stats.clear()
    twice = callable(blocks)
    if src.size == 0 or rs.size == 0 or rs[-1] < 0:  # nothing within any radius: no pass
        for _ in blocks() if twice else blocks:
            pass
        return np.zeros((src.size, rs.size), np.int64)
    rmax = float(rs[-1])
    pos = rs[np.isfinite(rs) & (rs > 0)]
    f32 = twice and backend != "torch" and not (pos.size and (float(pos.min()) < _F32_LO or float(pos.max()) > _F32_HI))
    if backend == "torch":
        hist, _, up = _torch_pass(sizes, blocks() if twice else blocks, src_s, lvl_s, off, rs)
        redo = np.zeros(0, np.int64)
        passes = [("float64", src.size, up.count)]
    elif f32:
        gamma = (len(sizes) + 1) * _EPS32
        thr = _thr32(rmax * (1.0 + gamma)) if rmax > 0 else rmax
        hist, flags, up = _kernel_pass(sizes, blocks(), src_s, lvl_s, off, rs, backend, np.float32, thr, True)
        redo = np.arange(src.size) if up.out_of_range else np.flatnonzero(flags)
        passes = [("float32", src.size, up.count)]
    else:
        hist, _, up = _kernel_pass(sizes, blocks() if twice else blocks, src_s, lvl_s, off, rs, backend, np.float64,
                                   _thr32(rmax), False)
        redo = np.zeros(0, np.int64)
        passes = [("float64", src.size, up.count)]
    if redo.size:  # exact recomputation of the flagged sources, over a second stream
        h64, _, up64 = _kernel_pass(sizes, blocks(), src_s[redo], lvl_s[redo], off, rs, backend, np.float64,
                                    _thr32(rmax), False)
        hist[redo] = h64
        passes.append(("float64", int(redo.size), up64.count))
    last_stream_stats.update(passes=passes, flagged=int(redo.size))
    b0 = int(np.searchsorted(rs, 0.0, side="left"))  # every source at distance 0 from itself
    hist[:, b0] += 1
    cum = np.cumsum(hist[:, :-1], axis=1)
    out = np.empty((src.size, rs.size), np.int64)
    out[np.ix_(order, order_r)] = cum
    return out
