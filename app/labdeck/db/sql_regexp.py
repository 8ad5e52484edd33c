"""``labdeck_regexp(pattern, value)``: the SQL function the filters' ``~`` and ``!~`` call,
registered on every connection to the index (``connection.configure``).

Apart from the filters (``db.filters``), which compile the patterns: every connection
registers the function, and importing RE2 and the filter grammar cost verbs that never
filter, such as `labdeck dataset add`, about 10 ms of a start-up they wait for. RE2 is
loaded at the first pattern a query runs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache


def register_sql_functions(dbapi_conn) -> None:
    """Functions the filters call in SQL; run on every new SQLite connection."""
    dbapi_conn.create_function("labdeck_regexp", 2, _regexp, deterministic=True)


def _regexp(pattern: str, value) -> int | None:
    if value is None:
        return None
    matches = _matcher(pattern)
    if matches is None:
        return None  # the parser refuses such patterns before they reach SQL
    text = value if isinstance(value, str) else str(value)
    return int(matches(text.encode("utf-8", "surrogatepass")))


@lru_cache(maxsize=64)
def _matcher(pattern: str) -> Callable[[bytes], bool] | None:
    """Whether ``pattern`` occurs in a UTF-8 text (None: not a pattern RE2 compiles). Through
    google-re2's own binding where it is there: its Python search() builds a match object per
    call, half the time per row."""
    import re2

    from labdeck.db.filters import PatternError, compile_pattern

    try:
        compiled = compile_pattern(pattern)
    except PatternError:
        return None
    binding = getattr(compiled, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if binding is None or anchor is None:
        return lambda data: compiled.search(data) is not None
    return lambda data: binding.Match(anchor, data, 0, len(data))[0][0] != -1
