"""Tests of mfa_engine.analysis.emergence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mfa_engine.analysis.emergence import emergence
from mfa_engine.errors import ConfigError

LN2 = math.log(2.0)


def test_hand_three_checkpoints_two_samples() -> None:
    alpha0 = np.array([[2.0, 4.0], [1.0, 2.0], [4.0, 4.0]])
    width = np.array([[1.0, 3.0], [2.0, 2.0], [4.0, 8.0]])
    # Means over samples: alpha0 = 3, 1.5, 4; width = 2, 2, 6.
    # E = 0, (2/2) ln(3/1.5) = ln 2, (6/2) ln(3/4).
    # Per sample: s0: 0, (2/1) ln(2/1) = 2 ln2, (4/1) ln(2/4) = -4 ln2;
    #             s1: 0, (2/3) ln(4/2) = 2/3 ln2, (8/3) ln(4/4) = 0.
    # Population std of two values = |a - b| / 2: 0, (2/3) ln2, 2 ln2.
    e, e_std = emergence(alpha0, width)
    np.testing.assert_allclose(e, [0.0, LN2, 3 * math.log(0.75)], atol=1e-15)
    np.testing.assert_allclose(e_std, [0.0, 2 / 3 * LN2, 2 * LN2], atol=1e-15)
    assert e[0] == 0.0 and e_std[0] == 0.0
    assert e.shape == e_std.shape == (3,)


@pytest.mark.parametrize(("t", "s"), [(1, 1), (5, 1), (27, 10)])
def test_shapes_and_first_checkpoint(t: int, s: int) -> None:
    rng = np.random.default_rng(t * 31 + s)
    alpha0 = rng.uniform(0.5, 3.0, size=(t, s))
    width = rng.uniform(0.1, 2.0, size=(t, s))
    e, e_std = emergence(alpha0, width)
    assert e.shape == e_std.shape == (t,)
    assert e[0] == 0.0
    a, w = alpha0.mean(1), width.mean(1)
    for k in range(t):
        assert e[k] == pytest.approx(w[k] / w[0] * math.log(a[0] / a[k]), abs=1e-12)
        per = [width[k, j] / width[0, j] * math.log(alpha0[0, j] / alpha0[k, j]) for j in range(s)]
        assert e_std[k] == pytest.approx(float(np.std(per)), abs=1e-12)


def test_one_dimensional_input_is_one_sample() -> None:
    e, e_std = emergence(np.array([2.0, 1.0]), np.array([1.0, 3.0]))
    np.testing.assert_allclose(e, [0.0, 3 * LN2])
    np.testing.assert_array_equal(e_std, [0.0, 0.0])


def test_decreasing_alpha0_gives_positive_emergence() -> None:
    e, _ = emergence(np.array([[2.0], [1.5], [1.0]]), np.array([[1.0], [1.0], [1.0]]))
    assert e[1] > 0 and e[2] > e[1]


@pytest.mark.parametrize(
    ("alpha0", "width", "match"),
    [
        (np.ones((3, 2)), np.ones((3, 3)), "same shape"),
        (np.ones((3, 2, 1)), np.ones((3, 2, 1)), r"\[T, S\]"),
        (np.ones((0, 2)), np.ones((0, 2)), r"\[T, S\]"),
        (np.array([[1.0], [0.0]]), np.ones((2, 1)), "alpha0 must be > 0"),
        (np.array([[1.0], [-1.0]]), np.ones((2, 1)), "alpha0 must be > 0"),
        (np.ones((2, 1)), np.array([[1.0], [-0.5]]), "width must be >= 0"),
        (np.ones((2, 2)), np.array([[1.0, 0.0], [1.0, 1.0]]), r"width\[0, 1\]"),
        (np.array([[1.0], [np.nan]]), np.ones((2, 1)), "NaN"),
        (np.ones((2, 1)), np.array([[1.0], [np.inf]]), "NaN or inf"),
    ],
)
def test_errors(alpha0: np.ndarray, width: np.ndarray, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        emergence(alpha0, width)
