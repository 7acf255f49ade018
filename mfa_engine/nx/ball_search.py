"""Shortest-path balls of many sources as dicts, in batches: the float fast path or the ordered search."""

from __future__ import annotations

from collections.abc import Hashable, Iterator

import numpy as np

from mfa_engine.nx import results
from mfa_engine.nx.float_results import float_ball_dicts
from mfa_engine.nx.graph import MfaGraph
from mfa_engine.nx.results import ball_dict, balls, batch_size, values

__all__ = ["ball_dicts"]


def ball_dicts(
    g: MfaGraph, sources: list[Hashable], cutoff: float, data: np.ndarray, integral: bool | np.ndarray
) -> Iterator[tuple[Hashable, dict]]:
    """``(source, {label: distance})`` for each source: a first batch of ``results.BATCH`` sources,
    then batches sized to hold about ``results.BATCH_ENTRIES`` settled nodes. Float weights take
    the fast searches of :mod:`mfa_engine.nx.float_results` (ties rerun exactly), other
    weights the ordered search."""
    if integral is False and cutoff >= 0:
        yield from float_ball_dicts(g, sources, cutoff, data)
        return
    hint = [64]
    eint = integral if isinstance(integral, np.ndarray) else None
    b, size = 0, results.BATCH
    while b < len(sources):
        chunk = sources[b : b + size]
        res = balls(g, [[g.index[s]] for s in chunk], cutoff, data, -1, eint, hint)
        for s, (rows, dist, fl) in zip(chunk, res):
            yield s, ball_dict(g, rows, values(dist, integral, fl), 1)
        b += len(chunk)
        size = batch_size(hint, results.BATCH_ENTRIES)
