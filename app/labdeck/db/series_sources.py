"""Points served from a tool's own store on demand, for runs whose series were not copied.

MLflow's SQLite store already holds every point in a table that SQLite reads fast; copying
2 million of them cost most of a cold index (``scripts/bench_readers.py``). For such runs the
index keeps only the summaries (``metrics`` rows, for the runs table, sorting and filters) and
``runs.series_source`` names the reader that reads the points when something asks for them.

The reader registers its loader here: the index layer cannot import the readers (they sit
above it), and the readers' package registers them on import (``labdeck.runs``).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from labdeck.db.batches import batches, placeholders
from labdeck.errors import UserError

if TYPE_CHECKING:  # the records: not loaded by verbs that read no points
    from labdeck.db.entities import Series

# (the source file, the tool's run ids, metric keys or None for all) ->
#     {run id: {key: Series}}; raises SeriesUnavailable when the store cannot be read.
Loader: TypeAlias = "Callable[[Path, list[str], list[str] | None], dict[str, dict[str, Series]]]"

_loaders: dict[str, Loader] = {}


class SeriesUnavailable(UserError, RuntimeError):
    """The tool's store that holds these points cannot be read now (the message says why)."""


def register(source_format: str, loader: Loader) -> None:
    _loaders[source_format] = loader


def load(
    conn: sqlite3.Connection, pks: Iterable[int], keys: list[str] | None
) -> dict[int, dict[str, Series]]:
    """Points of those runs among ``pks`` whose series stay in their source; others are left out."""
    wanted = list(pks)
    if not wanted:
        return {}
    rows: list[tuple] = []
    for part in batches(wanted):
        rows += conn.execute(
            "SELECT runs.pk, runs.source_id, runs.series_source, sources.path, projects.path FROM runs "
            "JOIN sources ON sources.id = runs.source_pk JOIN projects ON projects.id = runs.project_id "
            f"WHERE runs.pk IN ({placeholders(part)}) AND runs.series_source IS NOT NULL", part
        ).fetchall()
    by_store: dict[tuple[str, Path], list[tuple[int, str]]] = defaultdict(list)
    for pk, source_id, fmt, source_path, project_path in rows:
        by_store[(fmt, Path(project_path) / source_path)].append((pk, source_id))
    out: dict[int, dict[str, Series]] = {}
    for (fmt, path), runs in by_store.items():
        loader = _loaders.get(fmt)
        if loader is None:
            raise SeriesUnavailable(f"no reader serves points from {fmt} stores ({path}): labdeck.runs is not loaded")
        got = loader(path, [source_id for _, source_id in runs], keys)
        for pk, source_id in runs:
            out[pk] = got.get(source_id, {})
    return out
