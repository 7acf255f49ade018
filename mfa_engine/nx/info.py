"""``networkx.backend_info`` entry point of the ``mfa`` backend (must not import NetworkX: it is
read while NetworkX itself is being imported)."""

from __future__ import annotations

__all__ = ["backend_info", "FUNCTIONS"]

_WEIGHTED = (
    "``weight`` must be an edge attribute name (not a function) whose values are non-negative "
    "finite numbers (missing = 1; for multigraphs the minimum over parallel edges). Integer "
    "weights give integer lengths, as in NetworkX."
)

#: Function name -> supported parameters (all of the function's own parameters).
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "single_source_dijkstra_path_length": ("source", "cutoff", "weight"),
    "multi_source_dijkstra_path_length": ("sources", "cutoff", "weight"),
    "all_pairs_dijkstra_path_length": ("cutoff", "weight"),
    "dijkstra_path_length": ("source", "target", "weight"),
    "single_source_shortest_path_length": ("source", "cutoff"),
    "all_pairs_shortest_path_length": ("cutoff",),
    "shortest_path_length": ("source", "target", "weight", "method"),
    "mfa_ball_sizes": ("sources", "radii", "weight"),
    "mfa_multifractal_spectrum": ("convention", "q", "radii", "centres", "weight"),
}

_NOTES = {
    "shortest_path_length": "Runs ``method='dijkstra'`` (unweighted when ``weight`` is None) with a "
    "source, or with neither source nor target; other calls stay in NetworkX.",
    "mfa_ball_sizes": "Engine algorithm: nodes within each radius of each source.",
    "mfa_multifractal_spectrum": "Engine algorithm: box-growing or sandbox multifractal spectrum.",
}


def backend_info() -> dict:
    """Backend metadata for NetworkX (functions, their supported parameters, docs)."""
    funcs = {}
    for name, params in FUNCTIONS.items():
        doc = f"Supported parameters: {', '.join(params)}."
        if "weight" in params:
            doc += " " + _WEIGHTED
        if name in _NOTES:
            doc += " " + _NOTES[name]
        funcs[name] = {"additional_docs": doc, "supported_parameters": list(params)}
    return {
        "backend_name": "mfa",
        "project": "mfa-engine",
        "package": "mfa_engine",
        "short_summary": "Multi-threaded bounded Dijkstra (numba) for shortest-path lengths, plus "
        "ball sizes and multifractal spectra.",
        "functions": funcs,
    }
