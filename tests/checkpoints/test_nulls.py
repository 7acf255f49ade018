"""The null-model dispatcher: names, errors, and the options' copy of the names."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.checkpoints.nulls import NULL_MODELS, null_checkpoint
from mfa_engine.checkpoints.shuffled import ShuffledCheckpoint
from mfa_engine.errors import ConfigError
from mfa_engine.options import NULL_MODELS as OPTION_NULLS


class _Ckpt:
    def __init__(self) -> None:
        self.w = np.arange(12, dtype=np.float32).reshape(3, 4)

    def __contains__(self, name: object) -> bool:
        return name == "w"

    def shape(self, name: str) -> tuple[int, int]:
        return self.w.shape

    def read_block(self, name: str, rows, cols) -> np.ndarray:
        return self.w[np.ix_(np.asarray(rows), np.asarray(cols))]


def test_options_list_the_same_null_models():
    assert tuple(OPTION_NULLS) == tuple(NULL_MODELS)


def test_shuffle_is_the_shuffled_checkpoint():
    assert isinstance(null_checkpoint("shuffle", _Ckpt(), 3), ShuffledCheckpoint)


def test_unknown_null_model_is_named():
    with pytest.raises(ConfigError, match="rewire"):
        null_checkpoint("rewire", _Ckpt(), 0)
