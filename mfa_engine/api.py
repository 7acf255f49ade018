"""Public entry points: ``analyze_graph`` (any graph) and ``analyze_checkpoint`` (JSON contract).

A thin facade: the graph engine is :mod:`mfa_engine.graph_spectrum`, the checkpoint analysis
:mod:`mfa_engine.checkpoint_analysis`. Both take one :class:`~mfa_engine.options.AnalysisOptions`
record; here options may also be given as keywords.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mfa_engine.analysis.qgrid import q_grid
from mfa_engine.checkpoint_analysis import analyze_checkpoint, as_options
from mfa_engine.graph_spectrum import graph_radius_grid, graph_spectrum
from mfa_engine.options import AnalysisOptions

__all__ = ["analyze_graph", "analyze_checkpoint", "as_options", "make_q_grid", "graph_radius_grid"]


def make_q_grid(q_min: float = -3.0, q_max: float = 3.0, q_step: float = 0.1) -> np.ndarray:
    """An evenly spaced q grid (see :func:`mfa_engine.analysis.qgrid.q_grid`).

    Raises:
        ConfigError: Bad bounds or fewer than 3 values.
    """
    return q_grid(q_min, q_max, q_step)


def analyze_graph(
    graph: Any,
    options: AnalysisOptions | Mapping[str, Any] | None = None,
    *,
    q: Sequence[float] | np.ndarray | None = None,
    radii: Sequence[float] | np.ndarray | None = None,
    centres: Sequence[int] | np.ndarray | None = None,
    **overrides: Any,
) -> Any:
    """Multifractal spectrum of a graph by box growing around centres (docs/method.md, Box growing).

    The options are those of :class:`~mfa_engine.options.AnalysisOptions`, with its defaults
    (``fit_window="auto"``: the most stable window of the data; pass ``fit_window="full"`` to
    fit on every radius). The graph-level ones are ``convention``, ``directed``,
    ``min_reach``, ``normalisation``, ``n_radii``, ``radius_upper``, ``radius_lower``,
    ``fit_window``, ``fit_range``, ``window_min_span`` and ``backend``.

    Args:
        graph: SciPy sparse ``[N, N]`` whose explicit entries are edge distances ``i -> j``,
            or a ``mfa_engine.nin.LayeredGraph``.
        options: An options record or mapping (default all defaults).
        q: The q grid (default: the record's, -3..3 step 0.1).
        radii: Explicit radius grid (default: ``graph_radius_grid``, ``n_radii`` radii from a
            low quantile of the edge distances to the 99th percentile of the finite distances).
        centres: Node ids of the centres (default all nodes).
        **overrides: Options as keywords (``convention="sandbox"``, ``directed=False``, ...).

    Returns:
        A ``mfa_engine.analysis.Spectrum`` (with ``diagnostics``).

    Raises:
        ConfigError: Invalid option, graph, q grid, radii or centres (options first).
        AnalysisError: Too few centres reach ``min_reach`` nodes.
    """
    if q is not None:
        overrides["q"] = q
    return graph_spectrum(graph, as_options(options, **overrides), radii=radii, centres=centres)
