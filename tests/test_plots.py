"""The figures: flagged samples drawn apart (out of the mean and the axes' limits), flags marked in
series and spectra, a zero line on E(t), the null band, and the fit plot with its window."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from mfa_engine.plots import plot_fit, plot_series, plot_spectra, plot_spectrum  # noqa: E402


def _record(i: int, flagged: bool, shift: float = 0.0) -> dict:
    q = np.linspace(-1.0, 1.0, 5)
    alpha = (1.0 + 0.1 * i + shift) - 0.2 * q
    return {"seed": i, "alpha": alpha.tolist(), "f_alpha": (q * alpha - q).tolist(), "alpha0": 1.0 + 0.1 * i,
            "width": 0.4, "diagnostics": {"flagged": flagged, "flags": ["qmin_dominated"] if flagged else []}}


def _doc(flags: list[bool], outlier: float = 0.0) -> dict:
    samples = [_record(i, f, outlier if f else 0.0) for i, f in enumerate(flags)]
    return {"checkpoint": "runs/step0", "model_type": "gpt_neox", "mode": "paper",
            "alpha": np.mean([s["alpha"] for s in samples], axis=0).tolist(),
            "f_alpha": np.mean([s["f_alpha"] for s in samples], axis=0).tolist(), "alpha0": 1.0,
            "alpha0_std": 0.0, "alpha0_ci": [0.9, 1.1], "width": 0.4, "width_median": 0.4,
            "n_flagged": sum(flags), "samples": samples}


@pytest.fixture
def figure(monkeypatch):
    """The figure of the next plot call, read before it is closed."""
    import matplotlib.pyplot as plt

    seen: dict = {}
    real_close = plt.close

    def spy(fig=None):
        seen["fig"] = fig
        seen["axes"] = [
            {"labels": [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else [],
             "title": ax.get_title(), "xlim": ax.get_xlim(), "ylim": ax.get_ylim(),
             "lines": [(ln.get_label(), ln.get_linestyle(), np.asarray(ln.get_xdata(), dtype=float),
                        np.asarray(ln.get_ydata(), dtype=float)) for ln in ax.get_lines()],
             "collections": [c.get_label() for c in ax.collections],
             "bands": {c.get_label(): np.asarray(c.get_paths()[0].vertices, dtype=float)
                       for c in ax.collections if c.get_paths()}}
            for ax in fig.axes]
        seen["suptitle"] = fig._suptitle.get_text() if fig._suptitle else ""
        real_close(fig)

    monkeypatch.setattr(plt, "close", spy)
    return seen


@pytest.mark.parametrize("flags", [[False, False], [False, True, True], [True]])
def test_spectrum_draws_flagged_samples_apart(tmp_path, figure, flags):
    out = plot_spectrum(_doc(flags), tmp_path / "s.png")
    assert out.stat().st_size > 0
    ax = figure["axes"][0]
    lines = ax["lines"]
    n_flagged = sum(flags)
    assert [ls for _, ls, _, _ in lines[: len(flags)]] == ["-"] * (len(flags) - n_flagged) + ["--"] * n_flagged
    flagged_labels = [lab for lab in ax["labels"] if lab.startswith("flagged: seed")]
    assert flagged_labels == [f"flagged: seed {i} (qmin_dominated)" for i, f in enumerate(flags) if f]
    mean = next(line for line in lines if line[0].startswith("mean of the"))
    kept = [s for s in _doc(flags)["samples"] if not s["diagnostics"]["flagged"]] or _doc(flags)["samples"]
    np.testing.assert_allclose(mean[2], np.mean([s["alpha"] for s in kept], axis=0))
    assert (f"{n_flagged} flagged" in ax["title"]) == (n_flagged > 0) and "median 0.4" in ax["title"]


def test_an_outlying_flagged_sample_sets_neither_the_limits_nor_the_mean(tmp_path, figure):
    plot_spectrum(_doc([False, False, True], outlier=5.0), tmp_path / "s.png")
    ax = figure["axes"][0]
    assert ax["xlim"][1] < 2.0  # the flagged curve lies beyond alpha = 5.6
    mean = next(line for line in ax["lines"] if line[0] == "mean of the unflagged samples")
    assert mean[2].max() < 1.5


def _summary(with_null: bool) -> dict:
    ck = []
    for t, step in enumerate((0, 100, 1000)):
        samples = [{"seed": s, "alpha0": 1.0 + 0.01 * t + 0.001 * s, "width": 0.5, "flagged": s == 2 and t == 1}
                   for s in range(3)]
        c = {"checkpoint": f"step{step}", "step": step, "alpha0": 1.0 + 0.01 * t, "width": 0.5,
             "alpha0_ci": [0.99, 1.02 + 0.01 * t], "width_ci": [0.45, 0.55], "emergence": -0.01 * t,
             "emergence_ci": [-0.02 * t, 0.0], "samples": samples}
        if with_null:
            c["null"] = {"model": "shuffle", "alpha0": 1.0, "width": 0.6, "emergence": 0.0,
                         "alpha0_ci": [0.98, 1.02], "width_ci": [0.55, 0.65], "emergence_ci": [-0.01, 0.01]}
            c["emergence_contrast"] = -0.01 * t
            c["emergence_contrast_ci"] = [-0.02 * t - 0.005 * t, 0.003 * t]
        ck.append(c)
    return {"mode": "paper", "checkpoints": ck}


@pytest.mark.parametrize("with_null", [False, True])
def test_series_marks_flags_a_zero_line_on_e_and_the_null_band(tmp_path, figure, with_null):
    summary = _summary(with_null)
    (png,) = plot_series(summary, tmp_path / "series", ("png",))
    assert png.stat().st_size > 0
    assert len(figure["axes"]) == (4 if with_null else 3)
    a0, _, e = figure["axes"][:3]
    if with_null:  # real minus null E with its paired band, read back from the figure
        ec = figure["axes"][3]
        line = next(ln for ln in ec["lines"] if ln[0] == "real minus null E")
        np.testing.assert_allclose(line[3], [c["emergence_contrast"] for c in summary["checkpoints"]])
        band = ec["bands"]["paired 95% bootstrap CI"]
        for step, c in zip((0.0, 100.0, 1000.0), summary["checkpoints"]):
            ys = sorted(set(np.round(band[np.isclose(band[:, 0], step), 1], 12)))
            assert ys[0] == pytest.approx(c["emergence_contrast_ci"][0]) and ys[-1] == pytest.approx(c["emergence_contrast_ci"][1])
    assert "flagged samples" in a0["labels"] and "1 flagged samples" in figure["suptitle"]
    zero = [line for line in e["lines"] if np.all(line[3] == 0.0) and line[1] == "-" and len(line[3]) == 2]
    assert len(zero) == 1  # the E = 0 line
    assert ("shuffle null" in a0["labels"]) == with_null
    assert len(e["collections"]) == (2 if with_null else 1)  # CI band, and the null's band


def test_spectra_leave_flagged_samples_out_of_the_mean(tmp_path, figure):
    recs = [_record(0, False), _record(1, False), _record(2, True, shift=5.0)]
    plot_spectra([("step 0", recs)], tmp_path / "spectra", "t", ("png",))
    ax = figure["axes"][0]
    assert ax["labels"] == ["step 0 (2 samples; 1 flagged: dotted, not in the mean)"]
    assert [ls for _, ls, _, _ in ax["lines"][:3]] == ["-", "-", ":"]
    mean = ax["lines"][3]
    np.testing.assert_allclose(mean[2], np.mean([recs[0]["alpha"], recs[1]["alpha"]], axis=0))
    assert ax["xlim"][1] < 2.0


def test_fit_plot_draws_the_window_and_the_fitted_lines(tmp_path, figure):
    x = np.log(np.geomspace(1.0, 100.0, 20))
    q = np.linspace(-2.0, 2.0, 9)
    tau = 0.8 * q
    fit = {"q": q, "ln_r": x, "ln_z": tau[:, None] * x[None, :] + 3.0, "window": (2.0, 50.0), "tau": tau,
           "convention": "boxgrowing"}
    out = plot_fit(fit, tmp_path / "fit.png", title="seed 0")
    assert out.stat().st_size > 0
    ax = figure["axes"][0]
    assert ax["labels"][0] == "fit window r in [2, 50]" and ax["title"] == "seed 0"
    fitted = [line for line in ax["lines"] if line[0].startswith("q = ")]
    assert [line[0] for line in fitted] == [f"q = {v:.3g}: tau = {0.8 * v:.4g}" for v in (-2.0, -1.0, 0.0, 1.0, 2.0)]
    for _, _, lx, _ in fitted:  # drawn over the window only, on the data's line
        assert lx.min() >= np.log(2.0) - 1e-9 and lx.max() <= np.log(50.0) + 1e-9


def _profile_doc(with_null: bool) -> dict:
    """A summarised document (mfa_engine.summary) of 6 synthetic samples with profiles."""
    from mfa_engine.summary import summarise

    u = np.linspace(-1.0, 2.0, 6)
    recs = []
    for s in range(6):
        rng = np.random.default_rng(s)
        rec = {"seed": s, "tau": [0.0, 1.0], "alpha": [1.0, 0.5], "f_alpha": [0.5, 0.5], "alpha0": 0.5 + 0.01 * s,
               "width": 0.5, "diagnostics": {"flagged": s == 5, "flags": ["low_r2"] if s == 5 else []},
               "window_u": [0.0, 1.0],
               "profile": {"u": u.tolist(), "ln_mu": (1.0 + 0.1 * rng.standard_normal(6)).tolist(),
                           "ln_z": [[0.5] * 6, [1.0] * 6]}}
        if with_null:
            rec["null"] = {**rec, "model": "gaussian", "diagnostics": {"flagged": False, "flags": []},
                           "profile": {**rec["profile"], "ln_mu": (0.8 + 0.1 * rng.standard_normal(6)).tolist()}}
        recs.append(rec)
    return summarise(recs, np.array([0.0, 1.0]), engine_version="t", checkpoint="runs/step0", model_type="gpt_neox",
                     mode="paper", config={}, seconds=0.0)


def _check_band(bands: dict, label: str, u, block: dict) -> None:
    band = bands[label]
    for x, (lo, hi) in zip(u, block["ci"]):
        ys = band[np.isclose(band[:, 0], x), 1]
        assert ys.min() == pytest.approx(lo) and ys.max() == pytest.approx(hi)


@pytest.mark.parametrize("with_null", [False, True])
def test_profile_plot_draws_the_summaries_median_band_null_and_contrast(tmp_path, figure, with_null):
    from mfa_engine.plots import plot_profile

    doc = _profile_doc(with_null)
    out = plot_profile(doc, tmp_path / "profile.png")
    assert out.stat().st_size > 0 and out.suffix == ".png"
    axes = figure["axes"]
    assert len(axes) == (2 if with_null else 1)
    u = doc["profile"]["u"]
    real = next(ln for ln in axes[0]["lines"] if ln[0].startswith("real: median (5 samples)"))
    np.testing.assert_allclose(real[2], u)
    np.testing.assert_allclose(real[3], doc["profile"]["ln_mu"]["median"])
    _check_band(axes[0]["bands"], "real: 95% CI", u, doc["profile"]["ln_mu"])
    assert "fit window u in [0, 1]" in axes[0]["labels"]
    if with_null:
        null = next(ln for ln in axes[0]["lines"] if ln[0] == "real: gaussian null")
        np.testing.assert_allclose(null[3], doc["null"]["profile"]["ln_mu"]["median"])
        _check_band(axes[0]["bands"], "real: gaussian null 95% CI", u, doc["null"]["profile"]["ln_mu"])
        con = next(ln for ln in axes[1]["lines"] if ln[0] == "real: real minus null")
        np.testing.assert_allclose(con[3], doc["contrast"]["profile"]["ln_mu"]["median"])
        _check_band(axes[1]["bands"], "real: paired 95% CI", u, doc["contrast"]["profile"]["ln_mu"])


def test_profile_plot_without_profiles_names_the_problem(tmp_path):
    from mfa_engine.errors import ConfigError
    from mfa_engine.plots import plot_profile

    with pytest.raises(ConfigError, match="no local-slope profile"):
        plot_profile(_doc([False]), tmp_path / "p.png")


def test_fit_plot_adds_the_u_axis_with_r_unit(tmp_path, figure):
    x = np.log(np.geomspace(1.0, 100.0, 20))
    q = np.linspace(-1.0, 1.0, 3)
    fit = {"q": q, "ln_r": x, "ln_z": q[:, None] * x[None, :], "window": (2.0, 50.0), "tau": q,
           "convention": "boxgrowing", "r_unit": 4.0}
    plot_fit(fit, tmp_path / "fit.png")
    (top,) = figure["fig"].axes[0].child_axes  # ln r below, u = ln(r / 4) on top
    assert "r_unit = 4" in top.get_xlabel()
    # The top axis maps ln r to u = ln r - ln 4: its limits are the main limits shifted.
    np.testing.assert_allclose(top.get_xlim(), np.array(figure["axes"][0]["xlim"]) - np.log(4.0))


def test_mfa_plot_draws_the_profiles_of_a_store_with_profile_records(tmp_path, figure):
    """plot_store: records with profiles (and a null) give <mode>-profiles, whose lines are the
    medians of mfa_engine.summary.profile_summary for each selected step."""
    from mfa_engine.batch.store import ResultsStore
    from mfa_engine.cli.plot import plot_store
    from mfa_engine.summary import profile_summary

    u = np.linspace(-1.0, 2.0, 5)
    recs = {}
    with ResultsStore(tmp_path / "store") as st:
        h = st.ensure_config("paper", {"k": 1})
        for step in (0, 10):
            recs[step] = []
            for s in range(4):
                rng = np.random.default_rng(100 * step + s)
                rec = {"seed": s, "tau": [0.0, 1.0], "alpha": [1.0, 0.5], "f_alpha": [0.5, 0.5],
                       "alpha0": 0.5 + 0.01 * s + 0.001 * step, "width": 0.5,
                       "profile": {"u": u.tolist(), "ln_mu": (1.0 + 0.1 * rng.standard_normal(5)).tolist(),
                                   "ln_z": None}}
                rec["null"] = {**rec, "model": "gaussian",
                               "profile": {**rec["profile"], "ln_mu": (0.9 + 0.1 * rng.standard_normal(5)).tolist()}}
                recs[step].append(rec)
                st.append({"checkpoint": f"/r/step{step}", "step": step, "mode": "paper", "seed": s,
                           "config_hash": h, "record": rec})
    paths = plot_store(tmp_path / "store", tmp_path / "plots", formats=("png",))
    assert sorted(p.name for p in paths) == ["paper-profiles.png", "paper-series.png", "paper-spectra.png"]
    left, right = figure["axes"]  # the last figure drawn: the profiles
    for step in (0, 10):
        parts = profile_summary(recs[step], 2)
        line = next(ln for ln in left["lines"] if ln[0].startswith(f"step {step}: median"))
        np.testing.assert_allclose(line[3], parts["profile"]["ln_mu"]["median"])
        con = next(ln for ln in right["lines"] if ln[0] == f"step {step}: real minus null")
        np.testing.assert_allclose(con[3], parts["contrast"]["profile"]["ln_mu"]["median"])
