"""Paper mode on tiny seeded checkpoints: exact scale invariance, q-grid independence of alpha0,
diagnostics with every sample, and the options of the science core (grid, window, structural)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mfa_engine.api import analyze_checkpoint, make_q_grid

from ._models import write_tiny_checkpoint

KW = dict(samples=2, sampling="neurons", neurons_per_layer=12, backend="cpu")
#: Centre sampling of the full network (the default estimator), on the fixed grid in u.
KWC = dict(samples=2, centres=40, backend="cpu")


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {mt: write_tiny_checkpoint(tmp_path_factory.mktemp(mt), mt, seed=3, n_layers=3)
            for mt in ("gpt_neox", "bert")}


def _scaled(src: Path, dst: Path, c: float) -> Path:
    """Copy a checkpoint with every floating tensor multiplied by c (in float32)."""
    from safetensors.numpy import load_file, save_file

    shutil.copytree(src, dst)
    state = load_file(str(src / "model.safetensors"))
    out = {k: (v * np.float32(c)).astype(v.dtype) if v.dtype.kind == "f" else v
           for k, v in state.items()}
    save_file(out, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


def _numbers(doc: dict, c: float) -> list[np.ndarray]:
    """Every paper-mode number of a document; lengths (distances 1/|w|, radii) times c."""
    out = []
    for s in doc["samples"]:
        d = s["diagnostics"]
        out += [np.asarray(s[k], dtype=np.float64) for k in
                ("tau", "alpha", "f_alpha", "alpha0", "alpha0_argmax", "width", "width_hull", "r2_min")]
        out.append(np.asarray([s["structural_distance"] * c] + [r * c for r in d["fit_window"]]))
        out.append(np.asarray([np.nan if d[k] is None else float(d[k]) for k in
                               ("n_alpha_increasing", "q0_on_hull", "max_f_above_f0", "r2_min",
                                "r2_median", "r2_alpha0", "n_fit_radii", "self_share_lowest",
                                "saturated_share_highest", "window_instability", "qmin_top_share",
                                "alpha0_window_spread", "flagged")]
                              + d["fit_window_x"]))
        if "r_unit" in s:  # the data scale is a length; the profile and the window in u are not
            out.append(np.asarray([s["r_unit"] * c] + s["window_u"] + s["profile"]["u"], dtype=np.float64))
            prof = s["profile"]["ln_mu"] + [v for row in s["profile"]["ln_z"] for v in row]
            out.append(np.asarray([np.nan if v is None else v for v in prof], dtype=np.float64))
    out.append(np.asarray([doc["alpha0"], doc["width"], doc["alpha0_std"], doc["width_std"]]))
    return out


@pytest.mark.parametrize("kw", [KW, KWC], ids=["neurons", "centres"])
@pytest.mark.parametrize("model_type", ["gpt_neox", "bert"])
def test_power_of_two_scale_changes_no_number(ckpts, tmp_path, model_type, kw):
    base = analyze_checkpoint(ckpts[model_type], **kw)
    ref = _numbers(base, 1.0)
    source = "auto" if kw is KW else "fixed"
    assert all(s["diagnostics"]["fit_window_source"] == source for s in base["samples"])
    for c in (0.25, 0.5, 2.0, 8.0):
        doc = analyze_checkpoint(_scaled(ckpts[model_type], tmp_path / f"x{c}", c), **kw)
        for a, b in zip(_numbers(doc, c), ref):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=f"c={c}")


@pytest.mark.parametrize("kw", [KW, KWC], ids=["neurons", "centres"])
@pytest.mark.parametrize("model_type", ["gpt_neox", "bert"])
def test_general_scale_agrees_to_1e4(ckpts, tmp_path, model_type, kw):
    ref = _numbers(analyze_checkpoint(ckpts[model_type], **kw), 1.0)
    c = 1.06
    doc = analyze_checkpoint(_scaled(ckpts[model_type], tmp_path / "x106", c), **kw)
    for a, b in zip(_numbers(doc, c), ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_alpha0_does_not_depend_on_the_q_range(ckpts):
    wide = analyze_checkpoint(ckpts["gpt_neox"], **KW)
    narrow = analyze_checkpoint(ckpts["gpt_neox"], q=make_q_grid(-1.0, 1.0, 0.1), **KW)
    for a, b in zip(wide["samples"], narrow["samples"]):
        assert a["alpha0"] == b["alpha0"]
        assert a["diagnostics"]["fit_window"] == b["diagnostics"]["fit_window"]
        assert a["diagnostics"]["r2_alpha0"] == b["diagnostics"]["r2_alpha0"]
    assert wide["alpha0"] == narrow["alpha0"]


def test_every_sample_carries_diagnostics_and_options_apply(ckpts):
    doc = analyze_checkpoint(ckpts["bert"], **KW)
    assert doc["n_flagged"] == sum(s["diagnostics"]["flagged"] for s in doc["samples"])
    for s in doc["samples"]:
        d = s["diagnostics"]
        assert d["flagged"] == bool(d["flags"])
        assert d["fit_window_x"][1] - d["fit_window_x"][0] >= 1.0 - 1e-12
        assert 0.0 <= d["self_share_lowest"] <= 1.0 and 0.0 <= d["saturated_share_highest"] <= 1.0
        assert d["r2_min"] <= d["r2_median"] <= 1.0
    # fit_range overrides the automatic window; "full" fits every radius.
    lo, hi = doc["samples"][0]["diagnostics"]["fit_window"]
    fixed = analyze_checkpoint(ckpts["bert"], fit_range=(lo, hi), **KW)
    d0 = fixed["samples"][0]
    assert d0["diagnostics"]["fit_window_source"] == "fit_range"
    assert d0["alpha0"] == pytest.approx(doc["samples"][0]["alpha0"], rel=1e-12)
    full = analyze_checkpoint(ckpts["bert"], fit_window="full", **KW)
    assert full["samples"][0]["diagnostics"]["fit_window_x"][1] == 0.0
    # Absolute structural distance and the old grid stay available.
    old = analyze_checkpoint(ckpts["bert"], structural_scale="absolute", radius_lower="min",
                             fit_window="full", **KW)
    assert old["samples"][0]["structural_distance"] == 1.0
    assert old["samples"][0]["diagnostics"]["fit_window"][0] == 1.0  # the smallest distance
