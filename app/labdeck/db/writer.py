"""Applying what readers found to the catalogue. All index writes of the indexer go here.

The indexer hands over what readers returned (``RunRecord``s, warnings); this module turns them
into batched SQL inside the caller's transaction, so a crash at any point leaves the
previous, consistent state.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session

from labdeck.db import series as series_codec
from labdeck.db.models import (
    IndexWarning,
    MetricChunk,
    MetricSummary,
    Param,
    Project,
    Run,
    Source,
    Tag,
)

# A series whose chunk count passes this is merged into one chunk (live runs append often).
COMPACT_AFTER = 32


def now_ms() -> int:
    return int(time.time() * 1000)


def run_uid(project_path: str, fmt: str, source_id: str) -> str:
    """A stable public id: the same run gets the same id when its project is re-added."""
    digest = hashlib.sha1(f"{project_path}\0{fmt}\0{source_id}".encode()).hexdigest()
    return digest[:12]


def as_number(value: str) -> float | None:
    """The number a param value reads as, for numeric comparisons (None if it is not one)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


class WarningLike(Protocol):
    code: str
    message: str
    path: str
    transient: bool


class PointsLike(Protocol):
    steps: np.ndarray
    values: np.ndarray
    walls: np.ndarray


class RunChanges(Protocol):
    """What the indexer writes for one run: ``labdeck.runs.readers.base.RunRecord`` fits."""

    source_id: str
    meta: dict[str, Any]
    params: dict[str, str]
    tags: dict[str, str]
    points: dict[str, PointsLike]
    replace_params: bool
    replace_tags: bool
    replace_series: bool
    warnings: list[WarningLike]
    artifact_dir: str | None


@dataclass(frozen=True)
class StoredSource:
    pk: int
    fingerprint: str
    cursor: dict[str, Any]


class CatalogueWriter:
    """Index writes for one project, inside one session (one transaction)."""

    def __init__(self, session: Session, project_id: int, project_path: str) -> None:
        self.session = session
        self.project_id = project_id
        self.project_path = project_path

    # Sources -------------------------------------------------------------

    def stored_sources(self) -> dict[tuple[str, str], StoredSource]:
        rows = self.session.execute(
            select(Source.id, Source.format, Source.path, Source.fingerprint, Source.cursor).where(
                Source.project_id == self.project_id
            )
        )
        return {
            (fmt, path): StoredSource(pk, fp, json.loads(cur or "{}"))
            for pk, fmt, path, fp, cur in rows
        }

    def upsert_source(self, fmt: str, rel: str) -> int:
        stmt = (
            insert(Source)
            .values(project_id=self.project_id, format=fmt, path=rel, fingerprint="", cursor="{}", indexed_at=0)
            .on_conflict_do_nothing()
        )
        self.session.execute(stmt)
        return self.session.execute(
            select(Source.id).where(
                Source.project_id == self.project_id, Source.format == fmt, Source.path == rel
            )
        ).scalar_one()

    def save_source_state(self, source_pk: int, fingerprint: str, cursor: dict[str, Any]) -> None:
        self.session.execute(
            update(Source)
            .where(Source.id == source_pk)
            .values(fingerprint=fingerprint, cursor=json.dumps(cursor), indexed_at=now_ms())
        )

    def forget_source(self, source_pk: int) -> None:
        """The source is gone from disk: its runs leave the index (cascades)."""
        self.session.execute(delete(Source).where(Source.id == source_pk))

    def drop_runs_not_in(self, source_pk: int, source_ids: set[str]) -> None:
        existing = self.session.execute(
            select(Run.pk, Run.source_id).where(Run.source_pk == source_pk)
        ).all()
        gone = [pk for pk, sid in existing if sid not in source_ids]
        if gone:
            self.session.execute(delete(Run).where(Run.pk.in_(gone)))

    # Warnings ------------------------------------------------------------

    def clear_warnings(self, source_pk: int, *, transient_only: bool) -> None:
        stmt = delete(IndexWarning).where(IndexWarning.source_pk == source_pk)
        if transient_only:
            stmt = stmt.where(IndexWarning.transient.is_(True))
        self.session.execute(stmt)

    def add_warnings(
        self, warnings: list[WarningLike], *, source_pk: int | None, run_pk: int | None = None
    ) -> None:
        if not warnings:
            return
        existing = set()
        if source_pk is not None:
            existing = set(
                self.session.execute(
                    select(IndexWarning.run_pk, IndexWarning.code, IndexWarning.message).where(
                        IndexWarning.source_pk == source_pk
                    )
                ).all()
            )
        rows = []
        stamp = now_ms()
        for w in warnings:
            if (run_pk, w.code, w.message) in existing:
                continue  # the same problem seen again is not a new warning
            existing.add((run_pk, w.code, w.message))
            rows.append(
                dict(
                    project_id=self.project_id,
                    source_pk=source_pk,
                    run_pk=run_pk,
                    path=w.path,
                    code=w.code,
                    message=w.message,
                    transient=w.transient,
                    created_at=stamp,
                )
            )
        if rows:
            self.session.execute(insert(IndexWarning), rows)

    def replace_project_warnings(self, warnings: list[WarningLike]) -> None:
        """Warnings of the walk itself (unreadable folders, symlink loops): current state only."""
        self.session.execute(
            delete(IndexWarning).where(
                IndexWarning.project_id == self.project_id, IndexWarning.source_pk.is_(None)
            )
        )
        self.add_warnings(warnings, source_pk=None)

    # Runs ----------------------------------------------------------------

    def apply_run(self, source_pk: int, fmt: str, update_: RunChanges) -> int:
        run_pk = self._upsert_run(source_pk, fmt, update_)
        if update_.params or update_.replace_params:
            self._write_kv(Param, run_pk, update_.params, update_.replace_params, numeric=True)
        if update_.tags or update_.replace_tags:
            self._write_kv(Tag, run_pk, update_.tags, update_.replace_tags, numeric=False)
        if update_.replace_series:
            self.session.execute(delete(MetricChunk).where(MetricChunk.run_pk == run_pk))
            self.session.execute(delete(MetricSummary).where(MetricSummary.run_pk == run_pk))
        if update_.points:
            self._append_points(run_pk, update_.points, fresh=update_.replace_series)
        self.add_warnings(update_.warnings, source_pk=source_pk, run_pk=run_pk)
        return run_pk

    def _upsert_run(self, source_pk: int, fmt: str, u: RunChanges) -> int:
        meta = dict(u.meta)
        if "provenance" in meta:
            meta["provenance"] = json.dumps(meta["provenance"], sort_keys=True)
        if u.artifact_dir is not None:
            meta["artifact_dir"] = u.artifact_dir
        found = self.session.execute(
            select(Run.pk).where(
                Run.project_id == self.project_id, Run.format == fmt, Run.source_id == u.source_id
            )
        ).scalar_one_or_none()
        stamp = now_ms()
        if found is None:
            row = dict(
                uid=run_uid(self.project_path, fmt, u.source_id),
                project_id=self.project_id,
                source_pk=source_pk,
                format=fmt,
                source_id=u.source_id,
                experiment="",
                name="",
                status="unknown",
                deleted=False,
                parent_source_id=None,
                start_time=None,
                end_time=None,
                path="",
                updated_at=stamp,
            )
            row.update(meta)
            return self.session.execute(insert(Run).values(**row).returning(Run.pk)).scalar_one()
        self.session.execute(
            update(Run).where(Run.pk == found).values(source_pk=source_pk, updated_at=stamp, **meta)
        )
        return found

    def _write_kv(self, model, run_pk: int, values: dict[str, str], replace: bool, *, numeric: bool) -> None:
        if replace:
            self.session.execute(delete(model).where(model.run_pk == run_pk))
        if not values:
            return
        rows = []
        for key, value in values.items():
            row = {"run_pk": run_pk, "key": key, "value": value}
            if numeric:
                row["value_num"] = as_number(value)
            rows.append(row)
        stmt = insert(model)
        set_ = {"value": stmt.excluded.value}
        if numeric:
            set_["value_num"] = stmt.excluded.value_num
        self.session.execute(stmt.on_conflict_do_update(index_elements=["run_pk", "key"], set_=set_), rows)

    def _append_points(self, run_pk: int, points: dict, *, fresh: bool) -> None:
        previous: dict[str, dict] = {}
        next_seq: dict[str, int] = {}
        if not fresh:
            for row in self.session.execute(
                select(MetricSummary).where(MetricSummary.run_pk == run_pk)
            ).scalars():
                previous[row.key] = {
                    "last": row.last,
                    "min": row.min,
                    "max": row.max,
                    "count": row.count,
                    "last_step": row.last_step,
                    "last_wall": row.last_wall,
                }
            for key, max_seq, n in self.session.execute(
                select(MetricChunk.key, func.max(MetricChunk.seq), func.count())
                .where(MetricChunk.run_pk == run_pk)
                .group_by(MetricChunk.key)
            ):
                next_seq[key] = (max_seq + 1, n)
        chunk_rows, summary_rows, to_compact = [], [], []
        for key, p in points.items():
            steps, values, walls = p.steps, p.values, p.walls
            if len(steps) == 0:
                continue
            seq, n_chunks = next_seq.get(key, (0, 0))
            s, v, w = series_codec.pack(steps, values, walls)
            chunk_rows.append(
                dict(run_pk=run_pk, key=key, seq=seq, count=len(steps), steps=s, values=v, walls=w)
            )
            summary = series_codec.summarise(steps, values, walls, previous.get(key))
            summary_rows.append(dict(run_pk=run_pk, key=key, **summary))
            if n_chunks + 1 > COMPACT_AFTER:
                to_compact.append(key)
        if chunk_rows:
            self.session.execute(insert(MetricChunk), chunk_rows)
        if summary_rows:
            stmt = insert(MetricSummary)
            cols = ("last", "min", "max", "count", "last_step", "last_wall")
            self.session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_pk", "key"], set_={c: getattr(stmt.excluded, c) for c in cols}
                ),
                summary_rows,
            )
        for key in to_compact:
            self._compact(run_pk, key)

    def _compact(self, run_pk: int, key: str) -> None:
        chunks = self.session.execute(
            select(MetricChunk.steps, MetricChunk.values, MetricChunk.walls)
            .where(MetricChunk.run_pk == run_pk, MetricChunk.key == key)
            .order_by(MetricChunk.seq)
        ).all()
        merged = series_codec.unpack([tuple(c) for c in chunks])
        self.session.execute(
            delete(MetricChunk).where(MetricChunk.run_pk == run_pk, MetricChunk.key == key)
        )
        s, v, w = series_codec.pack(merged.steps, merged.values, merged.walls)
        self.session.execute(
            insert(MetricChunk).values(
                run_pk=run_pk, key=key, seq=0, count=len(merged), steps=s, values=v, walls=w
            )
        )


def touch_project(session: Session, project_id: int) -> None:
    session.execute(update(Project).where(Project.id == project_id).values(scanned_at=now_ms()))
