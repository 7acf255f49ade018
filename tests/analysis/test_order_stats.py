"""Exact streamed order statistics (radix selection over two passes) against np.sort / np.median."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.analysis.order_stats import KEY_BITS, median_of, median_ranks, order_statistics


def _passes(chunks: list[np.ndarray]):
    seen = []

    def passes():
        seen.append(1)
        rng = np.random.default_rng(len(seen))
        return [chunks[i] for i in rng.permutation(len(chunks))]  # another order every pass

    return passes, seen


def _median(chunks: list[np.ndarray]) -> float:
    passes, _ = _passes(chunks)
    return median_of(order_statistics(passes, median_ranks))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 1000, 1001, 65_537])
@pytest.mark.parametrize("kind", ["reciprocal_f32", "uniform", "ties", "zeros", "tiny"])
def test_median_is_numpy_median(n: int, kind: str) -> None:
    rng = np.random.default_rng(n)
    if kind == "reciprocal_f32":  # the distances 1/|w| of float32 weights
        v = 1.0 / np.abs(rng.normal(0, 0.02, n).astype(np.float32).astype(np.float64))
    elif kind == "uniform":
        v = rng.uniform(0, 1e6, n)
    elif kind == "ties":
        v = rng.integers(0, 3, n).astype(np.float64) * 0.5
    elif kind == "zeros":
        v = np.where(rng.random(n) < 0.6, 0.0, rng.uniform(1, 2, n))
    else:  # subnormal and huge values together
        v = np.where(rng.random(n) < 0.5, 5e-324 * rng.integers(1, 9, n), 1e300 * rng.random(n))
    chunks = np.array_split(v, max(1, n // 97))
    assert _median(chunks) == float(np.median(v))


def test_every_rank_is_the_sorted_value() -> None:
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.uniform(0, 1, 500), np.full(40, 0.25), [0.0, 0.0, 1e-310]])
    passes, seen = _passes(np.array_split(v, 7))
    ranks = [0, 1, 2, 100, 250, 271, 541, v.size - 1]
    assert order_statistics(passes, lambda n: ranks) == [float(x) for x in np.sort(v)[ranks]]
    assert len(seen) == 2  # two passes over the chunks


def test_values_of_one_bucket_split_at_the_rank() -> None:
    """Many distinct values within one bucket of the first pass (same top bits)."""
    base = np.float64(1.5).view(np.uint64)
    v = (base + np.arange(1000, dtype=np.uint64) * np.uint64(7)).view(np.float64)
    assert len(np.unique(v.view(np.uint64) >> np.uint64(64 - KEY_BITS))) == 1
    v = np.random.default_rng(1).permutation(v)
    assert _median(np.array_split(v, 9)) == float(np.median(v))


def test_bad_values_and_ranks_are_errors() -> None:
    with pytest.raises(ValueError, match="finite and >= 0"):
        order_statistics(lambda: [np.array([1.0, np.nan])], median_ranks)
    with pytest.raises(ValueError, match="finite and >= 0"):
        order_statistics(lambda: [np.array([-1.0])], median_ranks)
    with pytest.raises(ValueError, match=r"outside \[0, 2\)"):
        order_statistics(lambda: [np.array([1.0, 2.0])], lambda n: [2])
    assert order_statistics(lambda: [np.zeros(0)], median_ranks) == []
    assert median_ranks(0) == [] and median_ranks(5) == [2] and median_ranks(4) == [1, 2]


def test_chunks_of_distinct_values_with_counts_equal_the_expanded_values() -> None:
    """A chunk may be (values, counts): the order statistics are those of the values repeated."""
    rng = np.random.default_rng(7)
    u = np.unique(rng.random(300) * 5.0)
    c = rng.integers(0, 9, u.size)
    plain = rng.random(101)
    full = np.sort(np.concatenate([np.repeat(u, c), plain]))
    ranks = [0, full.size // 2 - 1, full.size // 2, full.size - 1]
    got = order_statistics(lambda: iter([(u[:150], c[:150]), plain, (u[150:], c[150:])]), lambda n: ranks)
    assert got == [float(full[r]) for r in ranks]
    with pytest.raises(ValueError, match="one count >= 0 per value"):
        order_statistics(lambda: iter([(u, c[:-1])]), lambda n: [0])
