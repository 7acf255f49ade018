"""Analysis modes: one module each, with the same interface (docs/architecture.md "Modes").

Every mode module defines::

    plan(recorder, seeds, options) -> None
        # make, against a recording checkpoint, exactly the read_block calls run() makes
    run(checkpoint, seeds, options, on_sample=None, *, progress=False) -> (records, q)
        # one record per seed (the "samples" entries of the JSON document) and the q grid

``options`` is a :class:`mfa_engine.options.AnalysisOptions`. ``analyze_checkpoint`` is
dispatch plus summary; batch runs use ``plan`` to read each tensor once for all samples.

Modes: ``paper`` (:mod:`mfa_engine.modes.paper`) and ``reference``
(:mod:`mfa_engine.reference.mode`).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from mfa_engine.errors import ConfigError
from mfa_engine.options import MODES

__all__ = ["MODES", "get_mode", "progress_bar", "progress_callback"]

_MODULES = {"paper": "mfa_engine.modes.paper", "reference": "mfa_engine.reference.mode"}


def get_mode(name: str) -> ModuleType:
    """The module of a mode (with ``plan`` and ``run``).

    Raises:
        ConfigError: Unknown mode name.
    """
    if name not in _MODULES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {name!r}")
    return importlib.import_module(_MODULES[name])


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar on stderr (disabled unless ``enabled``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, unit="sample")


@contextlib.contextmanager
def progress_callback(name: str, enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A ``callback(stage, done, total)`` driving one progress bar (None when disabled)."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(desc=f"{name}: blocks", leave=False, unit="block")

    def callback(stage: str, done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.set_description(f"{name}: {stage}")
        bar.refresh()

    try:
        yield callback
    finally:
        bar.close()
