"""The numeric values of a Hugging Face ``log_history``, flattened in file order, as series.

Each value at its entry's ``step``; strings and booleans are skipped (not measurements).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from labdeck.runs.readers.base import Points, ReadWarning

_NUMBER = frozenset({int, float})  # exact types: bool is not a measurement


class LogItems:
    """The numeric values of ``log_history``, flattened in file order.

    Each item is a fixed-width record (entry index, step, value, key hash), so the digest of
    the first k items does not depend on what follows them: the prefix read last time is
    recognised by one hash over bytes, with no float-to-text work (5x cheaper than hashing
    json.dumps of each entry).
    """

    _RECORD = np.dtype([("entry", "<i8"), ("step", "<i8"), ("value", "<f8"), ("key", "<u8")])

    def __init__(self, names: list[str], codes: list[int], entries: list[int], steps: list[int], values: list) -> None:
        self.names = names
        self.codes = np.array(codes, np.int64)
        self.entries = np.array(entries, np.int64)
        self.steps = np.array(steps, np.int64)
        self.values = _floats(values)
        key_hashes = np.array([_key_hash(n) for n in names], np.uint64)
        self.records = np.empty(len(steps), self._RECORD)
        self.records["entry"], self.records["step"], self.records["value"] = self.entries, self.steps, self.values
        self.records["key"] = key_hashes[self.codes] if names else 0

    @classmethod
    def of(cls, history: list, rel: str, warnings: list[ReadWarning]) -> LogItems:
        names: list[str] = []
        code_of: dict[str, int] = {}
        codes: list[int] = []
        entries: list[int] = []
        steps: list[int] = []
        values: list = []
        bad = 0
        for i, entry in enumerate(history):
            step = entry.get("step") if isinstance(entry, dict) else None
            if step is None or not is_step(step):
                bad += 1
                continue
            step = int(step)
            for key, value in entry.items():
                # Strings and booleans are not measurements: skipped without a word.
                if type(value) not in _NUMBER or key == "step":
                    continue
                code = code_of.get(key)
                if code is None:
                    code = code_of[key] = len(names)
                    names.append(key)
                codes.append(code)
                entries.append(i)
                steps.append(step)
                values.append(value)
        if bad:
            msg = f"{rel}: {bad} log_history entries without an integer step left out"
            warnings.append(ReadWarning("bad-log-entry", msg, rel))
        return cls(names, codes, entries, steps, values)

    def count_before(self, entry: int) -> int:
        """How many items come from the first ``entry`` entries."""
        return int(np.searchsorted(self.entries, entry))

    def digest(self, count: int) -> str:
        return hashlib.sha1(self.records[:count].tobytes(), usedforsecurity=False).hexdigest()

    def points(self, start: int) -> dict[str, Points]:
        codes = self.codes[start:]
        order = np.argsort(codes, kind="stable")  # keeps file order within each key
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        out = {}
        for idx in np.split(order, bounds) if len(order) else []:
            at = idx + start
            out[self.names[codes[idx[0]]]] = Points(self.steps[at], self.values[at], np.full(len(at), np.nan))
        return out


def _key_hash(name: str) -> int:
    digest = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _floats(values: list) -> np.ndarray:
    try:
        return np.array(values, np.float64)
    except OverflowError:  # an int beyond the double range
        return np.array([_float(v) for v in values], np.float64)


def is_step(step: Any) -> bool:
    if isinstance(step, bool):
        return False
    if isinstance(step, int):
        return -(2**63) <= step < 2**63
    return isinstance(step, float) and math.isfinite(step) and step.is_integer() and abs(step) < 2**63


def _float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond the double range
        return math.inf if value > 0 else -math.inf
