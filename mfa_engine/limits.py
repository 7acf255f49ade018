"""Up-front limits and checks of the analysis options (one place for the CLI, TOML and API).

Every check raises :class:`~mfa_engine.errors.ConfigError` with a one-line message naming the
option as the caller spells it (``--samples`` on the command line, ``samples`` in Python), so
no expensive work starts with a value that cannot work or would exhaust memory.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from mfa_engine.errors import ConfigError, plain

__all__ = [
    "MAX_SAMPLES",
    "MAX_Q_VALUES",
    "MAX_N_RADII",
    "MAX_SEED",
    "check_samples",
    "check_seed",
    "check_q_count",
    "check_n_radii",
    "check_analysis_options",
]

#: Samples per checkpoint (each is a full analysis; the records are kept in memory).
MAX_SAMPLES = 10_000
#: Values of a q grid (the spectrum fit is O(Q x R) per centre; -3..3 step 0.001 is 6001).
MAX_Q_VALUES = 10_001
#: Radii of the radius grid (counts are [centres x radii] per sample).
MAX_N_RADII = 4_096
#: Largest seed (seeds are 64-bit signed integers in the stored rows).
MAX_SEED = 2**63 - 1


def _name(option: str, cli: bool) -> str:
    return f"--{option.replace('_', '-')}" if cli else option


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        hasattr(value, "__index__") and not isinstance(value, float)
    ):
        raise ConfigError(f"{name} must be an integer, got {plain(value)}")
    return int(value)


def check_samples(samples: Any, *, cli: bool = False) -> int:
    """``1 <= samples <= MAX_SAMPLES``."""
    name = _name("samples", cli)
    n = _int(samples, name)
    if n < 1:
        raise ConfigError(f"{name} must be >= 1, got {n}")
    if n > MAX_SAMPLES:
        raise ConfigError(f"{name} {n} is above the limit of {MAX_SAMPLES} samples per checkpoint")
    return n


def check_seed(seed: Any, samples: int = 1, *, cli: bool = False) -> int:
    """``0 <= seed`` and ``seed + samples - 1 <= MAX_SEED``."""
    name = _name("seed", cli)
    s = _int(seed, name)
    if s < 0:
        raise ConfigError(f"{name} must be >= 0, got {s}")
    if s + int(samples) - 1 > MAX_SEED:
        raise ConfigError(f"{name} {s} is too large: seeds up to {s + int(samples) - 1} exceed {MAX_SEED}")
    return s


def check_q_count(n: int, *, cli: bool = False, what: str = "q grid") -> int:
    """A q grid of ``n`` values: at most ``MAX_Q_VALUES``."""
    if n > MAX_Q_VALUES:
        opt = "--q-min/--q-max/--q-step" if cli else "q"
        raise ConfigError(f"{what} has {n} values, above the limit of {MAX_Q_VALUES} ({opt})")
    return n


def check_n_radii(n_radii: Any, *, cli: bool = False) -> int:
    """``2 <= n_radii <= MAX_N_RADII``."""
    name = _name("n_radii", cli)
    n = _int(n_radii, name)
    if n < 2:
        raise ConfigError(f"{name} must be >= 2, got {n}")
    if n > MAX_N_RADII:
        raise ConfigError(f"{name} {n} is above the limit of {MAX_N_RADII} radii")
    return n


def _real(value: Any, name: str, ok: Callable[[float], bool], expected: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {plain(value)}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {plain(value)}") from None
    if not ok(x):
        raise ConfigError(f"{name} must be {expected}, got {x:g}")
    return x


def check_analysis_options(opts: dict[str, Any], *, cli: bool = False) -> None:
    """Check the numeric options of ``analyze_checkpoint`` present in ``opts`` (keyword names).

    Args:
        opts: Keyword arguments of ``analyze_checkpoint`` (any subset).
        cli: Name options as on the command line (``--n-radii``).

    Raises:
        ConfigError: The first invalid value, naming its option.
    """
    samples = 1
    if "samples" in opts:
        samples = check_samples(opts["samples"], cli=cli)
    if "seed" in opts:
        check_seed(opts["seed"], samples, cli=cli)
    if "n_radii" in opts:
        check_n_radii(opts["n_radii"], cli=cli)
    if opts.get("q") is not None:
        try:
            n = len(opts["q"])
        except TypeError:
            n = 1
        check_q_count(n, cli=cli)
    finite = math.isfinite
    checks = {
        "threshold": (lambda x: x > 1, "a number > 1 (window 1 < d <= T)"),
        "eps": (lambda x: finite(x) and x >= 0, "a finite number >= 0"),
        "structural_distance": (lambda x: finite(x) and x >= 0, "a finite number >= 0"),
    }
    for key, (ok, expected) in checks.items():
        if opts.get(key) is not None:
            _real(opts[key], _name(key, cli), ok, expected)
    if opts.get("min_reach") is not None:
        name = _name("min_reach", cli)
        if _int(opts["min_reach"], name) < 0:
            raise ConfigError(f"{name} must be >= 0, got {opts['min_reach']}")
