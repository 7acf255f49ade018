"""A tiny real training run: GPT-NeoX trained on English text that ships with Python.

Stable helpers (imported by the test suite and ``benchmarks/science_tables.py``)::

    training_text() -> str                       docstrings of stdlib modules (real English)
    train_tiny_gpt_neox(root, steps=LOG_STEPS, seed=0, ...) -> dict
        writes root/step{N}/ (config.json + model.safetensors) for each N in steps and
        root/losses.json ({"steps": [...], "loss": [...]}: held-out loss per saved step)

The model is character-level (vocabulary = the characters of the text), 2 blocks, hidden 64,
4 heads, MLP 256; AdamW, seeded, on CPU with one thread, so the run is reproducible. torch and
transformers are imported lazily.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

__all__ = ["LOG_STEPS", "training_text", "train_tiny_gpt_neox"]

#: Log-spaced steps saved by default (step 0 is the initialisation).
LOG_STEPS = (0, 4, 16, 40, 100, 250, 400)

_MODULES = ("collections", "functools", "itertools", "json", "os", "pathlib", "re", "string",
            "textwrap", "argparse", "logging", "typing", "inspect", "random", "statistics",
            "unittest", "email", "http.client", "urllib.parse", "zipfile", "tarfile", "shutil")


def training_text() -> str:
    """Docstrings of a fixed list of standard-library modules and their public members.

    Returns:
        About 180 kB of English text (the exact size depends on the Python version).
    """
    import importlib
    import warnings

    parts: list[str] = []
    for name in _MODULES:
        mod = importlib.import_module(name)
        parts.append(inspect.getdoc(mod) or "")
        for attr in sorted(dir(mod)):
            if attr.startswith("_"):
                continue
            with warnings.catch_warnings():  # e.g. typing.re is deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                obj = getattr(mod, attr, None)
                doc = inspect.getdoc(obj) if inspect.isfunction(obj) or inspect.isclass(obj) else None
            if doc:
                parts.append(doc)
    return "\n\n".join(p for p in parts if p)


def train_tiny_gpt_neox(
    root: str | Path,
    *,
    steps: tuple[int, ...] = LOG_STEPS,
    seed: int = 0,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    seq_len: int = 64,
    batch: int = 16,
    lr: float = 3e-3,
) -> dict[str, Any]:
    """Train a tiny character-level GPT-NeoX and save checkpoints at ``steps``.

    Args:
        root: Output directory (created); checkpoints go to ``root/step{N}``.
        steps: Sorted steps to save (0 = before any update).
        seed: Seed of the initialisation and of the batch order.
        hidden, layers, heads: Model shape (MLP = 4 * hidden).
        seq_len: Tokens (characters) per training sequence.
        batch: Sequences per step.
        lr: AdamW learning rate.

    Returns:
        ``{"steps": [...], "loss": [...], "dirs": [...]}``; ``loss`` is the mean cross-entropy
        on a fixed held-out batch (the last 10% of the text) at each saved step.
    """
    import torch
    import transformers as tf

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    text = training_text()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    cut = int(0.9 * len(ids))
    train, held = ids[:cut], ids[cut:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        cfg = tf.GPTNeoXConfig(
            vocab_size=len(chars), hidden_size=hidden, num_hidden_layers=layers,
            num_attention_heads=heads, intermediate_size=4 * hidden,
            max_position_embeddings=2 * seq_len, rotary_pct=0.25, use_parallel_residual=True,
            tie_word_embeddings=False,
        )
        model = tf.GPTNeoXForCausalLM(cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        gen = torch.Generator().manual_seed(seed)
        eval_starts = torch.arange(0, len(held) - seq_len - 1, max(1, (len(held) - seq_len - 1) // 32))[:32]
        eval_x = torch.stack([held[s : s + seq_len] for s in eval_starts.tolist()])

        def held_out_loss() -> float:
            model.eval()
            with torch.no_grad():
                loss = model(input_ids=eval_x, labels=eval_x).loss
            model.train()
            return float(loss)

        out: dict[str, Any] = {"steps": [], "loss": [], "dirs": []}
        wanted = sorted(set(int(s) for s in steps))

        def save(step: int) -> None:
            d = root / f"step{step}"
            model.save_pretrained(d, safe_serialization=True)
            out["steps"].append(step)
            out["loss"].append(held_out_loss())
            out["dirs"].append(str(d))

        model.train()
        for step in range(wanted[-1] + 1):
            if step in wanted:
                save(step)
            if step == wanted[-1]:
                break
            starts = torch.randint(0, len(train) - seq_len - 1, (batch,), generator=gen)
            x = torch.stack([train[s : s + seq_len] for s in starts.tolist()])
            loss = model(input_ids=x, labels=x).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    (root / "losses.json").write_text(json.dumps({"steps": out["steps"], "loss": out["loss"]}))
    return out
