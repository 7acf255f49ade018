"""Checkpoints read straight from the Hugging Face Hub, fetching only the bytes the analysis needs.

``open_hub_checkpoint("Org/Name", revision)`` resolves the revision to a commit (``model_info``),
downloads ``config.json`` (and ``model.safetensors.index.json`` for sharded models) into the
standard HF cache, reads each safetensors header with two range requests (8 bytes, then the
header), and returns a :class:`HubCheckpoint`: the local :class:`Checkpoint` contract (``keys``,
``shape``, ``dtype``, ``read``, ``read_rows``, ``read_block``) over sparse mirrors of the remote
files in the range cache (:mod:`mfa_engine.checkpoints.range_cache`). Every read first fetches
the byte ranges of the rows it touches that are not cached yet; :meth:`HubCheckpoint.fetch`
fetches the ranges of many reads at once (the analysis records its read plan first, so the
ranges of all samples, modes and tensors are fetched in one parallel pass).

Range planning: a row read of ``tensor[rows][:, cols]`` needs, per row, the bytes from the first
to the last requested column. Ranges of one file are sorted and merged when the gap between
them is at most ``MFA_HUB_GAP`` bytes (default 4 KiB: about what the headers of one request
and its answer cost; a larger gap merges the sparse rows of small models into whole tensors),
then split at 16 MiB so large reads also run in parallel.

``pytorch_model.bin`` repositories cannot be read by range (a pickle): their files are
downloaded whole into the HF cache (a message on stderr says so), as are all files with
``download=True``.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from mfa_engine.checkpoints.checkpoint import Checkpoint
from mfa_engine.checkpoints.dtypes import SAFETENSORS_DTYPES
from mfa_engine.checkpoints.http_ranges import RangeFetcher, check_reachable, hub_endpoint, retry_settings
from mfa_engine.checkpoints.json_file import read_json
from mfa_engine.checkpoints.local import BIN_INDEX, BIN_SINGLE, SAFE_INDEX, SAFE_SINGLE, check_weight_map, open_local
from mfa_engine.checkpoints.locate import parse_step
from mfa_engine.checkpoints.range_cache import Mirror, RangeCache, merge_ranges
from mfa_engine.checkpoints.safetensors_file import MAX_HEADER_BYTES, SafetensorsFile
from mfa_engine.checkpoints.served_names import check_served_name
from mfa_engine.errors import CheckpointError
from mfa_engine.limits import setting

__all__ = ["HubCheckpoint", "open_hub_checkpoint", "is_repo_id", "hub_branches", "hub_commit",
           "download_checkpoint", "DEFAULT_GAP"]

#: Default coalescing gap in bytes (``MFA_HUB_GAP`` overrides it).
DEFAULT_GAP = 4 << 10
_SPLIT = 16 << 20
_FLUSH = 32 << 20
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")



def is_repo_id(text: str) -> bool:
    """True if ``text`` has the form of a Hub repository id ``Org/Name``."""
    return bool(_REPO_ID.match(str(text)))


def offline() -> bool:
    """True in offline mode (``HF_HUB_OFFLINE``, as :func:`huggingface_hub.constants.is_offline_mode` reads it)."""
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def _hub_errors(what: str, attempts: int, exc: Exception) -> CheckpointError:
    """One-line :class:`CheckpointError` of a failed Hub call (after ``http_backoff``'s retries)."""
    from huggingface_hub import errors as hf_errors

    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return CheckpointError(f"{what}: revision not found on the Hub (HTTP 404)")
    if isinstance(exc, hf_errors.GatedRepoError):
        return CheckpointError(f"{what}: access denied (HTTP 401/403): the repository is gated; set HF_TOKEN "
                               "to a token with access")
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        status = getattr(getattr(exc, "response", None), "status_code", 404)
        return CheckpointError(f"{what}: repository not found on the Hub or not accessible (HTTP {status}); "
                               "check the name, or set HF_TOKEN for a private repository")
    if isinstance(exc, hf_errors.LocalEntryNotFoundError):
        # huggingface_hub's "not in the cache and the Hub did not answer": say why, never 404
        cause = exc.__cause__ or exc.__context__
        if cause is not None and cause is not exc:
            return _hub_errors(what, attempts, cause)
        return CheckpointError(f"{what}: the Hub did not answer and the file is not in the HF cache")
    if isinstance(exc, hf_errors.EntryNotFoundError):
        return CheckpointError(f"{what}: file not found on the Hub (HTTP 404)")
    if isinstance(exc, hf_errors.OfflineModeIsEnabled):
        return CheckpointError(f"{what}: HF_HUB_OFFLINE is set; cannot reach the Hub")
    if isinstance(exc, hf_errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return CheckpointError(f"{what}: access denied (HTTP {status}); set HF_TOKEN to a token with access")
        if status is not None and status < 500 and status not in (408, 429):
            return CheckpointError(f"{what}: HTTP {status} from the Hub")
        return CheckpointError(f"{what}: failed after {attempts} attempts: HTTP {status}")
    text = str(exc).splitlines()[0] if str(exc) else ""
    return CheckpointError(f"{what}: failed after {attempts} attempts: {type(exc).__name__}: {text}")


def _api_json(what: str, path: str) -> Any:
    """GET ``{endpoint}/api/models/{path}`` (``http_backoff``'s retries) and decode the JSON.

    Raises:
        CheckpointError: No network (at once), an HTTP error, or a transient failure after the
            last attempt; one line naming ``what``.
    """
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_backoff

    endpoint = hub_endpoint()
    check_reachable(what, endpoint)
    retry = retry_settings()
    try:
        r = http_backoff("GET", f"{endpoint}/api/models/{path}", headers=build_hf_headers(),
                         follow_redirects=True, timeout=60.0, **retry)
        hf_raise_for_status(r)
        return r.json()
    except ValueError as exc:  # JSONDecodeError
        raise CheckpointError(f"{what}: the Hub's answer is not JSON ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - HTTP and transport errors of the Hub client
        raise _hub_errors(what, retry["max_retries"] + 1, exc) from None


def _choose_files(names: Sequence[str]) -> tuple[str, str | None, list[str]]:
    """``(kind, index file or None, weight files)`` from a repository's file names.

    The order is the local reader's (:func:`mfa_engine.checkpoints.open.find_weight_files`).
    """
    top = {n for n in names if "/" not in n}
    if SAFE_SINGLE in top:
        return "safetensors", None, [SAFE_SINGLE]
    if SAFE_INDEX in top:
        return "safetensors", SAFE_INDEX, []
    others = sorted(n for n in top if n.endswith(".safetensors"))
    if others:
        return "safetensors", None, others
    if BIN_INDEX in top:
        return "bin", BIN_INDEX, []
    if BIN_SINGLE in top:
        return "bin", None, [BIN_SINGLE]
    raise CheckpointError(
        f"no weight files: expected {SAFE_SINGLE}, {SAFE_INDEX} with its shards, or {BIN_SINGLE}"
    )


class HubCheckpoint(Checkpoint):
    """A checkpoint on the Hub read through the range cache (the :class:`Checkpoint` contract).

    Attributes (besides :class:`Checkpoint`'s):
        repo_id: ``"Org/Name"``.
        source: ``"hub"``.
        bytes_total: Total size of the weight files.
        fetcher: The :class:`~mfa_engine.checkpoints.http_ranges.RangeFetcher` (byte counts).
        gap: Coalescing gap in bytes.
    """

    source = "hub"

    def __init__(self, repo_id: str, config: dict[str, Any], files: list[SafetensorsFile],
                 mirrors: dict[Path, Mirror], fetcher: RangeFetcher, cache: RangeCache, *,
                 step: int | None, revision: str | None, commit: str,
                 weight_map: dict[str, str] | None = None) -> None:
        super().__init__(Path(repo_id), config, files, step=step, revision=revision, commit=commit,
                         weight_map=weight_map)
        self.repo_id = repo_id
        self.mirrors = mirrors
        self.fetcher = fetcher
        self.cache = cache
        self.gap = int(setting("MFA_HUB_GAP"))
        self.bytes_total = int(sum(m.size for m in mirrors.values()))
        self.progress: bool | None = None

    @property
    def bytes_read(self) -> int:
        """Bytes fetched from the Hub by this checkpoint object (headers included)."""
        return self.fetcher.bytes_read

    def _ranges(self, name: str, rows: Any, cols: Any) -> tuple[Path, list[tuple[int, int]]]:
        """Byte ranges of ``tensor[rows][:, cols]`` (``rows``/``cols`` None: all)."""
        file = self._file(name)
        entry = file.entries[name]
        begin, end = entry.begin, entry.end
        shape = entry.shape
        if rows is None or len(shape) == 0 or end == begin:
            return file.path, [(begin, end)]
        item = SAFETENSORS_DTYPES[entry.code][1].itemsize
        row_bytes = math.prod(shape[1:]) * item
        r = np.unique(np.asarray(rows, dtype=np.int64).reshape(-1))
        r = r[(r >= 0) & (r < shape[0])]
        lo, hi = 0, row_bytes
        if cols is not None and len(shape) == 2:
            c = np.asarray(cols, dtype=np.int64).reshape(-1)
            c = c[(c >= 0) & (c < shape[1])]
            if c.size:
                lo, hi = int(c.min()) * item, (int(c.max()) + 1) * item
        starts = begin + r * row_bytes
        return file.path, list(zip((starts + lo).tolist(), (starts + hi).tolist()))

    def fetch(self, requests: Sequence[tuple[str, Any, Any]]) -> int:
        """Fetch (into the range cache) the bytes of many reads in one parallel pass.

        Args:
            requests: ``(tensor name, rows or None, cols or None)``; None means all.

        Returns:
            Bytes fetched from the Hub by this call.
        """
        wanted: dict[Path, list[tuple[int, int]]] = {}
        for name, rows, cols in requests:
            path, ranges = self._ranges(name, rows, cols)
            wanted.setdefault(path, []).extend(ranges)
        jobs: list[tuple[str, int, int]] = []
        merged = {path: merge_ranges(ranges, self.gap) for path, ranges in wanted.items()}
        for path, ranges in merged.items():
            mirror = self.mirrors[path]
            mirror.verify(ranges)  # a truncated or altered range is fetched again
            for a, b in mirror.missing(ranges):
                jobs.extend((str(path), s, min(b, s + _SPLIT)) for s in range(a, b, _SPLIT))
        got = self._fetch_jobs(jobs)
        for path, ranges in merged.items():
            _check_again(self.mirrors[path], ranges, self.repo_id)
        return got

    def _fetch_jobs(self, jobs: list[tuple[str, int, int]]) -> int:
        if not jobs:
            return 0
        before = self.fetcher.bytes_read
        names = {str(p): m for p, m in self.mirrors.items()}
        buffers: dict[str, list[tuple[int, bytes]]] = {}
        pending = [0]

        def flush() -> None:
            for key, pieces in buffers.items():
                names[key].write(pieces)
            buffers.clear()
            pending[0] = 0

        def sink(key: str, start: int, data: bytes) -> None:
            buffers.setdefault(key, []).append((start, data))
            pending[0] += len(data)
            if pending[0] >= _FLUSH:
                flush()

        remote = [(names[k].remote_name, s, e) for k, s, e in jobs]
        by_remote = {names[k].remote_name: k for k in names}
        try:
            self.fetcher.fetch(remote, lambda n, s, d: sink(by_remote[n], s, d),
                               progress=self.progress)
        finally:
            flush()  # what arrived complete is kept, even when a later range failed
        self.cache.evict(keep=[m.path for m in self.mirrors.values()])
        return self.fetcher.bytes_read - before

    def read(self, name: str) -> np.ndarray:
        """Read a full tensor (fetches the whole tensor's bytes if not cached)."""
        self.fetch([(name, None, None)])
        return super().read(name)

    def read_stored(self, name: str, rows: Any = None, buf: np.ndarray | None = None) -> tuple[np.ndarray, str]:
        """A full tensor (or its ``rows``) as stored (fetches those bytes if not cached)."""
        self.fetch([(name, rows, None)])
        return super().read_stored(name, rows, buf)

    def read_rows(self, name: str, rows: Any) -> np.ndarray:
        """Read selected rows (fetches only those rows' bytes); see :class:`Checkpoint`."""
        self.fetch([(name, rows, None)])
        return super().read_rows(name, rows)

    def read_block(self, name: str, rows: Any, cols: Any) -> np.ndarray:
        """Read ``tensor[rows][:, cols]`` (fetches only the rows' column spans)."""
        self.fetch([(name, rows, cols)])
        return super().read_block(name, rows, cols)

    def __repr__(self) -> str:
        return (f"HubCheckpoint({self.repo_id!r}, revision={self.revision!r}, "
                f"commit={str(self.commit)[:12]!r}, tensors={len(self._where)})")


def _fetch_headers(fetcher: RangeFetcher, mirrors: list[Mirror]) -> None:
    """Fetch the 8-byte length and the JSON header of each safetensors mirror (if not held)."""
    for step in ("length", "header"):
        jobs = []
        wants: dict[str, list[tuple[int, int]]] = {}
        for m in mirrors:
            if m.size < 8:
                raise CheckpointError(
                    f"{m.remote_name} of {fetcher.repo_id} is truncated: {m.size} bytes, expected "
                    "at least the 8-byte header length")
            if step == "length":
                want = [(0, 8)]
            else:
                with open(m.path, "rb") as fh:
                    n = int.from_bytes(fh.read(8), "little")
                if n > MAX_HEADER_BYTES or 8 + n > m.size:
                    continue  # SafetensorsFile reports the corrupt length
                want = [(8, 8 + n)]
            wants[m.remote_name] = want
            m.verify(want)  # a truncated or altered range is fetched again
            jobs += [(m.remote_name, a, b) for a, b in m.missing(want)]
        by_name = {m.remote_name: m for m in mirrors}
        got: dict[str, list[tuple[int, bytes]]] = {}
        fetcher.fetch(jobs, lambda n, s, d, got=got: got.setdefault(n, []).append((s, d)), progress=False)
        for name, pieces in got.items():
            by_name[name].write(pieces)
        for name, want in wants.items():
            _check_again(by_name[name], want, fetcher.repo_id)


def _check_again(mirror: Mirror, ranges: list[tuple[int, int]], repo_id: str) -> None:
    """After a fetch, the wanted ranges must be held and intact (else an error naming the file)."""
    if mirror.verify(ranges) or mirror.missing(ranges):
        raise CheckpointError(
            f"range cache file {mirror.path} (of {repo_id}) changed right after it was written "
            "(truncated or altered by another process or the disk); its bytes cannot be trusted")


def _shard_names(weight_map: dict, what: str) -> list[str]:
    """The distinct shard files of a served ``weight_map``, each a checked served name."""
    return list(dict.fromkeys(check_served_name(v, what) for v in weight_map.values()))


def _resolve(repo_id: str, revision: str | None) -> tuple[str, dict[str, int]]:
    """``(commit, {file name: size})`` of a revision (the Hub's model info with file sizes)."""
    what = f"{repo_id}@{revision or 'main'}"
    info = _api_json(what, f"{repo_id}/revision/{quote(revision or 'main', safe='')}?blobs=true")
    commit = info.get("sha") if isinstance(info, dict) else None
    if not commit:
        raise CheckpointError(f"{what}: the Hub's model info has no commit hash")
    if not isinstance(commit, str) or not re.fullmatch(r"[0-9a-fA-F]{7,64}", commit):
        shown = repr(commit)[:80]
        raise CheckpointError(f"{what}: the Hub's model info names commit {shown}, which is not a hash")
    siblings = info.get("siblings") or []
    try:
        sizes = {s["rfilename"]: int(s.get("size") or 0) for s in siblings}
    except (TypeError, KeyError, ValueError, AttributeError, OverflowError):
        raise CheckpointError(f"{what}: the Hub's file list (siblings) is malformed; expected "
                              '[{"rfilename": name, "size": bytes}, ...]') from None
    for name, size in sizes.items():
        if not isinstance(name, str) or size < 0:
            raise CheckpointError(f"{what}: the Hub's file list holds {name!r} of {size} bytes; expected a "
                                  "file name and a size >= 0")
    return str(commit), sizes


def hub_commit(repo_id: str, revision: str | None) -> str:
    """The commit hash a revision of a Hub repository points at now (one model-info request).

    Raises:
        CheckpointError: The repository or revision does not exist, or the Hub cannot be reached.
    """
    return _resolve(repo_id, revision)[0]


def _probe(what: str, repo_id: str, commit: str, filename: str) -> None:
    """HEAD the file with the engine's retries (``MFA_HUB_RETRIES``, ``MFA_HUB_BACKOFF``), so
    that a server failing for good is one error line naming its status, after our retries and
    not huggingface_hub's own (which ignore those settings and report a 404).

    Raises:
        CheckpointError: The file is missing, access is denied, or the server keeps failing.
    """
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_backoff

    endpoint = hub_endpoint()
    retry = retry_settings()
    quiet = logging.getLogger("huggingface_hub.utils._http")  # its per-retry warnings
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        r = http_backoff("HEAD", hf_hub_url(repo_id, filename, revision=commit, endpoint=endpoint),
                         headers=build_hf_headers(), follow_redirects=True, timeout=60.0, **retry)
        hf_raise_for_status(r)
    except Exception as exc:  # noqa: BLE001 - HTTP and transport errors of the Hub client
        raise _hub_errors(what, retry["max_retries"] + 1, exc) from None
    finally:
        quiet.setLevel(level)


def _download(repo_id: str, commit: str, filename: str) -> str:
    """Download one file of a commit into the HF cache (huggingface_hub's own download)."""
    from huggingface_hub import hf_hub_download

    what = f"{filename} of {repo_id}@{commit[:12]}"
    try:  # already in the HF cache: no request at all
        return hf_hub_download(repo_id, filename, revision=commit, endpoint=hub_endpoint(),
                               local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached (or a damaged cache entry): fetch it below
        pass
    _probe(what, repo_id, commit, filename)
    try:
        return hf_hub_download(repo_id, filename, revision=commit, endpoint=hub_endpoint())
    except Exception as exc:  # noqa: BLE001 - HTTP and transport errors of the Hub client
        raise _hub_errors(what, 1, exc) from None


def download_checkpoint(repo_id: str, revision: str | None = None, *, why: str = "") -> Checkpoint:
    """Download a checkpoint's config and weight files whole into the HF cache and open it.

    Args:
        repo_id: ``"Org/Name"``.
        revision: Branch, tag or commit (default main).
        why: Reason printed on stderr with the size (empty: no message).

    Returns:
        The local :class:`Checkpoint` of the snapshot (``source = "download"``).
    """
    commit, sizes = _resolve(repo_id, revision)
    kind, index, files = _choose_files(list(sizes))
    names = ["config.json"]
    if index is not None:
        doc = read_json(Path(_download(repo_id, commit, index)), f"{index} of {repo_id}")
        weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{index} of {repo_id} has no weight_map")
        names.append(index)
        files = _shard_names(weight_map, f"{index} of {repo_id}@{revision or 'main'}")
    else:
        files = [check_served_name(f, f"the file list of {repo_id}@{revision or 'main'}") for f in files]
    total = sum(sizes.get(f, 0) for f in files)
    if why:
        print(f"{repo_id}@{revision or 'main'}: {why}; downloading {len(files)} file(s), "
              f"{total / 1e6:.1f} MB, into the HF cache", file=sys.stderr)
    path = ""
    for name in names + files:
        path = _download(repo_id, commit, name)
    ckpt = open_local(Path(path).parent, None)
    ckpt.revision = revision
    ckpt.commit = commit
    ckpt.step = parse_step(revision or "")
    ckpt.source = "download"
    ckpt.bytes_total = total
    return ckpt


def open_hub_checkpoint(
    repo_id: str,
    revision: str | None = None,
    *,
    range_cache: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> Checkpoint:
    """Open a Hub checkpoint for range reads (or download it whole).

    Args:
        repo_id: ``"Org/Name"``.
        revision: Branch (``"step1000"``), tag or commit hash (default main).
        range_cache: Range cache root (default :func:`~mfa_engine.checkpoints.range_cache.default_cache_root`).
        download: Download whole files into the standard HF cache instead of range reads.

    Returns:
        A :class:`HubCheckpoint`, or the local checkpoint of the downloaded snapshot
        (``download=True`` and ``pytorch_model.bin`` repositories).

    Raises:
        CheckpointError: offline mode, unknown repository/revision, access denied, missing or
            corrupt files, or the Hub failing after the last retry.
    """
    if offline():
        raise CheckpointError(
            f"{repo_id}@{revision or 'main'} is read from the Hub, but HF_HUB_OFFLINE is set: unset "
            "HF_HUB_OFFLINE to read it from the Hub, or pass a local model folder"
        )
    if download:
        return download_checkpoint(repo_id, revision)
    commit, sizes = _resolve(repo_id, revision)
    what = f"{repo_id}@{revision or 'main'}"
    try:
        kind, index, files = _choose_files(list(sizes))
    except CheckpointError as exc:
        raise CheckpointError(f"{what}: {exc}") from None
    if kind == "bin":
        return download_checkpoint(
            repo_id, commit, why="pytorch_model.bin files cannot be read by range (pickle format)")
    if "config.json" not in sizes:
        raise CheckpointError(f"{what} has no config.json; expected an HF model repository")
    config = read_json(Path(_download(repo_id, commit, "config.json")), f"config.json of {what}")
    if not isinstance(config, dict):
        raise CheckpointError(f"config.json of {what} is a JSON {type(config).__name__}, expected an object")
    weight_map = None
    if index is not None:
        doc = read_json(Path(_download(repo_id, commit, index)), f"{index} of {what}")
        weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{index} of {what} has no weight_map; expected "
                                  '{"weight_map": {tensor name: shard file}}')
        files = _shard_names(weight_map, f"{index} of {what}")
        for f in files:
            if f not in sizes:
                raise CheckpointError(f"{index} of {what} points to missing shard {f}")
    else:
        files = [check_served_name(f, f"the file list of {what}") for f in files]
    cache = RangeCache(range_cache)
    fetcher = RangeFetcher(repo_id, commit)
    mirrors: dict[Path, Mirror] = {}
    for f in files:
        m = cache.mirror(repo_id, commit, f, sizes[f])
        mirrors[m.path] = m
    _fetch_headers(fetcher, list(mirrors.values()))
    opened = [SafetensorsFile(p) for p in mirrors]
    if weight_map is not None:
        check_weight_map(opened, weight_map, SAFE_INDEX)  # type: ignore[arg-type]
    step = parse_step(revision or "")
    return HubCheckpoint(repo_id, config, opened, mirrors, fetcher, cache, step=step,
                         revision=revision, commit=commit, weight_map=weight_map)


def hub_branches(repo_id: str) -> list[str]:
    """Branch names of a Hub repository (``list_repo_refs``)."""
    if offline():
        raise CheckpointError(f"cannot list the branches of {repo_id}: HF_HUB_OFFLINE is set")
    refs = _api_json(f"{repo_id} (branches)", f"{repo_id}/refs")
    return [str(b["name"]) for b in (refs.get("branches") or [])] if isinstance(refs, dict) else []
