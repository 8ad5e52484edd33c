"""Reading the journal of changed runs (``run_changes``, filled by triggers: migration 0016).

A reader that keeps something derived from runs notes the journal's last entry where it
read, and later asks which runs changed since: in the same snapshot as whatever it then
re-reads, so nothing committed between the two is missed or counted twice (writers are
serialised, so entries are numbered in commit order).
"""

from __future__ import annotations

import sqlite3

import numpy as np

from labdeck.db.sort_ranks import pk_array

EVERY_RUN = 0  # recorded by a change to every run at once (a project's path)
_TRIGGERS = 15  # migration 0016's: four tables times three, two on projects, the trim


def latest(conn: sqlite3.Connection) -> int | None:
    """The journal's last entry, or None where this index does not journal every change
    (an index made before it, or one a migration left without some of its triggers)."""
    (triggers,) = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name GLOB 'run_changes_*'").fetchone()
    if triggers != _TRIGGERS:
        return None
    (seq,) = conn.execute("SELECT ifnull(max(seq), 0) FROM run_changes").fetchone()
    return seq


def changed_since(conn: sqlite3.Connection, seq: int, limit: int) -> np.ndarray | None:
    """The pks of the runs changed after entry ``seq``; None when that cannot be told in
    ``limit`` runs or fewer (the journal trimmed past it, every run changed, or more)."""
    (first,) = conn.execute("SELECT min(seq) FROM run_changes").fetchone()
    if first is not None and first > seq + 1:
        return None  # trimmed: some of what changed is no longer listed
    (text,) = conn.execute(
        "SELECT group_concat(run_pk) FROM (SELECT DISTINCT run_pk FROM run_changes WHERE seq > ? LIMIT ?)",
        (seq, limit + 1),
    ).fetchone()
    pks = pk_array(text)
    if len(pks) > limit or (pks == EVERY_RUN).any():
        return None
    return pks
