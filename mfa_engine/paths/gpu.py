"""GPU backends (Triton, CuPy): drive the kernels over source batches.

DAG path: per group of sources that start in the same level, one launch per block (a, b) and
target level b, with fused counting after the last block into b. General path: frontier
relaxation rounds until nothing changes, then counting. Both run in float32; sources whose
distances land within the float32 rounding bound of a radius (flags) are recomputed exactly
in float64 on the CPU, so counts match float64 Dijkstra.

Under ``TRITON_INTERPRET=1`` (no GPU) the Triton kernels run on CPU torch tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mfa_engine.paths.cpu import gamma_for
from mfa_engine.paths.dag import DagLevels

__all__ = ["histogram"]

#: float32 entries of the per-batch distance buffer [B, N] on the device.
_BATCH_ELEMS = 1 << 26
_EPS32 = 2.0**-24


def _device() -> Any:
    import torch

    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def _counts_to_hist(counts: np.ndarray) -> np.ndarray:
    s_n, r_n = counts.shape
    hist = np.zeros((s_n, r_n + 1), np.int64)
    if r_n:
        hist[:, 0] = counts[:, 0]
        hist[:, 1:r_n] = np.diff(counts, axis=1)
    return hist


def _launch_step(backend: str, d, w, out, **kw) -> None:
    if backend == "triton":
        from mfa_engine.kernels.layered_minplus import layered_minplus_step

        layered_minplus_step(d, w, out, **kw)
    else:
        from mfa_engine.kernels.cupy_paths import layered_minplus_step

        layered_minplus_step(d, w, out, **kw)


def _launch_relax(backend: str, *args, **kw) -> None:
    if backend == "triton":
        from mfa_engine.kernels.csr_relax import csr_relax_round

        csr_relax_round(*args, **kw)
    else:
        from mfa_engine.kernels.cupy_paths import csr_relax_round

        csr_relax_round(*args, **kw)


def _dag(levels: DagLevels, src: np.ndarray, radii: np.ndarray, backend: str, want_dist: bool):
    import torch

    dev = _device()
    s_n, n, r_n = src.size, levels.n_nodes, radii.size
    gamma = gamma_for(levels, np.dtype(np.float32))
    rmax = float(radii[-1])
    thr = rmax * (1.0 + gamma) if rmax > 0 else rmax
    pos = src if levels.inv is None else levels.inv[src]
    lvl = levels.level_of_position(pos)
    counts = np.zeros((s_n, r_n), np.int64)
    flags = np.zeros(s_n, bool)
    dist = np.full((s_n, n), np.inf, np.float32) if want_dist else None
    blocks = [(a, b, torch.as_tensor(blk, dtype=torch.float32, device=dev)) for a, b, blk in levels.blocks]
    radii_t = torch.as_tensor(radii, dtype=torch.float32, device=dev)
    batch = max(1, _BATCH_ELEMS // max(n, 1))
    for l0 in np.unique(lvl):
        rows_all = np.flatnonzero(lvl == l0)
        for start in range(0, rows_all.size, batch):
            rows = rows_all[start : start + batch]
            b_n = rows.size
            base = int(levels.lvl_off[l0])
            buf = torch.full((b_n, n - base), float("inf"), dtype=torch.float32, device=dev)
            col = torch.as_tensor(pos[rows] - base, device=dev)
            if rmax >= 0:
                buf[torch.arange(b_n, device=dev), col] = 0.0
                counts[rows] += (radii >= 0).astype(np.int64)  # the source itself
            c_t = torch.zeros((b_n, r_n), dtype=torch.int64, device=dev)
            f_t = torch.zeros(b_n, dtype=torch.int8, device=dev)
            for b in range(int(l0) + 1, levels.n_levels):
                c0 = int(levels.lvl_off[b]) - base
                c1 = int(levels.lvl_off[b + 1]) - base
                incoming = [(a, w) for a, bb, w in blocks if bb == b and a >= l0]
                if not incoming:
                    continue
                out = buf[:, c0:c1]
                for i, (a, w) in enumerate(incoming):
                    a0 = int(levels.lvl_off[a]) - base
                    a1 = int(levels.lvl_off[a + 1]) - base
                    last = i == len(incoming) - 1
                    _launch_step(
                        backend, buf[:, a0:a1], w, out, thr=thr, accumulate=i > 0, finalize=last,
                        counts=c_t if last else None, flags=f_t if last else None,
                        radii=radii_t if last else None, gamma=gamma,
                    )  # fmt: skip
            counts[rows] += c_t.cpu().numpy()
            flags[rows] |= f_t.cpu().numpy() != 0
            if want_dist:
                d = buf.cpu().numpy()
                d[d > rmax] = np.inf
                dist[rows, base:] = d
    if want_dist and levels.perm is not None:
        out = np.empty_like(dist)
        out[:, levels.perm] = dist
        dist = out
    return _counts_to_hist(counts), flags, dist


def _csr(m, src: np.ndarray, radii: np.ndarray, cutoff: float, backend: str, want_dist: bool):
    import torch

    dev = _device()
    s_n, n, r_n = src.size, m.shape[0], radii.size
    rows = torch.as_tensor(np.repeat(np.arange(n, dtype=np.int64), np.diff(m.indptr)), device=dev)
    cols = torch.as_tensor(m.indices.astype(np.int64), device=dev)
    w = torch.as_tensor(m.data, dtype=torch.float32, device=dev)
    # float32 path sums have at most n - 1 edges: relative error <= (n - 1) u (see cpu.gamma_for)
    gamma = (n + 1) * _EPS32
    thr = cutoff * (1.0 + gamma) if cutoff > 0 else cutoff
    radii_t = torch.as_tensor(radii, dtype=torch.float64, device=dev)
    hist = np.zeros((s_n, r_n + 1), np.int64)
    flags = np.zeros(s_n, bool)
    dist = np.full((s_n, n), np.inf, np.float32) if want_dist else None
    batch = min(65535, max(1, _BATCH_ELEMS // max(n, 1)))  # grid axis 1 = sources
    for start in range(0, s_n, batch):
        sl = slice(start, min(start + batch, s_n))
        b_n = sl.stop - sl.start
        d = torch.full((b_n, n), float("inf"), dtype=torch.float32, device=dev)
        act = torch.zeros((b_n, n), dtype=torch.int8, device=dev)
        idx = torch.arange(b_n, device=dev)
        s_t = torch.as_tensor(src[sl], device=dev)
        if cutoff >= 0:
            d[idx, s_t] = 0.0
            act[idx, s_t] = 1
        changed = torch.zeros(1, dtype=torch.int32, device=dev)
        for _ in range(n):
            nxt = torch.zeros_like(act)
            changed.zero_()
            _launch_relax(backend, rows, cols, w, d, act, nxt, changed, thr=thr)
            act = nxt
            if int(changed.item()) == 0:
                break
        d64 = d.to(torch.float64)
        fin = torch.isfinite(d64) & (d64 <= thr)
        bucket = torch.searchsorted(radii_t, d64.clamp(max=float(np.finfo(np.float64).max)), side="left")
        bucket = torch.where(fin, bucket, torch.full_like(bucket, r_n))
        h = torch.zeros((b_n, r_n + 1), dtype=torch.int64, device=dev)
        h.scatter_add_(1, bucket, torch.ones_like(bucket))
        hist[sl] = h.cpu().numpy()
        near = torch.zeros(b_n, dtype=torch.bool, device=dev)
        for q in range(r_n):
            r = float(radii[q])
            if r > 0 and np.isfinite(r):
                near |= (fin & (d64 >= r * (1 - gamma)) & (d64 <= r * (1 + gamma))).any(dim=1)
        flags[sl] = near.cpu().numpy()
        if want_dist:
            dn = d.cpu().numpy()
            dn[~fin.cpu().numpy()] = np.inf
            dn[dn > cutoff] = np.inf
            dist[sl] = dn
    return hist, flags, dist


def histogram(
    prepared: Any, src: np.ndarray, radii_sorted: np.ndarray, cutoff: float, *, backend: str, want_dist: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Histogram int64 [S, R + 1] (and float32 [S, N] distances) on a GPU backend.

    Args:
        prepared: ("dag", DagLevels) or ("csr", CSR) from ``prepare_graph``.
        src: int64 [S] sources.
        radii_sorted: float64 [R] ascending.
        cutoff: Inclusive cutoff (``radii_sorted[-1]`` when counting).
        backend: "triton" or "cupy".
        want_dist: Also return distances.
    """
    from mfa_engine.paths import cpu

    kind, obj = prepared
    if kind == "dag":
        hist, flags, dist = _dag(obj, src, radii_sorted, backend, want_dist)
    else:
        hist, flags, dist = _csr(obj, src, radii_sorted, cutoff, backend, want_dist)
    redo = np.flatnonzero(flags)
    if redo.size:  # exact float64 recomputation of the ambiguous sources on the CPU
        if kind == "dag":
            h64, d64 = cpu.dag_histogram(obj, src[redo], radii_sorted, want_dist=want_dist, exact=True)
        else:
            h64, d64 = cpu.csr_histogram(obj, src[redo], radii_sorted, cutoff, want_dist=want_dist)
        hist[redo] = h64
        if want_dist:
            dist[redo] = d64
    return hist, dist
