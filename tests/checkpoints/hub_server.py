"""A local Hugging Face Hub-compatible HTTP server for tests and benchmarks (no internet).

It speaks the part of the Hub protocol that ``huggingface_hub`` (``HfApi.model_info``,
``list_repo_refs``, ``list_repo_tree``, ``hf_hub_download``, ``get_hf_file_metadata``) and the
engine's range reader use::

    GET  /api/models/{repo}                       model info of main
    GET  /api/models/{repo}/revision/{rev}        model info: {"id", "sha", "siblings"}
    GET  /api/models/{repo}/refs                  {"branches": [...], "tags": [], ...}
    GET  /api/models/{repo}/tree/{rev}[/{path}]   file listing
    HEAD /{repo}/resolve/{rev}/{file}             X-Repo-Commit, ETag, X-Linked-Size/-Etag
    GET  /{repo}/resolve/{rev}/{file}             whole file (200) or one ``Range`` (206)

Errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``) as the
Hub does. A revision is a branch name or a commit hash (sha1 of the branch's file contents).

Files are real files or :class:`VirtualFile` objects whose bytes are computed from the offset
(a multi-GB checkpoint served without writing it). The server counts the body bytes it sends
(:attr:`HubServer.bytes_sent`, :attr:`HubServer.range_bytes`) and logs every request.

Fault injection (:meth:`HubServer.add_fault`): ``"500"`` / ``"503"`` responses, ``"drop"``
(close the connection without answering), ``"truncate"`` (announce the full length, send half
the body, close), ``"trickle"`` (send the body 64 bytes at a time, one piece every
:attr:`HubServer.trickle_interval` seconds), ``"401"`` (as a gated or private repo without a token), ``"404"``.
A token can be required for the whole server (``token=``).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["HubServer", "VirtualFile", "Fault", "virtual_safetensors", "virtual_gpt_neox"]

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class VirtualFile:
    """A file whose bytes are computed on demand.

    Args:
        size: File size in bytes.
        read: ``read(offset, length) -> bytes`` returning exactly ``length`` bytes.
        etag: Content identity (any string that changes with the content).
    """

    def __init__(self, size: int, read: Callable[[int, int], bytes], etag: str) -> None:
        self.size = int(size)
        self.read = read
        self.etag = etag


Source = Path | bytes | VirtualFile


def _size(src: Source) -> int:
    if isinstance(src, VirtualFile):
        return src.size
    if isinstance(src, bytes):
        return len(src)
    return src.stat().st_size


def _read(src: Source, offset: int, length: int) -> bytes:
    if isinstance(src, VirtualFile):
        return src.read(offset, length)
    if isinstance(src, bytes):
        return src[offset : offset + length]
    with open(src, "rb") as fh:
        fh.seek(offset)
        return fh.read(length)


def _etag(src: Source) -> str:
    if isinstance(src, VirtualFile):
        return src.etag
    if isinstance(src, bytes):
        return hashlib.sha256(src).hexdigest()
    st = src.stat()
    return hashlib.sha256(f"{src.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()


@dataclass
class Fault:
    """One injected fault: the next ``count`` requests whose path contains ``match`` and whose
    method is in ``methods`` get ``kind`` instead of a normal answer."""

    kind: str
    match: str = ""
    count: int = 1
    methods: tuple[str, ...] = ("GET", "HEAD")
    ranged_only: bool = False


@dataclass
class _Repo:
    branches: dict[str, dict[str, Source]] = field(default_factory=dict)
    commits: dict[str, str] = field(default_factory=dict)  # branch -> commit


class HubServer:
    """A threaded Hub-compatible server on ``127.0.0.1`` (a context manager).

    Args:
        token: When set, every request must carry ``Authorization: Bearer <token>`` (else 401).

    Attributes:
        endpoint: ``http://127.0.0.1:<port>`` (set ``HF_ENDPOINT`` to it).
        bytes_sent: Body bytes sent in all responses.
        range_bytes: Body bytes sent in 206 (range) responses.
        trickle_interval: Seconds between the 64-byte pieces of a ``"trickle"`` answer.
        log: ``(method, path, range header, status)`` per request.
    """

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.repos: dict[str, _Repo] = {}
        self.faults: list[Fault] = []
        self.bytes_sent = 0
        self.range_bytes = 0
        self.trickle_interval = 0.5
        self.log: list[tuple[str, str, str | None, int]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.endpoint = ""

    # ------------------------------------------------------------------ content
    def add_branch(self, repo_id: str, branch: str, files: dict[str, Source]) -> str:
        """Publish ``files`` (repo path -> local file, bytes or VirtualFile) as ``branch``.

        Returns:
            The branch's commit hash (sha1 over the file names and etags).
        """
        repo = self.repos.setdefault(repo_id, _Repo())
        h = hashlib.sha1(f"{repo_id}@{branch}".encode())
        for name in sorted(files):
            h.update(f"{name}:{_etag(files[name])}".encode("utf-8", "surrogatepass"))
        repo.branches[branch] = dict(files)
        repo.commits[branch] = h.hexdigest()
        return repo.commits[branch]

    def add_folder(self, repo_id: str, branch: str, folder: str | Path) -> str:
        """Publish every top-level file of ``folder`` as ``branch``; returns its commit."""
        files = {p.name: p for p in sorted(Path(folder).iterdir()) if p.is_file()}
        return self.add_branch(repo_id, branch, files)

    def add_fault(self, kind: str, match: str = "", count: int = 1, *,
                  methods: tuple[str, ...] = ("GET", "HEAD"), ranged_only: bool = False) -> None:
        """Inject a fault (see the module docstring for the kinds)."""
        with self._lock:
            self.faults.append(Fault(kind, match, count, methods, ranged_only))

    def reset_counters(self) -> None:
        """Zero the byte counters and clear the request log."""
        with self._lock:
            self.bytes_sent = 0
            self.range_bytes = 0
            self.log.clear()

    def _take_fault(self, method: str, path: str, ranged: bool) -> str | None:
        with self._lock:
            for f in self.faults:
                if (f.count > 0 and f.match in path and method in f.methods
                        and (ranged or not f.ranged_only)):
                    f.count -= 1
                    return f.kind
        return None

    def _resolve(self, repo_id: str, rev: str) -> tuple[_Repo, str, dict[str, Source]] | None:
        repo = self.repos[repo_id]
        if rev in repo.branches:
            return repo, repo.commits[rev], repo.branches[rev]
        for branch, commit in repo.commits.items():
            if commit == rev:
                return repo, commit, repo.branches[branch]
        return None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> HubServer:
        """Bind a free port and serve in a daemon thread."""
        server = self

        class Handler(_Handler):
            hub = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-server",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and close its socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the Hub
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms ACK waits

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        return None

    # ------------------------------------------------------------------ helpers
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              *, head: bool = False, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        headers = dict(headers or {})
        self.send_header("Content-Length", headers.pop("Content-Length", str(len(body))))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)
            with self.hub._lock:
                self.hub.bytes_sent += len(body)
                if status == 206:
                    self.hub.range_bytes += len(body)
        self._record(status)

    def _record(self, status: int) -> None:
        with self.hub._lock:
            self.hub.log.append((self.command, self.path, self.headers.get("Range"), status))

    def _json(self, obj: object, head: bool = False) -> None:
        self._send(200, json.dumps(obj).encode(), head=head)

    def _error(self, status: int, code: str | None, message: str, head: bool = False) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message}).encode(), headers, head=head)

    def _apply_fault(self, kind: str, head: bool) -> bool:
        if kind in ("500", "502", "503"):
            self._error(int(kind), None, "injected server error", head)
        elif kind == "401":
            self._error(401, "GatedRepo", "Access to this repo is restricted", head)
        elif kind == "404":
            self._error(404, "EntryNotFound", "injected not found", head)
        elif kind == "drop":
            self._record(-1)
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
        else:
            return False
        return True

    # ------------------------------------------------------------------ dispatch
    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch(head=True)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch(head=False)

    def _dispatch(self, head: bool) -> None:
        path = unquote(urlparse(self.path).path)
        ranged = self.headers.get("Range") is not None
        if self.hub.token is not None and self.headers.get("Authorization") != f"Bearer {self.hub.token}":
            self._error(401, None, "Invalid credentials in Authorization header", head)
            return
        fault = self.hub._take_fault(self.command, path, ranged)
        self._trickle = fault == "trickle"
        if fault is not None and fault not in ("truncate", "trickle") and self._apply_fault(fault, head):
            return
        if path.startswith("/api/models/"):
            self._api(path[len("/api/models/"):], head)
            return
        m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m:
            self._resolve_file(m.group(1), m.group(2), m.group(3), head, fault == "truncate")
            return
        self._error(404, None, f"no route for {path}", head)

    def _lookup(self, repo_id: str, rev: str, head: bool) -> tuple[str, dict[str, Source]] | None:
        if repo_id not in self.hub.repos:
            self._error(404, "RepoNotFound", f"Repository {repo_id} not found", head)
            return None
        found = self.hub._resolve(repo_id, rev)
        if found is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
            return None
        return found[1], found[2]

    def _api(self, rest: str, head: bool) -> None:
        parts = rest.split("/")
        if len(parts) < 2:
            self._error(404, None, "bad api path", head)
            return
        repo_id = "/".join(parts[:2])
        tail = parts[2:]
        if tail == ["refs"]:
            if repo_id not in self.hub.repos:
                self._error(404, "RepoNotFound", f"Repository {repo_id} not found", head)
                return
            repo = self.hub.repos[repo_id]
            branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": c}
                        for b, c in sorted(repo.commits.items())]
            self._json({"branches": branches, "converts": [], "tags": [], "pullRequests": []}, head)
            return
        if tail and tail[0] == "tree" and len(tail) >= 2:
            found = self._lookup(repo_id, tail[1], head)
            if found is None:
                return
            prefix = "/".join(tail[2:])
            entries = [{"type": "file", "path": n, "size": _size(s), "oid": _etag(s)[:40]}
                       for n, s in sorted(found[1].items())
                       if not prefix or n.startswith(prefix.rstrip("/") + "/")]
            self._json(entries, head)
            return
        rev = "main"
        if tail[:1] == ["revision"] and len(tail) >= 2:
            rev = "/".join(tail[1:])
        elif tail:
            self._error(404, None, f"no api route {rest}", head)
            return
        found = self._lookup(repo_id, rev, head)
        if found is None:
            return
        commit, files = found
        siblings = []
        for n, s in sorted(files.items()):
            sib: dict[str, object] = {"rfilename": n, "size": _size(s), "blobId": _etag(s)[:40]}
            if n.endswith((".safetensors", ".bin")):
                sib["lfs"] = {"size": _size(s), "sha256": _etag(s), "pointerSize": 134}
            siblings.append(sib)
        self._json({"id": repo_id, "modelId": repo_id, "sha": commit, "private": False,
                    "siblings": siblings}, head)

    def _resolve_file(self, repo_id: str, rev: str, name: str, head: bool, truncate: bool) -> None:
        found = self._lookup(repo_id, rev, head)
        if found is None:
            return
        commit, files = found
        if name not in files:
            self._error(404, "EntryNotFound", f"{name} does not exist on {rev}", head)
            return
        src = files[name]
        size, etag = _size(src), _etag(src)
        headers = {"X-Repo-Commit": commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if name.endswith((".safetensors", ".bin")):
            headers["X-Linked-Size"] = str(size)
            headers["X-Linked-Etag"] = f'"{etag}"'
        rng = self.headers.get("Range")
        start, end, status = 0, size, 200
        if rng is not None:
            m = _RANGE.match(rng.strip())
            if m is None or int(m.group(1)) >= size:
                self._error(416, None, f"unsatisfiable range {rng} for {size} bytes", head)
                return
            start = int(m.group(1))
            end = min(size, int(m.group(2)) + 1) if m.group(2) else size
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        if head:
            self._send(status, b"", {**headers, "Content-Length": str(end - start)}, head=True,
                       ctype="application/octet-stream")
            return
        self._send_body(status, src, start, end, headers, truncate)

    def _send_body(self, status: int, src: Source, start: int, end: int,
                   headers: dict[str, str], truncate: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        stop = start + (end - start) // 2 if truncate else end
        sent = 0
        pos = start
        try:
            while pos < stop:
                n = min(64 if self._trickle else 4 << 20, stop - pos)
                chunk = _read(src, pos, n)
                self.wfile.write(chunk)
                if self._trickle:
                    self.wfile.flush()
                    time.sleep(self.hub.trickle_interval)
                sent += len(chunk)
                pos += n
        except OSError:  # the client went away
            self.close_connection = True
        with self.hub._lock:
            self.hub.bytes_sent += sent
            if status == 206:
                self.hub.range_bytes += sent
        self._record(status if not truncate else -2)
        if truncate:
            self.close_connection = True
            try:
                self.wfile.flush()
                self.connection.shutdown(2)
            except OSError:
                pass


# ---------------------------------------------------------------------- virtual checkpoints
_BLOCK = 1 << 16
_POOL = 61  # distinct random blocks (a prime, so neighbouring blocks rarely repeat)


def virtual_safetensors(tensors: list[tuple[str, tuple[int, ...]]], seed: int = 0) -> VirtualFile:
    """A float16 safetensors file computed on demand (nothing is written to disk).

    The header lists ``tensors`` in order; the data are N(0, 0.02) float16 values from a pool
    of 61 random 64 KiB blocks picked per block offset (``seed`` chooses the pool), so a
    multi-GB checkpoint costs no disk and no generation time.

    Args:
        tensors: ``(name, shape)`` per tensor, stored float16 in this order.
        seed: Seed of the value pool.

    Returns:
        The :class:`VirtualFile`.
    """
    import numpy as np

    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        n = 2
        for s in shape:
            n *= int(s)
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    head = len(raw).to_bytes(8, "little") + raw
    data_start, size = len(head), len(head) + offset
    rng = np.random.default_rng(seed)
    pool = [(rng.standard_normal(_BLOCK // 2, dtype=np.float32) * 0.02).astype("<f2").tobytes()
            for _ in range(_POOL)]

    def read(pos: int, length: int) -> bytes:
        out = bytearray()
        end = pos + length
        if pos < data_start:
            out += head[pos : min(end, data_start)]
            pos = min(end, data_start)
        while pos < end:
            rel = pos - data_start
            block, within = divmod(rel, _BLOCK)
            take = min(end - pos, _BLOCK - within)
            out += pool[(block * 7919 + seed) % _POOL][within : within + take]
            pos += take
        return bytes(out)

    return VirtualFile(size, read, hashlib.sha256(raw + f"{seed}:{size}".encode()).hexdigest())


def virtual_gpt_neox(seed: int = 0, max_shard_bytes: int | None = None,
                     **shape: int) -> dict[str, bytes | VirtualFile]:
    """Files of a GPT-NeoX checkpoint (Pythia names) with virtual float16 weights.

    Args:
        seed: Seed of the values.
        max_shard_bytes: Shard the weights (with ``model.safetensors.index.json``).
        **shape: ``mfa_engine.synthetic.gpt_neox_config`` arguments (e.g. ``PYTHIA_2P8B``).

    Returns:
        Repository path -> content, for :meth:`HubServer.add_branch`.
    """
    from mfa_engine.synthetic import gpt_neox_config

    cfg = gpt_neox_config(**shape)
    h, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    names: list[tuple[str, tuple[int, ...]]] = [("gpt_neox.embed_in.weight", (v, h))]
    for b in range(cfg["num_hidden_layers"]):
        p = f"gpt_neox.layers.{b}"
        names += [(f"{p}.input_layernorm.weight", (h,)), (f"{p}.input_layernorm.bias", (h,)),
                  (f"{p}.post_attention_layernorm.weight", (h,)),
                  (f"{p}.post_attention_layernorm.bias", (h,)),
                  (f"{p}.attention.query_key_value.weight", (3 * h, h)),
                  (f"{p}.attention.query_key_value.bias", (3 * h,)),
                  (f"{p}.attention.dense.weight", (h, h)), (f"{p}.attention.dense.bias", (h,)),
                  (f"{p}.mlp.dense_h_to_4h.weight", (f, h)), (f"{p}.mlp.dense_h_to_4h.bias", (f,)),
                  (f"{p}.mlp.dense_4h_to_h.weight", (h, f)), (f"{p}.mlp.dense_4h_to_h.bias", (h,))]
    names += [("gpt_neox.final_layer_norm.weight", (h,)), ("gpt_neox.final_layer_norm.bias", (h,)),
              ("embed_out.weight", (v, h))]
    files: dict[str, bytes | VirtualFile] = {"config.json": json.dumps(cfg, indent=2).encode()}
    if not max_shard_bytes:
        files["model.safetensors"] = virtual_safetensors(names, seed)
        return files
    groups: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for name, shp in names:
        n = 2
        for s in shp:
            n *= s
        if groups[-1] and size + n > max_shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append((name, shp))
        size += n
    weight_map = {}
    for i, group in enumerate(groups):
        fname = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        files[fname] = virtual_safetensors(group, seed * 1000 + i)
        weight_map.update({name: fname for name, _ in group})
    files["model.safetensors.index.json"] = json.dumps({"metadata": {}, "weight_map": weight_map}).encode()
    return files
