"""Null models: a checkpoint stand-in whose weights keep some property of the real ones.

:func:`null_checkpoint` is the one place where a null model's name becomes a checkpoint
wrapper; the modes call it and never name a wrapper class. Each wrapper answers the reads of
the ``open_checkpoint`` contract (``read_block``, ``read_rows``, ``read``) and is seeded per
sample, so sample ``s`` of every checkpoint of a series uses the same draws.

- ``shuffle`` (:class:`~mfa_engine.checkpoints.shuffled.ShuffledCheckpoint`): every weight
  matrix permuted at random (same values, no structure).
- ``gaussian`` (:class:`~mfa_engine.checkpoints.gaussian.GaussianCheckpoint`): every weight
  matrix replaced by iid Normal(0, sigma) with the real matrix's standard deviation (the
  architecture null: the network's shape and scales, no trained values).
"""

from __future__ import annotations

from typing import Any

from mfa_engine.checkpoints.gaussian import GaussianCheckpoint
from mfa_engine.checkpoints.shuffled import ShuffledCheckpoint
from mfa_engine.errors import ConfigError

__all__ = ["NULL_MODELS", "null_checkpoint"]

#: Supported null models, in the order the CLI lists them.
NULL_MODELS: tuple[str, ...] = ("shuffle", "gaussian")


def null_checkpoint(model: str, ckpt: Any, seed: int) -> Any:
    """The checkpoint of null model ``model`` for sample ``seed``.

    Args:
        model: A name of :data:`NULL_MODELS`.
        ckpt: The real checkpoint (``open_checkpoint`` contract), read through.
        seed: The sample's seed.

    Returns:
        A checkpoint-like reader of the null model's weights.

    Raises:
        ConfigError: An unknown null model.
    """
    if model == "shuffle":
        return ShuffledCheckpoint(ckpt, seed)
    if model == "gaussian":
        return GaussianCheckpoint(ckpt, seed)
    raise ConfigError(f"null model must be one of {', '.join(NULL_MODELS)}, got {model!r}")
