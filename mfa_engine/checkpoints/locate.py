"""Resolve a checkpoint location: plain HF model directories and the offline HF cache layout.

HF cache layout of one repository::

    <cache root>/models--Org--Name/
        refs/main, refs/step1000, ...      text files holding a commit hash
        snapshots/<hash>/config.json ...   one directory per downloaded revision
        blobs/...                          the files the snapshots link to
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mfa_engine.checkpoints.served_names import check_served_name
from mfa_engine.errors import CheckpointError

__all__ = ["Location", "locate", "parse_step", "read_refs", "hub_cache_roots", "cache_repo_for"]

_STEP = re.compile(r"step(\d+)")


class Location:
    """Where a checkpoint's files are and which revision they are.

    Attributes:
        model_dir: directory holding ``config.json`` and the weight files.
        revision: the revision asked for, else the ref that was chosen (``"main"``) or None.
        commit: snapshot hash in an HF cache, else None.
        ref_names: refs of the HF cache repository that point at ``commit``.
    """

    __slots__ = ("model_dir", "revision", "commit", "ref_names")

    def __init__(
        self,
        model_dir: Path,
        revision: str | None = None,
        commit: str | None = None,
        ref_names: tuple[str, ...] = (),
    ) -> None:
        self.model_dir = model_dir
        self.revision = revision
        self.commit = commit
        self.ref_names = ref_names

    def step(self) -> int | None:
        """Training step parsed from ``step(\\d+)`` in the revision, a ref, or the directory name.

        Returns:
            The step, or None when no candidate names one. Only the last path component is
            searched, so unrelated parent folders never leak a step.
        """
        candidates = [self.revision, *sorted(self.ref_names), self.model_dir.name]
        for text in candidates:
            if text:
                found = parse_step(text)
                if found is not None:
                    return found
        return None


def parse_step(text: str) -> int | None:
    """Last ``step(\\d+)`` number in ``text``, or None."""
    found = _STEP.findall(text)
    return int(found[-1]) if found else None


def read_refs(repo: Path) -> dict[str, str]:
    """Map ref name (``"main"``, ``"step1000"``, ``"pr/1"``) to commit hash of a cache repo."""
    refs_dir = repo / "refs"
    refs: dict[str, str] = {}
    if refs_dir.is_dir():
        for file in sorted(refs_dir.rglob("*")):
            if file.is_file():
                refs[file.relative_to(refs_dir).as_posix()] = file.read_text().strip()
    return refs


def hub_cache_roots(cache_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Candidate HF hub cache roots, most specific first (no network): ``cache_dir``, then the
    HF cache (``huggingface_hub.constants.HF_HUB_CACHE``: ``$HF_HUB_CACHE``, else
    ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``)."""
    from huggingface_hub import constants

    roots: list[Path] = []
    if cache_dir is not None:
        roots.append(Path(cache_dir).expanduser())
    roots.append(Path(constants.HF_HUB_CACHE).expanduser())
    return roots


def _is_cache_repo(path: Path) -> bool:
    """Whether ``path`` is an HF cache repository (an unreadable cache folder is an error)."""
    try:
        os.stat(path / "snapshots")
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        try:
            os.stat(path)
        except OSError:  # the folder holding ``path`` cannot be searched: a cache root
            raise CheckpointError(f"cannot read the HF cache folder {path.parent}: {exc.strerror or exc} "
                                  "(set HF_HUB_CACHE or HF_HOME to a folder you can read)") from None
        # ``path`` itself cannot be read: a cache repository, or the folder the user named
        what = "HF cache repository" if path.name.startswith("models--") else "checkpoint folder"
        raise CheckpointError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    return (path / "snapshots").is_dir()


def _resolve_cache_revision(repo: Path, revision: str | None) -> Location:
    refs = read_refs(repo)
    snapshots = sorted(p.name for p in (repo / "snapshots").iterdir() if p.is_dir())

    def available() -> str:
        return (
            f"available refs: {', '.join(sorted(refs)) or '(none)'}; "
            f"snapshots: {', '.join(snapshots) or '(none)'}"
        )

    if revision is None:
        if "main" in refs:
            name, commit = "main", refs["main"]
        elif len(snapshots) == 1:
            name, commit = None, snapshots[0]
        else:
            raise CheckpointError(
                f"{repo} has {len(snapshots)} snapshots and no refs/main; pass revision=, "
                f"{available()}"
            )
    elif revision in refs:
        name, commit = revision, refs[revision]
    elif revision in snapshots:
        name, commit = revision, revision
    else:
        matches = [s for s in snapshots if len(revision) >= 7 and s.startswith(revision)]
        if len(matches) != 1:
            raise CheckpointError(f"unknown revision {revision!r} for {repo}: {available()}")
        name, commit = revision, matches[0]
    check_served_name(commit, f"refs/{name} of {repo}", single=True)  # a refs file's content is a path part
    snapshot = repo / "snapshots" / commit
    if not snapshot.is_dir():
        raise CheckpointError(
            f"revision {name or commit!r} of {repo} points to commit {commit}, but "
            f"snapshots/{commit} is missing (not downloaded); {available()}"
        )
    ref_names = tuple(r for r, c in refs.items() if c == commit)
    return Location(snapshot, name, commit, ref_names)


def cache_repo_for(path: Path, cache_dir: str | os.PathLike[str] | None) -> Path | None:
    """Find ``models--Org--Name`` for a non-existing ``<root>/Org/Name`` or ``Org/Name`` path."""
    parts = path.parts
    if len(parts) >= 2:
        candidate = path.parent.parent / f"models--{parts[-2]}--{parts[-1]}"
        if _is_cache_repo(candidate):
            return candidate
    if not path.is_absolute() and len(parts) in (1, 2):
        name = "models--" + "--".join(parts)
        for root in hub_cache_roots(cache_dir):
            if _is_cache_repo(root / name):
                return root / name
    return None


def locate(
    path: str | os.PathLike[str],
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Location:
    """Resolve ``path`` (and ``revision``) to the directory holding the checkpoint files.

    Accepted forms: a model directory with ``config.json``; an HF cache repository
    ``models--Org--Name``; ``<cache root>/Org/Name`` or a repo id ``Org/Name`` found in a cache
    root (``cache_dir``, ``$HF_HUB_CACHE``, ``$HF_HOME/hub``, ``~/.cache/huggingface/hub``); a
    snapshot directory inside a cache; a plain directory with one sub-directory per revision
    (``path/revision``).

    Args:
        path: see above.
        revision: ref name (``"step1000"``, ``"main"``), snapshot hash (or a unique prefix of at
            least 7 characters), or the name of a sub-directory of a plain directory.
        cache_dir: extra HF hub cache root searched for repo ids.

    Returns:
        The resolved :class:`Location`.

    Raises:
        CheckpointError: the path does not exist or the revision is unknown.
    """
    p = Path(path).expanduser()
    if not p.exists():
        repo = cache_repo_for(p, cache_dir)
        if repo is None:
            hint = "; to name a revision, pass revision=REV (or ORG/NAME@REV)" if "@" in p.name else ""
            raise CheckpointError(
                f"checkpoint directory {p} does not exist (expected a model directory with "
                f"config.json, an HF cache repo models--Org--Name, or a cached repo id){hint}"
            )
        return _resolve_cache_revision(repo, revision)
    if not p.is_dir():
        raise CheckpointError(
            f"checkpoint path {p} is a file; expected the model directory holding config.json"
        )
    if _is_cache_repo(p):
        return _resolve_cache_revision(p, revision)
    if revision is not None:
        if (p / revision).is_dir():
            return Location(p / revision, revision)
        raise CheckpointError(
            f"revision {revision!r} given, but {p} is not an HF cache repo (no snapshots/) and "
            f"has no sub-directory {revision!r}"
        )
    if p.parent.name == "snapshots" and _is_cache_repo(p.parent.parent):
        repo = p.parent.parent
        refs = read_refs(repo)
        ref_names = tuple(r for r, c in refs.items() if c == p.name)
        return Location(p, None, p.name, ref_names)
    return Location(p)
