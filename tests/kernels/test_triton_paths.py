"""Triton kernels under the interpreter (``TRITON_INTERPRET=1``) on tiny shapes, against NumPy/SciPy.

Triton reads ``TRITON_INTERPRET`` when ``@triton.jit`` decorates a function (at import of the
kernel module), so these tests run in a subprocess with the variable set; the outer test run only
launches that subprocess and reports its output. This keeps the rest of the suite (and the AOT
check, which needs real JIT functions) unaffected.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests._interpreter import run_file_under_interpreter

INTERP = os.environ.get("TRITON_INTERPRET", "0") == "1"
needs_interp = pytest.mark.skipif(not INTERP, reason="runs inside the TRITON_INTERPRET=1 subprocess")


@pytest.mark.slow
@pytest.mark.skipif(INTERP, reason="already under the interpreter")
def test_interpreter_suite_in_subprocess() -> None:
    run_file_under_interpreter(__file__)


def _hist_oracle(v: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """int32 [S, R + 1] histogram of v [J, S]: bucket = number of radii < v; +inf and v > max never counted."""
    s_n, r_n = v.shape[1], radii.size
    h = np.zeros((s_n, r_n + 1), np.int32)
    for s in range(s_n):
        col = v[:, s][np.isfinite(v[:, s])]
        b = np.searchsorted(radii, col, side="left")
        np.add.at(h[s], b[b < r_n], 1)
    return h


@needs_interp
@pytest.mark.parametrize("s,k,j", [(1, 1, 1), (3, 5, 7), (17, 9, 70), (5, 0, 3), (130, 3, 2)])
@pytest.mark.parametrize("accumulate", [False, True])
def test_layered_step_matches_numpy(s: int, k: int, j: int, accumulate: bool) -> None:
    import torch

    from mfa_engine.kernels.layered_minplus import layered_minplus_step

    rng = np.random.default_rng(s * 100 + k * 10 + j)
    thr = 6.0
    d = rng.integers(0, 7, (k, s)).astype(np.float32)  # node-major [K, S], finalised (<= thr or inf)
    d[rng.random((k, s)) < 0.3] = np.inf
    w = rng.integers(0, 4, (k, j)).astype(np.float32)
    w[rng.random((k, j)) < 0.3] = np.inf
    prev = rng.integers(0, 9, (j, s)).astype(np.float32)
    radii = np.array([0.0, 2.0, 3.0, 5.0, 6.0], np.float32)
    gsrc = (rng.integers(0, 3, s) * 1e-4).astype(np.float32)
    gamma = 1e-3
    mp = (w[:, :, None] + d[:, None, :]).min(axis=0) if k else np.full((j, s), np.inf, np.float32)
    expect = np.minimum(prev, mp) if accumulate else mp
    expect = np.where(expect > thr, np.inf, expect)
    out = torch.tensor(prev)
    hist = torch.zeros((s, radii.size + 1), dtype=torch.int32)
    flags = torch.zeros(s, dtype=torch.int8)
    layered_minplus_step(
        torch.tensor(d), torch.tensor(w), out, thr=thr, accumulate=accumulate, hist=hist,
        flags=flags, gsrc=torch.tensor(gsrc), radii=torch.tensor(radii), gamma=gamma,
    )  # fmt: skip
    np.testing.assert_array_equal(out.numpy(), expect)
    np.testing.assert_array_equal(hist.numpy(), _hist_oracle(expect, radii))
    near = np.zeros(s, bool)
    g = gamma - gsrc
    for r in radii[radii > 0]:
        near |= ((expect >= r * (1 - g)) & (expect <= r * (1 + g))).any(axis=0)
    np.testing.assert_array_equal(flags.numpy() != 0, near)


@needs_interp
def test_layered_step_never_counts_inf_even_for_infinite_radius() -> None:
    """The issue's case: radii [0, 1, inf], one finite distance 1 and unreachable nodes."""
    import torch

    from mfa_engine.kernels.layered_minplus import layered_minplus_step

    d = torch.tensor([[0.0]])  # one source at distance 0 of the only source-level node
    w = torch.tensor([[1.0, float("inf"), float("inf")]])
    out = torch.empty((3, 1))
    radii = torch.tensor([0.0, 1.0, float("inf")])
    hist = torch.zeros((1, 4), dtype=torch.int32)
    layered_minplus_step(d, w, out, thr=float("inf"), hist=hist, radii=radii)
    assert hist.numpy().tolist() == [[0, 1, 0, 0]]  # cumulative [0, 1, 1]: +inf is not within inf
    assert np.cumsum(hist.numpy()[0, :3]).tolist() == [0, 1, 1]


@needs_interp
def test_layered_step_large_radius_grid_and_float64() -> None:
    """R = 256 radii (a histogram far beyond 48 KB per tile in shared memory) and the float64 pass."""
    import torch

    from mfa_engine.kernels.layered_minplus import layered_minplus_step

    rng = np.random.default_rng(7)
    for dt in (np.float32, np.float64):
        d = rng.random((6, 5)).astype(dt)
        w = rng.random((6, 9)).astype(dt)
        w[rng.random((6, 9)) < 0.4] = np.inf
        radii = np.sort(rng.random(256) * 2.0).astype(dt)
        expect = (w[:, :, None] + d[:, None, :]).min(axis=0)
        out = torch.empty((9, 5), dtype=torch.float64 if dt == np.float64 else torch.float32)
        hist = torch.zeros((5, 257), dtype=torch.int32)
        layered_minplus_step(torch.tensor(d), torch.tensor(w), out, thr=np.inf, hist=hist, radii=torch.tensor(radii))
        np.testing.assert_array_equal(out.numpy(), expect)
        np.testing.assert_array_equal(hist.numpy(), _hist_oracle(expect, radii))


@needs_interp
@pytest.mark.parametrize("kind", ["int", "float"])
def test_api_triton_backend_matches_scipy(kind: str) -> None:
    from mfa_engine.paths import multi_source_counts, multi_source_distances
    from tests.paths.paths_graphs import (
        layered_to_csr,
        oracle_counts,
        oracle_distances,
        radii_with_exact_lengths,
        random_csr,
        random_layered,
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


@needs_interp
def test_dag_flagged_sources_fixed_on_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """Radii at exact path lengths flag sources; they are recomputed in float64 by the Triton
    kernel (the CPU paths must not be called), and the counts are exact."""
    from mfa_engine.paths import cpu, gpu, multi_source_counts
    from tests.paths.paths_graphs import (
        layered_to_csr,
        oracle_counts,
        oracle_distances,
        radii_with_exact_lengths,
        random_layered,
    )

    def no_cpu(*a, **k):
        raise AssertionError("a source was sent to the CPU path")

    monkeypatch.setattr(cpu, "dag_histogram", no_cpu)
    monkeypatch.setattr(cpu, "csr_histogram", no_cpu)
    calls = []
    real = gpu._dag_pass
    monkeypatch.setattr(gpu, "_dag_pass", lambda *a, **k: calls.append(a[5]) or real(*a, **k))
    rng = np.random.default_rng(11)
    g = random_layered(rng, [4, 3, 5, 2], 0.8, "float")
    m = layered_to_csr(g)
    src = np.arange(14)
    radii = np.append(radii_with_exact_lengths(rng, oracle_distances(m, src)), np.inf)
    np.testing.assert_array_equal(multi_source_counts(g, src, radii, backend="triton"), oracle_counts(m, src, radii))
    assert calls == [np.float32, np.float64]  # the float64 device pass ran


@needs_interp
@pytest.mark.parametrize("directed", [True, False])
def test_csr_exact_on_device_no_cpu(monkeypatch: pytest.MonkeyPatch, directed: bool) -> None:
    """General graph: exact float64 relaxation on the device, radii at exact path lengths and an
    infinite radius; the CPU paths are never called."""
    from mfa_engine.paths import cpu, multi_source_counts, multi_source_distances
    from tests.paths.paths_graphs import oracle_counts, oracle_distances, radii_with_exact_lengths, random_csr

    def no_cpu(*a, **k):
        raise AssertionError("a source was sent to the CPU path")

    monkeypatch.setattr(cpu, "csr_histogram", no_cpu)
    monkeypatch.setattr(cpu, "dag_histogram", no_cpu)
    rng = np.random.default_rng(5 + directed)
    m = random_csr(rng, 37, 0.08, "float")
    src = np.array([0, 3, 3, 36, 20])
    ref = oracle_distances(m, src, directed)
    radii = np.append(radii_with_exact_lengths(rng, ref), np.inf)
    got = multi_source_counts(m, src, radii, directed=directed, backend="triton")
    np.testing.assert_array_equal(got, oracle_counts(m, src, radii, directed))
    dist = multi_source_distances(m, src, directed=directed, backend="triton")
    np.testing.assert_array_equal(np.isinf(dist), np.isinf(ref))
    np.testing.assert_array_equal(dist[np.isfinite(ref)], ref[np.isfinite(ref)].astype(np.float32))
