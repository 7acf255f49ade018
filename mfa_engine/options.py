"""One record of every analysis option: default, validation, and whether it changes results.

:class:`AnalysisOptions` is what the CLI (``mfa analyze``, ``mfa batch`` and its TOML file,
``mfa demo``), the Python API (``analyze_checkpoint``), the batch configuration hash and the
batch read plan all take. It is validated when built, so a bad option fails before any
checkpoint is opened.

Adding an option is a change in this file only: add a field with :func:`option` (its default,
its check, the modes whose results it changes, its help text). The CLI flag
(``--name-with-dashes``), the TOML key, the keyword argument of ``analyze_checkpoint``, the
``config`` entry of the JSON document and the batch configuration hash all follow from the
field. See docs/architecture.md "Options".

Importing this module imports NumPy only.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mfa_engine._device import PATH_BACKENDS as _BACKENDS
from mfa_engine.analysis.qgrid import check_q, default_q, q_grid
from mfa_engine.analysis.windows import DEFAULT_WINDOW, FAMILY_WINDOWS
from mfa_engine.errors import ConfigError, plain
from mfa_engine.limits import MAX_N_RADII, MAX_SAMPLES, check_run_budget

__all__ = ["AnalysisOptions", "GROUPS", "MODES", "SAMPLINGS", "DEFAULT_CENTRES", "RADIUS_GRIDS", "FIT_WINDOWS",
           "option", "option_fields", "check_option"]

#: Analysis modes: ``paper`` (exact multi-hop distances) and ``reference`` (the published code).
MODES: tuple[str, ...] = ("paper", "reference")
BOTH = MODES
PAPER = ("paper",)
REFERENCE = ("reference",)
#: Largest accepted radius-grid size (a grid this fine is already far below any fit's need).
MAX_RADII = MAX_N_RADII


#: Groups of the options in ``--help`` (``group=`` of :func:`option`), in the order shown.
GROUPS: dict[str, str] = {
    "sampling": "sampling and network",
    "fit": "radii and fit",
    "null": "null model",
    "hub": "Hugging Face Hub",
    "execution": "execution",
}


def option(default: Any, check: Callable[[str, Any], Any], *, affects: tuple[str, ...],
           help: str, group: str, metavar: str | None = None, choices: tuple[Any, ...] | None = None,
           q_grid: bool = False, flag: str | None = None, omit_default: bool = False) -> Any:
    """Declare one analysis option (a dataclass field with its metadata).

    Args:
        default: The default value.
        check: ``check(name, value) -> value``: validates and normalises one value, raising
            ``ConfigError`` that names the option.
        affects: Modes whose results the option changes (it then enters the batch
            configuration hash of those modes); ``()`` for execution-only options.
        help: One line for ``--help``.
        group: Key of :data:`GROUPS`: the group the CLI lists the flag in.
        metavar: What the CLI shows for the value (e.g. ``N``, ``DIR``); choices show themselves.
        choices: Accepted values, when the option is a choice (also shown by the CLI).
        q_grid: Part of the q grid: the configuration records the grid as ``q`` instead of
            this field.
        flag: CLI flag, if not ``--name-with-dashes`` (a boolean's flag sets the opposite of
            its default, e.g. ``--undirected`` for ``directed``).
        omit_default: Leave the option out of the batch configuration while it has its default
            (an option added later then keeps the hashes of earlier stores).
    """
    if group not in GROUPS:
        raise ValueError(f"option group must be one of {', '.join(GROUPS)}, got {group!r}")
    meta = {"check": check, "affects": tuple(affects), "help": help, "group": group, "metavar": metavar,
            "choices": choices, "q_grid": q_grid, "flag": flag, "omit_default": omit_default}
    return field(default=default, metadata=meta)


# --- checks: (option name, value) -> normalised value ------------------------------------------


def _number(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be a number, got {plain(v)}")
    f = float(v)
    if not math.isfinite(f):
        raise ConfigError(f"{name} must be finite, got {plain(v)}")
    return f


def _integer(name: str, v: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(v, str):
        try:
            v = int(v)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {plain(v)}") from None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer, got {plain(v)}")
    if v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ConfigError(f"{name} must be an integer {rng}, got {v}")
    return int(v)


def _choice(choices: tuple[Any, ...]) -> Callable[[str, Any], Any]:
    def check(name: str, v: Any) -> Any:
        if v not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}, got {plain(v)}")
        return v

    return check


def _neurons(name: str, v: Any) -> int | str:
    if isinstance(v, str) and v.strip().lower() == "all":
        return "all"
    try:
        return _integer(name, v, 1)
    except ConfigError:
        raise ConfigError(f"{name} must be a positive integer or 'all', got {plain(v)}") from None


def _samples(name: str, v: Any) -> int | None:
    return None if v is None else _integer(name, v, 1, MAX_SAMPLES)


def _window_u(name: str, v: Any) -> tuple[float, float] | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = v.split(",")
    try:
        lo, hi = (_number(name, float(x) if isinstance(x, str) else x) for x in v)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be two values LO,HI of u = ln(r / r_unit), got {v!r}") from None
    if not lo < hi:
        raise ConfigError(f"{name} must satisfy LO < HI (in u = ln(r / r_unit)), got {v!r}")
    return (lo, hi)


def _q_explicit(name: str, v: Any) -> tuple[float, ...] | None:
    if v is None:
        return None
    return tuple(float(x) for x in check_q(v))


def _threshold(name: str, v: Any) -> float:
    t = _number(name, v)
    if not t > 1.0:
        raise ConfigError(f"{name} must be > 1 (reference window 1 < d <= T), got {plain(v)}")
    return t


def _non_negative(name: str, v: Any) -> float:
    f = _number(name, v)
    if f < 0:
        raise ConfigError(f"{name} must be >= 0, got {plain(v)}")
    return f


def _positive(name: str, v: Any) -> float:
    f = _number(name, v)
    if not f > 0:
        raise ConfigError(f"{name} must be > 0, got {plain(v)}")
    return f


def _bool(name: str, v: Any) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise ConfigError(f"{name} must be true or false, got {plain(v)}")
    return bool(v)


def _normalisation(name: str, v: Any) -> str | None:
    return None if v is None else _choice(("centre", "global"))(name, v)


def _fit_range(name: str, v: Any) -> tuple[float, float] | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = v.split(",")
    try:
        lo, hi = (_number(name, float(x) if isinstance(x, str) else x) for x in v)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be two radii LO,HI, got {v!r}") from None
    if not 0 < lo <= hi:
        raise ConfigError(f"{name} must satisfy 0 < LO <= HI, got {v!r}")
    return (lo, hi)


#: Null models: ``mfa_engine.checkpoints.nulls.NULL_MODELS`` (kept here so that this module
#: imports NumPy only; tests/checkpoints/test_nulls.py checks that the two agree).
NULL_MODELS = ("shuffle", "gaussian")


#: Paper-mode sampling: exact distances on the full network from sampled centres, or the
#: paper's sampled neuron network (docs/method.md, Sampling).
SAMPLINGS = ("centres", "neurons")
#: Default number of centres per sample (sampling=centres; docs/method.md, Centre sampling).
DEFAULT_CENTRES = 1000
#: Radius grids of paper mode: the fixed grid in u, or the grid from the data.
RADIUS_GRIDS = ("u", "data")
#: Fit windows of paper mode.
FIT_WINDOWS = ("fixed", "auto", "full")


def _optional_choice(choices: tuple[Any, ...]) -> Callable[[str, Any], Any]:
    check = _choice(choices)
    return lambda name, v: None if v is None else check(name, v)


def _null_model(name: str, v: Any) -> str | None:
    return None if v is None else _choice(NULL_MODELS)(name, v)


def _path_or_none(name: str, v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, (str, os.PathLike)) or not str(v):
        raise ConfigError(f"{name} must be a folder path, got {v!r}")
    return str(v)



@dataclass(frozen=True)
class AnalysisOptions:
    """Every option of a checkpoint analysis, validated (see the module docstring).

    Build with keywords (``AnalysisOptions(mode="reference", samples=3)``), from a mapping
    (:meth:`from_mapping`), or derive with :meth:`replace`. The q grid is
    ``q_min..q_max`` step ``q_step`` unless ``q`` lists the values.
    """

    mode: str = option("paper", _choice(MODES), group="sampling", affects=(), choices=MODES,
                       help="paper: exact multi-hop distances; reference: the published code's semantics")
    sampling: str = option("centres", _choice(SAMPLINGS), group="sampling", affects=PAPER, choices=SAMPLINGS,
                           help="paper mode: centres = exact distances on the full network from sampled "
                                "centres (estimates the full network); neurons = the paper's sampled "
                                "network (a different quantity; docs/method.md, Sampling)")
    centres: int | str = option(DEFAULT_CENTRES, _neurons, group="sampling", metavar="N|all", affects=PAPER,
                                help="sampling=centres: centres per sample, stratified in proportion to "
                                     "layer size, or 'all' (every node: the exact full-network value)")
    neurons_per_layer: int | str = option(32, _neurons, group="sampling", metavar="N|all", affects=BOTH,
                                          help="neurons sampled per node layer (twice that in the MLP layer), or "
                                               "'all' (reference mode, and paper mode with sampling=neurons)")
    samples: int = option(None, _samples, group="sampling", metavar="N", affects=(),
                          help="number of samples (seeds); default 1 for the whole network (centres=all, or "
                               "sampling=neurons with neurons_per_layer=all), else 10")
    seed: int = option(0, lambda n, v: _integer(n, v, 0, 2**32 - 1), group="sampling", metavar="SEED", affects=(),
                       help="first seed; samples use seed, seed+1, ...")
    q_min: float = option(-3.0, _number, group="fit", metavar="Q", affects=BOTH, q_grid=True, help="first q of the grid")
    q_max: float = option(3.0, _number, group="fit", metavar="Q", affects=BOTH, q_grid=True, help="last q of the grid")
    q_step: float = option(0.1, _positive, group="fit", metavar="STEP", affects=BOTH, q_grid=True, help="q grid spacing")
    q: tuple[float, ...] | None = option(None, _q_explicit, group="fit", metavar="Q1,Q2,...", affects=BOTH, q_grid=True,
                                         help="explicit q grid (overrides q_min/q_max/q_step)")
    threshold: float = option(150.0, _threshold, group="fit", metavar="T", affects=REFERENCE,
                              help="reference mode: keep distances 1 < d <= T")
    n_radii: int = option(64, lambda n, v: _integer(n, v, 2, MAX_RADII), group="fit", metavar="N", affects=PAPER,
                          help="paper mode: radius grid size")
    radius_upper: str = option("p99", _choice(("p99", "max", "rounded")), group="fit", affects=PAPER,
                               choices=("p99", "max", "rounded"),
                               help="paper mode: top of the radius grid (p99: 99th percentile of distances)")
    convention: str = option("boxgrowing", _choice(("boxgrowing", "sandbox")), group="fit", affects=PAPER,
                             choices=("boxgrowing", "sandbox"), help="paper mode: measure convention")
    normalisation: str | None = option(None, _normalisation, group="fit", affects=PAPER, choices=("centre", "global"),
                                       help="measure normalisation (default: centre for boxgrowing, global for sandbox)")
    min_reach: int = option(10, lambda n, v: _integer(n, v, 0), group="fit", metavar="N", affects=PAPER,
                            help="drop centres reaching fewer nodes within the largest radius")
    directed: bool = option(True, _bool, group="sampling", affects=PAPER, flag="--undirected",
                            help="paper mode: ignore edge directions")
    eps: float = option(0.0, _non_negative, group="sampling", metavar="EPS", affects=PAPER, help="paper mode: drop weights with |w| <= eps")
    structural_distance: float = option(1.0, _positive, group="sampling", metavar="D", affects=PAPER,
                                        help="distance of the structural QKV -> context edges (paper mode: a factor, see structural_scale)")
    backend: str = option("auto", _choice(_BACKENDS), group="execution", affects=(), choices=_BACKENDS, help="paths backend")
    threads: int = option(0, lambda n, v: _integer(n, v, 0, 4096), group="execution", affects=(),
                          help="CPU kernel threads (0: MFA_THREADS, else every core)")
    structural_scale: str = option("median", _choice(("median", "absolute")), group="sampling", affects=PAPER,
                                   choices=("median", "absolute"),
                                   help="paper mode: structural_distance is a factor of the sample's median "
                                        "weight distance (scale-invariant) or the distance itself")
    radius_lower: str = option("quantile", _choice(("quantile", "min")), group="fit", affects=PAPER,
                               choices=("quantile", "min"),
                               help="paper mode: bottom of the radius grid: the 0.05 quantile of the edge "
                                    "distances, not below the structural distance, or the smallest distance "
                                    "(the earlier grid)")
    radius_grid: str | None = option(None, _optional_choice(RADIUS_GRIDS), group="fit", affects=PAPER,
                                     choices=RADIUS_GRIDS,
                                     help="paper mode: u = the fixed grid in u = ln(r / r_unit) (default with "
                                          "sampling=centres); data = n_radii radii from the data (default with "
                                          "sampling=neurons)")
    fit_window: str | None = option(None, _optional_choice(FIT_WINDOWS), group="fit", affects=PAPER,
                                    choices=FIT_WINDOWS,
                                    help="paper mode: fixed = the pre-registered window in u (default with "
                                         "sampling=centres); auto = the most stable window (discontinuous; "
                                         "default with sampling=neurons); full = every radius")
    window: tuple[float, float] | None = option(None, _window_u, group="fit", metavar="LO,HI", affects=PAPER,
                                                help="paper mode, fit_window=fixed: the window in u = ln(r / r_unit) "
                                                     "(default: the model family's, docs/method.md)")
    fit_range: tuple[float, float] | None = option(None, _fit_range, group="fit", metavar="LO,HI", affects=PAPER,
                                                   help="paper mode: fit only on radii in [LO, HI] "
                                                        "(LO,HI; overrides fit_window)")
    window_min_span: float = option(1.0, _positive, group="fit", metavar="SPAN", affects=PAPER,
                                    help="paper mode: smallest span in ln r of the automatic fit window")
    null: str | None = option(None, _null_model, group="null", affects=BOTH, choices=NULL_MODELS, omit_default=True,
                              help="also analyse a null model: shuffle = every weight matrix permuted at random "
                                   "(same values, no structure), seeded per sample (docs/science.md)")
    range_cache: str | None = option(None, _path_or_none, group="hub", metavar="DIR", affects=(),
                                   help="range cache of checkpoints read from the Hub (default $HF_HOME/mfa-ranges)")
    download: bool = option(False, _bool, group="hub", affects=(),
                            help="Hub checkpoints: download whole files into the HF cache instead of reading "
                                 "only the sampled byte ranges (needed for --neurons-per-layer all)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, f.metadata["check"](f.name, getattr(self, f.name)))
        self._resolve_defaults()
        grid = self.q_grid()  # the grid itself is valid (>= 3 values)
        check_run_budget(self.samples, int(grid.size), self.n_radii)  # results that fit
        if self.mode == "reference" and self.neurons_per_layer == "all":
            raise ConfigError(
                "neurons_per_layer='all' is not supported in reference mode, which samples a fixed "
                "number of neurons per layer (published: 32 or 64)"
            )

    def _resolve_defaults(self) -> None:
        """Resolve the defaults that depend on other options (given values always win).

        ``samples``: 1 for the whole network (``centres="all"``, or ``sampling="neurons"`` with
        ``neurons_per_layer="all"``: every sample would be the same), else 10. ``radius_grid``:
        ``"u"`` with centre sampling, ``"data"`` with neuron sampling. ``fit_window``:
        ``"fixed"`` on the grid in u, else ``"auto"``. Which were defaulted is kept, so :meth:`replace`
        resolves them again.
        """
        centres = self.sampling == "centres"
        whole = self.centres == "all" if centres else self.neurons_per_layer == "all"
        defaults = {"samples": 1 if whole else 10, "radius_grid": "u" if centres else "data"}
        resolved = tuple(k for k in ("samples", "radius_grid", "fit_window") if getattr(self, k) is None)
        for k in resolved:
            if k == "fit_window":  # after radius_grid: the fixed window needs the grid in u
                defaults[k] = "fixed" if self.radius_grid == "u" else "auto"
            object.__setattr__(self, k, defaults[k])
        object.__setattr__(self, "_defaulted", resolved)
        if self.fit_window == "fixed" and self.radius_grid != "u" and self.fit_range is None:
            raise ConfigError("fit_window='fixed' needs radius_grid='u' (the window is given in u = ln(r / r_unit)); "
                              "use fit_window='auto' or 'full' with radius_grid='data'")
        if self.window is not None and self.fit_window != "fixed":
            raise ConfigError(f"window (in u) applies to fit_window='fixed', but fit_window={self.fit_window!r}")

    def defaulted(self, name: str) -> bool:
        """Whether option ``name`` took a default resolved from the others (not given)."""
        return name in getattr(self, "_defaulted", ())

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None = None, **overrides: Any) -> AnalysisOptions:
        """Options from a mapping of option names (``-`` or ``_``) plus keyword overrides.

        Raises:
            ConfigError: An unknown option name (listing the known ones) or an invalid value.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        merged = {str(k).replace("-", "_"): v for k, v in {**(values or {}), **overrides}.items()}
        unknown = sorted(set(merged) - names)
        if unknown:
            raise ConfigError(f"unknown analysis option {unknown[0]!r}; known options: {', '.join(sorted(names))}")
        return cls(**merged)

    def replace(self, **changes: Any) -> AnalysisOptions:
        """A copy with some options changed (validated like a new record)."""
        values = self.to_dict(q_grid_fields=True)
        for k in getattr(self, "_defaulted", ()):  # resolved again from the new values
            values.pop(k, None)
        return type(self).from_mapping(values, **changes)

    def q_config(self) -> list[float] | None:
        """The q grid as recorded in configurations: None for the default grid, else the values."""
        q = self.q_grid()
        return None if q.shape == (61,) and np.array_equal(q, default_q()) else q.tolist()

    def q_grid(self) -> np.ndarray:
        """The q grid: ``q`` if given, else ``q_min..q_max`` step ``q_step``; float64 ``[Q]``."""
        if self.q is not None:
            return np.array(self.q, dtype=np.float64)
        return q_grid(self.q_min, self.q_max, self.q_step)

    @property
    def seeds(self) -> list[int]:
        """The seeds ``seed .. seed + samples - 1``."""
        return [self.seed + s for s in range(self.samples)]

    def to_dict(self, *, q_grid_fields: bool = False) -> dict[str, Any]:
        """JSON-ready options: every field, the q grid as ``q`` (:meth:`q_config`).

        Args:
            q_grid_fields: Keep ``q_min``/``q_max``/``q_step``/``q`` as given instead.
        """
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.metadata["q_grid"] and not q_grid_fields:
                continue
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        if not q_grid_fields:
            out["q"] = self.q_config()
        return out

    def config(self, mode: str | None = None) -> dict[str, Any]:
        """The configuration of a mode for the batch store: the options that change its results.

        Args:
            mode: Default this record's mode.

        Returns:
            ``{"mode": mode, <option>: value, ..., "q": ...}`` in field order, the q grid as
            :meth:`q_config` (so equal grids hash equally however they were given), and, when
            paper mode's fixed window comes from the per-family table
            (:mod:`mfa_engine.analysis.windows`), that table as ``window_table``; seeds,
            sample count and backend are not part of it.
        """
        m = self.mode if mode is None else _choice(MODES)("mode", mode)
        cfg: dict[str, Any] = {"mode": m}
        for f in dataclasses.fields(self):
            if m not in f.metadata["affects"]:
                continue
            if f.metadata["omit_default"] and getattr(self, f.name) == f.default:
                continue
            if f.metadata["q_grid"]:
                cfg["q"] = self.q_config()
            else:
                cfg[f.name] = getattr(self, f.name)
        if m == "paper" and self.fit_window == "fixed" and self.window is None and self.fit_range is None:
            # the window comes from the family table: a changed table must change the hash
            cfg["window_table"] = {**{k: list(v) for k, v in sorted(FAMILY_WINDOWS.items())},
                                   "default": list(DEFAULT_WINDOW)}
        return cfg


def option_fields() -> tuple[dataclasses.Field, ...]:
    """The option fields, in declaration order (name, default, metadata)."""
    return dataclasses.fields(AnalysisOptions)


def check_option(name: str, value: Any) -> Any:
    """Validate one option value with its field's check (for functions taking it directly).

    Returns:
        The normalised value.

    Raises:
        ConfigError: Invalid value (the message names the option).
    """
    fields = {f.name: f for f in option_fields()}
    return fields[name].metadata["check"](name, value)
