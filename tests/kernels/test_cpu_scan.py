"""Unit tests of the numba value scans and fingerprint hash (mfa_engine.kernels.cpu_scan) against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.kernels import cpu_scan as sc


def test_scan_values_weight_range_and_cast_range() -> None:
    x = np.array([0.0, 2.5, 1e-3, 7.0])
    assert sc.scan_values(x) == (False, False, False)
    assert sc.scan_values(np.array([1.0, np.nan])) == (True, False, False)
    assert sc.scan_values(np.array([1.0, -0.5])) == (False, True, False)
    assert sc.scan_values(np.array([np.inf, 1.0])) == (False, False, True)
    assert sc.weight_range(x) == (1e-3, 7.0)
    assert sc.weight_range(np.zeros(0)) == (np.inf, 0.0)
    big = np.random.default_rng(0).uniform(0, 5, 100_003)
    out = np.empty(big.size, np.float32)
    assert sc.cast_range(big, out) == sc.weight_range(big)
    np.testing.assert_array_equal(out, big.astype(np.float32))


def test_hash_words_sees_every_word() -> None:
    words = np.random.default_rng(3).integers(0, 2**63, 3 * (1 << 16) + 5, dtype=np.uint64)
    none = np.zeros(0)

    def hw(w: np.ndarray) -> int:
        h, *flags = sc.hash_words(w, 8 * w.size, none)
        assert flags == [False, False, False]  # no values given: no scan
        return int(h)

    h = hw(words)
    assert hw(words) == h
    for i in (0, 1, 2, 3, 1 << 16, words.size - 1):
        changed = words.copy()
        changed[i] ^= np.uint64(1) << np.uint64(i % 64)
        assert hw(changed) != h
    swapped = words.copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    assert hw(swapped) != h


@pytest.mark.parametrize("bad", [None, "nan", "neg", "inf", "nan+inf"])
def test_hash_words_scan_matches_scan_values(bad: str | None) -> None:
    values = np.random.default_rng(4).uniform(0, 5, 2 * (1 << 16) + 3)
    if bad:
        for kind, pos in zip(bad.split("+"), (1 << 16, values.size - 1)):
            values[pos] = {"nan": np.nan, "neg": -1.0, "inf": np.inf}[kind]
    words = values.view(np.uint64)
    h, *flags = sc.hash_words(words, 8 * words.size, values)
    assert tuple(flags) == sc.scan_values(values)
    assert tuple(flags) == (bad is not None and "nan" in bad, bad == "neg", bad is not None and "inf" in bad)
    assert h == sc.hash_words(words, 8 * words.size, np.zeros(0))[0]  # the scan does not change the hash
