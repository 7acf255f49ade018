"""Analysis modes: one module each, with the same interface (docs/architecture.md "Modes").

Every mode module defines::

    plan(recorder, seeds, options) -> None
        # make, against a recording checkpoint, exactly the read_block calls run() makes
    run(checkpoint, seeds, options, on_sample=None, *, progress=False) -> (records, q)
        # one record per seed (the "samples" entries of the JSON document) and the q grid

``options`` is a :class:`mfa_engine.options.AnalysisOptions`. ``analyze_checkpoint`` is
dispatch plus summary; batch runs use ``plan`` to read each tensor once for all samples.

Modes: ``paper`` (:mod:`mfa_engine.modes.paper`) and ``reference``
(:mod:`mfa_engine.modes.reference`).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mfa_engine.errors import ConfigError
from mfa_engine.options import MODES

__all__ = ["MODES", "get_mode"]

_MODULES = {"paper": "mfa_engine.modes.paper", "reference": "mfa_engine.modes.reference"}


def get_mode(name: str) -> ModuleType:
    """The module of a mode (with ``plan`` and ``run``).

    Raises:
        ConfigError: Unknown mode name.
    """
    if name not in _MODULES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {name!r}")
    return importlib.import_module(_MODULES[name])
