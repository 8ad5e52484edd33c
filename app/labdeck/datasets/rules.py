"""Validation rules of a dataset and checking a version's tabular files against them.

    {
      "files": "*.csv",                       optional glob; default: every tabular file
      "rows": {"min": 100, "max": 1000000},   row-count bounds per file
      "columns": {
        "age":   {"type": "int", "min": 0, "max": 130, "max_null_fraction": 0.0},
        "label": {"type": "string", "allowed": ["cat", "dog"]},
        "note":  {"required": false, "max_null_fraction": 0.5}
      }
    }

Listed columns are required unless ``"required": false``. Types: int, float, number (int or
float), string, bool, datetime.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from numbers import Real
from typing import TYPE_CHECKING

from labdeck.datasets.tabular import kind
from labdeck.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

TYPES = {"int", "float", "number", "string", "bool", "datetime"}
COLUMN_KEYS = {"type", "required", "min", "max", "allowed", "max_null_fraction"}


class RulesError(UserError, ValueError):
    """The rules themselves are malformed (the message names the offending key)."""


@dataclass(frozen=True)
class Problem:
    file: str
    column: str | None
    rule: str
    message: str

    def as_json(self) -> dict:
        return {"file": self.file, "column": self.column, "rule": self.rule, "message": self.message}


@dataclass(frozen=True)
class Validation:
    """A version checked against its dataset's rules (``has_rules`` False: there are none)."""

    dataset: str
    version: int
    has_rules: bool
    strict: bool = False
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        out: dict = {"dataset": self.dataset, "version": self.version, "ok": self.ok, "rules": self.has_rules}
        if self.has_rules:
            out["strict"] = self.strict
        out["problems"] = [p.as_json() for p in self.problems]
        return out


def _number(where: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, Real) or math.isnan(v):
        raise RulesError(f"{where}: expected a number, got {v!r}")
    return float(v)


def check_rules(rules) -> dict:
    """Return ``rules`` if well-formed, else raise RulesError saying where."""
    if not isinstance(rules, dict):
        raise RulesError("rules: expected a JSON object")
    unknown = set(rules) - {"files", "rows", "columns"}
    if unknown:
        raise RulesError(f"rules: unknown key(s) {sorted(unknown)} (allowed: files, rows, columns)")
    if "files" in rules and not isinstance(rules["files"], str):
        raise RulesError("files: expected a glob pattern string")
    rows = rules.get("rows", {})
    if not isinstance(rows, dict) or set(rows) - {"min", "max"}:
        raise RulesError("rows: expected {\"min\": N, \"max\": N}")
    for k, v in rows.items():
        _number(f"rows.{k}", v)
    columns = rules.get("columns", {})
    if not isinstance(columns, dict):
        raise RulesError("columns: expected an object of column name → rules")
    for col, spec in columns.items():
        where = f"columns.{col}"
        if not isinstance(spec, dict):
            raise RulesError(f"{where}: expected an object")
        bad = set(spec) - COLUMN_KEYS
        if bad:
            raise RulesError(f"{where}: unknown key(s) {sorted(bad)} (allowed: {', '.join(sorted(COLUMN_KEYS))})")
        if "type" in spec and spec["type"] not in TYPES:
            raise RulesError(f"{where}.type: {spec['type']!r} is not one of {', '.join(sorted(TYPES))}")
        if "required" in spec and not isinstance(spec["required"], bool):
            raise RulesError(f"{where}.required: expected true or false")
        for k in ("min", "max"):
            if k in spec:
                _number(f"{where}.{k}", spec[k])
        if "max_null_fraction" in spec:
            f = _number(f"{where}.max_null_fraction", spec["max_null_fraction"])
            if not 0 <= f <= 1:
                raise RulesError(f"{where}.max_null_fraction: must be between 0 and 1")
        if "allowed" in spec and not isinstance(spec["allowed"], list):
            raise RulesError(f"{where}.allowed: expected a list of values")
    return rules


def applies_to(rules: dict, rel: str) -> bool:
    pattern = rules.get("files")
    return True if not pattern else fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel.rsplit("/", 1)[-1], pattern)


def _type_ok(want: str, got: str) -> bool:
    if want == "number":
        return got in ("int", "float")
    if want == "float":
        return got in ("int", "float")  # an all-integer column of a float field reads as int
    return want == got


def validate_frame(rules: dict, rel: str, frame: pd.DataFrame) -> list[Problem]:
    problems: list[Problem] = []
    n = len(frame)
    rows = rules.get("rows", {})
    if "min" in rows and n < rows["min"]:
        problems.append(Problem(rel, None, "rows.min", f"{n} rows, fewer than the minimum {rows['min']:g}"))
    if "max" in rows and n > rows["max"]:
        problems.append(Problem(rel, None, "rows.max", f"{n} rows, more than the maximum {rows['max']:g}"))
    for col, spec in rules.get("columns", {}).items():
        if col not in frame.columns:
            if spec.get("required", True):
                problems.append(Problem(rel, col, "required", f"required column {col!r} is missing"))
            continue
        series = frame[col]
        got = kind(series)
        if "type" in spec and not _type_ok(spec["type"], got):
            problems.append(Problem(rel, col, "type", f"column {col!r} is {got}, expected {spec['type']}"))
        non_null = series.dropna()
        if "max_null_fraction" in spec and n:
            frac = (n - len(non_null)) / n
            if frac > spec["max_null_fraction"]:
                problems.append(
                    Problem(rel, col, "max_null_fraction",
                            f"column {col!r} is {frac:.1%} empty, more than {spec['max_null_fraction']:.1%}")
                )
        if ("min" in spec or "max" in spec) and got in ("int", "float"):
            values = non_null.astype(float)
            if "min" in spec:
                below = values < spec["min"]
                if below.any():
                    problems.append(Problem(rel, col, "min", f"column {col!r}: {int(below.sum())} value(s) below "
                                            f"{spec['min']:g} (smallest {values.min():g})"))
            if "max" in spec:
                above = values > spec["max"]
                if above.any():
                    problems.append(Problem(rel, col, "max", f"column {col!r}: {int(above.sum())} value(s) above "
                                            f"{spec['max']:g} (largest {values.max():g})"))
        if "allowed" in spec:
            allowed = set(spec["allowed"])
            try:
                bad = non_null[~non_null.isin(allowed)]
            except TypeError:
                bad = non_null
            if len(bad):
                examples = ", ".join(repr(v) for v in list(dict.fromkeys(bad.tolist()))[:3])
                problems.append(Problem(rel, col, "allowed",
                                        f"column {col!r}: {len(bad)} value(s) not allowed, e.g. {examples}"))
    return problems
