"""Up-front resource limits of the analysis options (named constants and their checks).

The options record (:mod:`mfa_engine.options`) applies them when it is built, so the command
line, a TOML file and the Python API all refuse an oversized request before anything is read,
with a one-line :class:`~mfa_engine.errors.ConfigError` naming the option.
"""

from __future__ import annotations

from mfa_engine.errors import ConfigError

__all__ = ["MAX_SAMPLES", "MAX_Q_VALUES", "MAX_N_RADII", "check_q_count"]

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
