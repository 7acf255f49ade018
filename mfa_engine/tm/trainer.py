"""Hugging Face ``Trainer`` integration: replay batches with the TM loss mixed into task training.

Every ``replay_every`` training steps, a batch of replay samples is drawn from a
:class:`~mfa_engine.tm.cache.ReplayCache` (seeded, cycling through shuffled epochs), the model
is run on it, and the TM loss of its hidden states (the cache's layer) against the cached states
is added to the task loss::

    loss = task_loss + w * tm
    w = tm_weight                                         (fixed), or
    w = clamp(task_loss.detach() / (tm.detach() + 1e-8), *tm_weight_clamp)   ("dynamic")

The dynamic weight keeps both terms on the same scale (GeRe); the clamp bounds it when the TM
loss is (near) zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from transformers import Trainer

from mfa_engine.errors import ConfigError, plain
from mfa_engine.tm.cache import ReplayCache
from mfa_engine.tm.loss import tm_loss

__all__ = ["TMReplayTrainer"]


class TMReplayTrainer(Trainer):
    """``transformers.Trainer`` that adds ``w * TM`` on replay batches to the task loss.

    Args:
        *args: passed to ``Trainer``.
        replay_cache: a ReplayCache or the path of one.
        tm_weight: a float (fixed weight) or "dynamic" (CE / TM, detached, clamped).
        tm_weight_clamp: ``(low, high)`` bounds of the dynamic weight.
        replay_batch_size: replay samples per replay batch.
        replay_every: add a replay batch every this many optimizer micro-steps (1 = every step).
        replay_lm_loss: also add the model's own loss on the replay batch (labels = input ids,
            padding ignored) to the task loss, i.e. plain replay on top of the TM term.
        tm_reduction: reduction of the TM loss.
        tm_backend: backend of the TM loss ("auto", "triton", "cpu", "torch").
        replay_seed: seed of the replay sampler.
        **kwargs: passed to ``Trainer``.

    Attributes:
        tm_history: one dict per replay step: ``step``, ``task_loss``, ``tm_loss``, ``tm_weight``.
            Training logs also get ``tm_loss`` and ``tm_weight``, averaged since the last log.
    """

    def __init__(
        self,
        *args: Any,
        replay_cache: ReplayCache | str,
        tm_weight: float | str = "dynamic",
        tm_weight_clamp: tuple[float, float] = (0.0, 10.0),
        replay_batch_size: int = 4,
        replay_every: int = 1,
        replay_lm_loss: bool = False,
        tm_reduction: str = "nonzero_mean",
        tm_backend: str = "auto",
        replay_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.replay_cache = replay_cache if isinstance(replay_cache, ReplayCache) else ReplayCache(replay_cache)
        if not (isinstance(tm_weight, (int, float)) or tm_weight == "dynamic"):
            raise ConfigError(f"tm_weight must be a number or 'dynamic', got {plain(tm_weight)}")
        lo, hi = tm_weight_clamp
        if not lo <= hi:
            raise ConfigError(f"tm_weight_clamp must be (low, high) with low <= high, got {tm_weight_clamp}")
        if replay_batch_size < 1 or replay_every < 1:
            raise ConfigError("replay_batch_size and replay_every must be >= 1")
        self.tm_weight = tm_weight
        self.tm_weight_clamp = (float(lo), float(hi))
        self.replay_batch_size = int(replay_batch_size)
        self.replay_every = int(replay_every)
        self.replay_lm_loss = bool(replay_lm_loss)
        self.tm_reduction = tm_reduction
        self.tm_backend = tm_backend
        pos, neg = self.replay_cache.thresholds()
        self._pos = torch.from_numpy(pos)
        self._neg = torch.from_numpy(neg)
        self._rng = np.random.default_rng(replay_seed)
        self._order: list[int] = []
        self._calls = 0
        self._logged = 0
        self.tm_history: list[dict] = []

    def next_replay_indices(self) -> list[int]:
        """Next ``replay_batch_size`` sample indices (shuffled epochs over the cache)."""
        out: list[int] = []
        while len(out) < self.replay_batch_size:
            if not self._order:
                self._order = self._rng.permutation(len(self.replay_cache)).tolist()
            out.append(self._order.pop())
        return out

    def replay_tm_loss(self, model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run ``model`` on the next replay batch; returns ``(tm_loss, replay_lm_loss or None)``."""
        batch = self.replay_cache.batch(self.next_replay_indices(), packed=True)
        device = next(model.parameters()).device
        input_ids = batch["input_ids"].to(device)
        attn = batch["attention_mask"].to(device)
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attn, "output_hidden_states": True}
        if self.replay_lm_loss:
            kwargs["labels"] = input_ids.masked_fill(attn == 0, -100)
        out = model(**kwargs)
        hidden = out.hidden_states[self.replay_cache.layer]
        tm = tm_loss(
            hidden,
            batch["states"].to(device),
            self._pos.to(device),
            self._neg.to(device),
            attn,
            reduction=self.tm_reduction,
            backend=self.tm_backend,
        )
        lm = getattr(out, "loss", None) if self.replay_lm_loss else None
        return tm, lm

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        """Task loss (``Trainer.compute_loss``) plus ``w * TM`` on a replay batch while training."""
        task_loss, outputs = super().compute_loss(
            model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        loss = task_loss
        if model.training:
            self._calls += 1
            if (self._calls - 1) % self.replay_every == 0:
                tm, lm = self.replay_tm_loss(model)
                if lm is not None:
                    loss = loss + lm
                if self.tm_weight == "dynamic":
                    w = (loss.detach() / (tm.detach().to(loss.dtype) + 1e-8)).clamp(*self.tm_weight_clamp)
                else:
                    w = torch.tensor(float(self.tm_weight), device=loss.device)
                loss = loss + w * tm.to(loss.dtype)
                self.tm_history.append(
                    {
                        "step": int(self.state.global_step),
                        "task_loss": float(task_loss.detach()),
                        "tm_loss": float(tm.detach()),
                        "tm_weight": float(w),
                    }
                )
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """``Trainer.log`` plus the mean ``tm_loss`` / ``tm_weight`` of the replay steps since the last log."""
        new = self.tm_history[self._logged :]
        if new and "loss" in logs:
            logs["tm_loss"] = float(np.mean([r["tm_loss"] for r in new]))
            logs["tm_weight"] = float(np.mean([r["tm_weight"] for r in new]))
            self._logged = len(self.tm_history)
        super().log(logs, start_time)
