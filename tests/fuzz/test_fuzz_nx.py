"""Fuzzed NetworkX graphs with hostile weight kinds (issue 22, class 8): Python ints beyond 2**53
among floats, huge floats whose sums overflow, numpy scalars (float32, float64, int64), missing
attributes, NaN/inf/huge cutoffs. The backend's result equals NetworkX's (value, type, key
order), or the backend declines with a one-line reason and NetworkX runs the call."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfa_engine.nx import interface, paths
from mfa_engine.nx.convert import convert_from_nx
from tests.nx.test_semantics import _CUTOFFS, _same, hostile_graphs

from .harness import budget, one_line, record


def _backend(name: str, g, *args, **kwargs):
    """The backend's result, or the one-line reason it declines (None, reason)."""
    why = interface.can_run(name, (g, *args), kwargs)
    if why is not True:
        return None, why
    try:
        h = convert_from_nx(g, edge_attrs={kwargs.get("weight", "weight"): 1})
    except NotImplementedError as exc:
        return None, str(exc)
    out = getattr(paths, name)(h, *args, **kwargs)
    return (list(out) if name.startswith("all_pairs") else out), None


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NetworkX's own numpy sums overflow
@budget(30)
@given(g=hostile_graphs(), cutoff=_CUTOFFS, data=st.data())
def test_nx_weight_kinds(g, cutoff, data):
    src = data.draw(st.integers(0, len(g) - 1))
    for name, args in (("single_source_dijkstra_path_length", (src,)), ("all_pairs_dijkstra_path_length", ())):
        try:
            ref = getattr(nx, name)(g, *args, cutoff=cutoff)
            ref = list(ref) if name.startswith("all_pairs") else ref
        except (TypeError, ValueError, OverflowError):
            continue  # NetworkX itself fails on this input; a declining backend hands it the same call
        got, why = _backend(name, g, *args, cutoff=cutoff)
        if got is None:
            one_line(why)
            record("nx", "error")
            continue
        if name.startswith("all_pairs"):
            assert [s for s, _ in got] == [s for s, _ in ref]
            for (_, a), (_, b) in zip(got, ref):
                _same(a, b)
        else:
            _same(got, ref)
        record("nx", "ok")
