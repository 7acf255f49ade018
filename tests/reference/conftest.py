"""Fixtures of the reference-mode tests: an in-memory checkpoint with the open_checkpoint API."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


class FakeCheckpoint:
    """In-memory stand-in for the checkpoint contract (config, keys, shape, read_block).

    Records every ``read_block`` call so tests can check that each block is read once.
    """

    def __init__(self, config: dict, tensors: dict[str, np.ndarray]):
        self.config = dict(config)
        self.model_type = self.config.get("model_type")
        self._tensors = dict(tensors)
        self.reads: list[tuple[str, int, int]] = []

    def keys(self) -> list[str]:
        return list(self._tensors)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._tensors[name].shape)

    def dtype(self, name: str) -> str:
        return str(self._tensors[name].dtype)

    def read(self, name: str) -> np.ndarray:
        return self._tensors[name].astype(np.float32)

    def read_block(self, name: str, rows, cols) -> np.ndarray:
        rows = np.asarray(rows)
        cols = np.asarray(cols)
        self.reads.append((name, len(rows), len(cols)))
        return self._tensors[name][np.ix_(rows, cols)].astype(np.float32)


def neox_weights(
    n_blocks: int, hidden: int, rng: np.random.Generator, prefix: str = "gpt_neox."
) -> dict[str, np.ndarray]:
    """Random float32 GPT-NeoX weights with a spread of magnitudes and some exact zeros.

    Insertion order is the order of ``model.named_parameters()`` (weights only).
    """
    h = hidden
    out: dict[str, np.ndarray] = {}
    shapes = {
        "attention.query_key_value.weight": (3 * h, h),
        "attention.dense.weight": (h, h),
        "mlp.dense_h_to_4h.weight": (4 * h, h),
        "mlp.dense_4h_to_h.weight": (h, 4 * h),
    }
    for b in range(n_blocks):
        out[f"{prefix}layers.{b}.input_layernorm.weight"] = np.ones(h, np.float32)
        for m, shape in shapes.items():
            # |w| log-uniform in [1/400, 1.5]: distances from 0.67 to 400, many in the window.
            mag = np.exp(rng.uniform(np.log(1 / 400), np.log(1.5), size=shape))
            w = (mag * rng.choice([-1.0, 1.0], size=shape)).astype(np.float32)
            w[rng.random(shape) < 0.05] = 0.0
            out[f"{prefix}layers.{b}.{m}"] = w
            out[f"{prefix}layers.{b}.{m[:-len('weight')]}bias"] = np.zeros(shape[0], np.float32)
    return out


def neox_config(n_blocks: int, hidden: int, **extra) -> dict:
    cfg = {
        "model_type": "gpt_neox",
        "num_hidden_layers": n_blocks,
        "hidden_size": hidden,
        "intermediate_size": 4 * hidden,
        "num_attention_heads": 4,
    }
    cfg.update(extra)
    return cfg


@pytest.fixture
def make_fake_ckpt() -> Callable[..., FakeCheckpoint]:
    """Factory ``make_fake_ckpt(n_blocks, hidden, seed=0, prefix="gpt_neox.")``."""

    def make(n_blocks: int, hidden: int, seed: int = 0, prefix: str = "gpt_neox.", **cfg):
        rng = np.random.default_rng(seed)
        return FakeCheckpoint(neox_config(n_blocks, hidden, **cfg), neox_weights(n_blocks, hidden, rng, prefix))

    return make
