"""Several devices: the multi-device driver with two CPU stand-in workers gives counts identical to
one device (local processes; Ray when installed); the static split is balanced and complete."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mfa_engine.layered import LayeredGraph
from mfa_engine.paths import multi_source_counts, prepare_graph
from mfa_engine.paths.multi import (
    device_list,
    multi_device_counts,
    source_work,
    split_sources,
)
from tests.paths.paths_graphs import random_csr


def _graph(seed: int) -> LayeredGraph:
    rng = np.random.default_rng(seed)
    sizes = [7, 5, 9, 3, 6]
    blocks = []
    for a, b in itertools.pairwise(sizes):
        w = rng.uniform(0.5, 2.0, (a, b))
        w[rng.random((a, b)) < 0.3] = np.inf
        blocks.append(w)
    return LayeredGraph(sizes, blocks)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_split_covers_every_source_once_and_balances(n: int) -> None:
    rng = np.random.default_rng(n)
    work = rng.uniform(1, 100, 53)
    parts = split_sources(work, n)
    assert sorted(np.concatenate(parts).tolist()) == list(range(53))
    loads = [work[p].sum() for p in parts]
    assert max(loads) - min(loads) <= work.max()  # longest-first bound


def test_source_work_follows_the_levels() -> None:
    g = _graph(0)
    prep = prepare_graph(g)
    w = source_work(prep, np.array([0, 7, 12, 21, 24, 29]))
    assert np.all(np.diff(w) <= 0)  # higher levels have less work below them
    assert w[-1] == 1.0  # the last level has no outgoing blocks


def test_device_list() -> None:
    assert device_list(2) == ["0", "1"]
    assert device_list(["cpu", "cpu"]) == ["cpu", "cpu"]
    with pytest.raises(ValueError):
        device_list(0)


@pytest.mark.slow
def test_two_cpu_stand_ins_match_one_device() -> None:
    g = _graph(1)
    src = np.array([0, 3, 3, 8, 12, 20, 29, 1, 6, 15, 22, 2])
    radii = np.array([0.0, 0.7, 1.5, 2.5, 4.0, np.inf])
    one = multi_source_counts(g, src, radii, backend="cpu")
    two = multi_device_counts(g, src, radii, devices=["cpu", "cpu"], backend="cpu")
    np.testing.assert_array_equal(two, one)
    m = random_csr(np.random.default_rng(2), 40, 0.1, "float")
    src2 = np.arange(0, 40, 3)
    for directed in (True, False):
        one = multi_source_counts(m, src2, radii, directed=directed, backend="cpu")
        two = multi_device_counts(prepare_graph(m, directed), src2, radii, devices=["cpu", "cpu"],
                                  directed=directed, backend="cpu")  # fmt: skip
        np.testing.assert_array_equal(two, one)


@pytest.mark.slow
def test_ray_stand_ins_match_one_device() -> None:
    pytest.importorskip("ray")
    g = _graph(3)
    src = np.arange(30)
    radii = np.array([0.0, 1.0, 2.0, 3.0])
    one = multi_source_counts(g, src, radii, backend="cpu")
    np.testing.assert_array_equal(multi_device_counts(g, src, radii, devices=["cpu", "cpu"], backend="cpu",
                                                      executor="ray"), one)  # fmt: skip
