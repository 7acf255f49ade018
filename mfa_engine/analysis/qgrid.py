"""The q grid: one builder and one validator for every mode and entry point."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mfa_engine.errors import ConfigError, plain
from mfa_engine.limits import check_q_count

__all__ = ["default_q", "q_grid", "check_q"]


def default_q() -> np.ndarray:
    """The default q grid: -3.0, -2.9, ..., 3.0 (61 values, each the quotient ``k / 10``).

    It is also the published NeuroMFA grid ``[k / 100 for k in range(-300, 301, 10)]``: both
    are the correctly rounded values of the same rationals, hence the same bits.

    Returns:
        float64 ``[61]``.
    """
    return np.arange(-30, 31, dtype=np.float64) / 10.0


def q_grid(q_min: float = -3.0, q_max: float = 3.0, q_step: float = 0.1) -> np.ndarray:
    """An evenly spaced q grid, inclusive of both ends, free of accumulated rounding.

    Args:
        q_min: First value.
        q_max: Last value (included when it lies on the grid).
        q_step: Spacing, > 0.

    Returns:
        float64 ``[Q]``; the default arguments give exactly :func:`default_q`.

    Raises:
        ConfigError: If the step is not positive, the bounds are not finite, or fewer than 3
            values result.
    """
    vals = (q_min, q_max, q_step)
    if not all(isinstance(v, (int, float, np.number)) and math.isfinite(v) for v in vals):
        raise ConfigError(f"q grid bounds must be finite numbers, got q_min={q_min}, q_max={q_max}, q_step={q_step}")
    if q_step <= 0:
        raise ConfigError(f"q_step must be > 0, got {q_step}")
    n = int(math.floor((q_max - q_min) / q_step + 1e-9)) + 1
    check_q_count(n, what=f"q grid from {q_min:g} to {q_max:g} step {q_step:g} (q_min, q_max, q_step)")
    if n < 3:
        raise ConfigError(
            f"q grid from {q_min} to {q_max} step {q_step} has {max(n, 0)} values; at least 3 are needed"
        )
    return np.round(q_min + q_step * np.arange(n), 12)


def check_q(q: Any, min_values: int = 3) -> np.ndarray:
    """Validate an explicit q grid (``None`` gives :func:`default_q`).

    Args:
        q: Sequence or array of q values, or None.
        min_values: Fewest values accepted (3 for the fitted spectra; the reference-mode
            functions accept 2, as the published code would).

    Returns:
        float64 ``[Q]``, a new array.

    Raises:
        ConfigError: Not 1-D numbers, too few values, NaN/inf, or not strictly increasing.
    """
    if q is None:
        return default_q()
    try:
        qa = np.array(q, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"q grid must be a 1-D sequence of numbers: {exc}") from None
    if qa.ndim != 1:
        raise ConfigError(f"q grid must be 1-D, got shape {qa.shape}")
    check_q_count(qa.size)
    if qa.size < min_values:
        raise ConfigError(f"q grid needs at least {min_values} values, got {qa.size}")
    if not np.all(np.isfinite(qa)):
        raise ConfigError("q grid contains NaN or inf; expected finite values")
    if not np.all(np.diff(qa) > 0):
        j = int(np.argmin(np.diff(qa) > 0))
        raise ConfigError(
            f"q grid must be strictly increasing, but q[{j}]={plain(qa[j])} >= q[{j + 1}]={plain(qa[j + 1])}"
        )
    return qa
