"""pytest-benchmark suite of the path kernels against SciPy, igraph and NetworKit.

Each case is built once per session; the engine is timed end to end from a SciPy CSR matrix
(DAG detection and block gathering included: the per-matrix cache is cleared every round).
Peers run on 32 evenly spaced sources (their cost is linear in the number of sources; the
relaxation rates in ``extra_info`` are per source set). Print the summary table with
``.venv/bin/python benchmarks/paths_table.py --peers``.

Run:  .venv/bin/python -m pytest benchmarks/bench_paths.py --benchmark-only -q
      (MFA_BENCH_CASES=layered_8x512,nin_sampled to restrict the cases)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paths_cases import CASES, METHODS, make_case  # noqa: E402

_SELECTED = [c for c in os.environ.get("MFA_BENCH_CASES", ",".join(CASES)).split(",") if c]
_CACHE: dict[str, object] = {}


def _case(name: str):
    if name not in _CACHE:
        _CACHE[name] = make_case(name)
    return _CACHE[name]


def _check(case, src: np.ndarray, method: str, out) -> None:
    """The timed result is right: SciPy's Dijkstra on the first 4 sources is the oracle (exact
    counts for the engine; distances within float64 rounding for the peers)."""
    from scipy.sparse import csgraph

    rmax = float(case.radii[-1])
    ref = csgraph.dijkstra(case.graph, indices=src[:4], limit=rmax)
    if method.startswith("engine"):
        fin = np.where(np.isfinite(ref), ref, np.nan)  # unreachable never counts
        expect = (fin[:, None, :] <= case.radii[None, :, None]).sum(-1)
        np.testing.assert_array_equal(np.asarray(out)[:4], expect)
    else:
        got = np.asarray([np.asarray(row, np.float64) for row in out[:4]])
        keep = np.isfinite(ref)
        np.testing.assert_allclose(got[keep], ref[keep], rtol=1e-12, atol=0)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("case_name", _SELECTED)
def test_paths(benchmark, case_name: str, method: str) -> None:
    case = _case(case_name)
    fn, sampled = METHODS[method]
    src = case.sources
    if sampled and src.size > 32:
        src = src[np.linspace(0, src.size - 1, 32).astype(int)]
    if method.startswith("engine"):
        out = benchmark.pedantic(lambda: fn(case, src), rounds=5, warmup_rounds=1)
    else:
        fn(case, src[:2])  # build peer graph objects outside the timing
        out = benchmark.pedantic(lambda: fn(case, src), rounds=2, warmup_rounds=0)
    _check(case, src, method, out)
    scale = case.sources.size / src.size
    benchmark.extra_info["relaxations"] = case.relaxations
    benchmark.extra_info["sources_timed"] = int(src.size)
    benchmark.extra_info["relax_per_s"] = case.relaxations / (benchmark.stats.stats.min * scale)
