"""Expand ``mfa batch`` CHECKPOINT arguments into a series of checkpoints ordered by step.

Accepted forms of one argument:

* a checkpoint directory (``runs/step1000``; the step is the last ``stepN`` in the path);
* a glob pattern (``runs/step*``), expanded to the matching directories;
* ``MODEL@rev1,rev2`` with MODEL an HF cache repository (``models--Org--Name``), a cached repo
  id (``Org/Name``) or a directory with one sub-directory per revision; the step is parsed from
  each revision name;
* an HF cache repository without ``@``: every ref named ``stepN`` (else its main snapshot);
* a Hub repository id ``Org/Name`` that is not a local folder (its main branch), or
  ``Org/Name@step*``: the repository's branches matching the glob (from the Hub with
  ``list_repo_refs``; from the local HF cache's refs when it is a cached repository under
  ``HF_HUB_OFFLINE``), ordered by step.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mfa_engine.batch.store import MAX_STEP
from mfa_engine.checkpoints.hub import hub_branches, is_repo_id, offline
from mfa_engine.checkpoints.locate import cache_repo_for, parse_step, read_refs
from mfa_engine.errors import ConfigError

__all__ = ["CheckpointSpec", "expand_series", "step_of_path"]

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class CheckpointSpec:
    """One checkpoint of a series.

    Attributes:
        path: What ``open_checkpoint`` is given (a directory or a cached repo id).
        revision: Revision for the HF cache layout or a per-revision sub-directory, else None.
        step: Training step (from ``stepN`` in the revision or the path), None if unnamed.
        key: Stable identity in the results store: the resolved path, plus ``@revision``.
    """

    path: str
    revision: str | None
    step: int | None
    key: str

    def __post_init__(self) -> None:
        if self.step is not None and not 0 <= self.step <= MAX_STEP:
            raise ConfigError(f"checkpoint {self.key}: step {self.step} is too large for the results "
                              f"store (at most {MAX_STEP})")

    @property
    def label(self) -> str:
        """Short human-readable name: the step, else the last path component."""
        if self.step is not None:
            return f"step{self.step}"
        return self.revision or Path(self.path).name


def step_of_path(path: str | Path) -> int | None:
    """Training step from the last path component that names one (``stepN``), else None."""
    for part in reversed(Path(path).parts):
        found = parse_step(part)
        if found is not None:
            return found
    return None


def _resolved(path: str) -> str:
    p = Path(path).expanduser()
    return str(p.resolve()) if p.exists() else path


def _with_revisions(model: str, revisions: Iterable[str]) -> list[CheckpointSpec]:
    out = []
    for rev in revisions:
        rev = rev.strip()
        if not rev:
            continue
        out.append(CheckpointSpec(model, rev, parse_step(rev), f"{_resolved(model)}@{rev}"))
    if not out:
        raise ConfigError(f"checkpoint argument {model}@... names no revision; expected MODEL@rev1,rev2")
    return out


def _local_refs(model: str) -> list[str] | None:
    """Refs of a local HF cache repository or sub-directories of a folder (None: not local)."""
    p = Path(model).expanduser()
    repo = p if (p / "snapshots").is_dir() else cache_repo_for(p, None)
    if repo is not None:
        return sorted(read_refs(repo))
    if p.is_dir():
        return sorted(c.name for c in p.iterdir() if c.is_dir())
    return None


def _glob_revisions(model: str, patterns: list[str]) -> list[str]:
    """Revisions of ``model`` matching any of the glob ``patterns``."""
    names = None
    if not is_repo_id(model) or Path(model).expanduser().exists() or offline():
        names = _local_refs(model)
    if names is None:
        if not is_repo_id(model):
            raise ConfigError(f"checkpoint {model!r} is neither a local folder nor a Hub repo id Org/Name")
        names = hub_branches(model)
    found = sorted({n for n in names for pat in patterns if fnmatch.fnmatchcase(n, pat)})
    if not found:
        raise ConfigError(
            f"no revision of {model} matches {','.join(patterns)} (revisions: "
            f"{', '.join(sorted(names)[:8]) or 'none'}{', ...' if len(names) > 8 else ''})"
        )
    return found


def _one(arg: str) -> list[CheckpointSpec]:
    if "@" in arg:
        model, revs = arg.rsplit("@", 1)
        parts = [r.strip() for r in revs.split(",")]
        globs = [r for r in parts if _GLOB_CHARS & set(r)]
        if globs:
            parts = [r for r in parts if r not in globs] + _glob_revisions(model, globs)
        return _with_revisions(model, parts)
    if _GLOB_CHARS & set(arg):
        matches = sorted(m for m in glob.glob(str(Path(arg).expanduser())) if Path(m).is_dir())
        if not matches:
            raise ConfigError(f"checkpoint pattern {arg!r} matches no directory")
        return [s for m in matches for s in _one(m)]
    p = Path(arg).expanduser()
    if not p.exists() and not os.path.isabs(arg):
        if is_repo_id(arg):  # a Hub repository (or a cached repo id): its main branch
            return [CheckpointSpec(arg, None, None, arg)]
    if not p.is_dir():
        raise ConfigError(
            f"checkpoint {arg!r} is not a directory; expected a checkpoint directory, a glob, "
            "or MODEL@rev1,rev2"
        )
    if (p / "snapshots").is_dir():  # HF cache repository: every stepN ref
        refs = sorted(r for r in read_refs(p) if parse_step(r) is not None)
        if refs:
            return _with_revisions(str(p), refs)
    return [CheckpointSpec(str(p), None, step_of_path(p.resolve()), str(p.resolve()))]


def expand_series(args: Iterable[str]) -> list[CheckpointSpec]:
    """Expand CHECKPOINT arguments into checkpoints sorted by step (unnamed steps last).

    Args:
        args: Directories, glob patterns and ``MODEL@rev1,rev2`` strings.

    Returns:
        Distinct checkpoints (by :attr:`CheckpointSpec.key`), ordered by ``(step, key)``.

    Raises:
        ConfigError: No argument, a pattern matching nothing, or a path that is not a directory.
    """
    specs: dict[str, CheckpointSpec] = {}
    for arg in args:
        for spec in _one(str(arg)):
            specs.setdefault(spec.key, spec)
    if not specs:
        raise ConfigError("no checkpoints given; expected directories, globs or MODEL@rev1,rev2")
    return sorted(specs.values(), key=lambda s: (s.step is None, s.step or 0, s.key))
