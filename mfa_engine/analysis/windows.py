"""Pre-registered fit windows in ``u = ln(r / r_unit)``, one per model family.

With centre sampling paper mode fits alpha0, tau and the width over a fixed window of the
fixed radius grid (:data:`mfa_engine.analysis.radii.U_GRID`), so the value is a continuous
function of the weights. Each family's window was chosen once, from the local-slope profile of a
full network (every node a centre, docs/method.md, "Pre-registered window"): the span-1 window
of the grid whose local slopes (secants over 0.25 in u) of the centre average of ``ln mu`` and of
``ln Z_q`` at q = -1 and +1 vary least, among those where at most half of the centres count only
themselves at the lower end and at most half are saturated at the upper end:

* ``bert``: (1.1, 2.1), from MiniLM-L6 (all-MiniLM-L6-v2; instability 0.33).
* ``gpt_neox``: (1.2, 2.2), from the 70M-shaped synthetic GPT-NeoX (6 blocks, hidden 512;
  instability 0.30). The 2-block tiny trained GPT-NeoX of the tests saturates earlier: no
  window below its saturation tail is stable there (instability 0.33-1.3 at this window).
* every other family (``default``): (1.1, 2.1), MiniLM's; no full network of those families was
  measured.

``window`` (the option) overrides the table; the document's ``config`` records the window used
and its source.
"""

from __future__ import annotations

from mfa_engine.errors import ConfigError

__all__ = ["FAMILY_WINDOWS", "DEFAULT_WINDOW", "family_window", "resolve_window"]

#: The pre-registered window in u per ``config.model_type`` (module docstring).
FAMILY_WINDOWS: dict[str, tuple[float, float]] = {
    "bert": (1.1, 2.1),
    "gpt_neox": (1.2, 2.2),
}
#: The window of every family not in :data:`FAMILY_WINDOWS`.
DEFAULT_WINDOW: tuple[float, float] = (1.1, 2.1)


def family_window(model_type: str | None) -> tuple[tuple[float, float], str]:
    """The pre-registered window of a model family and its source.

    Args:
        model_type: ``config.model_type`` of the checkpoint (None: unknown).

    Returns:
        ``((lo, hi), source)`` with source ``"family:<model_type>"`` or ``"family:default"``.
    """
    if model_type in FAMILY_WINDOWS:
        return FAMILY_WINDOWS[model_type], f"family:{model_type}"
    return DEFAULT_WINDOW, "family:default"


def resolve_window(window: tuple[float, float] | None, model_type: str | None) -> tuple[tuple[float, float], str]:
    """The window to fit: the given one (source ``"option"``) or the family's.

    Raises:
        ConfigError: A given window that is not ``lo < hi``.
    """
    if window is None:
        return family_window(model_type)
    lo, hi = (float(v) for v in window)
    if not lo < hi:
        raise ConfigError(f"window must satisfy LO < HI in u = ln(r / r_unit), got ({lo}, {hi})")
    return (lo, hi), "option"
