"""Up-front resource limits of the analysis options (named constants and their checks).

The options record (:mod:`mfa_engine.options`) applies them when it is built, so the command
line, a TOML file and the Python API all refuse an oversized request before anything is read,
with a one-line :class:`~mfa_engine.errors.ConfigError` naming the option.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from mfa_engine.errors import ConfigError

__all__ = ["MAX_SAMPLES", "MAX_Q_VALUES", "MAX_N_RADII", "check_q_count", "Setting", "SETTINGS",
           "setting", "check_settings"]

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


@dataclass(frozen=True)
class Setting:
    """One numeric environment setting: its kind, bounds (inclusive) and default."""

    name: str
    kind: type
    low: float
    high: float
    default: float
    unit: str = ""

    def parse(self, text: str | None) -> float:
        """The value of ``text`` (the default when unset or blank).

        Raises:
            ConfigError: Not a number of the setting's kind, or outside its bounds (one line
                naming the setting).
        """
        if text is None or not text.strip():
            return self.default
        what = "an integer" if self.kind is int else "a number"
        expected = f"expected {what}{' ' + self.unit if self.unit else ''} in {_plain(self.low)}..{_plain(self.high)}"
        try:
            value = float(text.strip().replace("_", ""))
        except ValueError:
            raise ConfigError(f"environment variable {self.name}={text!r}: {expected}") from None
        if not math.isfinite(value) or not self.low <= value <= self.high or (
                self.kind is int and value != int(value)):
            raise ConfigError(f"environment variable {self.name}={text!r}: {expected}")
        if self.kind is int:  # exact for integers written out in full (beyond float precision)
            stripped = text.strip().replace("_", "")
            return int(stripped) if stripped.lstrip("+-").isdigit() else int(value)
        return value


def _plain(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


#: Every numeric ``MFA_*`` and ``HF_*`` setting the engine reads, with its bounds and default
#: (huggingface_hub reads the ``HF_HUB_*_TIMEOUT`` ones with a bare ``int()`` at import).
SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("MFA_PREFETCH_BYTES", int, 0, 2**50, 512 << 20, "of bytes"),
    Setting("MFA_HUB_GAP", int, 0, 1 << 30, 4 << 10, "of bytes"),
    Setting("MFA_HUB_WORKERS", int, 1, 256, 8),
    Setting("MFA_HUB_RETRIES", int, 1, 100, 5),
    Setting("MFA_HUB_BACKOFF", float, 0.0, 60.0, 0.5, "of seconds"),
    Setting("MFA_RANGE_CACHE_LIMIT", int, 0, 2**62, 50 * 10**9, "of bytes"),
    Setting("HF_HUB_ETAG_TIMEOUT", int, 0, 86_400, 10, "of seconds"),
    Setting("HF_HUB_DOWNLOAD_TIMEOUT", int, 0, 86_400, 10, "of seconds"),
)}


def setting(name: str, environ: Mapping[str, str] | None = None) -> float:
    """The checked value of the numeric setting ``name`` (:data:`SETTINGS`) from the environment.

    Raises:
        ConfigError: The value is not a number of the setting's kind or is out of its bounds.
    """
    env = os.environ if environ is None else environ
    return SETTINGS[name].parse(env.get(name))


def check_settings(environ: Mapping[str, str] | None = None) -> None:
    """Check every numeric setting of :data:`SETTINGS` that is set (the CLI does so first).

    Raises:
        ConfigError: The first setting that is malformed or out of bounds, named.
    """
    for name in SETTINGS:
        setting(name, environ)
