"""Up-front resource limits of the analysis options (named constants and their checks).

The options record (:mod:`mfa_engine.options`) applies them when it is built, so the command
line, a TOML file and the Python API all refuse an oversized request before anything is read,
with a one-line :class:`~mfa_engine.errors.ConfigError` naming the option.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from mfa_engine.errors import ConfigError

__all__ = ["MAX_SAMPLES", "MAX_Q_VALUES", "MAX_N_RADII", "check_q_count", "Setting", "SETTINGS",
           "setting", "check_settings", "RESULT_MEMORY_BUDGET", "RESULT_JSON_BUDGET", "estimate_run",
           "check_run_budget", "NETWORK_MEMORY_BUDGET", "estimate_network", "estimate_stream", "stream_sources_per_pass",
           "network_mode"]

#: Samples per checkpoint (each is a full analysis; the records are kept in memory).
MAX_SAMPLES = 10_000
#: Values of a q grid (the spectrum fit is O(Q x R) per centre; -5..5 step 0.001 is 10001).
MAX_Q_VALUES = 10_001
#: Radii of the radius grid (counts are [centres x radii] per sample).
MAX_N_RADII = 4_096


def check_q_count(n: int, what: str = "q grid") -> int:
    """Refuse a q grid of more than :data:`MAX_Q_VALUES` values (before it is allocated).

    Raises:
        ConfigError: Too many values.
    """
    if n > MAX_Q_VALUES:
        raise ConfigError(f"{what} has {n} values, above the limit of {MAX_Q_VALUES}")
    return n


@dataclass(frozen=True)
class Setting:
    """One numeric environment setting: its kind, bounds (inclusive) and default."""

    name: str
    kind: type
    low: float
    high: float
    default: float
    unit: str = ""

    def parse(self, text: str | None) -> float:
        """The value of ``text`` (the default when unset or blank).

        Raises:
            ConfigError: Not a number of the setting's kind, or outside its bounds (one line
                naming the setting).
        """
        if text is None or not text.strip():
            return self.default
        what = "an integer" if self.kind is int else "a number"
        expected = f"expected {what}{' ' + self.unit if self.unit else ''} in {_plain(self.low)}..{_plain(self.high)}"
        try:
            value = float(text.strip().replace("_", ""))
        except ValueError:
            raise ConfigError(f"environment variable {self.name}={text!r}: {expected}") from None
        if not math.isfinite(value) or not self.low <= value <= self.high or (
                self.kind is int and value != int(value)):
            raise ConfigError(f"environment variable {self.name}={text!r}: {expected}")
        if self.kind is int:  # exact for integers written out in full (beyond float precision)
            stripped = text.strip().replace("_", "")
            return int(stripped) if stripped.lstrip("+-").isdigit() else int(value)
        return value


def _plain(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


#: Every numeric ``MFA_*`` and ``HF_*`` setting the engine reads, with its bounds and default
#: (huggingface_hub reads the ``HF_HUB_*_TIMEOUT`` ones with a bare ``int()`` at import).
SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("MFA_PREFETCH_BYTES", int, 0, 2**50, 512 << 20, "of bytes"),
    Setting("MFA_HUB_GAP", int, 0, 1 << 30, 4 << 10, "of bytes"),
    Setting("MFA_HUB_WORKERS", int, 1, 256, 8),
    Setting("MFA_HUB_RETRIES", int, 1, 100, 5),
    Setting("MFA_HUB_BACKOFF", float, 0.0, 60.0, 0.5, "of seconds"),
    Setting("MFA_RANGE_CACHE_LIMIT", int, 0, 2**62, 50 * 10**9, "of bytes"),
    Setting("MFA_HUB_FILE_DEADLINE", float, 0.001, 10**7, 3600.0, "of seconds"),
    Setting("MFA_HUB_DEADLINE", float, 0.001, 10**7, 14400.0, "of seconds"),
    Setting("MFA_HUB_STALL", float, 0.001, 86_400, 60.0, "of seconds"),
    Setting("MFA_HUB_STALL_BYTES", int, 1, 1 << 30, 16384, "of bytes"),
    Setting("MFA_THREADS", int, 0, 1 << 16, 0),  # 0: every core (threads.py reads it leniently)
    Setting("MFA_NETWORK_MEMORY", int, 0, 2**62, 16 * 10**9, "of bytes"),
    Setting("MFA_STREAM_SPILL", int, 1, 2**62, 8 * 10**9, "of bytes"),
    Setting("HF_HUB_ETAG_TIMEOUT", int, 0, 86_400, 10, "of seconds"),
    Setting("HF_HUB_DOWNLOAD_TIMEOUT", int, 0, 86_400, 10, "of seconds"),
)}


def setting(name: str, environ: Mapping[str, str] | None = None) -> float:
    """The checked value of the numeric setting ``name`` (:data:`SETTINGS`) from the environment.

    Raises:
        ConfigError: The value is not a number of the setting's kind or is out of its bounds.
    """
    env = os.environ if environ is None else environ
    return SETTINGS[name].parse(env.get(name))


def check_settings(environ: Mapping[str, str] | None = None) -> None:
    """Check every numeric setting of :data:`SETTINGS` that is set (the CLI does so first).

    Raises:
        ConfigError: The first setting that is malformed or out of bounds, named.
    """
    for name in SETTINGS:
        setting(name, environ)


#: Memory the kept sample records of one run may take (bytes): each sample keeps ``tau``,
#: ``alpha`` and ``f(alpha)`` per q value plus its working copies (measured: 4.7 MB per sample
#: for 10 001 q values, about 480 bytes per q value).
RESULT_MEMORY_BUDGET = 8 * 10**9
#: JSON one result document may take (bytes): about 90 bytes per q value and sample.
RESULT_JSON_BUDGET = 2 * 10**9
_RAM_PER_Q = 480
_RAM_PER_SAMPLE = 16_384
_JSON_PER_Q = 90
_JSON_PER_SAMPLE = 2_048
_FIT_BYTES = 8 * 4  # the spectrum fit's transient [Q x R] float64 arrays (about four at once)


def estimate_run(samples: int, n_q: int, n_radii: int = 64) -> dict[str, int]:
    """Estimated memory and output size of a run's results, before anything runs.

    Args:
        samples: Samples per checkpoint (kept in memory until the checkpoint's result is written).
        n_q: Values of the q grid.
        n_radii: Radii of the radius grid (the fit's transient arrays are ``[Q x R]``).

    Returns:
        ``{"memory_bytes", "json_bytes"}``: the kept records plus one sample's fit arrays, and
        the result document's JSON.
    """
    memory = samples * (_RAM_PER_SAMPLE + _RAM_PER_Q * n_q) + _FIT_BYTES * n_q * n_radii
    return {"memory_bytes": int(memory), "json_bytes": int(samples * (_JSON_PER_SAMPLE + _JSON_PER_Q * n_q))}


def check_run_budget(samples: int, n_q: int, n_radii: int = 64) -> dict[str, int]:
    """Refuse options whose results exceed :data:`RESULT_MEMORY_BUDGET` or :data:`RESULT_JSON_BUDGET`.

    Returns:
        The estimate (:func:`estimate_run`).

    Raises:
        ConfigError: One line with the estimate, the budget and the options to lower.
    """
    est = estimate_run(samples, n_q, n_radii)
    over = []
    if est["memory_bytes"] > RESULT_MEMORY_BUDGET:
        over.append(f"about {est['memory_bytes'] / 1e9:.1f} GB of memory for the results (budget "
                    f"{RESULT_MEMORY_BUDGET / 1e9:.0f} GB)")
    if est["json_bytes"] > RESULT_JSON_BUDGET:
        over.append(f"about {est['json_bytes'] / 1e9:.1f} GB of JSON per result (budget "
                    f"{RESULT_JSON_BUDGET / 1e9:.0f} GB)")
    if over:
        raise ConfigError(f"samples={samples} with a q grid of {n_q} values needs " + " and ".join(over)
                          + "; use fewer samples or fewer q values (a larger q_step)")
    return est


#: Memory the full network of centre sampling may take (bytes; ``MFA_NETWORK_MEMORY`` overrides):
#: below it the network is built in memory, above it it is streamed level by level.
NETWORK_MEMORY_BUDGET = 16 * 10**9
#: Bytes per cell of the full network built in memory: its float64 distance blocks (8), the
#: kernels' packed float32 and float64 copies, the float32 panel and transposed copies (16) and
#: the transient copies of the build (measured: 7.0 GB peak RSS for the 196.6M cells of a
#: two-block Pythia-2.8B shape, 36 bytes per cell, so 40 with slack).
_NETWORK_BYTES_PER_CELL = 40
#: Bytes per cell of a streamed level block held at once (its distances and the micro-kernel's
#: panel copy, with slack).
_STREAM_BYTES_PER_CELL = 24
#: Bytes per panel entry ``S x (n_l + n_{l+1})`` of the stream: the float64 working row (8), the
#: level panels it is filled from and emptied into (8) and the counting's transient bucket
#: indices (16) (measured: 683 MB traced peak for 9,700 sources on a Pythia-70M shape, estimate 804 MB).
_PANEL_BYTES = 32
#: Bytes per source and node of the float32 stream's spill file (disk, not memory).
_SPILL_BYTES = 4
#: Blocks a stream holds at once (the one in use and the next one read ahead).
_STREAM_BLOCKS = 2


def estimate_network(level_sizes: list[int] | tuple[int, ...]) -> int:
    """Estimated memory (bytes) of a full network with these node-layer sizes, built and prepared.

    Args:
        level_sizes: Node-layer sizes ``[L]`` (:func:`mfa_engine.nin.nin_level_sizes`).

    Returns:
        ``40 * sum_l sizes[l] * sizes[l + 1]`` (one dense block per pair of consecutive layers).
    """
    cells = sum(int(a) * int(b) for a, b in zip(level_sizes[:-1], level_sizes[1:]))
    return _NETWORK_BYTES_PER_CELL * cells


def _stream_parts(level_sizes: list[int] | tuple[int, ...], n_radii: int) -> tuple[int, int]:
    """(bytes of the blocks held at once, bytes per source) of a streamed pass."""
    pairs = list(zip(level_sizes[:-1], level_sizes[1:]))
    cells = max((int(a) * int(b) for a, b in pairs), default=0)
    row = max((int(a) + int(b) for a, b in pairs), default=0)
    return _STREAM_BLOCKS * _STREAM_BYTES_PER_CELL * cells, _PANEL_BYTES * row + 16 * (int(n_radii) + 1)


def estimate_stream(level_sizes: list[int] | tuple[int, ...], n_sources: int, n_radii: int = 61) -> int:
    """Estimated memory (bytes) of one streamed pass of the full network from ``n_sources`` sources.

    Args:
        level_sizes: Node-layer sizes ``[L]``.
        n_sources: Sources of the pass (the centres of every sample together).
        n_radii: Radii counted per source.

    Returns:
        ``2 * 24 * max_l n_l n_{l+1}`` (two blocks: the one in use and the next) plus
        ``S * (32 * max_l (n_l + n_{l+1}) + 16 * (R + 1))`` (the float64 distance panel of two
        consecutive levels, its working copy and the counting's transients, and the per-source
        counts).
    """
    blocks, per = _stream_parts(level_sizes, n_radii)
    return blocks + int(n_sources) * per


def stream_sources_per_pass(level_sizes: list[int] | tuple[int, ...], n_radii: int = 61,
                            environ: Mapping[str, str] | None = None) -> int:
    """The most sources one streamed pass may hold within the budget (``MFA_NETWORK_MEMORY``)
    and whose float32 spill file (4 bytes per source and node of the network, on disk in the
    system's temporary folder) stays within ``MFA_STREAM_SPILL`` (default 8 GB).

    Raises:
        ConfigError: Not even one source fits next to the two blocks (numbers in the message).
    """
    blocks, per = _stream_parts(level_sizes, n_radii)
    budget = int(setting("MFA_NETWORK_MEMORY", environ))
    fit = (budget - blocks) // per if budget > blocks else 0
    if fit < 1:
        raise ConfigError(
            f"streaming the full network ({sum(int(v) for v in level_sizes)} nodes) holds two level blocks of "
            f"about {blocks / 1e9:.2f} GB plus {per / 1e6:.3f} MB per centre, above the budget of "
            f"{budget / 1e9:.2f} GB (MFA_NETWORK_MEMORY); raise MFA_NETWORK_MEMORY or use sampling='neurons'")
    # the float32 pass spills every level's float32 panel to a temporary file (4 bytes per
    # source and node) for its exact resolution: at most MFA_STREAM_SPILL bytes per pass
    spill_per = _SPILL_BYTES * max(1, sum(int(v) for v in level_sizes))
    return int(max(1, min(fit, int(setting("MFA_STREAM_SPILL", environ)) // spill_per)))


def network_mode(level_sizes: list[int] | tuple[int, ...], n_sources: int = 1, n_radii: int = 61,
                 environ: Mapping[str, str] | None = None) -> tuple[str, int]:
    """How centre sampling holds the full network: built in memory, or streamed level by level.

    Within the budget :data:`NETWORK_MEMORY_BUDGET` (``MFA_NETWORK_MEMORY`` overrides) the
    network is built in memory (:func:`estimate_network`); above it, it is streamed from the
    checkpoint one block at a time (:func:`estimate_stream`; the sources are split into passes
    of at most :func:`stream_sources_per_pass` when their panel does not fit at once).

    Args:
        level_sizes: Node-layer sizes of the full network.
        n_sources: Sources of the run (the union of every sample's centres).
        n_radii: Radii counted per source.
        environ: Environment (default ``os.environ``).

    Returns:
        ``("memory", estimate)`` or ``("stream", estimate of one pass)`` in bytes.

    Raises:
        ConfigError: Streaming does not fit either: the two blocks and one source's panel exceed
            the budget (one line with the numbers).
    """
    est = estimate_network(level_sizes)
    budget = int(setting("MFA_NETWORK_MEMORY", environ))
    if est <= budget:
        return "memory", est
    per_pass = stream_sources_per_pass(level_sizes, n_radii, environ)
    return "stream", estimate_stream(level_sizes, min(int(n_sources), per_pass), n_radii)
