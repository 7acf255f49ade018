"""pytest-benchmark suite of the general-graph kernel (mfa_engine/kernels/cpu_sssp.py) on three families at
100k nodes -- random geometric (road-like), Barabasi-Albert (power-law), 2-D grid with random
weights -- against SciPy ``dijkstra(indices, limit)``, igraph and NetworKit, side by side.

Each case: 256 sources, 64 radii up to a cutoff at the 1st percentile of the distances (balls of
about 1% of the nodes). ``engine_kernel`` runs the kernel on the case's SciPy CSR (its kernel-ready
graph -- renumbered, rows sorted by weight -- built once and cached on the CSR object);
``engine_prepared`` the public ``multi_source_counts`` on the graph prepared once by
``prepare_graph`` (the documented way to make repeated calls); ``engine_cpu_cached`` the same
API handed the SciPy matrix again (its fingerprint is hashed to find the cached preparation);
``engine_cpu`` the public ``multi_source_counts`` cold (every cache cleared: input fingerprint, DAG
check and the kernel-ready graph included). SciPy is timed with the same sources and cutoff; igraph and
NetworKit have no distance cutoff, so they compute full single-source distances, on 32 of the
sources (``extra_info['scale']`` brings them to 256). The engine's counts are checked against
SciPy's before timing. Ratios: ``.venv/bin/python benchmarks/paths_table.py --general --peers``.

Run:  .venv/bin/python -m pytest benchmarks/bench_general.py --benchmark-only -q
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paths_cases import GENERAL_CASES, METHODS, check_counts, make_case  # noqa: E402

_CACHE: dict[str, object] = {}
_RUN = ("engine_kernel", "engine_prepared", "engine_cpu_cached", "engine_cpu", "scipy_dijkstra", "igraph", "networkit")


def _case(name: str):
    if name not in _CACHE:
        case = make_case(name)
        check_counts(case, METHODS["engine_kernel"][0](case, case.sources))
        _CACHE[name] = case
    return _CACHE[name]


@pytest.mark.parametrize("method", _RUN)
@pytest.mark.parametrize("case_name", GENERAL_CASES)
def test_general(benchmark, case_name: str, method: str) -> None:
    case = _case(case_name)
    fn, sampled = METHODS[method]
    src = case.sources
    if sampled and method != "scipy_dijkstra":
        src = src[np.linspace(0, src.size - 1, 32).astype(int)]
    fn(case, src[:2])  # compile / build peer graph objects outside the timing
    benchmark.pedantic(lambda: fn(case, src), rounds=3, warmup_rounds=0)
    benchmark.extra_info["scale"] = case.sources.size / src.size
    benchmark.extra_info["relax_per_s"] = case.relaxations / (benchmark.stats.stats.min * case.sources.size / src.size)
