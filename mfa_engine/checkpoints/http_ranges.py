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

Settings (environment): ``MFA_HUB_WORKERS`` parallel requests (default 8), ``MFA_HUB_GAP``
coalescing gap in bytes (default 4096, see :mod:`mfa_engine.checkpoints.hub`).
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import quote, urlsplit

from mfa_engine.errors import CheckpointError
from mfa_engine.progress import progress_bar

__all__ = ["RangeFetcher", "hub_endpoint", "env_int", "env_float", "retry_settings", "check_reachable",
           "OFFLINE_HINT"]

_MAX_WAIT = 8.0
#: Show a byte progress bar when one fetch moves more than this (and stderr is a terminal).
PROGRESS_MIN_BYTES = 64 << 20
#: What to do without a network (said by every error that retrying cannot fix).
OFFLINE_HINT = ("to work offline, set HF_HUB_OFFLINE=1 and pass a local model folder or a checkpoint "
                "already in the HF cache (download it once with --download while online)")


def env_int(name: str, default: int) -> int:
    """Integer setting from the environment (``default`` when unset)."""
    value = os.environ.get(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise CheckpointError(f"{name}={value!r} is not an integer") from None


def env_float(name: str, default: float) -> float:
    """Float setting from the environment (``default`` when unset)."""
    value = os.environ.get(name)
    try:
        return float(value) if value else default
    except ValueError:
        raise CheckpointError(f"{name}={value!r} is not a number") from None


def retry_settings() -> dict[str, Any]:
    """Keyword arguments of ``huggingface_hub.utils.http_backoff`` for every Hub request.

    ``MFA_HUB_RETRIES`` attempts in all (default 5), the first wait ``MFA_HUB_BACKOFF``
    seconds (default 0.5), doubled each time, capped at 8 s.

    Raises:
        CheckpointError: A setting that is not a number.
    """
    return {"max_retries": max(1, env_int("MFA_HUB_RETRIES", 5)) - 1,
            "base_wait_time": max(0.0, env_float("MFA_HUB_BACKOFF", 0.5)), "max_wait_time": _MAX_WAIT}


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
        self.workers = max(1, env_int("MFA_HUB_WORKERS", 8))
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

    def get(self, filename: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``filename``, retried on transient failures.

        Raises:
            CheckpointError: Access denied, not found, a wrong answer, or still failing after
                the last attempt.
        """
        from huggingface_hub.errors import HfHubHTTPError
        from huggingface_hub.utils import http_backoff

        where = f"{filename} of {self.repo_id}@{self.commit[:12]}"
        failed = (f"reading bytes {start}-{end - 1} of {filename} from {self.repo_id}@{self.commit[:12]} "
                  f"({self.endpoint}) failed after {self.attempts} attempts")
        try:
            r = http_backoff("GET", self.url(filename), headers=self._headers(start, end),
                             follow_redirects=True, timeout=60.0, **self._retry)
        except HfHubHTTPError as exc:  # a retried status, still failing after the last attempt
            status = getattr(getattr(exc, "response", None), "status_code", None)
            raise CheckpointError(f"{failed}: HTTP {status}") from None
        except Exception as exc:  # noqa: BLE001 - transport errors, after the last attempt
            raise CheckpointError(f"{failed}: {_cause(exc)}") from None
        status = r.status_code
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
        got = r.headers.get("Content-Range", "")
        body = r.content
        if not got.startswith(f"bytes {start}-") or len(body) != end - start:
            raise CheckpointError(
                f"{where}: the answer to a range request for bytes {start}-{end - 1} has "
                f"Content-Range {got!r} and {len(body)} bytes"
            )
        with self._lock:
            self.bytes_read += len(body)
            self.requests += 1
        return body

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
        total = sum(e - s for _, s, e in jobs)
        if progress is None:
            progress = total > PROGRESS_MIN_BYTES and sys.stderr.isatty()
        bar = None
        if progress:
            bar = progress_bar(total, f"fetching {self.repo_id}", True, unit="B", unit_scale=True)
        try:
            if len(jobs) == 1 or self.workers == 1:
                for name, s, e in jobs:
                    sink(name, s, self.get(name, s, e))
                    if bar is not None:
                        bar.update(e - s)
                return
            with ThreadPoolExecutor(self.workers, thread_name_prefix="mfa-range") as pool:
                pending = {pool.submit(self.get, n, s, e): (n, s, e) for n, s, e in jobs}
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
