"""HTTP Range reads of files of one Hub commit: retries, backoff, parallel fetches, byte counts.

Requests go to ``{endpoint}/{repo}/resolve/{commit}/{file}`` with ``Range: bytes=a-b`` through
huggingface_hub's HTTP session (``HF_ENDPOINT``, ``HF_TOKEN``, proxies and redirects as the Hub
client handles them). Every response is checked: status 206, a ``Content-Range`` starting at
the requested offset, and exactly the requested number of body bytes.

Failures and what happens:

* 429, 5xx, a dropped connection, a timeout or a short body: retried with exponential backoff
  (``MFA_HUB_RETRIES`` attempts, default 5; first wait ``MFA_HUB_BACKOFF`` seconds, default
  0.5, doubled each time, capped at 8 s); after the last attempt one
  :class:`~mfa_engine.errors.CheckpointError` names the file, the range and the last cause.
* 401/403 (gated or private repository, bad token) and 404: no retry, one error at once.

Settings (environment): ``MFA_HUB_WORKERS`` parallel requests (default 8), ``MFA_HUB_GAP``
coalescing gap in bytes (default 4096, see :mod:`mfa_engine.checkpoints.hub`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Callable, Sequence
from urllib.parse import quote

from mfa_engine.errors import CheckpointError

__all__ = ["RangeFetcher", "hub_endpoint", "env_int", "env_float"]

_MAX_WAIT = 8.0
#: Show a byte progress bar when one fetch moves more than this (and stderr is a terminal).
PROGRESS_MIN_BYTES = 64 << 20


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


def hub_endpoint() -> str:
    """The Hub endpoint (``HF_ENDPOINT`` as huggingface_hub reads it)."""
    from huggingface_hub import constants

    return str(os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


class _Retry(Exception):
    """A transient failure worth another attempt."""


class RangeFetcher:
    """Fetches byte ranges of the files of one repository commit.

    Args:
        repo_id: ``"Org/Name"``.
        commit: Commit hash (ranges of a commit never change).
        token: Token (default: ``HF_TOKEN`` / the stored login, as huggingface_hub finds it).

    Attributes:
        bytes_read: Body bytes received (successful responses only).
        requests: Range requests answered successfully.
        retries: Attempts that failed and were retried.
    """

    def __init__(self, repo_id: str, commit: str, token: str | None = None) -> None:
        self.repo_id = repo_id
        self.commit = commit
        self.token = token
        self.endpoint = hub_endpoint()
        self.attempts = max(1, env_int("MFA_HUB_RETRIES", 5))
        self.backoff = max(0.0, env_float("MFA_HUB_BACKOFF", 0.5))
        self.workers = max(1, env_int("MFA_HUB_WORKERS", 8))
        self.bytes_read = 0
        self.requests = 0
        self.retries = 0
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

    def _once(self, filename: str, start: int, end: int) -> bytes:
        from huggingface_hub.utils import get_session

        where = f"{filename} of {self.repo_id}@{self.commit[:12]}"
        try:
            r = get_session().get(self.url(filename), headers=self._headers(start, end),
                                  follow_redirects=True, timeout=60.0)
            status = r.status_code
            body = r.content if status in (200, 206) else b""
        except Exception as exc:  # noqa: BLE001 - every transport failure is retried
            raise _Retry(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'connection failed'}") from None
        if status in (401, 403):
            raise CheckpointError(
                f"access to {self.repo_id} denied (HTTP {status}) reading {filename}: the "
                "repository is gated or private, or the token is wrong; set HF_TOKEN to a token "
                "with access"
            )
        if status == 404:
            raise CheckpointError(f"{where} not found on {self.endpoint} (HTTP 404)")
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status}")
        if status != 206:
            raise CheckpointError(
                f"{where}: the server answered HTTP {status} to a range request for bytes "
                f"{start}-{end - 1}; expected 206 Partial Content"
            )
        got = r.headers.get("Content-Range", "")
        if not got.startswith(f"bytes {start}-"):
            raise _Retry(f"Content-Range {got!r} does not start at byte {start}")
        if len(body) != end - start:
            raise _Retry(f"short body: {len(body)} of {end - start} bytes")
        return body

    def get(self, filename: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``filename``, retried on transient failures.

        Raises:
            CheckpointError: Access denied, not found, or still failing after the last attempt.
        """
        reason = ""
        for attempt in range(self.attempts):
            if attempt:
                with self._lock:
                    self.retries += 1
                time.sleep(min(_MAX_WAIT, self.backoff * 2 ** (attempt - 1)))
            try:
                body = self._once(filename, start, end)
            except _Retry as exc:
                reason = str(exc)
                continue
            with self._lock:
                self.bytes_read += len(body)
                self.requests += 1
            return body
        raise CheckpointError(
            f"reading bytes {start}-{end - 1} of {filename} from {self.repo_id}@{self.commit[:12]} "
            f"({self.endpoint}) failed after {self.attempts} attempts: {reason}"
        )

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
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, leave=False,
                       desc=f"fetching {self.repo_id}")
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
