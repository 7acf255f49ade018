"""Reference mode, sampling: the published RNG sequence of sampled neurons (docs/reference-mode.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mfa_engine.arch.base import config_int
from mfa_engine.errors import ArchitectureError, ConfigError

__all__ = ["ReferenceSample", "reference_sample_indices", "config_of", "check_model_type", "dims"]


@dataclass(frozen=True)
class ReferenceSample:
    """Sampled neuron indices of one seed, in draw order (``net_sample_nums`` of the paper code).

    Attributes:
        seed: The seed given to the RNG.
        n_blocks: Number of transformer blocks B.
        hidden: Hidden size h.
        in1: int64 ``[B, k]``, block inputs (``nums1``).
        qkv_base: int64 ``[B, k]``, base of the QKV rows and the context neurons (``nums3``).
        out_attn: int64 ``[B, k]``, attention-output neurons (``nums4``).
        mlp: int64 ``[B, k_mlp]``, MLP hidden neurons, drawn from ``4h`` (``nums5``).
        next_in: int64 ``[k]``, outputs of the last block (``nums6``).
    """

    seed: int
    n_blocks: int
    hidden: int
    in1: np.ndarray
    qkv_base: np.ndarray
    out_attn: np.ndarray
    mlp: np.ndarray
    next_in: np.ndarray

    def qkv_rows(self, block: int) -> np.ndarray:
        """Rows of the fused ``query_key_value`` weight used for ``block``.

        Returns:
            int64 ``[3k]``: ``concat(base, base + h, base + 2h)`` (the published [Q;K;V]
            assumption).
        """
        base = self.qkv_base[block]
        return np.concatenate((base, base + self.hidden, base + 2 * self.hidden))

    def block_output(self, block: int) -> np.ndarray:
        """Sampled outputs of ``block``'s MLP: block ``block + 1``'s ``in1``, or ``next_in``.

        Returns:
            int64 ``[k]``.
        """
        return self.in1[block + 1] if block + 1 < self.n_blocks else self.next_in


def config_of(obj: Any) -> Mapping[str, Any] | None:
    if isinstance(obj, Mapping):
        return obj
    cfg = getattr(obj, "config", None)
    if isinstance(cfg, Mapping):
        return cfg
    if cfg is not None and hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    return None


def check_model_type(config: Mapping[str, Any]) -> None:
    model_type = config.get("model_type")
    if model_type is not None and model_type != "gpt_neox":
        raise ArchitectureError(
            "reference mode reproduces the published NeuroMFA code, which only supports "
            f"gpt_neox; this model has model_type={model_type!r}"
        )


def dims(config_or_dims: Any) -> tuple[int, int]:
    """Return ``(n_blocks, hidden)`` from a config dict, an object with ``.config`` or a pair."""
    config = config_of(config_or_dims)
    if config is not None:
        check_model_type(config)
        # config_int: a missing field or a value of the wrong JSON type is an error naming the field
        n_blocks = config_int(config, "reference mode: gpt_neox", "num_hidden_layers")
        hidden = config_int(config, "reference mode: gpt_neox", "hidden_size")
        ffn = config.get("intermediate_size")
        if ffn is not None:
            ffn = config_int(config, "reference mode: gpt_neox", "intermediate_size")
        if ffn is not None and int(ffn) != 4 * hidden:
            raise ArchitectureError(
                "reference mode reproduces the published NeuroMFA code, which samples the MLP "
                f"from 4*hidden_size = {4 * hidden} neurons; this config has "
                f"intermediate_size={int(ffn)}"
            )
    else:
        try:
            n_blocks, hidden = (int(v) for v in config_or_dims)
        except (TypeError, ValueError):
            raise ConfigError(
                "reference_sample_indices: expected a config dict, an object with .config, or "
                f"(n_blocks, hidden); got {type(config_or_dims).__name__}"
            ) from None
    if n_blocks < 1 or hidden < 1:
        raise ConfigError(
            f"reference mode needs n_blocks >= 1 and hidden >= 1, got {n_blocks} and {hidden}"
        )
    return n_blocks, hidden


def _check_counts(n_per_layer: int, n_mlp: int | None) -> tuple[int, int]:
    k = int(n_per_layer)
    k_mlp = 2 * k if n_mlp is None else int(n_mlp)
    if k < 1 or k_mlp < 1:
        raise ConfigError(
            f"reference sampling needs positive neuron counts, got n_per_layer={k}, n_mlp={k_mlp}"
        )
    return k, k_mlp


def reference_sample_indices(
    config_or_dims: Any, seed: int, *, n_per_layer: int = 32, n_mlp: int | None = None
) -> ReferenceSample:
    """Draw the sampled neuron indices of one seed with the published RNG sequence.

    Equivalent to ``np.random.seed(seed)`` followed by, for each block in order,
    ``choice(arange(h), k)``, ``choice(arange(h), k)``, ``choice(arange(h), k)``,
    ``choice(arange(4h), k_mlp)`` (all without replacement) and, after the last block,
    ``choice(arange(h), k)``. The global NumPy RNG is not touched.

    Args:
        config_or_dims: A model config dict (``model_type`` must be ``gpt_neox`` if given), an
            object with a ``.config`` dict (a checkpoint), or a pair ``(n_blocks, hidden)``.
        seed: Seed of the sample (the published runs use 0..9).
        n_per_layer: Neurons per node layer, k (published: 32 in ``config.py``, 64 in
            ``model2network.py``).
        n_mlp: Neurons of the MLP hidden layer; default ``2 * n_per_layer``.

    Returns:
        The :class:`ReferenceSample`.

    Raises:
        ArchitectureError: The config is not gpt_neox or lacks the sizes.
        ConfigError: A layer is too small to draw its count without replacement (the message
            names the block, the layer and the sizes), or a count is not positive.
    """
    n_blocks, hidden = dims(config_or_dims)
    k, k_mlp = _check_counts(n_per_layer, n_mlp)
    layers = (("in1/qkv_base/out_attn/next_in", hidden, k), ("mlp", 4 * hidden, k_mlp))
    for name, size, count in layers:
        if count > size:
            raise ConfigError(
                f"reference sampling needs {count} neurons without replacement from layer "
                f"{name!r} of every block, which has only {size} (hidden_size={hidden}); lower "
                "n_per_layer/n_mlp"
            )
    rng = np.random.RandomState(int(seed))
    h_range = np.arange(hidden)
    m_range = np.arange(4 * hidden)
    in1, base, out_attn, mlp = [], [], [], []
    for _ in range(n_blocks):
        in1.append(rng.choice(h_range, k, replace=False))
        base.append(rng.choice(h_range, k, replace=False))
        out_attn.append(rng.choice(h_range, k, replace=False))
        mlp.append(rng.choice(m_range, k_mlp, replace=False))
    next_in = rng.choice(h_range, k, replace=False)

    def stack(arrs: list[np.ndarray]) -> np.ndarray:
        out = np.stack(arrs).astype(np.int64)
        out.setflags(write=False)
        return out

    next_in = next_in.astype(np.int64)
    next_in.setflags(write=False)
    return ReferenceSample(
        seed=int(seed),
        n_blocks=n_blocks,
        hidden=hidden,
        in1=stack(in1),
        qkv_base=stack(base),
        out_attn=stack(out_attn),
        mlp=stack(mlp),
        next_in=next_in,
    )
