"""Up-front limits naming the option: CLI, TOML and Python API, before anything is read."""

from __future__ import annotations

import pytest

from mfa_engine import limits
from mfa_engine.api import analyze_checkpoint, make_q_grid
from mfa_engine.batch import run_batch
from mfa_engine.cli import build_parser, main
from mfa_engine.errors import ConfigError
from mfa_engine.options import AnalysisOptions

MISSING = "/nonexistent/checkpoint"  # a limit error must come before "does not exist"


def _error(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith(("error: ", "mfa ")) and "Traceback" not in err, err
    assert "error:" in lines[-1]
    return lines[-1]


@pytest.mark.parametrize("argv, msg", [
    (["--samples", "1000000000"], "--samples must be an integer in [1, 10000], got 1000000000"),
    (["--samples", "0"], "--samples must be an integer in [1, 10000], got 0"),
    (["--q-step", "1e-9"], "has 6000000001 values, above the limit of 10001"),
    (["--n-radii", "100000000"], "--n-radii must be an integer in [2, 4096], got 100000000"),
    (["--seed", "-1"], "--seed must be an integer in [0, 4294967295], got -1"),
    (["--threshold", "nan"], "--threshold must be finite"),
    (["--eps", "-1"], "--eps must be >= 0"),
    (["--min-reach", "-3"], "--min-reach must be an integer >= 0"),
])
@pytest.mark.parametrize("command", ["analyze", "batch"])
def test_cli_limits_name_the_option(capsys, tmp_path, command, argv, msg):
    extra = ["--store", str(tmp_path / "s")] if command == "batch" else []
    assert main([command, MISSING, *argv, *extra]) == 2
    assert msg in _error(capsys)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("toml, msg", [
    ("neurons-per-layer = 0", "--neurons-per-layer must be a positive integer or 'all', got 0"),
    ("samples = 0", "--samples must be an integer in [1, 10000]"),
    ("samples = 1000000000", "--samples must be an integer in [1, 10000]"),
    ("n-radii = 1000000000", "--n-radii must be an integer in [2, 4096]"),
    ("q-step = 1e-9", "above the limit of 10001"),
    ("seed = -1", "--seed must be an integer in [0, 4294967295]"),
    ("samples = true", "--samples must be an integer, got True"),
    ("samples = 2.5", "--samples must be an integer, got 2.5"),
    ("store = 3", "store = 3; expected a string"),
    ("workers = \"x\"", "workers = 'x': expected an integer"),
    ("checkpoints = [1, 2]", "checkpoints = [1, 2]; expected a string or a list of strings"),
])
def test_toml_values_pass_the_command_line_checks(capsys, tmp_path, toml, msg):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'store = "{tmp_path / "s"}"\ncheckpoints = ["{MISSING}"]\n{toml}\n'
                   if not toml.startswith(("store", "checkpoints")) else f"{toml}\n")
    assert main(["batch", "--config", str(cfg)]) == 2
    assert msg in _error(capsys)


def test_api_limits_before_reading():
    with pytest.raises(ConfigError, match=r"samples must be an integer in \[1, 10000\]"):
        analyze_checkpoint(MISSING, samples=10**9)
    with pytest.raises(ConfigError, match="seed must be an integer"):
        analyze_checkpoint(MISSING, seed=-1)
    with pytest.raises(ConfigError, match=r"n_radii must be an integer in \[2, 4096\]"):
        analyze_checkpoint(MISSING, n_radii=10**8)
    with pytest.raises(ConfigError, match="q_min, q_max, q_step"):
        make_q_grid(-3, 3, 1e-9)
    with pytest.raises(ConfigError, match="above the limit of 10001"):
        analyze_checkpoint(MISSING, q=list(range(20000)))
    with pytest.raises(ConfigError, match="seed must be an integer"):
        run_batch([MISSING], "/nonexistent/store", options={"paper": {}}, seed=-5)


def test_limits_at_the_boundary():
    assert AnalysisOptions(samples=limits.MAX_SAMPLES).samples == limits.MAX_SAMPLES
    assert AnalysisOptions(n_radii=limits.MAX_N_RADII).n_radii == limits.MAX_N_RADII
    assert make_q_grid(-5, 5, 0.001).size == limits.MAX_Q_VALUES
    with pytest.raises(ConfigError):
        AnalysisOptions(samples=limits.MAX_SAMPLES + 1)


def test_demo_accepts_all_like_analyze():
    args = build_parser().parse_args(["demo", "--neurons-per-layer", "all"])
    assert AnalysisOptions(neurons_per_layer=args.neurons_per_layer).neurons_per_layer == "all"
    assert build_parser().parse_args(["analyze", "x", "--neurons-per-layer", "all"]).neurons_per_layer == "all"


@pytest.mark.parametrize("toml", ["mode = 0", "mode = \"fast\"", "mode = [1]"])
def test_toml_mode_is_a_one_line_error(capsys, tmp_path, toml):
    """Found by the fuzz harness: a bad TOML mode escaped as argparse.ArgumentTypeError."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'store = "{tmp_path / "s"}"\ncheckpoints = ["{MISSING}"]\n{toml}\n')
    assert main(["batch", "--config", str(cfg)]) == 2
    assert "expected paper, reference or paper,reference" in _error(capsys)


def test_x9_results_budget_refuses_with_the_estimate(capsys, tmp_path):
    est = limits.estimate_run(10_000, 10_001, 64)
    assert est == {"memory_bytes": 10_000 * (16_384 + 480 * 10_001) + 32 * 10_001 * 64,
                   "json_bytes": 10_000 * (2_048 + 90 * 10_001)}
    argv = ["--samples", "10000", "--q-min", "-5", "--q-max", "5", "--q-step", "0.001"]
    for command in ("analyze", "batch"):
        extra = ["--store", str(tmp_path / "s")] if command == "batch" else []
        assert main([command, MISSING, *argv, *extra]) == 2
        line = _error(capsys)
        assert ("--samples 10000 with a q grid of 10001 values needs about 48.2 GB of memory for the "
                "results (budget 8 GB) and about 9.0 GB of JSON per result (budget 2 GB); use fewer "
                "samples or fewer q values (a larger --q-step)") in line
    with pytest.raises(ConfigError, match=r"^samples=2000 with a q grid of 10001 values needs about 9\.7 GB of memory for the results \(budget 8 GB\); use fewer samples"):
        AnalysisOptions(samples=2000, q_min=-5, q_max=5, q_step=0.001)
    # inside the budget: accepted as before
    assert AnalysisOptions(samples=1, q_min=-5, q_max=5, q_step=0.001).samples == 1
    assert AnalysisOptions(samples=10_000).samples == 10_000
    assert limits.check_run_budget(10, 61)["json_bytes"] == 10 * (2_048 + 90 * 61)


def test_network_estimate_and_budget() -> None:
    from mfa_engine.limits import estimate_network, estimate_stream, network_mode, stream_sources_per_pass

    assert estimate_network([2, 3, 4]) == 40 * (2 * 3 + 3 * 4)
    # within the budget: in memory; above it: streamed, from one pass's estimate
    assert network_mode([2, 3, 4], 5, 10, {"MFA_NETWORK_MEMORY": "720"}) == ("memory", 720)
    # stream: two blocks of the largest (3 x 4) and 32 bytes x (3 + 4) + 16 x 11 per source
    assert estimate_stream([2, 3, 4], 5, 10) == 2 * 24 * 12 + 5 * (32 * 7 + 16 * 11)
    budget = 2 * 24 * 12 + 5 * (32 * 7 + 16 * 11)
    assert network_mode([2, 3, 4], 5, 10, {"MFA_NETWORK_MEMORY": str(budget)}) == ("memory", 720)
    assert network_mode([2, 3, 4], 9, 10, {"MFA_NETWORK_MEMORY": "1000"}) == ("memory", 720)
    # a budget below the full network but above two blocks: streamed, in passes that fit
    assert stream_sources_per_pass([2, 3, 4], 10, {"MFA_NETWORK_MEMORY": str(576 + 3 * 400)}) == 3
    # the float32 spill file (4 bytes per source and node, 9 nodes) caps a pass too, never below 1
    env = {"MFA_NETWORK_MEMORY": str(576 + 3 * 400)}
    assert stream_sources_per_pass([2, 3, 4], 10, {**env, "MFA_STREAM_SPILL": str(2 * 36 + 35)}) == 2
    assert stream_sources_per_pass([2, 3, 4], 10, {**env, "MFA_STREAM_SPILL": "1"}) == 1
    big = ([2560, 7680, 2560, 2560, 10240] * 32) + [2560]  # 2.8B: 3.3 MB of spill per centre
    assert stream_sources_per_pass(big, 61, {}) == 8 * 10**9 // (4 * sum(big))
    sizes = ([2560, 7680, 2560, 2560, 10240] * 32) + [2560]
    mode, est = network_mode(sizes, 10_000, 61, {})
    # 10,000 centres: passes of 2,433 (the 8 GB spill cap), each estimated on its own
    assert mode == "stream" and est == estimate_stream(sizes, 2433, 61) and est < 16 * 10**9
    # not even two blocks and one source fit: a clear error with the numbers
    with pytest.raises(ConfigError, match=r"two level blocks of about 0\.00 GB plus 0\.000 MB per centre, above the budget"):
        stream_sources_per_pass([2, 3, 4], 10, {"MFA_NETWORK_MEMORY": "500"})
    with pytest.raises(ConfigError, match=r"GB plus .* MB per centre"):
        network_mode(sizes, 10, 61, {"MFA_NETWORK_MEMORY": str(10**9)})
