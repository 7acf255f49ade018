"""Multifractal core (pure NumPy): OLS fits, radius grids, spectra, emergence, NFD.

Public API::

    linear_fit(x [R], y [..., R]) -> LinearFit(slope, intercept, r2, slope_se)
    radius_grid(finite_distances, n=64, upper="p99" | "max" | "rounded") -> float64 [R]
    spectrum_from_counts(counts [C, R], radii [R], *, q=None, convention="boxgrowing",
                         normalisation=None, n_nodes=None, fit_range=None,
                         min_reach=10) -> Spectrum
    emergence(alpha0 [T, S], width [T, S], stat="mean"|"median") -> (E [T], E_std [T])
    q_grid(q_min=-3, q_max=3, q_step=0.1) -> float64 [Q]; check_q(q) -> float64 [Q]
    bootstrap_ci(x [S], stat="mean") -> (lo, hi)
    emergence_ci(alpha0 [T, S], width [T, S], paired=True) -> (lo [T], hi [T])
    node_fractal_dimension(distances [N, N], threshold=200.0, min_distances=10) -> float64 [N]

Importing this package imports NumPy only.
"""

from __future__ import annotations

from mfa_engine.analysis.emergence import emergence
from mfa_engine.analysis.fit import LinearFit, linear_fit
from mfa_engine.analysis.nfd import node_fractal_dimension
from mfa_engine.analysis.qgrid import check_q, default_q, q_grid
from mfa_engine.analysis.radii import radius_grid
from mfa_engine.analysis.spectrum import Spectrum, spectrum_from_counts
from mfa_engine.analysis.uncertainty import bootstrap_ci, emergence_ci

__all__ = [
    "LinearFit",
    "Spectrum",
    "bootstrap_ci",
    "check_q",
    "default_q",
    "emergence",
    "emergence_ci",
    "linear_fit",
    "node_fractal_dimension",
    "q_grid",
    "radius_grid",
    "spectrum_from_counts",
]
