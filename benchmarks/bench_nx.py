"""pytest-benchmark suite of the NetworkX backend ``mfa`` against NetworkX itself (side by side,
same graph and call; the backend cold: conversion and result dicts inside the time). Each case
first checks that the backend's result equals NetworkX's (keys, order and distances).
Ratios: ``.venv/bin/python benchmarks/nx_table.py``.

Run:  .venv/bin/python -m pytest benchmarks/bench_nx.py --benchmark-only -q
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import networkx as nx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nx_cases import NX_CASES, make_nx_case, run_mfa, run_nx, same  # noqa: E402

_CACHE: dict[str, tuple] = {}


def _case(name: str):
    if name not in _CACHE:
        g, call = make_nx_case(name)
        if not same(run_mfa(g, call), run_nx(g, call)):
            raise AssertionError(f"{name}: the mfa backend's result differs from NetworkX's")
        _CACHE[name] = (g, call)
    return _CACHE[name]


@pytest.mark.parametrize("method", ["mfa", "networkx"])
@pytest.mark.parametrize("case_name", NX_CASES)
def test_nx(benchmark, case_name: str, method: str) -> None:
    g, call = _case(case_name)
    fn = run_mfa if method == "mfa" else run_nx
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        benchmark.pedantic(lambda: fn(g, call), rounds=3 if method == "mfa" else 1, warmup_rounds=0)
    benchmark.extra_info["nodes"] = g.number_of_nodes()
    benchmark.extra_info["edges"] = g.number_of_edges()
    assert nx.utils.backends.backend_info["mfa"]["backend_name"] == "mfa"
