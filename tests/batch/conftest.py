"""Fixtures of the batch tests: a tiny GPT-NeoX training series (step0, step1000, step2000).

``neox_series`` is shared between tests (session scope): copy it before modifying files.
The checkpoints are tiny seeded GPT-NeoX checkpoints with Pythia's parameter names (fp16
single-file safetensors from ``mfa_engine.synthetic``; hidden 64, 2 blocks), large enough for
reference mode (32 neurons per layer). Writing them needs neither torch nor transformers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mfa_engine.synthetic import write_gpt_neox_checkpoint

STEPS = (0, 1000, 2000)


@pytest.fixture(scope="session")
def neox_series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory holding ``step0``, ``step1000`` and ``step2000`` (different weights each)."""
    root = tmp_path_factory.mktemp("series")
    for i, step in enumerate(STEPS):
        write_gpt_neox_checkpoint(root / f"step{step}", seed=10 + i, hidden_size=64, num_hidden_layers=2,
                                  num_attention_heads=4, dtype="float16")
    return root


def copy_series(src: Path, dst: Path, steps: tuple[int, ...] = STEPS) -> Path:
    """Copy some checkpoints of the series into ``dst`` (for tests that modify files)."""
    for step in steps:
        shutil.copytree(src / f"step{step}", dst / f"step{step}")
    return dst


def truncate_weights(ckpt_dir: Path) -> None:
    """Make a checkpoint corrupt: cut its safetensors file in half."""
    f = ckpt_dir / "model.safetensors"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
