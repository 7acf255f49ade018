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

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reference.published_naive import naive_edges, naive_sample, published_arithmetic_tau  # noqa: E402

__all__ = ["published_seed", "Q_LIST"]

Q_LIST = [k / 100 for k in range(-300, 301, 10)]


def _lists(edges: list[tuple[int, int, float]]) -> list[list[float]]:
    arr = np.array(edges)  # float64, as the published np.array(edge_list)
    groups: dict[float, list[float]] = {}
    for src, _dst, v in arr:
        groups.setdefault(src, []).append(1.0 / np.abs(v))
    return [groups[k] for k in sorted(groups)]


def _spectrum(lists: list[list[float]], threshold: float) -> tuple[float, float]:
    tau = published_arithmetic_tau(lists, Q_LIST, threshold)
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
    blocks, last = naive_sample(int(model.config.num_hidden_layers), h, seed)
    # Every parameter converted to NumPy in its loaded dtype, one at a time, as published.
    named = ((name, p.detach().cpu().numpy()) for name, p in model.named_parameters())
    edges = naive_edges(named, h, blocks, last)
    del model
    return _spectrum(_lists(edges), threshold)
