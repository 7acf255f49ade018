"""CHECKPOINT argument expansion: directories, globs, MODEL@revs, HF cache repos; step order."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfa_engine.batch.series import expand_series, step_of_path
from mfa_engine.errors import ConfigError

from .._models import write_hf_cache


def _dirs(root: Path, names: list[str]) -> None:
    for n in names:
        (root / n).mkdir(parents=True)
        (root / n / "config.json").write_text("{}")


def test_glob_is_sorted_by_step_numerically_and_deduplicated(tmp_path):
    _dirs(tmp_path, ["step10000", "step2000", "step0", "final"])
    specs = expand_series([str(tmp_path / "step*"), str(tmp_path / "step0"), str(tmp_path / "final")])
    assert [s.step for s in specs] == [0, 2000, 10000, None]  # unnamed steps go last
    assert [Path(s.path).name for s in specs] == ["step0", "step2000", "step10000", "final"]
    assert specs[0].key == str((tmp_path / "step0").resolve())
    assert specs[0].revision is None and specs[0].label == "step0" and specs[-1].label == "final"


def test_step_is_taken_from_the_last_component_that_names_one():
    assert step_of_path("runs/step1000/model") == 1000
    assert step_of_path("step5/runs/ckpt-step300") == 300
    assert step_of_path("runs/final") is None


def test_hf_cache_model_with_revisions(tmp_path, neox_series):
    repo = write_hf_cache(tmp_path / "hub", "EleutherAI/pythia-tiny",
                          {"step1000": neox_series / "step1000", "step0": neox_series / "step0"})
    specs = expand_series([f"{repo}@step1000,step0"])
    assert [(s.revision, s.step) for s in specs] == [("step0", 0), ("step1000", 1000)]
    assert specs[1].key == f"{repo.resolve()}@step1000"
    # A cache repository without @ expands to all of its stepN refs.
    assert [s.step for s in expand_series([str(repo)])] == [0, 1000]


@pytest.mark.parametrize("arg, msg", [("nothing-*", "matches no directory"),
                                      ("missing-dir", "is not a directory"),
                                      ("model@", "names no revision")])
def test_bad_arguments_are_config_errors(tmp_path, arg, msg):
    with pytest.raises(ConfigError, match=msg):
        expand_series([str(tmp_path / arg)])
    with pytest.raises(ConfigError, match="no checkpoints"):
        expand_series([])
