"""A tiny ``transformers.Trainer`` run for the tracking tests (GPT-NeoX, character level, CPU).

``tiny_model(seed) -> GPTNeoXForCausalLM`` (hidden 64, 2 blocks, 4 heads, MLP 256) and
``tiny_trainer(out_dir, callbacks, max_steps, save_steps, report_to) -> Trainer`` training it on
stdlib docstrings (:func:`tests._training.training_text`), seeded, without saving optimizer
state. torch and transformers are imported lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["TRACK_OPTIONS", "tiny_model", "tiny_trainer"]

#: Small, fast analysis options for the tests (two paper-mode samples of 16 neurons per layer).
TRACK_OPTIONS = {"neurons_per_layer": 16, "samples": 2}


def tiny_model(seed: int = 0, dtype: Any = None) -> Any:
    """A freshly initialised tiny GPT-NeoX causal LM (vocabulary 128)."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    cfg = tf.GPTNeoXConfig(vocab_size=128, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=256, max_position_embeddings=128, rotary_pct=0.25,
                           tie_word_embeddings=False)
    model = tf.GPTNeoXForCausalLM(cfg)
    return model if dtype is None else model.to(dtype)


def _dataset(seq_len: int, n: int, seed: int) -> Any:
    import torch

    from tests._training import training_text

    ids = torch.tensor([min(ord(c), 127) for c in training_text()], dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(ids) - seq_len - 1, (n,), generator=gen).tolist()

    class Windows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return n

        def __getitem__(self, i: int) -> dict[str, Any]:
            x = ids[starts[i] : starts[i] + seq_len]
            return {"input_ids": x, "labels": x}

    return Windows()


def tiny_trainer(out_dir: str | Path, callbacks: list[Any], *, max_steps: int = 20, save_steps: int = 10,
                 report_to: str | list[str] = "none", seed: int = 0, batch: int = 8, seq_len: int = 32) -> Any:
    """A seeded ``Trainer`` for the tiny model; checkpoints ``out_dir/checkpoint-N`` every ``save_steps``."""
    import transformers as tf

    args = tf.TrainingArguments(
        output_dir=str(out_dir), max_steps=max_steps, save_steps=save_steps, save_strategy="steps",
        save_only_model=True, per_device_train_batch_size=batch, learning_rate=3e-3, logging_steps=5,
        report_to=report_to, use_cpu=True, seed=seed, data_seed=seed, disable_tqdm=True,
        dataloader_num_workers=0,
    )
    return tf.Trainer(model=tiny_model(seed), args=args, train_dataset=_dataset(seq_len, max_steps * batch, seed),
                      callbacks=callbacks)
