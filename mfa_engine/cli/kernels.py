"""``mfa kernels``: placeholder, replaced by the module's owner."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Register nothing yet."""
