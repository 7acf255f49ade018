"""Shared pieces of the fuzz/property harness: example budgets and outcome counters.

``MFA_FUZZ_EXAMPLES`` scales every property's ``max_examples`` (the CI slice uses the small
defaults below; ``benchmarks/fuzz_long.py`` runs with a large budget and prints the counters).
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

#: (property, outcome) -> examples run; outcome is "ok" (a correct result) or "error" (a
#: one-line error the property accepts).
COUNTS: Counter = Counter()


def budget(default: int) -> settings:
    """Hypothesis settings: ``default`` examples (or MFA_FUZZ_EXAMPLES), no deadline."""
    n = int(os.environ.get("MFA_FUZZ_EXAMPLES", "0") or 0) or default
    return settings(max_examples=n, deadline=None, derandomize=not os.environ.get("MFA_FUZZ_RANDOM"),
                    suppress_health_check=list(HealthCheck), database=None)


def record(prop: str, outcome: str) -> None:
    COUNTS[(prop, outcome)] += 1


def one_line(message: str) -> None:
    """Assert an error message is one line without traceback or NumPy scalar reprs."""
    assert "\n" not in message.strip() and "Traceback" not in message, message
    assert "np.float64(" not in message and "np.int64(" not in message, message
