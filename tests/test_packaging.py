"""Packaging: light import, one version, no top-level `kernels` module, transformers still imports."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import mfa_engine

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=300)


def test_import_is_light() -> None:
    r = _run(
        "import sys, mfa_engine, mfa_engine.errors, mfa_engine.cli, mfa_engine.analysis, mfa_engine.paths\n"
        "heavy = [m for m in ('torch', 'triton', 'cupy', 'transformers') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"import mfa_engine pulled in: {r.stdout.strip()}"


def test_single_version_number() -> None:
    assert importlib.metadata.version("mfa-engine") == mfa_engine.__version__
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and "mfa_engine.__version__" in text


def test_kernels_live_under_the_engine_namespace() -> None:
    r = _run(
        "import importlib.util, mfa_engine.kernels as k\n"
        "s = importlib.util.find_spec('kernels')\n"
        "print(s.origin if s is not None and s.origin else '-', k.__file__)"
    )
    assert r.returncode == 0, r.stderr
    top_level, path = r.stdout.split()
    # Either nothing, or Hugging Face's own `kernels` (installed with transformers 5.25+), from
    # the environment (which may be a .venv inside the repository), not from the repository.
    origin = Path(top_level).resolve()
    assert top_level == "-" or origin.is_relative_to(Path(sys.prefix).resolve()) or not origin.is_relative_to(ROOT)
    assert Path(path).parent == ROOT / "mfa_engine" / "kernels"


@pytest.mark.slow
def test_transformers_imports_with_engine_installed() -> None:
    r = _run(
        "import mfa_engine, mfa_engine.kernels, transformers\n"
        "from transformers import AutoConfig, GPTNeoXConfig\n"
        "print(GPTNeoXConfig(hidden_size=8, num_attention_heads=2).model_type)"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "gpt_neox"


def test_python_dash_m_and_console_script() -> None:
    r = subprocess.run([sys.executable, "-m", "mfa_engine", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == f"mfa-engine {mfa_engine.__version__}"
    exe = Path(sys.executable).parent / "mfa"
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "analyze" in r.stdout and "demo" in r.stdout


def test_lazy_attribute_errors() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mfa_engine.nope  # noqa: B018
