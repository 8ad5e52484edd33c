"""Differences between two versions: files, and for tabular files schema, rows and column statistics.

Results are typed records (``DatasetDiff``, ``TableDiff``); ``as_json()`` gives the documented
JSON of ``labdeck dataset diff --json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labdeck.datasets.tabular import Profile, TabularError, tabular_format

Files = list[tuple[str, int, str]]
STATS = ("nulls", "null_fraction", "distinct", "min", "max", "mean")


@dataclass(frozen=True)
class TableDiff:
    """One tabular file in both versions: rows, schema and the column statistics that moved.
    ``error`` instead when either version cannot be read as a table."""

    rows: tuple[int, int] = (0, 0)
    added: dict[str, str] = field(default_factory=dict)  # column -> type
    removed: dict[str, str] = field(default_factory=dict)
    type_changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    columns: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)  # column -> stat -> (a, b)
    error: str | None = None

    @property
    def rows_change(self) -> int:
        return self.rows[1] - self.rows[0]

    def as_json(self) -> dict:
        if self.error is not None:
            return {"error": self.error}
        return {
            "rows": list(self.rows),
            "rows_change": self.rows_change,
            "schema": {
                "added": dict(self.added),
                "removed": dict(self.removed),
                "type_changed": {c: list(t) for c, t in self.type_changed.items()},
            },
            "columns": {c: {k: list(v) for k, v in stats.items()} for c, stats in self.columns.items()},
        }


@dataclass(frozen=True)
class DatasetDiff:
    dataset: str
    a: int
    b: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: int
    bytes: tuple[int, int]  # total size of version a, of version b
    tables: dict[str, TableDiff] = field(default_factory=dict)  # changed tabular files

    def as_json(self) -> dict:
        return {
            "dataset": self.dataset, "a": self.a, "b": self.b,
            "added": list(self.added), "removed": list(self.removed), "changed": list(self.changed),
            "unchanged": self.unchanged, "bytes": list(self.bytes),
            "tabular": {rel: t.as_json() for rel, t in self.tables.items()},
        }


def diff_profiles(pa: Profile, pb: Profile) -> TableDiff:
    sa, sb = pa.schema, pb.schema
    columns: dict[str, dict[str, tuple[Any, Any]]] = {}
    for col in sa:
        if col not in sb:
            continue
        ca, cb = pa.columns[col], pb.columns[col]
        changes = {k: (ca.stat(k), cb.stat(k)) for k in STATS if ca.stat(k) != cb.stat(k)}
        if changes:
            columns[col] = changes
    return TableDiff(
        rows=(pa.rows, pb.rows),
        added={c: sb[c] for c in sb if c not in sa},
        removed={c: sa[c] for c in sa if c not in sb},
        type_changed={c: (sa[c], sb[c]) for c in sa if c in sb and sa[c] != sb[c]},
        columns=columns,
    )


def diff_versions(
    dataset: str, a: int, b: int, files_a: Files, files_b: Files, profile_of: Callable[[str, str], Profile]
) -> DatasetDiff:
    """``profile_of(object digest, rel)`` returns a tabular profile (see ``tabular.profile_frame``)."""
    da = {p: (size, h) for p, size, h in files_a}
    db = {p: (size, h) for p, size, h in files_b}
    changed = sorted(p for p in set(da) & set(db) if da[p][1] != db[p][1])
    tables: dict[str, TableDiff] = {}

    def compare(rel_a: str, digest_a: str, rel_b: str, digest_b: str) -> TableDiff:
        try:
            return diff_profiles(profile_of(digest_a, rel_a), profile_of(digest_b, rel_b))
        except TabularError as exc:
            return TableDiff(error=str(exc))

    for rel in changed:
        if tabular_format(rel) is not None:
            tables[rel] = compare(rel, da[rel][1], rel, db[rel][1])
    # A single-file dataset whose file was renamed is still worth comparing as a table.
    if not tables and len(files_a) == 1 and len(files_b) == 1 and files_a[0][0] != files_b[0][0]:
        (ra, _, xa), (rb, _, xb) = files_a[0], files_b[0]
        if tabular_format(ra) and tabular_format(rb):
            tables[rb] = compare(ra, xa, rb, xb)
    return DatasetDiff(
        dataset=dataset, a=a, b=b,
        added=tuple(sorted(set(db) - set(da))),
        removed=tuple(sorted(set(da) - set(db))),
        changed=tuple(changed),
        unchanged=sum(1 for p in set(da) & set(db) if da[p][1] == db[p][1]),
        bytes=(sum(size for size, _ in da.values()), sum(size for size, _ in db.values())),
        tables=tables,
    )
