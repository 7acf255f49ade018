"""Streaming per-dimension activation statistics (float64, Chan et al. parallel merge)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mfa_engine.errors import ConfigError

__all__ = ["ActivationStats", "thresholds_from_stats"]


def thresholds_from_stats(mu: np.ndarray, sigma: np.ndarray, k: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """GeRe thresholds ``pos = mu + k sigma``, ``neg = mu - k sigma``, rounded to float32.

    The float32 rounding is part of the definition: the replay cache labels states with exactly
    the thresholds the loss later uses, so an unchanged model has loss 0.

    Args:
        mu: ``[H]`` per-dimension mean.
        sigma: ``[H]`` per-dimension population std.
        k: width of the neutral band in stds.

    Returns:
        ``(pos, neg)``, float32 ``[H]`` each.
    """
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    return (mu + k * sigma).astype(np.float32), (mu - k * sigma).astype(np.float32)


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu()
        if str(x.dtype) in ("torch.bfloat16", "torch.float16"):
            x = x.float()
        x = x.numpy()
    return np.asarray(x)


class ActivationStats:
    """Per-dimension count, mean and population std, updated batch by batch.

    Each batch is reduced in float64 with a two-pass mean / centred sum of squares, then merged
    with Chan's formula (``M2 = M2_a + M2_b + delta^2 n_a n_b / n``), so the result stays exact
    when the mean is large relative to the std (where sum-of-squares cancels catastrophically).

    Args:
        hidden_size: H, or None to take it from the first batch.
    """

    def __init__(self, hidden_size: int | None = None) -> None:
        self.hidden_size = hidden_size
        self.count = 0
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    def update(self, x: Any, mask: Any = None) -> ActivationStats:
        """Add activations.

        Args:
            x: ``[..., H]`` numpy array or torch tensor (any float dtype).
            mask: ``x.shape[:-1]`` token mask (nonzero = include) or None.

        Returns:
            self.
        """
        a = _to_numpy(x)
        H = a.shape[-1]
        if self.hidden_size is None:
            self.hidden_size = H
        if H != self.hidden_size:
            raise ConfigError(f"activations have hidden size {H}, statistics have {self.hidden_size}")
        a = a.reshape(-1, H)
        if mask is not None:
            m = _to_numpy(mask).reshape(-1) != 0
            if m.shape[0] != a.shape[0]:
                raise ConfigError(f"mask has {m.shape[0]} tokens, activations have {a.shape[0]}")
            a = a[m]
        n_b = a.shape[0]
        if n_b == 0:
            return self
        a = a.astype(np.float64, copy=False)
        mean_b = a.mean(axis=0)
        m2_b = ((a - mean_b) ** 2).sum(axis=0)
        return self._merge(n_b, mean_b, m2_b)

    def _merge(self, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray) -> ActivationStats:
        if self.count == 0 or self._mean is None or self._m2 is None:
            self.count, self._mean, self._m2 = int(n_b), mean_b.copy(), m2_b.copy()
            return self
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._m2 = self._m2 + m2_b + delta * delta * (n_a * n_b / n)
        self.count = n
        return self

    def merge(self, other: ActivationStats) -> ActivationStats:
        """Fold another accumulator into this one (e.g. from another worker)."""
        if other.count == 0:
            return self
        if self.hidden_size is not None and other.hidden_size != self.hidden_size:
            raise ConfigError(f"cannot merge statistics of hidden size {other.hidden_size} into {self.hidden_size}")
        self.hidden_size = other.hidden_size
        assert other._mean is not None and other._m2 is not None
        return self._merge(other.count, other._mean, other._m2)

    def _require(self) -> None:
        if self.count == 0:
            raise ConfigError("ActivationStats has no data yet")

    @property
    def mean(self) -> np.ndarray:
        """float64 ``[H]`` mean."""
        self._require()
        assert self._mean is not None
        return self._mean.copy()

    @property
    def var(self) -> np.ndarray:
        """float64 ``[H]`` population variance."""
        self._require()
        assert self._m2 is not None
        return self._m2 / self.count

    @property
    def std(self) -> np.ndarray:
        """float64 ``[H]`` population std."""
        return np.sqrt(self.var)

    def thresholds(self, k: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """``(pos, neg)`` float32 ``[H]``: ``mu +- k sigma`` (see :func:`thresholds_from_stats`)."""
        return thresholds_from_stats(self.mean, self.std, k)

    def state_dict(self) -> dict:
        """Serializable state (count, mean, M2)."""
        return {"count": self.count, "hidden_size": self.hidden_size, "mean": self._mean, "m2": self._m2}

    @classmethod
    def from_state_dict(cls, state: dict) -> ActivationStats:
        """Inverse of :meth:`state_dict`."""
        s = cls(state.get("hidden_size"))
        s.count = int(state["count"])
        s._mean = None if state["mean"] is None else np.asarray(state["mean"], dtype=np.float64)
        s._m2 = None if state["m2"] is None else np.asarray(state["m2"], dtype=np.float64)
        return s
