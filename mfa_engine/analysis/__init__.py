"""Multifractal core (pure NumPy): OLS fits, radius grids, spectra, emergence, NFD.

Public API::

    linear_fit(x [R], y [..., R]) -> LinearFit(slope, intercept, r2, slope_se)
    radius_grid(finite_distances, n=64, upper="p99" | "max" | "rounded") -> float64 [R]
    spectrum_from_counts(counts [C, R], radii [R], *, q=None, convention="boxgrowing",
                         normalisation=None, n_nodes=None, fit_range=None,
                         min_reach=10) -> Spectrum
    emergence(alpha0 [T, S], width [T, S]) -> (E [T], E_std [T])
    emergence_from_means(alpha0_mean [..., T], width_mean [..., T]) -> E [..., T]
    bootstrap_ci(x [S], stat="mean") -> (lo, hi)
    emergence_ci(alpha0 [T, S], width [T, S], paired=True) -> (lo [T], hi [T])
    node_fractal_dimension(distances [N, N], threshold=200.0, min_distances=10) -> float64 [N]

Importing this package imports NumPy only.
"""

from __future__ import annotations

from mfa_engine.analysis.emergence import emergence, emergence_from_means
from mfa_engine.analysis.fit import LinearFit, linear_fit
from mfa_engine.analysis.nfd import node_fractal_dimension
from mfa_engine.analysis.radii import radius_grid
from mfa_engine.analysis.spectrum import Spectrum, default_q, spectrum_from_counts
from mfa_engine.analysis.uncertainty import bootstrap_ci, emergence_ci

__all__ = [
    "LinearFit",
    "Spectrum",
    "bootstrap_ci",
    "default_q",
    "emergence",
    "emergence_ci",
    "emergence_from_means",
    "linear_fit",
    "node_fractal_dimension",
    "radius_grid",
    "spectrum_from_counts",
]
