"""Writing a run's series into the index: packed point chunks and their summaries.

Part of ``CatalogueWriter``'s transaction (it hands over its session and raw connection).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session

from labdeck.db import series as series_codec
from labdeck.db.catalogue_tables import MetricChunk

# A series whose chunk count passes this is merged into one chunk (live runs append often).
COMPACT_AFTER = 32


class SeriesWriter:
    def __init__(self, session: Session, raw: sqlite3.Connection) -> None:
        self.session = session
        self._raw = raw

    def clear(self, run_pk: int) -> None:
        self._raw.execute("DELETE FROM metric_chunks WHERE run_pk = ?", (run_pk,))
        self._raw.execute("DELETE FROM metrics WHERE run_pk = ?", (run_pk,))

    def append_points(self, run_pk: int, points: Mapping, *, fresh: bool) -> None:
        previous: dict[str, dict] = {}
        next_seq: dict[str, tuple[int, int]] = {}
        if not fresh:
            previous = self._summaries(run_pk)
            for key, max_seq, n in self._raw.execute(
                "SELECT key, max(seq), count(*) FROM metric_chunks WHERE run_pk = ? GROUP BY key", (run_pk,)
            ):
                next_seq[key] = (max_seq + 1, n)
        chunk_rows, summary_rows, to_compact = [], [], []
        for key, p in points.items():
            steps, values, walls = p.steps, p.values, p.walls
            if len(steps) == 0:
                continue
            seq, n_chunks = next_seq.get(key, (0, 0))
            chunk_rows.append((run_pk, key, seq, len(steps), *series_codec.pack(steps, values, walls)))
            sm = series_codec.summarise(steps, values, walls, previous.get(key))
            summary_rows.append(
                (run_pk, key, sm["last"], sm["min"], sm["max"], sm["count"], sm["last_step"], sm["last_wall"])
            )
            if n_chunks + 1 > COMPACT_AFTER:
                to_compact.append(key)
        if chunk_rows:
            self._raw.executemany(
                'INSERT INTO metric_chunks (run_pk, key, seq, count, steps, "values", walls) '
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                chunk_rows,
            )
        self._upsert_summaries(summary_rows)
        for key in to_compact:
            self._compact(run_pk, key)

    def _upsert_summaries(self, rows: list[tuple]) -> None:
        if rows:
            self._raw.executemany(
                "INSERT INTO metrics (run_pk, key, last, min, max, count, last_step, last_wall) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_pk, key) DO UPDATE SET "
                "last = excluded.last, min = excluded.min, max = excluded.max, count = excluded.count, "
                "last_step = excluded.last_step, last_wall = excluded.last_wall",
                rows,
            )

    def write_summaries(self, run_pk: int, summaries: dict[str, dict[str, Any]], *, fold: bool) -> None:
        """Summaries of series whose points stay in the source (the reader computed them);
        with ``fold`` they cover only new points and are merged into the stored ones."""
        previous = self._summaries(run_pk) if fold else {}
        rows = []
        for key, s in summaries.items():
            if key in previous:
                s = series_codec.merge(previous[key], s)
            rows.append((run_pk, key, s["last"], s["min"], s["max"], s["count"], s["last_step"], s["last_wall"]))
        self._upsert_summaries(rows)

    def _summaries(self, run_pk: int) -> dict[str, dict]:
        return {
            key: {"last": last, "min": min_, "max": max_, "count": count, "last_step": last_step,
                  "last_wall": last_wall}
            for key, last, min_, max_, count, last_step, last_wall in self._raw.execute(
                "SELECT key, last, min, max, count, last_step, last_wall FROM metrics WHERE run_pk = ?", (run_pk,)
            )
        }

    def _compact(self, run_pk: int, key: str) -> None:
        chunks = self.session.execute(
            select(MetricChunk.steps, MetricChunk.values, MetricChunk.walls)
            .where(MetricChunk.run_pk == run_pk, MetricChunk.key == key)
            .order_by(MetricChunk.seq)
        ).all()
        merged = series_codec.unpack([(c[0], c[1], c[2]) for c in chunks])
        self.session.execute(
            delete(MetricChunk).where(MetricChunk.run_pk == run_pk, MetricChunk.key == key)
        )
        s, v, w = series_codec.pack(merged.steps, merged.values, merged.walls)
        self.session.execute(
            insert(MetricChunk).values(
                run_pk=run_pk, key=key, seq=0, count=len(merged), steps=s, values=v, walls=w
            )
        )
