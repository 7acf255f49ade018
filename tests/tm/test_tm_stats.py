import numpy as np
import pytest
import torch

from mfa_engine.errors import ConfigError
from mfa_engine.tm import ActivationStats, thresholds_from_stats


def test_large_mean_matches_numpy_float64():
    rng = np.random.default_rng(0)
    H = 16
    data = (1e4 + rng.standard_normal((20000, H))).astype(np.float32)
    stats = ActivationStats()
    for chunk in np.array_split(data, 37):  # uneven streaming batches
        stats.update(chunk)
    ref64 = data.astype(np.float64)
    np.testing.assert_allclose(stats.mean, ref64.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(stats.std, ref64.std(axis=0), rtol=1e-9)
    assert stats.count == 20000
    # the naive one-pass sum-of-squares (float32 accumulators, as on an accelerator) fails here
    s = np.zeros(H, np.float32)
    s2 = np.zeros(H, np.float32)
    for chunk in np.array_split(data, 37):
        s += chunk.sum(axis=0, dtype=np.float32)
        s2 += (chunk * chunk).sum(axis=0, dtype=np.float32)
    naive_var = s2 / 20000 - (s / 20000) ** 2
    assert np.max(np.abs(naive_var - ref64.var(axis=0))) > 0.5


def test_mask_torch_input_merge_and_thresholds():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, 5, generator=g).to(torch.bfloat16)
    mask = torch.ones(4, 6)
    mask[1, 3:] = 0
    mask[3] = 0
    a = ActivationStats().update(x[:2], mask[:2])
    b = ActivationStats().update(x[2:], mask[2:])
    a.merge(b)
    sel = x.float().numpy().reshape(-1, 5)[mask.numpy().reshape(-1) != 0].astype(np.float64)
    np.testing.assert_allclose(a.mean, sel.mean(0), rtol=1e-12)
    np.testing.assert_allclose(a.std, sel.std(0), rtol=1e-10)
    pos, neg = a.thresholds(k=1.5)
    assert pos.dtype == np.float32
    np.testing.assert_array_equal(pos, (sel.mean(0) + 1.5 * sel.std(0)).astype(np.float32))
    np.testing.assert_array_equal(neg, thresholds_from_stats(a.mean, a.std, 1.5)[1])
    c = ActivationStats.from_state_dict(a.state_dict())
    np.testing.assert_array_equal(c.std, a.std)


def test_errors():
    s = ActivationStats()
    with pytest.raises(ConfigError, match="no data"):
        _ = s.mean
    s.update(np.zeros((2, 3)))
    with pytest.raises(ConfigError, match="hidden size"):
        s.update(np.zeros((2, 4)))
