"""Threshold-margin (TM) loss of GeRe (arXiv 2508.04676): naive oracle, fused loss, packed states,
activation statistics, the replay cache and the Hugging Face training integration.

Importing this package is light: torch (and triton / transformers) load only when an attribute
that needs them is first used.

Public API:
    naive_tm_loss(hidden, ref_hidden, pos_thr, neg_thr, mask=None, reduction="nonzero_mean")
    tm_loss(hidden, states, pos_thr, neg_thr, mask=None, reduction="nonzero_mean", backend="auto")
    TMLoss(pos_thr, neg_thr, reduction="nonzero_mean", backend="auto")
    PackedStates, pack_states(codes), unpack_states(packed), states_from_reference(ref, pos, neg)
    ActivationStats, thresholds_from_stats(mu, sigma, k)
    build_replay_cache(model, texts, out, ...), ReplayCache(path)
    TMReplayTrainer (transformers.Trainer subclass)
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "naive_tm_loss",
    "tm_loss",
    "TMLoss",
    "PackedStates",
    "pack_states",
    "unpack_states",
    "states_from_reference",
    "codes_from_reference",
    "ActivationStats",
    "thresholds_from_stats",
    "build_replay_cache",
    "ReplayCache",
    "TMReplayTrainer",
]

_LAZY = {
    "naive_tm_loss": "mfa_engine.tm.naive",
    "tm_loss": "mfa_engine.tm.loss",
    "TMLoss": "mfa_engine.tm.loss",
    "PackedStates": "mfa_engine.tm.states",
    "pack_states": "mfa_engine.tm.states",
    "unpack_states": "mfa_engine.tm.states",
    "states_from_reference": "mfa_engine.tm.states",
    "codes_from_reference": "mfa_engine.tm.states",
    "ActivationStats": "mfa_engine.tm.stats",
    "thresholds_from_stats": "mfa_engine.tm.stats",
    "build_replay_cache": "mfa_engine.tm.cache",
    "ReplayCache": "mfa_engine.tm.replay_cache",
    "TMReplayTrainer": "mfa_engine.tm.trainer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mfa_engine.tm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
