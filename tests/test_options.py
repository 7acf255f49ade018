"""AnalysisOptions: defaults, one-place validation, config hash from field metadata, entry points."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import mfa_engine.options as options_module
from mfa_engine.analysis import default_q, windows
from mfa_engine.batch.runner import mode_config
from mfa_engine.batch.store import config_hash
from mfa_engine.cli import main
from mfa_engine.errors import ConfigError
from mfa_engine.options import MODES, AnalysisOptions, option_fields

#: A valid non-default value of every option. Adding an option means adding it here too.
ALTERNATIVE = {
    "mode": "reference", "neurons_per_layer": 7, "samples": 3, "seed": 5, "q_min": -2.0,
    "q_max": 2.0, "q_step": 0.5, "q": (-1.0, 0.0, 1.0), "threshold": 120.0, "n_radii": 17,
    "radius_upper": "max", "convention": "sandbox", "normalisation": "global", "min_reach": 3,
    "directed": False, "eps": 0.01, "structural_distance": 2.0, "backend": "cpu",
    "structural_scale": "absolute", "radius_lower": "min", "fit_window": "full",
    "fit_range": (1.0, 2.0), "window_min_span": 0.5, "null": "shuffle",
    "range_cache": "/tmp/ranges", "download": True, "threads": 2,
    "sampling": "neurons", "centres": 7, "radius_grid": "data", "window": (0.5, 1.5),
}


def test_every_field_is_declared_with_metadata():
    names = [f.name for f in option_fields()]
    assert set(names) == set(ALTERNATIVE)
    for f in option_fields():
        assert callable(f.metadata["check"]) and f.metadata["help"]
        assert set(f.metadata["affects"]) <= set(MODES)
        assert AnalysisOptions(**{f.name: ALTERNATIVE[f.name]}) != AnalysisOptions()


def test_defaults():
    o = AnalysisOptions()
    assert (o.mode, o.neurons_per_layer, o.samples, o.seed, o.threshold, o.n_radii) == ("paper", 32, 10, 0, 150.0, 64)
    assert o.seeds == list(range(10))
    np.testing.assert_array_equal(o.q_grid(), default_q())
    assert o.q_config() is None
    assert AnalysisOptions(q=default_q()).q_config() is None  # equal grids hash equally
    assert AnalysisOptions(q_step=0.5).q_grid().tolist() == [-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5,
                                                            1.0, 1.5, 2.0, 2.5, 3.0]


@pytest.mark.parametrize(("name", "value", "match"), [
    ("neurons_per_layer", 0, "neurons_per_layer must be a positive integer or 'all'"),
    ("neurons_per_layer", "some", "neurons_per_layer"),
    ("neurons_per_layer", 2.5, "neurons_per_layer"),
    ("neurons_per_layer", True, "neurons_per_layer"),
    ("samples", 0, r"samples must be an integer in \[1, 10000\]"),
    ("seed", -1, "seed"),
    ("q_step", 0.0, "q_step must be > 0"),
    ("q_min", float("nan"), "q_min must be finite"),
    ("q_max", -2.95, "at least 3"),
    ("q", [0.0, 1.0], "at least 3 values"),
    ("q", [0.0, 2.0, 1.0], "strictly increasing"),
    ("threshold", 1.0, "threshold must be > 1"),
    ("n_radii", 1, r"n_radii must be an integer in \[2, 4096\]"),
    ("n_radii", 100_000, "n_radii"),
    ("radius_upper", "p50", "radius_upper must be one of"),
    ("convention", "boxcounting", "convention"),
    ("normalisation", "local", "normalisation"),
    ("min_reach", -1, "min_reach"),
    ("directed", "yes", "directed must be true or false"),
    ("eps", -0.1, "eps must be >= 0"),
    ("structural_distance", 0.0, "structural_distance must be > 0"),
    ("backend", "gpu", "backend must be one of"),
    ("mode", "fast", "mode must be one of"),
    ("structural_scale", "mean", "structural_scale must be one of"),
    ("radius_lower", "p01", "radius_lower must be one of"),
    ("fit_window", "best", "fit_window must be one of"),
    ("fit_range", (2.0, 1.0), "fit_range must satisfy 0 < LO <= HI"),
    ("fit_range", "1,x", "fit_range must be two radii"),
    ("fit_range", (1.0,), "fit_range must be two radii"),
    ("window_min_span", 0.0, "window_min_span must be > 0"),
])
def test_invalid_values_name_the_option(name, value, match):
    with pytest.raises(ConfigError, match=match):
        AnalysisOptions(**{name: value})


def test_names_values_and_cross_checks():
    assert AnalysisOptions(neurons_per_layer="ALL").neurons_per_layer == "all"
    assert AnalysisOptions.from_mapping({"neurons-per-layer": "12", "n_radii": 8}).neurons_per_layer == 12
    with pytest.raises(ConfigError, match="unknown analysis option 'sampels'"):
        AnalysisOptions.from_mapping({"sampels": 3})
    with pytest.raises(ConfigError, match="'all' is not supported in reference mode"):
        AnalysisOptions(mode="reference", neurons_per_layer="all")
    o = AnalysisOptions(q_min=-1.0, q_max=1.0, q_step=0.5)
    assert o.replace(samples=2) == AnalysisOptions(q_min=-1.0, q_max=1.0, q_step=0.5, samples=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.samples = 3  # type: ignore[misc]


@pytest.mark.parametrize("mode", MODES)
def test_batch_config_follows_field_metadata(mode):
    """Changing an option changes the mode's config exactly when its metadata names the mode."""
    base = mode_config(mode, {})
    assert base["mode"] == mode
    for f in option_fields():
        if f.name == "mode":
            continue
        cfg = mode_config(mode, {f.name: ALTERNATIVE[f.name]})
        assert (cfg != base) == (mode in f.metadata["affects"]), f.name
    relevant = {"mode", "q"} | {f.name for f in option_fields() if mode in f.metadata["affects"]
                                and not f.metadata["q_grid"] and not f.metadata["omit_default"]}
    if mode == "paper":  # the default fixed window comes from the family table (hashed too)
        relevant.add("window_table")
    assert set(base) == relevant
    assert mode_config(mode, AnalysisOptions(backend="cpu", samples=2, seed=9)) == base


def test_analyze_checkpoint_validates_before_opening(monkeypatch, tmp_path):
    import mfa_engine.checkpoint_analysis as ck
    from mfa_engine.api import analyze_checkpoint

    def never(*a, **k):
        raise AssertionError("the checkpoint was opened before the options were validated")

    monkeypatch.setattr(ck, "open_checkpoint", never)
    for bad in ({"n_radii": 1}, {"q_step": -0.1}, {"radius_upper": "top"}, {"threshold": 0.5},
                {"mode": "reference", "neurons_per_layer": "all"}, {"no_such_option": 1}):
        with pytest.raises(ConfigError):
            analyze_checkpoint(tmp_path, **bad)
    with pytest.raises(ConfigError, match="options must be AnalysisOptions or a mapping"):
        analyze_checkpoint(tmp_path, 3)


def test_cli_analyze_rejects_options_before_reading(tmp_path, capsys):
    missing = str(tmp_path / "missing")
    for argv, word in ((["--n-radii", "1"], "--n-radii must"), (["--neurons-per-layer", "0"], "--neurons-per-layer must"),
                       (["--q-min", "0", "--q-max", "0.1"], "at least 3"), (["--threshold", "1"], "--threshold must")):
        assert main(["analyze", missing, *argv, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and word in err and "missing" not in err, err


def test_toml_values_are_validated_by_the_option_checks(tmp_path, capsys):
    store = tmp_path / "store"
    for line, word in (("neurons_per_layer = 0", "neurons-per-layer"), ("n-radii = 1", "n-radii"),
                       ("convention = 'x'", "convention"), ("q = [0.0, 1.0]", "at least 3")):
        cfg = tmp_path / "b.toml"
        cfg.write_text(f'checkpoints = ["{tmp_path}/nothing"]\nstore = "{store}"\n{line}\n')
        assert main(["batch", "--config", str(cfg), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"config file {cfg}" in err and word in err, err
    assert not store.exists()


def test_toml_and_cli_build_the_same_options(tmp_path):
    import argparse

    from mfa_engine.cli.batch import load_toml_config, mode_options, register

    sub = argparse.ArgumentParser().add_subparsers()
    register(sub)
    parser = sub.choices["batch"]
    cfg = tmp_path / "b.toml"
    cfg.write_text('neurons-per-layer = "all"\nq = [-1, 0, 1]\nundirected = true\nthreshold = 130\n')
    args = parser.parse_args(["--n-radii", "9"])
    load_toml_config(parser, args, str(cfg))
    got = mode_options(args, "paper")
    assert got == AnalysisOptions(neurons_per_layer="all", q=(-1.0, 0.0, 1.0), directed=False,
                                  threshold=130.0, n_radii=9)
    flags = parser.parse_args(["--neurons-per-layer", "all", "--q=-1,0,1", "--undirected",
                               "--threshold", "130", "--n-radii", "9"])
    assert mode_options(flags, "paper") == got


def test_demo_accepts_all_and_validates(monkeypatch, tmp_path, capsys):
    import mfa_engine.api as api
    import mfa_engine.cli.demo as demo

    seen = {}

    class Stop(Exception):
        pass

    def fake(path, options=None, **kw):
        seen["options"] = options
        raise Stop

    monkeypatch.setattr(demo, "default_checkpoint", lambda d: (d, "nothing"))
    monkeypatch.setattr(api, "analyze_checkpoint", fake)
    with pytest.raises(Stop):
        main(["demo", "--out", str(tmp_path / "o"), "--neurons-per-layer", "all", "--samples", "2"])
    assert seen["options"] == AnalysisOptions(neurons_per_layer="all", samples=2)
    assert main(["demo", "--out", str(tmp_path / "o"), "--neurons-per-layer", "0"]) == 2
    assert "--neurons-per-layer" in capsys.readouterr().err


def test_json_config_records_the_options(tiny_checkpoint):
    from mfa_engine.api import analyze_checkpoint

    path = tiny_checkpoint("gpt2")
    doc = analyze_checkpoint(path, AnalysisOptions(samples=1, neurons_per_layer=5), n_radii=12, backend="cpu")
    want = AnalysisOptions(samples=1, neurons_per_layer=5, n_radii=12, backend="cpu").to_dict()
    del want["range_cache"]  # a machine path: never in a result document
    # the pre-registered window of the family, resolved (gpt2: the default window)
    assert doc["config"] == {"mode": "paper", "revision": None, **want, "window": [1.1, 2.1],
                             "window_source": "family:default"}
    assert doc["config"]["n_radii"] == 12 and doc["config"]["q"] is None
    ranged = analyze_checkpoint(path, AnalysisOptions(samples=1, neurons_per_layer=5, range_cache="/tmp/x"),
                                n_radii=12, backend="cpu")
    assert "range_cache" not in ranged["config"] and "/tmp/x" not in json.dumps(ranged)
    assert ranged["samples"] == doc["samples"]
    json.dumps(doc)


def test_null_enters_the_configuration_only_when_set():
    plain, null = AnalysisOptions(), AnalysisOptions(null="shuffle")
    assert "null" not in plain.config("paper") and "null" not in plain.config("reference")
    assert null.config("paper")["null"] == "shuffle" and null.config("reference")["null"] == "shuffle"
    with pytest.raises(ConfigError, match="null must be one of 'shuffle'"):
        AnalysisOptions(null="rewire")


def test_the_family_window_table_enters_the_batch_configuration(monkeypatch) -> None:
    cfg = mode_config("paper", {})
    assert cfg["window_table"] == {"bert": [1.1, 2.1], "gpt_neox": [1.2, 2.2], "default": [1.1, 2.1]}
    before = config_hash(cfg)
    # a changed table changes the hash: rows fitted on the old window are never reused
    monkeypatch.setitem(windows.FAMILY_WINDOWS, "gpt_neox", (1.3, 2.3))
    monkeypatch.setattr(options_module, "FAMILY_WINDOWS", windows.FAMILY_WINDOWS)
    assert config_hash(mode_config("paper", {})) != before
    # an explicit window, a fit range, another window kind or neuron sampling do not use the table
    for opts in ({"window": (1.0, 2.0)}, {"fit_range": (1.0, 5.0)}, {"fit_window": "auto"}, {"sampling": "neurons"}):
        assert "window_table" not in mode_config("paper", opts)
    assert "window_table" not in mode_config("reference", {})
