"""The spilled panels of the float32 streamed pass (plain positioned file I/O, deleted on close)."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.paths.stream_resolve import PanelSpill


def test_panel_spill_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(0)
    spill = PanelSpill(str(tmp_path))
    panels = {lv: rng.random((rows, n)).astype(np.float32) for lv, (rows, n) in enumerate([(3, 5), (7, 1), (11, 13)], start=1)}
    for lv, p in panels.items():
        spill.write(lv, p)
    assert spill.bytes == sum(p.nbytes for p in panels.values())
    for lv, p in panels.items():
        rows = np.flatnonzero(rng.random(p.shape[0]) < 0.6)
        np.testing.assert_array_equal(spill.read_rows(lv, rows), p[rows])
        np.testing.assert_array_equal(spill.read_rows(lv, np.arange(p.shape[0])), p)
    assert spill.read_rows(1, np.zeros(0, np.int64)).shape == (0, 5)
    with pytest.raises(IndexError, match="3 rows"):
        spill.read_rows(1, np.array([3]))
    with pytest.raises(IndexError):
        spill.read_rows(1, np.array([2, 1]))
    spill.close()
    assert list(tmp_path.iterdir()) == []  # unlinked: nothing left behind
