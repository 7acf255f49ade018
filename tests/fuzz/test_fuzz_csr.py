"""Fuzzed sparse graphs, valid and malformed: a ConfigError for malformed ones (never a crash),
counts equal to SciPy's shortest paths for valid ones, on every CPU backend."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy.sparse.csgraph import shortest_path

from mfa_engine.errors import ConfigError
from mfa_engine.paths import multi_source_counts

from .harness import budget, one_line, record

RADII = np.array([0.0, 1.0, 2.5, 6.0])


@st.composite
def raw_csr(draw):
    n = draw(st.integers(0, 7))
    nnz = draw(st.integers(0, 12))
    indptr = sorted(draw(st.lists(st.integers(0, nnz), min_size=n + 1, max_size=n + 1))) if n else [0]
    if indptr:
        indptr[0], indptr[-1] = 0, nnz
    indices = draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=nnz, max_size=nnz))
    data = draw(st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]), min_size=nnz, max_size=nnz))
    broken = draw(st.sampled_from(["none", "index", "negative", "indptr_order", "indptr_end",
                                   "indptr_start", "nan", "neg_data", "indptr_len"]))
    return n, np.array(indptr, np.int64), np.array(indices, np.int64), np.array(data, np.float64), broken, draw(st.integers(0, 10**6))


def _break(n, indptr, indices, data, broken, k):
    if broken == "index" and indices.size:
        indices[k % indices.size] = n + k % 5
    elif broken == "negative" and indices.size:
        indices[k % indices.size] = -1 - k % 3
    elif broken == "indptr_order" and indptr.size > 2:
        i = 1 + k % (indptr.size - 2)
        indptr[i] = indptr[i + 1] + 1
    elif broken == "indptr_end" and indptr.size:
        indptr[-1] = indices.size + 1 + k % 4
    elif broken == "indptr_start" and indptr.size > 1:
        indptr[0] = 1
    elif broken == "nan" and data.size:
        data[k % data.size] = np.nan
    elif broken == "neg_data" and data.size:
        data[k % data.size] = -1.0
    elif broken == "indptr_len":
        indptr = np.append(indptr, indptr[-1])
    else:
        return indptr, indices, data, False
    return indptr, indices, data, True


@budget(40)
@pytest.mark.parametrize("backend", ["cpu", "torch"])
@given(case=raw_csr(), directed=st.booleans())
def test_sparse_graphs(backend, case, directed):
    n, indptr, indices, data, broken, k = case
    assume(n > 0)
    g = sp.csr_array((data.copy(), indices.copy(), indptr.copy()), shape=(n, n))  # valid at construction
    ip, ix, dt, is_broken = _break(n, g.indptr.copy(), g.indices.copy(), g.data.copy(), broken, k)
    if is_broken and broken in ("nan", "neg_data"):  # duplicates are summed first (as SciPy does)
        summed = sp.csr_array((dt.copy(), ix.copy(), ip.copy()), shape=(n, n))
        summed.sum_duplicates()
        is_broken = bool(np.isnan(summed.data).any() or (summed.data < 0).any())
        data = dt
    g.indptr, g.indices, g.data = ip, ix, dt  # SciPy does not re-check assigned arrays
    sources = np.arange(n)
    try:
        got = multi_source_counts(g, sources, RADII, directed=directed, backend=backend)
    except ConfigError as exc:
        one_line(str(exc))
        assert is_broken, f"a valid graph was refused: {exc}"
        record("csr", "error")
        return
    assert not is_broken, f"a malformed graph ({broken}) was accepted"
    record("csr", "ok")
    clean = sp.csr_array((data, indices, indptr), shape=(n, n))
    clean.sum_duplicates()
    d = shortest_path(clean, directed=directed)
    want = ((d[:, :, None] <= RADII[None, None, :]) & np.isfinite(d)[:, :, None]).sum(axis=1)
    np.testing.assert_array_equal(got, want)
