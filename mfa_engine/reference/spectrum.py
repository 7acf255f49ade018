"""Reference mode, spectrum: the published ``wnfd_llm`` + ``nspectrum`` of one sample.

The rules (window, rounding, radii, measures, fit, forward differences) and why the fit follows
the published arithmetic bit for bit are in docs/reference-mode.md ("Spectrum").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mfa_engine.analysis.qgrid import check_q, default_q
from mfa_engine.errors import AnalysisError
from mfa_engine.reference.lists import DistanceLists

__all__ = [
    "REFERENCE_Q",
    "MIN_KEPT",
    "check_reference_q",
    "reference_q_grid",
    "reference_counts",
    "reference_spectrum",
    "linregress_slopes",
]

#: Minimum number of kept distances is ``> MIN_KEPT`` (published: ``len(grow) > 10``).
MIN_KEPT = 10


def reference_q_grid() -> np.ndarray:
    """Return the published q grid ``[k / 100 for k in range(-300, 301, 10)]``.

    Each ``k / 100`` is the correctly rounded value of the same rational as ``(k / 10) / 10``,
    so this is bit for bit the package's default grid (:func:`mfa_engine.analysis.default_q`),
    which is returned.

    Returns:
        float64 array of shape ``[61]`` from -3.0 to 3.0.
    """
    return default_q()


#: The published q grid (read-only).
REFERENCE_Q: np.ndarray = reference_q_grid()
REFERENCE_Q.setflags(write=False)


def check_reference_q(q: Any) -> np.ndarray:
    """The published grid for None, else a validated grid of at least 2 values."""
    return REFERENCE_Q.copy() if q is None else check_q(q, min_values=2)


def linregress_slopes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slopes and R^2 of ``y[j] ~ a + b x``, bit-identical to ``scipy.stats.linregress``.

    ``linregress`` takes the slope from ``np.cov(x, y, bias=1)`` (row means, centring, a BLAS
    ``dot``, scaling by ``1/n``). The same arithmetic is done here for every row: the last bits of
    ``tau(0)`` (the slope of a constant ``ln Z_0``, pure rounding noise) decide the sign of
    ``f`` at ``q = 0`` and hence which of the two neighbouring alphas the published code
    reports as alpha0, so this fit must follow the published arithmetic exactly. It is a loop
    over the ``Q`` rows of tiny ``[2, R]`` problems (microseconds each), not over nodes.

    Args:
        x: float64 ``[R]``.
        y: float64 ``[Q, R]``.

    Returns:
        ``(slope [Q], r2 [Q])``; ``r2`` is the squared correlation, 1.0 where ``y`` is constant.
    """
    n_q, n_r = y.shape
    # np.cov(x, y[j], bias=1) step by step, without its per-call overhead: the row means
    # (pairwise sums of contiguous rows, identical for a [Q, R] and a [2, R] array), the
    # centring, one BLAS dot of the [2, R] centred pair with its conjugated transpose (a copy,
    # so the same gemm call as np.cov's), and the scaling by 1/R.
    x_mean = np.stack([x, x]).mean(axis=1)[0]
    y_mean = y.mean(axis=1)
    scale = np.true_divide(1, n_r)
    pair = np.empty((2, n_r), dtype=np.float64)
    pair[0] = x
    pair[0] -= x_mean
    slope = np.empty(n_q, dtype=np.float64)
    r2 = np.empty(n_q, dtype=np.float64)
    for j in range(n_q):
        pair[1] = y[j]
        pair[1] -= y_mean[j]
        c = np.dot(pair, pair.T.conj())
        c *= scale
        ssxm, ssxym, _, ssym = c.flat
        slope[j] = ssxym / ssxm
        if ssym == 0.0 or np.all(y[j] == y[j, 0]):
            r2[j] = 1.0
        else:
            r2[j] = min((ssxym / np.sqrt(ssxm * ssym)) ** 2, 1.0)
    return slope, r2


def reference_counts(distance_lists: DistanceLists) -> tuple[np.ndarray, np.ndarray]:
    """Radii and box counts ``N_i(r)`` of the centres, as ``wnfd_llm`` builds them.

    Centres are the nodes with more than 10 kept distances (in node order); each kept distance
    is rounded with ``np.round`` (half to even); the radii are the sorted distinct rounded values
    over all centres, and ``N_i(r) = 1 + #{rounded d of i <= r}``.

    Args:
        distance_lists: Kept distances per node.

    Returns:
        ``(radii [R], counts [C, R])``, both float64 (counts are exact integers).

    Raises:
        AnalysisError: Fewer than 2 centres or fewer than 2 distinct radii (names the seed and
            the counts).
    """
    dl = distance_lists
    counts = dl.n_kept
    centre = counts > MIN_KEPT
    n_centres = int(centre.sum())
    seed_txt = f"seed {dl.seed}" if dl.seed is not None else "sample"
    if n_centres < 2:
        raise AnalysisError(
            f"reference spectrum ({seed_txt}): only {n_centres} of {dl.n_nodes} nodes have more "
            f"than {MIN_KEPT} distances in (1, {dl.threshold:g}] (need at least 2 centres)"
        )
    node_of = np.repeat(np.arange(dl.n_nodes, dtype=np.int64), counts)
    sel = centre[node_of]
    rounded = np.round(dl.values[sel])
    centre_of = np.cumsum(centre)[node_of[sel]] - 1  # 0..n_centres-1
    radii = np.unique(rounded)
    n_r = radii.shape[0]
    if n_r < 2:
        raise AnalysisError(
            f"reference spectrum ({seed_txt}): all kept distances of the {n_centres} centres "
            f"round to the single radius {radii[0]:g}; a power-law fit needs at least 2 radii"
        )
    ridx = np.searchsorted(radii, rounded)
    hist = np.bincount(centre_of * n_r + ridx, minlength=n_centres * n_r).reshape(n_centres, n_r)
    n_within = 1.0 + np.cumsum(hist, axis=1).astype(np.float64)
    return radii, n_within


def reference_spectrum(
    distance_lists: DistanceLists, q: Sequence[float] | np.ndarray | None = None
) -> dict[str, Any]:
    """Multifractal spectrum of one sample with the published ``wnfd_llm`` + ``nspectrum``.

    Nodes with more than 10 kept distances are the centres; each kept distance is rounded half
    to even; the radii are the sorted distinct rounded values; ``N_i(r) = 1 + #{round(d) <= r}``,
    ``mu_i(r) = N_i(r) / N_i(r_max)``, ``Z_q(r) = sum_i mu_i(r)^q``, ``tau(q)`` the OLS slope
    (free intercept) of ``ln Z_q`` against ``ln(r / r_max)`` over all radii; then the forward
    differences ``alpha_j = (tau_{j+1} - tau_j) / (q_{j+1} - q_j)``, ``f_j = q_j alpha_j - tau_j``.

    Args:
        distance_lists: Kept distances per node (:func:`reference_distance_lists` or
            :func:`reference_lists_from_raw`).
        q: Strictly increasing q grid ``[Q]``; default the published 61 values -3.0..3.0.

    Returns:
        A dict with ``q`` [Q], ``tau`` [Q], ``r2`` [Q] (R^2 of each fit, 1.0 for constant
        ``ln Z``), ``alpha`` [Q-1], ``f_alpha`` [Q-1], ``alpha0`` (alpha at the first maximum of
        f), ``width`` (max alpha - min alpha), ``n_centres``, ``n_nodes``, ``radii`` [R] (float64),
        ``threshold`` and ``seed``. Arrays are float64 NumPy arrays.

    Raises:
        ConfigError: Invalid q grid.
        AnalysisError: Fewer than 2 centres or fewer than 2 distinct radii (names the seed and
            the counts).
    """
    qv = check_reference_q(q)
    dl = distance_lists
    radii, n_within = reference_counts(dl)
    x = np.log(radii / radii[-1])
    # mu_i(r) = N_i(r) / N_i(r_max) takes few distinct values (pairs of small integers): raise
    # each distinct value to every q once, gather, and sum over the centres in node order.
    # The gathered [q, C, R] values and the summation order are those of the published
    # np.sum(np.power(N / N[:, -1, None], q), axis=0), so Z_q is bit-identical to it.
    n_int = n_within.astype(np.int64)
    base = int(n_int[:, -1].max()) + 1
    pair = n_int * base + n_int[:, -1, None]
    if base * base <= 64 * pair.size + 1_000_000:  # distinct pairs by a presence table, no sort
        present = np.zeros(base * base, dtype=np.int64)
        present[pair.ravel()] = 1
        upair = np.flatnonzero(present)
        rank = np.cumsum(present) - 1
        inv = rank[pair]
    else:
        upair, inv = np.unique(pair, return_inverse=True)
        inv = inv.reshape(pair.shape)
    mu_u = (upair // base).astype(np.float64) / (upair % base).astype(np.float64)

    # Same summation order (bit-identical) without the [Q, C, R] temporary.
    from mfa_engine.reference.zsum import gather_sum

    z = gather_sum(np.power(mu_u[None, :], qv[:, None]), inv)
    tau, r2 = linregress_slopes(x, np.log(z))

    alpha = np.diff(tau) / np.diff(qv)
    f_alpha = qv[:-1] * alpha - tau[:-1]
    alpha0 = float(alpha[int(np.argmax(f_alpha))])
    width = float(np.max(alpha) - np.min(alpha))
    return {
        "q": qv,
        "tau": tau,
        "r2": r2,
        "alpha": alpha,
        "f_alpha": f_alpha,
        "alpha0": alpha0,
        "width": width,
        "n_centres": int(n_within.shape[0]),
        "n_nodes": dl.n_nodes,
        "radii": radii,
        "threshold": dl.threshold,
        "seed": dl.seed,
    }
