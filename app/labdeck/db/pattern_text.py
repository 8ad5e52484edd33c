"""The text that every match of a filter's pattern must contain, so that SQL's ``LIKE`` rules
out, in SQLite's own code, the rows the pattern cannot match before the pattern runs.

``name ~ "run-1.*7$"`` calls the pattern once per run (a Python function in SQL); with
``name LIKE '%run-1%'`` in front it runs only on the names holding that text.

``LIKE`` must never rule out a row the pattern matches, so the text is taken only where it is
certain: from the pattern's top level (a sequence: every part of it is in every match), only
ASCII (where ``LIKE`` ignores case as the case-insensitive pattern does), and never across a
``k`` or an ``s``, which RE2's case folding also matches to U+212A and U+017F. The pattern is
read with Python's own regex parser, which reads RE2's syntax alike where it reads it at all;
a pattern it cannot read (RE2-only syntax) gets no text.
"""

from __future__ import annotations

import re
from functools import lru_cache

try:  # Python 3.11+
    from re import _parser as regex_parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_parse as regex_parser  # type: ignore[no-redef]

MIN_LENGTH = 2  # one character rules out too little to pay for the LIKE
_UNSAFE = re.compile(r"[^\x00-\x7f]|[ksKS]")


@lru_cache(maxsize=64)
def required_text(pattern: str) -> str | None:
    """The longest text every match of the case-insensitive ``pattern`` contains, or None."""
    try:
        parsed = regex_parser.parse(pattern, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None
    runs: list[str] = []
    current: list[str] = []
    for op, value in parsed.data:
        if op is regex_parser.LITERAL:
            current.append(chr(value))
            continue
        runs.append("".join(current))
        current = []
    runs.append("".join(current))
    pieces = [piece for run in runs for piece in _UNSAFE.split(run)]
    best = max(pieces, key=len, default="")
    return best if len(best) >= MIN_LENGTH else None


def like_escaped(text: str) -> str:
    """``text`` matched literally by ``LIKE … ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_containing(text: str) -> str:
    """A ``LIKE`` pattern (escape character ``\\``) for values containing ``text``."""
    return f"%{like_escaped(text)}%"
