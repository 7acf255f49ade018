"""The f(alpha) figure of `mfa analyze --plot`: flagged samples drawn apart and counted."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from mfa_engine.plots import plot_spectrum  # noqa: E402


def _doc(flags: list[bool]) -> dict:
    q = np.linspace(-1.0, 1.0, 5)
    samples = []
    for i, flagged in enumerate(flags):
        alpha = (1.0 + 0.1 * i) - 0.2 * q
        samples.append({"seed": i, "alpha": alpha.tolist(), "f_alpha": (q * alpha - q).tolist(),
                        "diagnostics": {"flagged": flagged}})
    return {"checkpoint": "runs/step0", "model_type": "gpt_neox", "mode": "paper",
            "alpha": samples[0]["alpha"], "f_alpha": samples[0]["f_alpha"], "alpha0": 1.0,
            "alpha0_std": 0.0, "alpha0_ci": [0.9, 1.1], "width": 0.4, "width_median": 0.4,
            "n_flagged": sum(flags), "samples": samples}


@pytest.mark.parametrize("flags", [[False, False], [False, True, True], [True]])
def test_flagged_samples_get_their_own_legend_entry_and_title_count(tmp_path, monkeypatch, flags):
    import matplotlib.pyplot as plt

    seen: dict = {}
    real_close = plt.close

    def spy(fig=None):  # read the figure before it is closed
        ax = fig.axes[0]
        seen["labels"] = [t.get_text() for t in ax.get_legend().get_texts()]
        seen["title"] = ax.get_title()
        seen["styles"] = [line.get_linestyle() for line in ax.get_lines()[: len(flags)]]
        real_close(fig)

    monkeypatch.setattr(plt, "close", spy)
    out = plot_spectrum(_doc(flags), tmp_path / "s.png")
    assert out.stat().st_size > 0
    n_flagged = sum(flags)
    assert ("flagged samples (docs/method.md)" in seen["labels"]) == (n_flagged > 0)
    assert ("samples" in seen["labels"]) == (n_flagged < len(flags))
    assert seen["styles"] == ["--" if f else "-" for f in flags]
    assert (f"{n_flagged} of {len(flags)} samples flagged" in seen["title"]) == (n_flagged > 0)
    assert "median 0.4" in seen["title"]
