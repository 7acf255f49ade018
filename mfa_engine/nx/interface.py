"""``networkx.backends`` entry point: the object NetworkX's dispatcher calls for backend ``mfa``."""

from __future__ import annotations

import inspect
import numbers
from itertools import chain
from operator import methodcaller
from typing import Any

import numpy as np

from mfa_engine.nx import engine, paths
from mfa_engine.nx.convert import convert_from_nx, convert_to_nx
from mfa_engine.nx.graph import MfaGraph

__all__ = ["BackendInterface", "backend_interface", "can_run", "should_run", "MIN_NODES", "MIN_NODES_ALL_PAIRS"]

#: Graphs with fewer nodes stay in NetworkX (conversion would cost more than it saves).
MIN_NODES = 2000
#: The same for the all-pairs functions (each source amortises the conversion).
MIN_NODES_ALL_PAIRS = 100

_IMPL = {
    "single_source_dijkstra_path_length": paths.single_source_dijkstra_path_length,
    "multi_source_dijkstra_path_length": paths.multi_source_dijkstra_path_length,
    "all_pairs_dijkstra_path_length": paths.all_pairs_dijkstra_path_length,
    "dijkstra_path_length": paths.dijkstra_path_length,
    "single_source_shortest_path_length": paths.single_source_shortest_path_length,
    "all_pairs_shortest_path_length": paths.all_pairs_shortest_path_length,
    "shortest_path_length": paths.shortest_path_length,
    "mfa_ball_sizes": engine.ball_sizes_backend,
    "mfa_multifractal_spectrum": engine.spectrum_backend,
}
_SIGS = {name: inspect.signature(fn) for name, fn in _IMPL.items()}


def _negative_or_invalid(G: Any, weight: str) -> str | None:
    """Why the weights of a NetworkX graph cannot run (negative / non-numeric), or None."""
    rows = G._adj.values()
    if G.is_multigraph():
        vals = (dd.get(weight, 1) for r in rows for kd in r.values() for dd in kd.values())
    else:
        vals = map(methodcaller("get", weight, 1), chain.from_iterable(map(methodcaller("values"), rows)))
    try:
        low = min(vals, default=0)
        if low < 0:
            return f"negative weights in edge attribute {weight!r}"
    except TypeError:
        return f"non-numeric weights in edge attribute {weight!r}"
    return None


def can_run(name: str, args: tuple, kwargs: dict) -> bool | str:
    """Whether the backend can run ``name`` with these arguments (a string says why not)."""
    sig = _SIGS.get(name)
    if sig is None:
        return f"{name} is not implemented by the mfa backend"
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as exc:
        return f"unsupported parameters ({exc})"
    bound.apply_defaults()
    a = bound.arguments
    weight = a.get("weight")
    if callable(weight):
        return "callable weights are not supported"
    if name == "shortest_path_length":
        if a["method"] != "dijkstra":
            return f"method {a['method']!r} is not supported"
        if a["source"] is None and a["target"] is not None:
            return "the target-only form is not supported"
    cutoff = a.get("cutoff")
    if cutoff is not None:
        if not isinstance(cutoff, numbers.Real):
            return f"cutoff {cutoff!r} is not a real number"
        if "weight" in a and isinstance(cutoff, np.floating) and not isinstance(cutoff, float):
            return f"a numpy {type(cutoff).__name__} cutoff compares in its own precision"
    G = a["G"]
    if isinstance(G, MfaGraph):
        return True
    if "weight" in a and weight is not None and hasattr(G, "_adj"):
        why = _negative_or_invalid(G, weight)
        if why is not None:
            return why
    return True


def should_run(name: str, args: tuple, kwargs: dict) -> bool | str:
    """Whether running in the backend pays off: small NetworkX graphs stay in NetworkX."""
    G = args[0] if args else kwargs.get("G")
    if isinstance(G, MfaGraph) or name.startswith("mfa_"):
        return True
    small = MIN_NODES_ALL_PAIRS if name.startswith("all_pairs") else MIN_NODES
    try:
        n = len(G)
    except TypeError:
        return "unknown graph size"
    return True if n >= small else f"graph has {n} < {small} nodes: NetworkX is faster"


class BackendInterface:
    """Namespace NetworkX dispatches to: conversions, guards and the implemented functions."""

    convert_from_nx = staticmethod(convert_from_nx)
    convert_to_nx = staticmethod(convert_to_nx)
    can_run = staticmethod(can_run)
    should_run = staticmethod(should_run)


for _name, _fn in _IMPL.items():
    setattr(BackendInterface, _name, staticmethod(_fn))

#: The object named by the ``networkx.backends`` entry point.
backend_interface = BackendInterface()
