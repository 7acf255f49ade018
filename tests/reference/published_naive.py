"""The published NeuroMFA pipeline's sampling and edge list, written naively in Python.

Shared by the reference-mode tests (as an independent oracle) and by the batch benchmarks (as
the published loop they are measured against): global ``np.random`` sampling and an explicit
edge list built by walking the weights in ``named_parameters()`` order with running source /
target id offsets, as the published scripts do; and tau(q) with the published NumPy/SciPy
operations.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

__all__ = ["naive_sample", "naive_edges", "published_arithmetic_tau"]


def naive_sample(n_blocks, h, seed, k=32, k_mlp=64):
    """Published sampling: global ``np.random.seed`` then ``choice`` per block and layer."""
    np.random.seed(seed)
    blocks = []
    for _ in range(n_blocks):
        a = np.random.choice(np.arange(h), k, replace=False)
        base = np.random.choice(np.arange(h), k, replace=False)
        c = np.random.choice(np.arange(h), k, replace=False)
        m = np.random.choice(np.arange(4 * h), k_mlp, replace=False)
        blocks.append((a, base, c, m))
    last = np.random.choice(np.arange(h), k, replace=False)
    return blocks, last


def naive_edges(named_weights, h, blocks, last):
    """Edge list (source id, target id, weight) in the published id scheme.

    ``named_weights`` yields ``(parameter name, 2-D array)`` in ``named_parameters()`` order
    (a generator converting each parameter lazily reproduces the published per-parameter cost).
    """
    xs, ys = 0, h
    edges = []
    for name, w in named_weights:
        parts = name.split(".")
        if "layers" not in parts or name.endswith("bias") or "layernorm" in name:
            continue
        b = int(parts[parts.index("layers") + 1])
        a, base, c, m = blocks[b]
        nxt = blocks[b + 1][0] if b + 1 < len(blocks) else last
        qkv_rows = [int(i) for i in base] + [int(i) + h for i in base] + [int(i) + 2 * h for i in base]
        if name.endswith("query_key_value.weight"):
            src, dst = a, qkv_rows
        elif name.endswith("attention.dense.weight"):
            src, dst = base, c
        elif name.endswith("dense_h_to_4h.weight"):
            src, dst = c, m
        elif name.endswith("dense_4h_to_h.weight"):
            src, dst = m, nxt
        else:
            continue
        n_out, n_in = w.shape
        for i in src:
            for j in dst:
                v = w[int(j)][int(i)]
                if v != 0:
                    edges.append((xs + int(i), ys + int(j), float(v)))
        xs += n_in
        ys += n_out
        if name.endswith("query_key_value.weight"):
            for i in qkv_rows:  # structural edges of weight 1: identity for Q, all for K and V
                for j in base:
                    if i >= h or i == int(j):
                        edges.append((xs + i, ys + int(j), 1.0))
            xs += n_out
            ys += n_out // 3
    return edges


def published_arithmetic_tau(lists, q_list, threshold=150.0):
    """tau with the published NumPy/SciPy operations (Counter + np.round, np.ones count matrix,
    per-q np.power / np.sum over nodes, linregress), for bit-identity checks and the benchmark
    peer."""
    from scipy.stats import linregress

    rows, radii = [], set()
    for lst in lists:
        kept = [d for d in lst if 1 < d <= threshold]
        if len(kept) > 10:
            cnt = Counter(np.round(kept, 0))
            radii.update(cnt.keys())
            rows.append(cnt)
    r = np.array(sorted(radii))
    n = np.ones((len(rows), len(r)))
    for i, cnt in enumerate(rows):
        for j, rr in enumerate(r):
            n[i, j] += sum(c for rad, c in cnt.items() if rad <= rr)
    x = np.log(r / r[-1])
    return [linregress(x, np.log(np.sum(np.power(n / n[:, -1, None], q), axis=0))).slope for q in q_list]
