"""Issue 22 X7, closed by class: every file name that comes from outside (the Hub's file list, an
index's weight_map, an HF cache's refs) goes through one checked gate before it becomes a path.

Each member of the class (NUL, control characters, backslash, ``..``, ``.``, absolute, empty,
empty parts, over-long names and parts, lone surrogates, non-strings) is tried through each way a
served name reaches a path: the range cache (Hub range reads), the whole-file download, a local
or downloaded folder's index, and a refs file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mfa_engine.checkpoints.served_names import MAX_NAME_BYTES, MAX_PART_BYTES, check_served_name, served_name_problem
from mfa_engine.errors import CheckpointError

from .hub_server import HubServer

__all__: list[str] = []

#: (served name, words the refusal must hold): one per member of the class.
MEMBERS = [
    ("model\x00.safetensors", "NUL byte"),
    ("\x00", "NUL byte"),
    ("model\x1b[2J.safetensors", "control character"),
    ("model\n.safetensors", "control character"),
    ("model\x7f.safetensors", "control character"),
    ("model\x85.safetensors", "control character"),
    ("sub\\model.safetensors", "backslash"),
    ("..\\model.safetensors", "backslash"),
    ("../model.safetensors", "part '..'"),
    ("sub/../../model.safetensors", "part '..'"),
    ("..", "part '..'"),
    ("./model.safetensors", "part '.'"),
    ("/etc/model.safetensors", "absolute path"),
    ("", "is empty"),
    ("sub//model.safetensors", "empty part"),
    ("sub/", "empty part"),
    ("a" * (MAX_PART_BYTES + 1) + ".safetensors", "above the limit of 255"),
    ("/".join(["d" * 200] * 6) + ".safetensors", f"above the limit of {MAX_NAME_BYTES}"),
    ("model\ud800.safetensors", "lone surrogate"),
]
IDS = [f"m{i}" for i in range(len(MEMBERS))]
GOOD = ["model.safetensors", "model-00001-of-00002.safetensors", "shards/part 1.safetensors",
        "mödel-ü.safetensors", "a" * MAX_PART_BYTES, "x..y.safetensors", ".hidden.safetensors"]


def _refused(exc: pytest.ExceptionInfo, name: str, words: str) -> str:
    text = str(exc.value)
    assert "\n" not in text and "\x00" not in text and "\x1b" not in text, text
    assert words in text, text
    shown = repr(name)
    assert shown in text or shown[:100] in text, text
    return text


@pytest.mark.parametrize(("name", "words"), MEMBERS, ids=IDS)
def test_each_member_is_refused_with_its_reason(name: str, words: str) -> None:
    assert served_name_problem(name) is not None
    with pytest.raises(CheckpointError) as exc:
        check_served_name(name, "test index")
    _refused(exc, name, words)


@pytest.mark.parametrize("name", GOOD)
def test_plain_relative_names_pass(name: str) -> None:
    assert check_served_name(name, "test") == name and served_name_problem(name) is None


@pytest.mark.parametrize(("value", "words"), [(5, "is a int"), (None, "is a NoneType"), (["a"], "is a list")])
def test_non_strings_are_refused(value: object, words: str) -> None:
    with pytest.raises(CheckpointError, match=words):
        check_served_name(value, "test")


def test_single_part_names() -> None:
    assert served_name_problem("0123abcd", single=True) is None
    assert served_name_problem("a/b", single=True) == "contains a /"
    assert served_name_problem("a/b") is None


def _publish(hub: HubServer, repo: str, name: str) -> None:
    """A sharded repository whose index maps its one tensor to ``name`` (also in the file list)."""
    index = {"metadata": {}, "weight_map": {"w": name}}
    files: dict[str, bytes] = {
        "config.json": json.dumps({"model_type": "gpt_neox"}).encode(),
        "model.safetensors.index.json": json.dumps(index).encode(),
    }
    if name:
        files[name] = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "
    hub.add_branch(repo, "main", files)


@pytest.mark.parametrize(("name", "words"), MEMBERS, ids=IDS)
@pytest.mark.parametrize("download", [False, True], ids=["ranges", "download"])
def test_hub_index_naming_a_bad_shard_is_refused(hub: HubServer, tmp_path: Path, name: str, words: str,
                                                 download: bool) -> None:
    from mfa_engine.checkpoints.hub import open_hub_checkpoint

    _publish(hub, "Org/bad", name)
    cache = tmp_path / "ranges"
    with pytest.raises(CheckpointError) as exc:
        open_hub_checkpoint("Org/bad", range_cache=cache, download=download)
    text = _refused(exc, name, words)
    assert "model.safetensors.index.json of Org/bad" in text
    assert not (tmp_path / "model.safetensors").exists() and not Path("/etc/model.safetensors").exists()
    if cache.exists():  # nothing was mirrored
        assert not list(cache.glob("models--*/*/*"))


_TOP = [(i, m) for i, m in zip(IDS, MEMBERS) if m[0] not in ("", "..") and "/" not in m[0]]


@pytest.mark.parametrize(("name", "words"), [m for _, m in _TOP], ids=[i for i, _ in _TOP])
def test_hub_file_list_with_a_bad_weight_file_is_refused(hub: HubServer, tmp_path: Path, name: str,
                                                         words: str) -> None:
    """No index: the weight files are chosen from the served file list itself."""
    from mfa_engine.checkpoints.hub import open_hub_checkpoint

    if not name.endswith(".safetensors"):
        name += ".safetensors"
    hub.add_branch("Org/list", "main", {"config.json": b'{"model_type": "gpt_neox"}',
                                        name: b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "})
    with pytest.raises(CheckpointError) as exc:
        open_hub_checkpoint("Org/list", range_cache=tmp_path / "ranges")
    assert "the file list of Org/list" in _refused(exc, name, words)


def test_served_commit_that_is_not_a_hash_is_refused(hub: HubServer, tmp_path: Path) -> None:
    from mfa_engine.checkpoints.hub import open_hub_checkpoint

    _publish(hub, "Org/sha", "model.safetensors")
    hub.repos["Org/sha"].commits["main"] = "../../\x00evil"
    with pytest.raises(CheckpointError, match=r"names commit '\.\./\.\./\\x00evil', which is not a hash"):
        open_hub_checkpoint("Org/sha", range_cache=tmp_path / "ranges")


@pytest.mark.parametrize(("name", "words"), MEMBERS, ids=IDS)
def test_local_index_naming_a_bad_shard_is_refused(tmp_path: Path, name: str, words: str) -> None:
    """A local (or downloaded) folder: the index's shard names never leave the folder."""
    from mfa_engine.checkpoints.local import open_local

    outside = tmp_path / "model.safetensors"
    outside.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")  # what ../model.safetensors names
    folder = tmp_path / "ck"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "gpt_neox"}')
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": name}}))
    with pytest.raises(CheckpointError) as exc:
        open_local(folder, None)
    assert "index file" in _refused(exc, name, words)


@pytest.mark.parametrize("content", ["../../outside", "a\x00b", "x/y", ""])
def test_refs_file_naming_a_path_is_refused(tmp_path: Path, content: str) -> None:
    from mfa_engine.checkpoints.local import open_local

    repo = tmp_path / "hub" / "models--Org--A"
    (repo / "refs").mkdir(parents=True)
    (repo / "snapshots" / "abc1234").mkdir(parents=True)
    (repo / "refs" / "main").write_text(content)
    outside = tmp_path / "outside"  # a folder the hostile ref points at
    outside.mkdir()
    (outside / "config.json").write_text('{"model_type": "gpt_neox"}')
    with pytest.raises(CheckpointError, match="refs/main of"):
        open_local(repo, None)


@pytest.mark.parametrize("siblings", ["abc", [{"size": 1}], [{"rfilename": 5}], [{"rfilename": ["a"]}],
                                      [{"rfilename": "a", "size": -1}], [{"rfilename": "a", "size": 1e999}],
                                      [{"rfilename": "a", "size": "big"}], [7]])
def test_malformed_file_list_is_one_line(monkeypatch: pytest.MonkeyPatch, siblings: object) -> None:
    from mfa_engine.checkpoints import hub

    monkeypatch.setattr(hub, "_api_json", lambda what, path: {"sha": "a" * 40, "siblings": siblings})
    with pytest.raises(CheckpointError, match=r"Org/A@main: the Hub's file list") as exc:
        hub.hub_commit("Org/A", None)
    assert "\n" not in str(exc.value)
