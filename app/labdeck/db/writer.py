"""Applying what readers found to the catalogue. All index writes of the indexer go here.

The indexer hands over what readers returned (``RunRecord``s, warnings); this module turns them
into batched SQL inside the caller's transaction, so a crash at any point leaves the
previous, consistent state.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast

from sqlalchemy import CursorResult, delete, update
from sqlalchemy.orm import Session

from labdeck.clock import now_ms
from labdeck.db.catalogue_tables import (
    IndexWarning,
    Project,
    Run,
)
from labdeck.db.raw import sqlite_connection
from labdeck.db.series_writer import SeriesWriter

if TYPE_CHECKING:
    import numpy as np

_RUN_DEFAULTS = {
    "experiment": "",
    "name": "",
    "status": "unknown",
    "deleted": False,
    "parent_source_id": None,
    "start_time": None,
    "end_time": None,
    "path": "",
    "artifact_dir": None,
    "series_source": None,
}
_RUN_COLUMNS = set(_RUN_DEFAULTS) | {"updated_at", "gone_at"}


def _json(data: Any) -> str:
    """JSON text for the index; NaN and infinities become strings, as in labdeck's JSON output."""
    return json.dumps(_finite(data), sort_keys=True, ensure_ascii=False)


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return "NaN" if math.isnan(data) else ("Infinity" if data > 0 else "-Infinity")
    if isinstance(data, dict):
        return {str(k): _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data


def run_uid(project_path: str, fmt: str, source_id: str) -> str:
    """A stable public id: the same run gets the same id when its project is re-added."""
    digest = hashlib.sha1(f"{project_path}\0{fmt}\0{source_id}".encode(), usedforsecurity=False).hexdigest()
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
    replace_params: bool
    replace_tags: bool
    replace_series: bool
    artifact_dir: str | None
    inputs: list[dict[str, Any]] | None
    models: list[dict[str, Any]] | None
    summaries: dict[str, dict[str, Any]] | None
    fold_summaries: bool

    # Read-only, so that a reader's own types fit (a property's type may narrow; an attribute's may not).
    @property
    def points(self) -> Mapping[str, PointsLike]: ...

    @property
    def warnings(self) -> Sequence[WarningLike]: ...


class StoredSource(NamedTuple):
    """A source's stored read state. A tuple: a rescan loads one for every source of the
    project, 10,000s, and a frozen dataclass took 1.6 µs to make against 0.6."""

    pk: int
    fingerprint: str
    cursor_json: str  # decoded only for a source that is read: most of a rescan's are unchanged
    gone: bool = False  # a complete pass found it missing; its runs are kept as gone

    @property
    def cursor(self) -> dict[str, Any]:
        return json.loads(self.cursor_json or "{}")


class CatalogueWriter:
    """Index writes for one project, inside one session (one transaction)."""

    def __init__(self, session: Session, project_id: int, project_path: str) -> None:
        self.session = session
        self.project_id = project_id
        self.project_path = project_path
        # The hot per-run statements go straight to sqlite3 inside the session's transaction:
        # SQLAlchemy's statement machinery measured ~0.3 ms per call, 20x the SQL itself.
        self._raw = sqlite_connection(session)
        self._series = SeriesWriter(session, self._raw)

    # Sources -------------------------------------------------------------

    def stored_sources(self) -> dict[tuple[str, str], StoredSource]:
        rows = self._raw.execute(  # the driver's cursor: one row per source, 10,000s on a rescan
            "SELECT format, path, id, fingerprint, cursor, gone_at IS NOT NULL FROM sources WHERE project_id = ?",
            (self.project_id,),
        )
        make = StoredSource._make
        return {(row[0], row[1]): make(row[2:]) for row in rows}

    def upsert_source(self, reader_key: str, rel: str) -> int:
        self._raw.execute(
            "INSERT INTO sources (project_id, format, path, fingerprint, cursor, indexed_at) "
            "VALUES (?, ?, ?, '', '{}', 0) ON CONFLICT (project_id, format, path) DO UPDATE SET gone_at = NULL",
            (self.project_id, reader_key, rel),
        )
        return self._raw.execute(
            "SELECT id FROM sources WHERE project_id = ? AND format = ? AND path = ?",
            (self.project_id, reader_key, rel),
        ).fetchone()[0]

    def source_state_is(self, reader_key: str, rel: str, expected: StoredSource | None) -> bool:
        """Whether the source's stored read position is still ``expected`` (None: never read)."""
        row = self._raw.execute(
            "SELECT fingerprint, cursor FROM sources WHERE project_id = ? AND format = ? AND path = ?",
            (self.project_id, reader_key, rel),
        ).fetchone()
        if row is None or expected is None:
            return row is None or (row[0] == "" and json.loads(row[1] or "{}") == {})
        return row[0] == expected.fingerprint and json.loads(row[1] or "{}") == expected.cursor

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Writes that stand or fall together inside the batch's transaction."""
        if not self._raw.in_transaction:
            self._raw.execute("BEGIN")  # else the savepoint's release would commit the batch so far
        self._raw.execute("SAVEPOINT source_write")
        try:
            yield
        except BaseException:
            self._raw.execute("ROLLBACK TO source_write")
            self._raw.execute("RELEASE source_write")
            raise
        self._raw.execute("RELEASE source_write")

    def save_source_state(self, source_pk: int, fingerprint: str, cursor: dict[str, Any]) -> None:
        self._raw.execute(
            "UPDATE sources SET fingerprint = ?, cursor = ?, indexed_at = ? WHERE id = ?",
            (fingerprint, json.dumps(cursor), now_ms(), source_pk),
        )

    def mark_source_gone(self, source_pk: int) -> None:
        """A complete pass found the source missing. Its runs stay, marked gone, with their
        keys, facts and flags; its state is reset so that files coming back are read afresh."""
        stamp = now_ms()
        self._raw.execute(
            "UPDATE sources SET gone_at = ?, fingerprint = '', cursor = '{}' WHERE id = ?", (stamp, source_pk)
        )
        self._raw.execute("UPDATE runs SET gone_at = ? WHERE source_pk = ? AND gone_at IS NULL", (stamp, source_pk))
        self._raw.execute("DELETE FROM warnings WHERE source_pk = ?", (source_pk,))

    def mark_runs_gone_except(self, source_pk: int, source_ids: set[str]) -> None:
        """A complete read of the source no longer lists these runs (e.g. purged from an
        MLflow store): they are kept, marked gone."""
        existing = self._raw.execute(
            "SELECT pk, source_id FROM runs WHERE source_pk = ? AND gone_at IS NULL", (source_pk,)
        ).fetchall()
        stamp = now_ms()
        self._raw.executemany(
            "UPDATE runs SET gone_at = ? WHERE pk = ?", [(stamp, pk) for pk, sid in existing if sid not in source_ids]
        )

    # Warnings ------------------------------------------------------------

    def clear_warnings(self, source_pk: int, *, transient_only: bool) -> None:
        sql = "DELETE FROM warnings WHERE source_pk = ?" + (" AND transient = 1" if transient_only else "")
        self._raw.execute(sql, (source_pk,))

    def add_warnings(
        self, warnings: Sequence[WarningLike], *, source_pk: int | None, run_pk: int | None = None
    ) -> None:
        if not warnings:
            return
        existing: set[tuple] = set()
        if source_pk is not None:
            existing = set(
                self._raw.execute("SELECT run_pk, code, message FROM warnings WHERE source_pk = ?", (source_pk,))
            )
        rows = []
        stamp = now_ms()
        for w in warnings:
            if (run_pk, w.code, w.message) in existing:
                continue  # the same problem seen again is not a new warning
            existing.add((run_pk, w.code, w.message))
            rows.append((self.project_id, source_pk, run_pk, w.path, w.code, w.message, bool(w.transient), stamp))
        self._raw.executemany(
            "INSERT INTO warnings (project_id, source_pk, run_pk, path, code, message, transient, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def replace_project_warnings(self, warnings: Sequence[WarningLike]) -> None:
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
            self._write_kv("params", run_pk, update_.params, update_.replace_params)
        if update_.tags or update_.replace_tags:
            self._write_kv("tags", run_pk, update_.tags, update_.replace_tags)
        if update_.replace_series:
            self._series.clear(run_pk)
        if update_.points:
            self._series.append_points(run_pk, update_.points, fresh=update_.replace_series)
        if update_.summaries:
            self._series.write_summaries(run_pk, update_.summaries, fold=update_.fold_summaries)
        if update_.inputs is not None:
            self._replace_inputs(run_pk, update_.inputs)
        if update_.models is not None:
            self._replace_models(run_pk, update_.models)
        self.add_warnings(update_.warnings, source_pk=source_pk, run_pk=run_pk)
        return run_pk

    def _replace_inputs(self, run_pk: int, inputs: list[dict[str, Any]]) -> None:
        self._raw.execute("DELETE FROM run_inputs WHERE run_pk = ?", (run_pk,))
        main = ("name", "digest", "source_type", "source", "context")
        self._raw.executemany(
            "INSERT INTO run_inputs (run_pk, name, digest, source_type, source, context, details) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (run_pk, *(str(i.get(k) or "") for k in main), _json({k: v for k, v in i.items() if k not in main}))
                for i in inputs
            ],
        )

    def _replace_models(self, run_pk: int, models: list[dict[str, Any]]) -> None:
        self._raw.execute("DELETE FROM run_models WHERE run_pk = ?", (run_pk,))
        main = ("model_id", "name", "artifact_path", "step", "status")
        self._raw.executemany(
            "INSERT INTO run_models (run_pk, model_id, name, artifact_path, step, status, details) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    run_pk,
                    str(m.get("model_id") or ""),
                    str(m.get("name") or ""),
                    m.get("artifact_path"),
                    m.get("step"),
                    str(m.get("status") or ""),
                    _json({k: v for k, v in m.items() if k not in main}),
                )
                for m in models
            ],
        )

    def replace_registered_models(self, source_pk: int, registered: list[dict[str, Any]]) -> None:
        self._raw.execute("DELETE FROM source_registered_models WHERE source_pk = ?", (source_pk,))
        self._raw.executemany(
            "INSERT INTO source_registered_models (source_pk, name, details) VALUES (?, ?, ?)",
            [(source_pk, str(r.get("name") or ""), _json({k: v for k, v in r.items() if k != "name"}))
             for r in registered],
        )

    def _upsert_run(self, source_pk: int, fmt: str, u: RunChanges) -> int:
        meta = dict(u.meta)
        provenance = _json(meta.pop("provenance")) if "provenance" in meta else None
        if u.artifact_dir is not None:
            meta["artifact_dir"] = u.artifact_dir
        unknown = set(meta) - _RUN_COLUMNS
        if unknown:
            raise ValueError(f"not run columns: {sorted(unknown)}")
        found = self._raw.execute(
            "SELECT pk FROM runs WHERE source_pk = ? AND source_id = ?", (source_pk, u.source_id)
        ).fetchone()
        meta["updated_at"] = now_ms()
        meta["gone_at"] = None  # read now, so there (again)
        if found is None:
            row = dict(_RUN_DEFAULTS)
            row.update(
                source_pk=source_pk,
                uid=self._new_uid(source_pk, fmt, u.source_id),
                project_id=self.project_id,
                format=fmt,
                source_id=u.source_id,
            )
            row.update(meta)
            cols = ", ".join(row)
            marks = ", ".join("?" * len(row))
            cur = self._raw.execute(f"INSERT INTO runs ({cols}) VALUES ({marks})", tuple(row.values()))
            assert cur.lastrowid is not None  # an INSERT's row
            run_pk = cur.lastrowid
        else:
            run_pk = found[0]
            sets = ", ".join(f"{c} = ?" for c in meta)
            self._raw.execute(f"UPDATE runs SET {sets} WHERE pk = ?", (*meta.values(), run_pk))
        if provenance is not None:
            self._write_provenance(run_pk, provenance)
        return run_pk

    def _write_provenance(self, run_pk: int, text: str) -> None:
        """In its own table (migration 0015); an empty record is no row."""
        if text == "{}":
            self._raw.execute("DELETE FROM run_provenance WHERE run_pk = ?", (run_pk,))
            return
        self._raw.execute(
            "INSERT INTO run_provenance (run_pk, provenance) VALUES (?, ?) "
            "ON CONFLICT (run_pk) DO UPDATE SET provenance = excluded.provenance",
            (run_pk, text),
        )

    def _new_uid(self, source_pk: int, fmt: str, source_id: str) -> str:
        """(project, format, tool run id) hashed, as always; a second source holding the same
        tool run id (a copied store) gets its source's path hashed in too. Stored, never
        recomputed: a run keeps its id for ever."""
        uid = run_uid(self.project_path, fmt, source_id)
        if self._raw.execute("SELECT 1 FROM runs WHERE uid = ?", (uid,)).fetchone() is None:
            return uid
        (rel,) = self._raw.execute("SELECT path FROM sources WHERE id = ?", (source_pk,)).fetchone()
        return run_uid(self.project_path, fmt, f"{rel}\0{source_id}")

    def _write_kv(self, table: str, run_pk: int, values: dict[str, str], replace: bool) -> None:
        if replace:
            self._raw.execute(f"DELETE FROM {table} WHERE run_pk = ?", (run_pk,))
        if not values:
            return
        if table == "params":
            self._raw.executemany(
                "INSERT INTO params (run_pk, key, value, value_num) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (run_pk, key) DO UPDATE SET value = excluded.value, value_num = excluded.value_num",
                [(run_pk, k, v, as_number(v)) for k, v in values.items()],
            )
        else:
            self._raw.executemany(
                "INSERT INTO tags (run_pk, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (run_pk, key) DO UPDATE SET value = excluded.value",
                [(run_pk, k, v) for k, v in values.items()],
            )


def touch_project(session: Session, project_id: int) -> None:
    session.execute(update(Project).where(Project.id == project_id).values(scanned_at=now_ms()))


def set_runs_hidden(session: Session, run_pks: list[int], hidden: bool) -> int:
    """Hide runs from labdeck's lists, or show them again; returns how many changed."""
    result = session.execute(update(Run).where(Run.pk.in_(run_pks), Run.hidden.is_not(hidden)).values(hidden=hidden))
    return cast(CursorResult, result).rowcount
