"""A faithful re-run of the published NeuroMFA pipeline's loop (the peer of the batch benchmarks).

Per (checkpoint, seed), as the published scripts do: ``GPTNeoXForCausalLM.from_pretrained``,
``np.random.seed(seed)`` and ``np.random.choice`` sampling, every parameter of
``named_parameters()`` converted to a NumPy matrix, an explicit Python edge list
``[source id, target id, weight]`` over the sampled pairs with a nonzero weight (ids with
running offsets, structural QKV -> context edges of weight 1), per-source lists of ``1/|w|``,
then the per-node box-growing loops (``Counter(np.round(...))``, an ``np.ones`` count matrix,
``np.power``/``np.sum`` per q, ``scipy.stats.linregress`` per q) and the forward-difference
spectrum. It gives the published numbers bit for bit; it is deliberately slow.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

__all__ = ["published_seed", "Q_LIST"]

Q_LIST = [k / 100 for k in range(-300, 301, 10)]


def _sample(n_blocks: int, h: int, seed: int, k: int = 32, k_mlp: int = 64) -> tuple[list, Any]:
    np.random.seed(seed)
    blocks = []
    for _ in range(n_blocks):
        a = np.random.choice(np.arange(h), k, replace=False)
        base = np.random.choice(np.arange(h), k, replace=False)
        c = np.random.choice(np.arange(h), k, replace=False)
        m = np.random.choice(np.arange(4 * h), k_mlp, replace=False)
        blocks.append((a, base, c, m))
    return blocks, np.random.choice(np.arange(h), k, replace=False)


def _edges(model: Any, h: int, blocks: list, last: Any) -> list[tuple[int, int, float]]:
    xs, ys = 0, h
    edges: list[tuple[int, int, float]] = []
    for name, param in model.named_parameters():
        w = param.detach().cpu().numpy()  # every parameter to NumPy, in its loaded dtype
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
            for i in qkv_rows:  # structural edges: identity for Q rows, all context for K and V
                for j in base:
                    if i >= h or i == int(j):
                        edges.append((xs + i, ys + int(j), 1.0))
            xs += n_out
            ys += n_out // 3
    return edges


def _lists(edges: list[tuple[int, int, float]]) -> list[list[float]]:
    arr = np.array(edges)  # float64, as the published np.array(edge_list)
    groups: dict[float, list[float]] = {}
    for src, _dst, v in arr:
        groups.setdefault(src, []).append(1.0 / np.abs(v))
    return [groups[k] for k in sorted(groups)]


def _spectrum(lists: list[list[float]], threshold: float) -> tuple[float, float]:
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
    from scipy.stats import linregress

    x = np.log(r / r[-1])
    tau = [linregress(x, np.log(np.sum(np.power(n / n[:, -1, None], q), axis=0))).slope for q in Q_LIST]
    alpha = [(tau[j + 1] - tau[j]) / (Q_LIST[j + 1] - Q_LIST[j]) for j in range(len(Q_LIST) - 1)]
    f = [Q_LIST[j] * alpha[j] - tau[j] for j in range(len(Q_LIST) - 1)]
    return float(alpha[int(np.argmax(f))]), float(max(alpha) - min(alpha))


def published_seed(path: str, seed: int, threshold: float = 150.0) -> tuple[float, float]:
    """``(alpha0, width)`` of one (checkpoint, seed), reloading the model as the published loop.

    Args:
        path: GPT-NeoX checkpoint directory.
        seed: The sample's seed.
        threshold: Distance window upper end T.

    Returns:
        ``(alpha0, width)``.
    """
    from transformers import GPTNeoXForCausalLM

    model = GPTNeoXForCausalLM.from_pretrained(path)
    h = int(model.config.hidden_size)
    blocks, last = _sample(int(model.config.num_hidden_layers), h, seed)
    edges = _edges(model, h, blocks, last)
    del model
    return _spectrum(_lists(edges), threshold)
