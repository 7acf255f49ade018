"""A second process that holds a range cache mirror open while the fuzz harness tampers with the
cache (``python -m tests.fuzz.cache_holder ROOT``): it opens the mirror, fills it, prints
``ready``, waits for a line on stdin, then verifies and re-fills what is missing and prints
``ok`` (the mirror reads the source's bytes) or ``error: <message>`` (a CheckpointError)."""

from __future__ import annotations

import os
import sys

from mfa_engine.checkpoints.range_cache import RangeCache
from mfa_engine.errors import CheckpointError

__all__ = ["SIZE", "COMMIT", "SOURCE", "main"]

SIZE = 4096
COMMIT = "e" * 40
SOURCE = bytes(range(256)) * (SIZE // 256)


def main(root: str) -> int:
    m = RangeCache(root, limit=10**9).mirror("Org/Held", COMMIT, "model.safetensors", SIZE)
    try:
        m.write([(a, SOURCE[a:b]) for a, b in m.missing([(0, SIZE)])])
        print("ready", flush=True)
        sys.stdin.readline()
        try:
            m.verify([(0, SIZE)])
            m.write([(a, SOURCE[a:b]) for a, b in m.missing([(0, SIZE)])])
            fd = os.open(m.path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                got = os.pread(fd, SIZE, 0)
            finally:
                os.close(fd)
            print("ok" if got == SOURCE else "WRONG BYTES", flush=True)
        except CheckpointError as exc:
            print(f"error: {exc}", flush=True)
    finally:
        m.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
