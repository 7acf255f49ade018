"""Exception types. Every message is one line that names the problem and what was expected."""

from __future__ import annotations

__all__ = [
    "MFAError",
    "CheckpointError",
    "ArchitectureError",
    "ConfigError",
    "AnalysisError",
    "BackendError",
    "StoreError",
    "OutputError",
    "plain",
]


def plain(value: object) -> str:
    """A value for an error message: NumPy scalars as plain Python numbers (``0.5``, never
    ``np.float64(0.5)``), everything else as ``repr``."""
    item = getattr(value, "item", None)
    if type(value).__module__ == "numpy" and callable(item) and getattr(value, "ndim", 1) == 0:
        return repr(item())
    return repr(value)


class MFAError(Exception):
    """Base class of all mfa-engine errors (the CLI prints these as ``error: <message>``)."""


class CheckpointError(MFAError, ValueError):
    """A checkpoint is missing, truncated, malformed, or contradicts its config."""


class ArchitectureError(MFAError, ValueError):
    """The model type is not supported or its config lacks a required field."""


class ConfigError(MFAError, ValueError):
    """An analysis option is invalid (q grid, radii, sample sizes, ...)."""


class AnalysisError(MFAError, ValueError):
    """The analysis cannot be carried out on this input (e.g. too few centres)."""


class BackendError(MFAError, RuntimeError):
    """A compute backend was requested that is not available here."""


class StoreError(MFAError, RuntimeError):
    """A results store is corrupt or belongs to another configuration."""


class OutputError(MFAError, OSError):
    """An output file cannot be written (a directory, a full disk, no permission, ...)."""
