"""Plain torch backend "torch" (float64, exact): min-plus over DAG levels, Bellman-Ford on CSR.

Deliberately simple (no custom kernels): it is the readable specification the fast backends are
checked against, and runs on whatever device torch offers (CUDA if present, else CPU).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mfa_engine._device import torch_device

__all__ = ["histogram"]

#: float64 elements of a broadcast temporary [B, k, J] in the min-plus product.
_TMP_ELEMS = 1 << 22
_BATCH_ELEMS = 1 << 24


def _minplus(d, w):
    """``min_k d[:, k] + w[k, :]`` (float64 [B, J]), chunked over k to bound the temporary."""
    import torch

    b_n, k_n = d.shape
    out = torch.full((b_n, w.shape[1]), float("inf"), dtype=d.dtype, device=d.device)
    step = max(1, _TMP_ELEMS // max(b_n * w.shape[1], 1))
    for k0 in range(0, k_n, step):
        part = (d[:, k0 : k0 + step, None] + w[None, k0 : k0 + step, :]).amin(dim=1)
        out = torch.minimum(out, part)
    return out


def _hist(d, radii_t, r_n: int):
    import torch

    fin = torch.isfinite(d)
    bucket = torch.searchsorted(radii_t, torch.where(fin, d, torch.zeros_like(d)).contiguous(), side="left")
    bucket = torch.where(fin, bucket, torch.full_like(bucket, r_n))
    h = torch.zeros((d.shape[0], r_n + 1), dtype=torch.int64, device=d.device)
    h.scatter_add_(1, bucket, torch.ones_like(bucket))
    return h


def histogram(
    prepared: Any, src: np.ndarray, radii_sorted: np.ndarray, cutoff: float, *, want_dist: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Histogram int64 [S, R + 1] (bucket k = first radius >= d) and optional float32 [S, N].

    Args:
        prepared: ("dag", DagLevels) or ("csr", CSR) from ``prepare_graph``.
        src: int64 [S] sources.
        radii_sorted: float64 [R] ascending.
        cutoff: Inclusive cutoff.
        want_dist: Also return distances.
    """
    import torch

    dev = torch_device()
    kind, obj = prepared
    n = obj.n_nodes if kind == "dag" else obj.shape[0]
    s_n, r_n = src.size, radii_sorted.size
    radii_t = torch.as_tensor(radii_sorted, dtype=torch.float64, device=dev)
    hist = np.zeros((s_n, r_n + 1), np.int64)
    dist = np.full((s_n, n), np.inf, np.float32) if want_dist else None
    inf = float("inf")
    if kind == "dag":
        lv = obj
        pos = src if lv.inv is None else lv.inv[src]
        lvl = lv.level_of_position(pos)
        blocks = [(a, b, torch.as_tensor(w, dtype=torch.float64, device=dev)) for a, b, w in lv.blocks]
        for l0 in np.unique(lvl):
            rows = np.flatnonzero(lvl == l0)
            d = torch.full((rows.size, n), inf, dtype=torch.float64, device=dev)
            if cutoff >= 0:
                d[torch.arange(rows.size, device=dev), torch.as_tensor(pos[rows], device=dev)] = 0.0
            for b in range(int(l0) + 1, lv.n_levels):
                c0, c1 = int(lv.lvl_off[b]), int(lv.lvl_off[b + 1])
                for a, bb, w in blocks:
                    if bb == b and a >= l0:
                        a0, a1 = int(lv.lvl_off[a]), int(lv.lvl_off[a + 1])
                        d[:, c0:c1] = torch.minimum(d[:, c0:c1], _minplus(d[:, a0:a1], w))
                d[:, c0:c1] = torch.where(d[:, c0:c1] > cutoff, inf, d[:, c0:c1])
            hist[rows] = _hist(d, radii_t, r_n).cpu().numpy()
            if want_dist:
                dist[rows] = d.cpu().numpy()
        if want_dist and lv.perm is not None:
            out = np.empty_like(dist)
            out[:, lv.perm] = dist
            dist = out
        return hist, dist
    m = obj
    rows_e = torch.as_tensor(np.repeat(np.arange(n, dtype=np.int64), np.diff(m.indptr)), device=dev)
    cols_e = torch.as_tensor(m.indices.astype(np.int64), device=dev)
    w_e = torch.as_tensor(m.data, dtype=torch.float64, device=dev)
    batch = max(1, _BATCH_ELEMS // max(n, 1))
    for start in range(0, s_n, batch):
        sl = slice(start, min(start + batch, s_n))
        b_n = sl.stop - sl.start
        d = torch.full((b_n, n), inf, dtype=torch.float64, device=dev)
        if cutoff >= 0:
            d[torch.arange(b_n, device=dev), torch.as_tensor(src[sl], device=dev)] = 0.0
        for _ in range(max(n, 1)):
            cand = d[:, rows_e] + w_e[None, :]
            cand = torch.where(cand > cutoff, inf, cand)
            new = d.scatter_reduce(1, cols_e[None, :].expand(b_n, -1), cand, reduce="amin")
            if torch.equal(new, d):
                break
            d = new
        hist[sl] = _hist(d, radii_t, r_n).cpu().numpy()
        if want_dist:
            dist[sl] = d.cpu().numpy()
    return hist, dist
