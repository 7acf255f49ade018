"""Error messages are one line and show NumPy scalars as plain numbers (never np.float64(...))."""

from __future__ import annotations

import numpy as np
import pytest

from mfa_engine.errors import MFAError, plain


def _msg(fn, *args, **kw) -> str:
    with pytest.raises((MFAError, ValueError)) as info:
        fn(*args, **kw)
    msg = str(info.value)
    assert "np." not in msg and "\n" not in msg, msg
    return msg


def test_plain():
    assert plain(np.float64(0.5)) == "0.5" and plain(np.int64(3)) == "3"
    assert plain(np.array([1.0, 2.0])) == repr(np.array([1.0, 2.0])) and plain("x") == "'x'"


def test_spectrum_messages():
    from mfa_engine.analysis import spectrum_from_counts

    counts = np.array([[1, 2, 3], [1, 2, 4]])
    radii = np.array([1.0, 2.0, 4.0])
    assert "q[1]=0.5 >= q[2]=0.25" in _msg(spectrum_from_counts, counts, radii, q=np.array([0.0, 0.5, 0.25]))
    assert "radii[1]=2.0 >= radii[2]=2.0" in _msg(spectrum_from_counts, counts, np.array([1.0, 2.0, 2.0]))
    assert "counts[1, 1]=2.0 > counts[1, 2]=1.0" in _msg(spectrum_from_counts, np.array([[1, 2, 3], [1, 2, 1]]), radii)
    assert "(np.float64" not in _msg(spectrum_from_counts, counts, radii, fit_range=(np.float64(3.0), np.float64(1.0)))


def test_option_messages():
    from mfa_engine.analysis.radii import radius_grid
    from mfa_engine.options import AnalysisOptions

    assert "got 1" in _msg(radius_grid, np.array([1.0, 2.0]), n=np.int64(1))
    assert "got 2.0" in _msg(AnalysisOptions, samples=np.float64(2.0))
    assert "got nan" in _msg(AnalysisOptions, eps=np.float64("nan"))


def test_too_few_centres_message():
    """Found by the CLI fuzz harness: r_max was shown as np.float64(...)."""
    from mfa_engine.analysis import spectrum_from_counts

    counts = np.array([[1, 1, 2], [1, 2, 2]])
    msg = _msg(spectrum_from_counts, counts, np.array([1.0, 2.0, 4.0]), min_reach=10)
    assert "r_max=4.0" in msg


def test_emergence_messages():
    from mfa_engine.analysis.emergence import emergence

    assert "alpha0[0, 0]=-1.0" in _msg(emergence, np.array([[-1.0], [1.0]]), np.array([[1.0], [1.0]]))
