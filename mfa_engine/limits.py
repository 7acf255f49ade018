"""Up-front resource limits of the analysis options (named constants and their checks).

The options record (:mod:`mfa_engine.options`) applies them when it is built, so the command
line, a TOML file and the Python API all refuse an oversized request before anything is read,
with a one-line :class:`~mfa_engine.errors.ConfigError` naming the option.
"""

from __future__ import annotations

from mfa_engine.errors import ConfigError

__all__ = ["MAX_SAMPLES", "MAX_Q_VALUES", "MAX_N_RADII", "check_q_count", "RESULT_MEMORY_BUDGET",
           "RESULT_JSON_BUDGET", "estimate_run", "check_run_budget"]

#: Samples per checkpoint (each is a full analysis; the records are kept in memory).
MAX_SAMPLES = 10_000
#: Values of a q grid (the spectrum fit is O(Q x R) per centre; -5..5 step 0.001 is 10001).
MAX_Q_VALUES = 10_001
#: Radii of the radius grid (counts are [centres x radii] per sample).
MAX_N_RADII = 4_096


def check_q_count(n: int, what: str = "q grid") -> int:
    """Refuse a q grid of more than :data:`MAX_Q_VALUES` values (before it is allocated).

    Raises:
        ConfigError: Too many values.
    """
    if n > MAX_Q_VALUES:
        raise ConfigError(f"{what} has {n} values, above the limit of {MAX_Q_VALUES}")
    return n


#: Memory the kept sample records of one run may take (bytes): each sample keeps ``tau``,
#: ``alpha`` and ``f(alpha)`` per q value plus its working copies (measured: 4.7 MB per sample
#: for 10 001 q values, about 480 bytes per q value).
RESULT_MEMORY_BUDGET = 8 * 10**9
#: JSON one result document may take (bytes): about 90 bytes per q value and sample.
RESULT_JSON_BUDGET = 2 * 10**9
_RAM_PER_Q = 480
_RAM_PER_SAMPLE = 16_384
_JSON_PER_Q = 90
_JSON_PER_SAMPLE = 2_048
_FIT_BYTES = 8 * 4  # the spectrum fit's transient [Q x R] float64 arrays (about four at once)


def estimate_run(samples: int, n_q: int, n_radii: int = 64) -> dict[str, int]:
    """Estimated memory and output size of a run's results, before anything runs.

    Args:
        samples: Samples per checkpoint (kept in memory until the checkpoint's result is written).
        n_q: Values of the q grid.
        n_radii: Radii of the radius grid (the fit's transient arrays are ``[Q x R]``).

    Returns:
        ``{"memory_bytes", "json_bytes"}``: the kept records plus one sample's fit arrays, and
        the result document's JSON.
    """
    memory = samples * (_RAM_PER_SAMPLE + _RAM_PER_Q * n_q) + _FIT_BYTES * n_q * n_radii
    return {"memory_bytes": int(memory), "json_bytes": int(samples * (_JSON_PER_SAMPLE + _JSON_PER_Q * n_q))}


def check_run_budget(samples: int, n_q: int, n_radii: int = 64) -> dict[str, int]:
    """Refuse options whose results exceed :data:`RESULT_MEMORY_BUDGET` or :data:`RESULT_JSON_BUDGET`.

    Returns:
        The estimate (:func:`estimate_run`).

    Raises:
        ConfigError: One line with the estimate, the budget and the options to lower.
    """
    est = estimate_run(samples, n_q, n_radii)
    over = []
    if est["memory_bytes"] > RESULT_MEMORY_BUDGET:
        over.append(f"about {est['memory_bytes'] / 1e9:.1f} GB of memory for the results (budget "
                    f"{RESULT_MEMORY_BUDGET / 1e9:.0f} GB)")
    if est["json_bytes"] > RESULT_JSON_BUDGET:
        over.append(f"about {est['json_bytes'] / 1e9:.1f} GB of JSON per result (budget "
                    f"{RESULT_JSON_BUDGET / 1e9:.0f} GB)")
    if over:
        raise ConfigError(f"samples={samples} with a q grid of {n_q} values needs " + " and ".join(over)
                          + "; use fewer samples or fewer q values (a larger q_step)")
    return est
