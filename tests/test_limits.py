"""Up-front limits naming the option: CLI, TOML and Python API, before anything is read."""

from __future__ import annotations

import pytest

from mfa_engine import limits
from mfa_engine.api import analyze_checkpoint, make_q_grid
from mfa_engine.batch import run_batch
from mfa_engine.cli import build_parser, main
from mfa_engine.errors import ConfigError

MISSING = "/nonexistent/checkpoint"  # a limit error must come before "does not exist"


def _error(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("argv, msg", [
    (["--samples", "1000000000"], "--samples 1000000000 is above the limit of 10000"),
    (["--samples", "0"], "--samples must be >= 1"),
    (["--q-step", "1e-9"], "has 6000000001 values, above the limit of 10001"),
    (["--n-radii", "100000000"], "--n-radii 100000000 is above the limit of 4096"),
    (["--n-radii", "1"], "--n-radii must be >= 2"),
    (["--seed", "-1"], "--seed must be >= 0, got -1"),
    (["--seed", str(2**63)], "--seed 9223372036854775808 is too large"),
    (["--threshold", "nan"], "--threshold must be a number > 1"),
    (["--eps", "-1"], "--eps must be a finite number >= 0"),
    (["--structural-distance", "inf"], "--structural-distance must be a finite number >= 0"),
    (["--min-reach", "-3"], "--min-reach must be >= 0"),
])
@pytest.mark.parametrize("command", ["analyze", "batch"])
def test_cli_limits_name_the_option(capsys, tmp_path, command, argv, msg):
    extra = ["--store", str(tmp_path / "s")] if command == "batch" else []
    assert main([command, MISSING, *argv, *extra]) == 2
    assert msg in _error(capsys)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("toml, msg", [
    ("neurons-per-layer = 0", "neurons-per-layer = 0: expected a positive integer or 'all'"),
    ("samples = 0", "--samples must be >= 1"),
    ("samples = 1000000000", "--samples 1000000000 is above the limit"),
    ("n-radii = 1000000000", "--n-radii 1000000000 is above the limit"),
    ("q-step = 1e-9", "above the limit of 10001"),
    ("seed = -1", "--seed must be >= 0"),
    ("undirected = \"yes\"", "undirected = 'yes'; expected true or false"),
    ("samples = true", "samples = True; expected a single value"),
    ("samples = 2.5", "samples = 2.5: expected an integer"),
    ("store = 3", "store = 3; expected a string"),
    ("checkpoints = [1, 2]", "checkpoints = [1, 2]; expected a string or a list of strings"),
])
def test_toml_values_pass_the_command_line_checks(capsys, tmp_path, toml, msg):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'store = "{tmp_path / "s"}"\ncheckpoints = ["{MISSING}"]\n{toml}\n'
                   if not toml.startswith(("store", "checkpoints")) else f"{toml}\n")
    assert main(["batch", "--config", str(cfg)]) == 2
    assert msg in _error(capsys)


def test_api_limits_before_reading():
    with pytest.raises(ConfigError, match="samples 1000000000 is above the limit"):
        analyze_checkpoint(MISSING, samples=10**9)
    with pytest.raises(ConfigError, match="seed must be >= 0"):
        analyze_checkpoint(MISSING, seed=-1)
    with pytest.raises(ConfigError, match="n_radii 100000000 is above the limit"):
        analyze_checkpoint(MISSING, n_radii=10**8)
    with pytest.raises(ConfigError, match="q_min, q_max, q_step"):
        make_q_grid(-3, 3, 1e-9)
    with pytest.raises(ConfigError, match="seed must be >= 0"):
        run_batch([MISSING], "/nonexistent/store", options={"paper": {}}, seed=-5)
    with pytest.raises(ConfigError, match="eps must be a finite number"):
        run_batch([MISSING], "/nonexistent/store", options={"paper": {"eps": float("nan")}})


def test_limits_at_the_boundary():
    assert limits.check_samples(limits.MAX_SAMPLES) == limits.MAX_SAMPLES
    assert limits.check_n_radii(limits.MAX_N_RADII) == limits.MAX_N_RADII
    assert limits.check_seed(limits.MAX_SEED, 1) == limits.MAX_SEED
    assert make_q_grid(-5, 5, 0.001).size == limits.MAX_Q_VALUES
    with pytest.raises(ConfigError):
        limits.check_seed(limits.MAX_SEED, 2)
    with pytest.raises(ConfigError, match="must be an integer"):
        limits.check_samples(2.0)


def test_demo_accepts_all_like_analyze():
    args = build_parser().parse_args(["demo", "--neurons-per-layer", "all"])
    assert args.neurons_per_layer == "all"
    assert build_parser().parse_args(["analyze", "x", "--neurons-per-layer", "all"]).neurons_per_layer == "all"
