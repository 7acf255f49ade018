"""Checkpoint reading: HF model directories and the HF cache layout, streamed tensor by tensor.

``open_checkpoint(path, revision=None) -> Checkpoint`` opens single or sharded safetensors
(parsed and memory-mapped here, without the safetensors library) or the ``pytorch_model.bin``
fallback (torch imported lazily). Reads return float32 and touch only the requested rows.
"""

from __future__ import annotations

from mfa_engine.checkpoints.checkpoint import Checkpoint
from mfa_engine.checkpoints.locate import parse_step
from mfa_engine.checkpoints.open import open_checkpoint

__all__ = ["open_checkpoint", "Checkpoint", "parse_step"]
