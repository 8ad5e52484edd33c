"""Every row SQLite still returns from a damaged database, copied into a clean one.

A damaged page ("database disk image is malformed") makes every statement that touches it
fail, so one flipped byte could hide a whole MLflow store. Here each table is read on its
own, by rowid range, halving a range that fails until the failing rows are alone: the damage
costs the rows on the damaged pages, which are counted per table. The copy lives in a
temporary folder outside the project (source files stay read-only to labdeck).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

# A budget of statements per table: a damaged page spanning a huge rowid range cannot make
# the salvage run for ever.
MAX_STATEMENTS = 20_000
INSERT_BATCH = 5_000


@dataclass
class Salvage:
    lost: dict[str, str] = field(default_factory=dict)  # table -> what of it was lost

    def describe(self) -> str:
        return "; ".join(f"{t}: {what}" for t, what in sorted(self.lost.items())) or "nothing"


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    low = str(exc).lower()
    return "malformed" in low or "corrupt" in low or "not a database" in low or "disk i/o" in low


def salvage(src: sqlite3.Connection, dest: Path) -> Salvage:
    """Copy what ``src`` still returns into a new database at ``dest``; raises
    ``sqlite3.DatabaseError`` when not even the schema can be read."""
    schema = src.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    out = sqlite3.connect(dest, isolation_level=None)
    report = Salvage()
    try:
        out.execute("PRAGMA journal_mode = OFF")
        out.execute("PRAGMA synchronous = OFF")
        tables = [(name, sql) for kind, name, sql in schema if kind == "table" and not name.startswith("sqlite_")]
        for name, sql in tables:
            out.execute(sql)
            _copy_table(src, out, name, report)
        for kind, name, sql in schema:
            if kind in ("index", "view"):
                try:
                    out.execute(sql)  # MLflow's indexes: the reader's lookups use them
                except sqlite3.DatabaseError:
                    pass  # duplicates the unique index refuses: the rows stay, the index goes
    finally:
        out.close()
    return report


def _copy_table(src: sqlite3.Connection, out: sqlite3.Connection, table: str, report: Salvage) -> None:
    quoted = '"' + table.replace('"', '""') + '"'
    try:
        rows = src.execute(f"SELECT * FROM {quoted}").fetchall()
        _insert(out, quoted, rows)
        return
    except sqlite3.DatabaseError as exc:
        if not _is_damage(exc) and "rowid" not in str(exc):
            raise
    top = _top_rowid(src, quoted)
    if top is None:
        report.lost[table] = "unreadable (no rowid to read it by)"
        return
    budget = [MAX_STATEMENTS]
    failed: list[tuple[int, int]] = []
    _copy_range(src, out, quoted, -(2**63), top, budget, failed)
    _copy_range(src, out, quoted, top + 1, 2**63 - 1, budget, failed)
    if failed:
        lost = sum(hi - lo + 1 for lo, hi in failed if hi - lo < 2**32)
        what = f"rows of rowid {failed[0][0]}..{failed[-1][1]}" if lost == 0 else f"up to {lost} row(s)"
        report.lost[table] = what + (" (gave up: too damaged)" if budget[0] <= 0 else "")


def _top_rowid(src: sqlite3.Connection, quoted: str) -> int | None:
    """A rowid near the end of the table, to split the search at (the exact max may sit on
    the damaged page)."""
    for sql in (f"SELECT max(rowid) FROM {quoted}", f"SELECT count(*) FROM {quoted}"):
        try:
            return int(src.execute(sql).fetchone()[0] or 0)
        except sqlite3.DatabaseError:
            continue
    return 0


def _copy_range(src, out, quoted: str, lo: int, hi: int, budget: list[int], failed: list) -> None:
    stack = [(lo, hi)]
    while stack:
        lo, hi = stack.pop()
        if budget[0] <= 0:
            failed.append((lo, hi))
            continue
        budget[0] -= 1
        try:
            rows = src.execute(f"SELECT * FROM {quoted} WHERE rowid BETWEEN ? AND ?", (lo, hi)).fetchall()
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc):
                raise
            if lo >= hi:
                failed.append((lo, hi))
            else:
                mid = lo + (hi - lo) // 2
                stack += [(mid + 1, hi), (lo, mid)]  # low half first: rows in rowid order
            continue
        _insert(out, quoted, rows)


def _insert(out: sqlite3.Connection, quoted: str, rows: list[tuple]) -> None:
    if not rows:
        return
    marks = ",".join("?" * len(rows[0]))
    out.execute("BEGIN")
    for i in range(0, len(rows), INSERT_BATCH):
        out.executemany(f"INSERT OR IGNORE INTO {quoted} VALUES ({marks})", rows[i : i + INSERT_BATCH])
    out.execute("COMMIT")
