"""HTTP Range reads of files of one Hub commit: retries, parallel fetches, byte counts.

Requests go to ``{endpoint}/{repo}/resolve/{commit}/{file}`` with ``Range: bytes=a-b`` through
huggingface_hub's ``http_backoff`` (its HTTP session: ``HF_ENDPOINT``, ``HF_TOKEN``, proxies
and redirects as the Hub client handles them). Every response is checked: status 206, a
``Content-Range`` starting at the requested offset, and exactly the requested number of body
bytes.

Failures and what happens:

* 408, 429, 5xx, a dropped connection or a timeout: retried by ``http_backoff`` with
  exponential backoff (``MFA_HUB_RETRIES`` attempts, default 5; first wait ``MFA_HUB_BACKOFF``
  seconds, default 0.5, doubled each time, capped at 8 s: :func:`retry_settings`, the one
  retry policy of every Hub request); after the last attempt one
  :class:`~mfa_engine.errors.CheckpointError` names the file, the range and the last cause.
* 401/403 (gated or private repository, bad token) and 404: no retry, one error at once.
* A host name that does not resolve (no network, no DNS): no retry, one error at once that
  names the ways to work offline (:func:`check_reachable`).

* Deadlines (:func:`deadline_settings`): the range requests of one remote file may take
  ``MFA_HUB_FILE_DEADLINE`` seconds in all (default 3600), those of one checkpoint (every
  file of the commit) ``MFA_HUB_DEADLINE`` seconds (default 14400), counting only the time
  spent fetching. A response stalls when a window of ``MFA_HUB_STALL`` seconds (default 60)
  brings fewer than ``MFA_HUB_STALL_BYTES`` bytes (default 16384) without finishing the range
  (so a server trickling a few bytes at a time cannot hold a run forever); a stall or a
  deadline is one error at once, not retried, naming the variable to raise.

Settings (environment): ``MFA_HUB_WORKERS`` parallel requests (default 8), ``MFA_HUB_GAP``
coalescing gap in bytes (default 4096, see :mod:`mfa_engine.checkpoints.hub`).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import quote, urlsplit

from mfa_engine.errors import CheckpointError
from mfa_engine.limits import setting
from mfa_engine.progress import progress_bar

__all__ = ["RangeFetcher", "hub_endpoint", "retry_settings", "check_reachable",
           "OFFLINE_HINT", "deadline_settings"]

_MAX_WAIT = 8.0
#: Show a byte progress bar when one fetch moves more than this (and stderr is a terminal).
PROGRESS_MIN_BYTES = 64 << 20
#: What to do without a network (said by every error that retrying cannot fix).
OFFLINE_HINT = ("to work offline, set HF_HUB_OFFLINE=1 and pass a local model folder or a checkpoint "
                "already in the HF cache (download it once with --download while online)")


def retry_settings() -> dict[str, Any]:
    """Keyword arguments of ``huggingface_hub.utils.http_backoff`` for every Hub request.

    ``MFA_HUB_RETRIES`` attempts in all (default 5), the first wait ``MFA_HUB_BACKOFF``
    seconds (default 0.5), doubled each time, capped at 8 s.

    Raises:
        ConfigError: A setting that is not a number or is out of its bounds (the checked reader,
            :func:`mfa_engine.limits.setting`).
    """
    return {"max_retries": int(setting("MFA_HUB_RETRIES")) - 1,
            "base_wait_time": float(setting("MFA_HUB_BACKOFF")), "max_wait_time": _MAX_WAIT}


def deadline_settings() -> dict[str, float]:
    """The deadlines and the stall rule of range reads (see the module docstring).

    Returns:
        ``{"file": s, "checkpoint": s, "stall": s, "stall_bytes": n}`` from
        ``MFA_HUB_FILE_DEADLINE`` (3600), ``MFA_HUB_DEADLINE`` (14400), ``MFA_HUB_STALL`` (60)
        and ``MFA_HUB_STALL_BYTES`` (16384).

    Raises:
        ConfigError: A malformed or out-of-bounds setting (one line naming it; the checked
            reader :func:`mfa_engine.limits.setting`).
    """
    return {"file": float(setting("MFA_HUB_FILE_DEADLINE")), "checkpoint": float(setting("MFA_HUB_DEADLINE")),
            "stall": float(setting("MFA_HUB_STALL")), "stall_bytes": float(setting("MFA_HUB_STALL_BYTES"))}


def hub_endpoint() -> str:
    """The Hub endpoint (``HF_ENDPOINT``, as :mod:`huggingface_hub.constants` reads it)."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT).rstrip("/")


@functools.lru_cache(maxsize=8)
def _resolves(host: str) -> str | None:
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        return exc.strerror or str(exc)
    except (OSError, UnicodeError) as exc:
        return str(exc)
    return None


def check_reachable(what: str, endpoint: str | None = None) -> None:
    """Fail at once when the endpoint's host name does not resolve (no network, no DNS).

    Retrying cannot fix this, so nothing is retried; the message names the fixes.

    Raises:
        CheckpointError: The host name does not resolve.
    """
    url = endpoint or hub_endpoint()
    host = urlsplit(url).hostname
    if not host:
        return
    try:
        ipaddress.ip_address(host)
        return  # an address needs no name lookup
    except ValueError:
        pass
    why = _resolves(host)
    if why is not None:
        _resolves.cache_clear()  # the network may come back
        raise CheckpointError(f"{what}: cannot reach {url}: the host name {host} does not resolve "
                              f"({why}); {OFFLINE_HINT}")


def _cause(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else "connection failed"
    return f"{type(exc).__name__}: {text}"


class RangeFetcher:
    """Fetches byte ranges of the files of one repository commit.

    Args:
        repo_id: ``"Org/Name"``.
        commit: Commit hash (ranges of a commit never change).
        token: Token (default: ``HF_TOKEN`` / the stored login, as huggingface_hub finds it).

    Attributes:
        bytes_read: Body bytes received (successful responses only).
        requests: Range requests answered successfully.
    """

    def __init__(self, repo_id: str, commit: str, token: str | None = None) -> None:
        self.repo_id = repo_id
        self.commit = commit
        self.token = token
        self.endpoint = hub_endpoint()
        self._retry = retry_settings()
        self.attempts = self._retry["max_retries"] + 1
        self.workers = int(setting("MFA_HUB_WORKERS"))
        self.deadlines = deadline_settings()
        self.spent = 0.0  # seconds spent fetching for this checkpoint
        self.file_spent: dict[str, float] = {}  # ... and per remote file
        self.bytes_read = 0
        self.requests = 0
        self._lock = threading.Lock()
        self._base_headers: dict[str, str] | None = None

    def url(self, filename: str) -> str:
        """Resolve URL of ``filename`` at the commit."""
        return f"{self.endpoint}/{self.repo_id}/resolve/{self.commit}/{quote(filename)}"

    def _headers(self, start: int, end: int) -> dict[str, str]:
        if self._base_headers is None:  # built once: building them costs about 1 ms
            from huggingface_hub.utils import build_hf_headers

            self._base_headers = build_hf_headers(token=self.token)
        headers = dict(self._base_headers)
        headers["Range"] = f"bytes={start}-{end - 1}"
        headers["Accept-Encoding"] = "identity"
        return headers

    def get(self, filename: str, start: int, end: int,
            deadline: tuple[float, str] | None = None) -> bytes:
        """Bytes ``[start, end)`` of ``filename``, retried on transient failures.

        Args:
            filename: The file's path in the repository.
            start: First byte.
            end: One past the last byte.
            deadline: ``(time.monotonic() limit, what sets it)``; default: this call alone
                under the per-file and per-checkpoint deadlines.

        Raises:
            CheckpointError: Access denied, not found, a wrong answer, a stall, the deadline,
                or still failing after the last attempt.
        """
        from huggingface_hub.errors import HfHubHTTPError
        from huggingface_hub.utils import http_stream_backoff

        if deadline is None:
            deadline = self._deadline(filename, time.monotonic())
        limit, what = deadline
        where = f"{filename} of {self.repo_id}@{self.commit[:12]}"
        span = f"bytes {start}-{end - 1} of {filename} from {self.repo_id}@{self.commit[:12]}"
        failed = f"reading {span} ({self.endpoint}) failed after {self.attempts} attempts"
        stall, stall_bytes = self.deadlines["stall"], self.deadlines["stall_bytes"]

        def remaining() -> float:
            left = limit - time.monotonic()
            if left <= 0:
                raise CheckpointError(f"reading {span} stopped: the deadline {what} ran out "
                                      "(raise it for slow links)")
            return left

        for attempt in range(self.attempts):
            body = bytearray()
            reading = False  # the answer's head arrived: errors from here on are ours to retry
            try:
                with http_stream_backoff("GET", self.url(filename), headers=self._headers(start, end),
                                         follow_redirects=True, timeout=min(stall, remaining()),
                                         **self._retry) as r:
                    status = r.status_code
                    got = r.headers.get("Content-Range", "")
                    if status == 206:
                        reading = True
                        window, window_bytes = time.monotonic(), 0
                        for chunk in r.iter_bytes():
                            body += chunk
                            window_bytes += len(chunk)
                            remaining()
                            now = time.monotonic()
                            if len(body) >= end - start:
                                continue
                            if now - window >= stall:
                                if window_bytes < stall_bytes:
                                    raise CheckpointError(
                                        f"reading {span} stalled: {window_bytes} bytes in "
                                        f"{now - window:.0f} s (MFA_HUB_STALL={stall:g} s, "
                                        f"MFA_HUB_STALL_BYTES={stall_bytes:g})")
                                window, window_bytes = now, 0
                break
            except CheckpointError:
                raise
            except HfHubHTTPError as exc:  # a retried status, still failing after the last attempt
                status = getattr(getattr(exc, "response", None), "status_code", None)
                raise CheckpointError(f"{failed}: HTTP {status}") from None
            except Exception as exc:  # noqa: BLE001 - transport errors
                if "Timeout" in type(exc).__name__ and reading:  # silent mid-body: a stall
                    raise CheckpointError(f"reading {span} stalled: no byte for {stall:g} s "
                                          f"(MFA_HUB_STALL={stall:g} s)") from None
                remaining()
                if not reading or attempt + 1 == self.attempts:
                    raise CheckpointError(f"{failed}: {_cause(exc)}") from None
                wait_s = min(self._retry["base_wait_time"] * 2 ** attempt, self._retry["max_wait_time"])
                time.sleep(max(0.0, min(wait_s, limit - time.monotonic())))
        if status in (401, 403):
            raise CheckpointError(
                f"access to {self.repo_id} denied (HTTP {status}) reading {filename}: the "
                "repository is gated or private, or the token is wrong; set HF_TOKEN to a token "
                "with access"
            )
        if status == 404:
            raise CheckpointError(f"{where} not found on {self.endpoint} (HTTP 404)")
        if status != 206:
            raise CheckpointError(
                f"{where}: the server answered HTTP {status} to a range request for bytes "
                f"{start}-{end - 1}; expected 206 Partial Content"
            )
        if not got.startswith(f"bytes {start}-") or len(body) != end - start:
            raise CheckpointError(
                f"{where}: the answer to a range request for bytes {start}-{end - 1} has "
                f"Content-Range {got!r} and {len(body)} bytes"
            )
        with self._lock:
            self.bytes_read += len(body)
            self.requests += 1
        return bytes(body)

    def _deadline(self, filename: str, t0: float) -> tuple[float, str]:
        """The deadline of a fetch of ``filename`` that started at ``t0`` (monotonic)."""
        d = self.deadlines
        file_left = d["file"] - self.file_spent.get(filename, 0.0)
        ckpt_left = d["checkpoint"] - self.spent
        if file_left <= ckpt_left:
            return t0 + file_left, f"MFA_HUB_FILE_DEADLINE={d['file']:g} s for {filename}"
        return t0 + ckpt_left, f"MFA_HUB_DEADLINE={d['checkpoint']:g} s for {self.repo_id}@{self.commit[:12]}"

    def fetch(self, jobs: Sequence[tuple[str, int, int]],
              sink: Callable[[str, int, bytes], None], *, progress: bool | None = None) -> None:
        """Fetch ranges in parallel; ``sink(filename, start, data)`` gets each one.

        ``sink`` is called from the calling thread only. On the first error the pending
        requests are cancelled and the error is raised (ranges already passed to ``sink``
        stand).

        Args:
            jobs: ``(filename, start, end)`` ranges.
            sink: Receives every fetched range.
            progress: Show a byte progress bar (default: when stderr is a terminal and the
                fetch moves more than 64 MB).
        """
        if not jobs:
            return
        t0 = time.monotonic()
        deadlines = {name: self._deadline(name, t0) for name in {n for n, _, _ in jobs}}
        try:
            self._fetch(jobs, sink, progress, deadlines)
        finally:
            took = time.monotonic() - t0
            with self._lock:
                self.spent += took
                for name in deadlines:
                    self.file_spent[name] = self.file_spent.get(name, 0.0) + took

    def _fetch(self, jobs: Sequence[tuple[str, int, int]], sink: Callable[[str, int, bytes], None],
               progress: bool | None, deadlines: dict[str, tuple[float, str]]) -> None:
        total = sum(e - s for _, s, e in jobs)
        if progress is None:
            progress = total > PROGRESS_MIN_BYTES and sys.stderr.isatty()
        bar = None
        if progress:
            bar = progress_bar(total, f"fetching {self.repo_id}", True, unit="B", unit_scale=True)
        try:
            if len(jobs) == 1 or self.workers == 1:
                for name, s, e in jobs:
                    sink(name, s, self.get(name, s, e, deadlines[name]))
                    if bar is not None:
                        bar.update(e - s)
                return
            with ThreadPoolExecutor(self.workers, thread_name_prefix="mfa-range") as pool:
                pending = {pool.submit(self.get, n, s, e, deadlines[n]): (n, s, e) for n, s, e in jobs}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_EXCEPTION)
                    for fut in done:
                        name, s, e = pending.pop(fut)
                        exc = fut.exception()
                        if exc is not None:
                            for other in pending:
                                other.cancel()
                            raise exc
                        sink(name, s, fut.result())
                        if bar is not None:
                            bar.update(e - s)
        finally:
            if bar is not None:
                bar.close()
