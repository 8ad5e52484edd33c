"""What can still be read from a damaged ``trainer_state.json``.

The Trainer writes the file with ``json.dumps(indent=2, sort_keys=True)``: top-level fields
one per line, and ``log_history`` a list of flat objects. When the file no longer parses as
a whole (a flipped byte, garbage, a cut), each top-level scalar line and each log entry is
parsed on its own, so the damage costs the entries it touched and not the run.
"""

from __future__ import annotations

import json
import re

_TOP_FIELD = re.compile(r'^  "([^"\\]+)": (.+?),?$', re.MULTILINE)
_HISTORY = '"log_history"'


def salvage_state(raw: bytes) -> tuple[dict, int]:
    """The readable part of a damaged state: (fields and entries, how many entries were left
    out because they did not parse)."""
    text = raw.decode("utf-8", "replace")
    state: dict = {}
    start = text.find(_HISTORY)
    head = text if start < 0 else text[:start]
    for m in _TOP_FIELD.finditer(head):
        try:
            state[m.group(1)] = json.loads(m.group(2))
        except ValueError:
            continue
    if start < 0:
        return state, 0
    entries, lost = _entries(text, text.find("[", start) + 1 or len(text))
    state["log_history"] = entries
    return state, lost


def _entries(text: str, at: int) -> tuple[list, int]:
    """Flat objects from ``at`` on, up to the list's closing bracket: each ``{`` that does
    not start a whole object is a damaged entry, skipped."""
    decoder = json.JSONDecoder()
    entries: list = []
    lost = 0
    size = len(text)
    while at < size:
        brace = text.find("{", at)
        close = text.find("]", at)
        if brace < 0 or (0 <= close < brace and _only_separators(text[at:close])):
            break
        try:
            entry, end = decoder.raw_decode(text, brace)
        except ValueError:
            lost += 1
            at = _next_entry(text, brace + 1)
            continue
        if isinstance(entry, dict):
            entries.append(entry)
        at = end
    return entries, lost


def _next_entry(text: str, at: int) -> int:
    """Past the damaged entry: its end is the next ``}`` (entries are flat), unless the next
    entry's ``{`` comes first (the damage took this entry's closing brace)."""
    end, brace = text.find("}", at), text.find("{", at)
    if 0 <= brace < end or end < 0 <= brace:
        return brace
    return len(text) if end < 0 else end + 1


def _only_separators(gap: str) -> bool:
    return not gap.strip(" \t\r\n,")


_FIELD = re.compile(r'"([^"\\]{1,200})"\s*:\s*')


def salvage_fields(raw: bytes) -> dict:
    """The fields of a damaged JSON object that still parse: each ``"key": value`` is
    decoded on its own (the first of each key wins; a value that parses is skipped whole, so
    the keys inside it are not taken for top-level ones)."""
    text = raw.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    fields: dict = {}
    at = 0
    while (m := _FIELD.search(text, at)) is not None:
        try:
            value, end = decoder.raw_decode(text, m.end())
        except ValueError:
            at = m.end()
            continue
        fields.setdefault(m.group(1), value)
        at = end
    return fields
