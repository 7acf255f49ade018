"""Progress bars on stderr (tqdm), set up in one place for the analysis, Hub fetches and batches.

tqdm is imported when a bar is made, so importing this module is free.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["progress_bar", "progress_callback"]


def progress_bar(total: int | None, desc: str, enabled: bool, *, unit: str = "sample", **kwargs: Any) -> Any:
    """A tqdm bar on stderr (disabled unless ``enabled``; not left on screen when done).

    Args:
        total: Expected count (None: unknown).
        desc: Label.
        enabled: Show it.
        unit: Unit of the count (``"sample"``, ``"B"`` with ``unit_scale=True``, ...).
        **kwargs: Other tqdm arguments (``position``, ``unit_scale``, ...).
    """
    from tqdm.auto import tqdm

    kwargs.setdefault("leave", False)
    return tqdm(total=total, desc=desc, disable=not enabled, unit=unit, **kwargs)


@contextlib.contextmanager
def progress_callback(name: str, enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A ``callback(stage, done, total)`` driving one progress bar (None when disabled)."""
    if not enabled:
        yield None
        return
    bar = progress_bar(None, f"{name}: blocks", True, unit="block")

    def callback(stage: str, done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.set_description(f"{name}: {stage}")
        bar.refresh()

    try:
        yield callback
    finally:
        bar.close()
