"""Read-only queries behind the desktop app's compare, details and diff views, and every read
of a run's points: plain SQL on a ``sqlite3`` connection, like ``run_listing``.

Everything returned is plain Python values (strings, dicts, numpy arrays): results cross
threads into Qt models.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable

from labdeck.db import series as series_codec
from labdeck.db import series_sources
from labdeck.db.batches import batches, placeholders
from labdeck.db.entities import Series


def pks_for_uids(conn: sqlite3.Connection, uids: Iterable[str]) -> dict[str, int]:
    """labdeck run ids to primary keys (unknown ids are left out)."""
    wanted = list(dict.fromkeys(uids))
    found: dict[str, int] = {}
    for part in batches(wanted):
        found.update(conn.execute(f"SELECT uid, pk FROM runs WHERE uid IN ({placeholders(part)})", part).fetchall())
    return found


def uids_of(conn: sqlite3.Connection, pks: list[int]) -> dict[int, str]:
    """Primary keys to labdeck run ids (runs gone since are left out)."""
    found: dict[int, str] = {}
    for part in batches(pks):
        found.update(conn.execute(f"SELECT pk, uid FROM runs WHERE pk IN ({placeholders(part)})", part).fetchall())
    return found


def run_folders(conn: sqlite3.Connection, pks: list[int]) -> dict[int, tuple[str, str, str | None]]:
    """(project folder, run path relative to it, absolute artifact folder or None) per run."""
    out: dict[int, tuple[str, str, str | None]] = {}
    for part in batches(pks):
        for pk, project, path, artifacts in conn.execute(
            "SELECT runs.pk, projects.path, runs.path, runs.artifact_dir FROM runs "
            f"JOIN projects ON projects.id = runs.project_id WHERE runs.pk IN ({placeholders(part)})", part
        ):
            out[pk] = (project, path or "", artifacts)
    return out


def provenance_texts(conn: sqlite3.Connection, pks: list[int]) -> dict[int, str]:
    """Each run's recorded provenance as JSON text ('{}' when it has none)."""
    out: dict[int, str] = dict.fromkeys(pks, "{}")
    for part in batches(pks):
        for pk, text in conn.execute(
            f"SELECT run_pk, provenance FROM run_provenance WHERE run_pk IN ({placeholders(part)})", part
        ):
            out[pk] = text or "{}"
    return out


def series_many(
    conn: sqlite3.Connection, pks: list[int], keys: Iterable[str] | None
) -> dict[int, dict[str, Series]]:
    """Every point of metrics ``keys`` (all of them: None) for many runs, in the order logged;
    one query per batch of runs."""
    wanted = None if keys is None else list(keys)
    in_source = series_sources.load(conn, pks, wanted)
    pks = [pk for pk in pks if pk not in in_source]
    grouped: dict[int, dict[str, list[tuple[bytes, bytes, bytes]]]] = defaultdict(lambda: defaultdict(list))
    key_filter = "" if wanted is None else f" AND key IN ({placeholders(wanted)})"
    for part in batches(pks):
        rows = conn.execute(
            f"SELECT run_pk, key, steps, \"values\", walls FROM metric_chunks WHERE run_pk IN ({placeholders(part)})"
            f"{key_filter} ORDER BY run_pk, key, seq", [*part, *(wanted or [])]
        )
        for pk, key, s, v, w in rows:
            grouped[pk][key].append((s, v, w))
    out = {pk: {k: series_codec.unpack(c) for k, c in per.items()} for pk, per in grouped.items()}
    out.update({pk: per for pk, per in in_source.items() if per})
    return out


def series_of(conn: sqlite3.Connection, pk: int, keys: Iterable[str] | None = None) -> dict[str, Series]:
    """Every point of one run's metrics (all, or ``keys``), in the order logged."""
    return series_many(conn, [pk], keys).get(pk, {})


def experiments(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    """(project folder, experiment, live run count) for every named experiment."""
    # Counted by project id in a subquery, which walks the partial index ix_runs_experiments
    # alone (16 ms at 100,000 runs; grouped by path after the join, 116 ms).
    rows = conn.execute(
        "SELECT projects.path, counted.experiment, counted.n FROM ("
        " SELECT project_id, experiment, count(*) AS n FROM runs"
        " WHERE deleted IS 0 AND gone_at IS NULL AND experiment != ''"
        " GROUP BY project_id, experiment) AS counted "
        "JOIN projects ON projects.id = counted.project_id ORDER BY projects.path, counted.experiment"
    )
    return [(path, name, int(count)) for path, name, count in rows]
