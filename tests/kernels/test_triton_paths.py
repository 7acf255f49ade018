"""Triton kernels under the interpreter (``TRITON_INTERPRET=1``) on tiny shapes, against NumPy/SciPy.

Triton reads ``TRITON_INTERPRET`` when ``@triton.jit`` decorates a function (at import of the
kernel module), so these tests run in a subprocess with the variable set; the outer test run only
launches that subprocess and reports its output. This keeps the rest of the suite (and the AOT
check, which needs real JIT functions) unaffected.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

INTERP = os.environ.get("TRITON_INTERPRET", "0") == "1"
needs_interp = pytest.mark.skipif(not INTERP, reason="runs inside the TRITON_INTERPRET=1 subprocess")
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(INTERP, reason="already under the interpreter")
def test_interpreter_suite_in_subprocess() -> None:
    env = dict(os.environ, TRITON_INTERPRET="1")
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--noconftest", "-p", "no:cacheprovider", str(Path(__file__))],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    assert " passed" in res.stdout and "failed" not in res.stdout


@needs_interp
@pytest.mark.parametrize("s,k,j", [(1, 1, 1), (3, 5, 7), (17, 9, 70), (5, 0, 3)])
@pytest.mark.parametrize("accumulate", [False, True])
def test_layered_step_matches_numpy(s: int, k: int, j: int, accumulate: bool) -> None:
    import torch

    from mfa_engine.kernels.layered_minplus import layered_minplus_step

    rng = np.random.default_rng(s * 100 + k * 10 + j)
    d = rng.integers(0, 5, (s, k)).astype(np.float32)
    d[rng.random((s, k)) < 0.3] = np.inf
    w = rng.integers(0, 4, (k, j)).astype(np.float32)
    w[rng.random((k, j)) < 0.3] = np.inf
    prev = rng.integers(0, 9, (s, j)).astype(np.float32)
    radii = np.array([0.0, 2.0, 3.0, 5.0, 6.0], np.float32)
    thr = 6.0
    dm = np.where(d > thr, np.inf, d)
    mp = (dm[:, :, None] + w[None]).min(axis=1) if k else np.full((s, j), np.inf, np.float32)
    expect = np.minimum(prev, mp) if accumulate else mp
    expect = np.where(expect > thr, np.inf, expect)
    out = torch.tensor(prev)
    counts = torch.zeros((s, radii.size), dtype=torch.int64)
    flags = torch.zeros(s, dtype=torch.int8)
    layered_minplus_step(
        torch.tensor(d), torch.tensor(w), out, thr=thr, accumulate=accumulate, counts=counts,
        flags=flags, radii=torch.tensor(radii), gamma=1e-3,
    )  # fmt: skip
    np.testing.assert_array_equal(out.numpy(), expect)
    np.testing.assert_array_equal(counts.numpy(), (expect[:, None, :] <= radii[None, :, None]).sum(-1))
    near = np.zeros(s, bool)
    for r in radii[radii > 0]:
        near |= ((expect >= r * (1 - 1e-3)) & (expect <= r * (1 + 1e-3))).any(axis=1)
    np.testing.assert_array_equal(flags.numpy() != 0, near)


@needs_interp
@pytest.mark.parametrize("undirected", [False, True])
def test_csr_relax_rounds_match_scipy(undirected: bool) -> None:
    import scipy.sparse as sp
    import torch
    from scipy.sparse import csgraph

    from mfa_engine.kernels.csr_relax import csr_relax_round

    rng = np.random.default_rng(3 + undirected)
    n = 13
    m = sp.random_array((n, n), density=0.2, rng=rng, format="csr")
    m.data = rng.integers(1, 4, m.nnz).astype(np.float64)
    src = np.array([0, 4, 4, 12])
    rows = torch.tensor(np.repeat(np.arange(n), np.diff(m.indptr)), dtype=torch.int64)
    cols = torch.tensor(m.indices, dtype=torch.int64)
    w = torch.tensor(m.data, dtype=torch.float32)
    d = torch.full((src.size, n), float("inf"))
    act = torch.zeros((src.size, n), dtype=torch.int8)
    d[torch.arange(src.size), torch.tensor(src)] = 0.0
    act[torch.arange(src.size), torch.tensor(src)] = 1
    changed = torch.zeros(1, dtype=torch.int32)
    for _ in range(n):
        nxt = torch.zeros_like(act)
        changed.zero_()
        csr_relax_round(rows, cols, w, d, act, nxt, changed, thr=5.0, undirected=undirected)
        act = nxt
        if changed.item() == 0:
            break
    assert changed.item() == 0
    ref = csgraph.dijkstra(m, directed=not undirected, indices=src, limit=5.0)
    np.testing.assert_array_equal(d.numpy(), ref.astype(np.float32))


@needs_interp
@pytest.mark.parametrize("kind", ["int", "float"])
def test_api_triton_backend_matches_scipy(kind: str) -> None:
    from mfa_engine.paths import multi_source_counts, multi_source_distances
    from tests.paths.paths_graphs import (
        layered_to_csr, oracle_counts, oracle_distances, radii_with_exact_lengths, random_csr, random_layered,
    )  # fmt: skip

    rng = np.random.default_rng(len(kind))
    g = random_layered(rng, [3, 5, 1, 4], 0.7, kind)
    m = layered_to_csr(g)
    src = np.array([0, 2, 3, 8, 12, 0])
    ref = oracle_distances(m, src)
    radii = radii_with_exact_lengths(rng, ref)
    for graph in (g, m):
        np.testing.assert_array_equal(multi_source_counts(graph, src, radii, backend="triton"), oracle_counts(m, src, radii))
        got = multi_source_distances(graph, src, backend="triton")
        np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
        np.testing.assert_allclose(got[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-5)
    assert multi_source_counts(g, [], radii, backend="triton").shape == (0, radii.size)
    m2 = random_csr(rng, 11, 0.2, kind)
    for directed in (True, False):
        ref2 = oracle_distances(m2, src[:4], directed)
        r2 = radii_with_exact_lengths(rng, ref2)
        np.testing.assert_array_equal(
            multi_source_counts(m2, src[:4], r2, directed=directed, backend="triton"),
            oracle_counts(m2, src[:4], r2, directed),
        )
        got = multi_source_distances(m2, src[:4], cutoff=float(r2[0]), directed=directed, backend="triton")
        ref3 = oracle_distances(m2, src[:4], directed, cutoff=float(r2[0]))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(ref3))
        np.testing.assert_allclose(got[np.isfinite(ref3)], ref3[np.isfinite(ref3)], rtol=1e-5)
