"""Error messages in the words of the command line: option names become their flags.

The library names an option by its Python name (``neurons_per_layer``, ``backend='cpu'``,
``download=True``); on the command line the same message names the flag
(``--neurons-per-layer``, ``--backend cpu``, ``--download``).
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["as_cli_message"]


@lru_cache(maxsize=1)
def _rules() -> list[tuple[re.Pattern[str], str]]:
    from mfa_engine.options import option_fields

    rules: list[tuple[re.Pattern[str], str]] = []
    for f in option_fields():
        name = f.name
        flag = f.metadata["flag"] or "--" + name.replace("_", "-")
        if isinstance(f.default, bool):  # download=True -> --download; directed=False -> --undirected
            rules.append((re.compile(rf"(?<![\w-]){name}={not f.default}\b"), flag))
        else:  # backend='cpu' -> --backend cpu
            rules.append((re.compile(rf"(?<![\w-]){name}=['\"]?([\w.,-]+)['\"]?"), flag + r" \1"))
        if "_" in name:  # a Python name, never a word of prose
            rules.append((re.compile(rf"(?<![\w-]){name}(?!\w)"), flag))
        else:  # "samples must be ...": the option as the subject of a check
            rules.append((re.compile(rf"(?<![\w-]){name}(?= must\b)"), flag))
    rules.append((re.compile(r"(?<![\w-])revision=['\"]?([\w.,/-]+)['\"]?"), r"--revision \1"))
    return rules


def as_cli_message(text: str) -> str:
    """``text`` with the options named as CLI flags (``neurons_per_layer`` -> ``--neurons-per-layer``)."""
    for pattern, repl in _rules():
        text = pattern.sub(repl, text)
    return text
