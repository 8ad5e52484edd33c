"""MLflow's SQLite tracking store (``mlflow.db``, MLflow's default backend since 3.7).

Reads the tables MLflow's SQLAlchemy store writes through a read-only connection; mlflow
itself is never imported. Metric rows are only ever appended (MLflow deletes them only with
their run), so a read on fetches the rows whose rowid is past the cursor; the small tables
(runs, params, tags, inputs, models, registry) are re-read whole and only runs whose rows
changed are reported. Series are not copied: the index keeps their summaries, computed by
SQLite (``_mlflow_sqlite_summaries``), and reads the points from the store when something
asks for them (``load_points``). Measured on 200 runs x 10 metrics x 1,000 steps, copying
was most of the cold index; see the README's benchmark section.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from labdeck.runs.readers._mlflow_artifacts import (
    ARTIFACT_ROOT,
    resolve_db_store_artifacts,
)
from labdeck.runs.readers._mlflow_sqlite_snapshot import Snapshot, take_snapshot
from labdeck.runs.readers._mlflow_sqlite_store import (
    DB_NAME,
    StoreError,
    as_text,
    as_warning,
    connect,
    decode_text,
    is_mlflow_db,
    ms,
)
from labdeck.runs.readers._mlflow_sqlite_summaries import summarise
from labdeck.runs.readers._sqlite_salvage import salvage
from labdeck.runs.readers.base import (
    Detection,
    Reader,
    ReadResult,
    ReadWarning,
    RunRecord,
    SourceRef,
    stat_fingerprint,
)

STATUSES = {"RUNNING": "running", "FINISHED": "finished", "FAILED": "failed",
            "KILLED": "killed", "SCHEDULED": "scheduled"}
CURSOR_VERSION = 2  # 2: series stay in the store (a version-1 cursor means a full re-read)
SOURCE_KEY = __name__.rpartition(".")[2]  # the reader's key, which serves the points on demand


def _artifacts_only(folder: Path) -> bool:
    """An ``mlruns`` folder with no ``meta.yaml`` (and no .trash) is artifacts, not a file store."""
    try:
        with os.scandir(folder) as entries:
            subdirs = []
            for entry in entries:
                if entry.name in ("meta.yaml", ".trash"):
                    return False
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.path)
    except OSError:
        return False
    return not any(os.path.exists(os.path.join(d, "meta.yaml")) for d in subdirs)


# Runs ---------------------------------------------------------------------------------------


def _digest(*parts: Any) -> str:
    return hashlib.blake2b(repr(parts).encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def run_digest(run: dict[str, Any], snap: Snapshot) -> str:
    rid: Any = run.get("run_uuid")
    return _digest(
        sorted(run.items()), snap.experiments.get(as_text(run.get("experiment_id"))),
        sorted(snap.tags.get(rid, {}).items()), sorted(snap.params.get(rid, {}).items()),
        snap.inputs.get(rid), [(m["model_id"], m["status"], m["tags"], m["metrics"], m["params"])
                               for m in snap.models.get(rid, [])],
    )


def run_record(run: dict[str, Any], snap: Snapshot, source: SourceRef) -> RunRecord:
    """Everything about one run but its points (which the caller adds)."""
    rid = run["run_uuid"]
    tags = snap.tags.get(rid, {})
    experiment, experiment_deleted = snap.experiments.get(
        as_text(run.get("experiment_id")), ("", False))
    word: Any = run.get("status")
    warnings = []
    if word not in STATUSES:
        warnings.append(ReadWarning(
            "unknown-status", f"run {rid} in {source.rel} has status {word!r}", source.rel))
    meta = {
        "experiment": experiment,
        "name": as_text(run.get("name") or tags.get("mlflow.runName")),
        "status": STATUSES.get(word, "unknown"),
        "deleted": run.get("lifecycle_stage") == "deleted" or experiment_deleted,
        "parent_source_id": tags.get("mlflow.parentRunId") or None,
        "start_time": ms(run.get("start_time")),
        "end_time": ms(run.get("end_time")),
        "path": source.rel,
        "series_source": SOURCE_KEY,
    }
    return RunRecord(
        rid, meta=meta, params=dict(snap.params.get(rid, {})), tags=dict(tags),
        replace_params=True, replace_tags=True, warnings=warnings,
        artifact_dir=resolve_db_store_artifacts(run.get("artifact_uri"), source.path.parent),
        inputs=snap.inputs.get(rid, []), models=snap.models.get(rid, []),
    )


# The reader ---------------------------------------------------------------------------------


class MlflowSqliteReader(Reader):
    format = "mlflow"

    def detect(self, folder: Path, names: frozenset[str], rel: str) -> Detection | None:
        if DB_NAME not in names or not is_mlflow_db(folder / DB_NAME):
            return None
        prune: frozenset[str] = frozenset()
        if ARTIFACT_ROOT in names and _artifacts_only(folder / ARTIFACT_ROOT):
            prune = frozenset({ARTIFACT_ROOT})  # artifacts are the runs' files, not new runs
        source_rel = f"{rel}/{DB_NAME}" if rel else DB_NAME
        source = SourceRef(self.format, folder / DB_NAME, source_rel)
        return Detection(sources=[source], prune=prune)

    def fingerprint(self, source: SourceRef) -> str:
        return stat_fingerprint([source.path, Path(f"{source.path}-wal")])

    def read_on(self, source: SourceRef, cursor: dict[str, Any] | None) -> ReadResult:
        for _attempt in range(3):
            before = _file_state(source.path)
            try:
                result, immutable = self._attempt(source, _usable(cursor))
            except StoreError as exc:
                return self._failed(source, cursor, exc.warning)
            except sqlite3.Error as exc:
                warning = as_warning(exc, source.path)
                if warning.code == "corrupt-db":
                    return self._salvaged(source, cursor, warning)
                return self._failed(source, cursor, warning)
            except UnicodeDecodeError as exc:  # SQLite's own message quoting damaged bytes
                return self._salvaged(source, cursor, ReadWarning(
                    "corrupt-db", f"{source.rel} is damaged: {type(exc).__name__}: {exc}"))
            except (ValueError, TypeError, KeyError) as exc:  # values no MLflow would write
                return self._failed(source, cursor, ReadWarning(
                    "read-error",
                    f"{source.rel} holds unexpected data: {type(exc).__name__}: {exc}"))
            # An immutable open takes no locks: trust it only if no writer came meanwhile.
            if not immutable or _file_state(source.path) == before:
                damaged = [w for r in result.runs for w in r.warnings if w.code == "unreadable-metrics"]
                if damaged:  # damaged metric pages: the rows around them are still there
                    return self._salvaged(source, cursor, ReadWarning("corrupt-db", damaged[0].message))
                return result
        return self._failed(source, cursor, ReadWarning(
            "db-changed-during-read", f"{source.rel} kept changing while it was read",
            transient=True))

    def _attempt(self, source: SourceRef, cursor: dict | None) -> tuple[ReadResult, bool]:
        con, immutable = connect(source.path)
        try:
            result = self._read(con, source, cursor)
        finally:
            con.close()
        if immutable and os.path.exists(f"{source.path}-wal"):
            result.warnings.append(ReadWarning(
                "wal-not-read",
                f"{source.rel}-wal has no -shm beside it: its commits were not read",
                source.rel, transient=True))
        return result, immutable

    def _salvaged(self, source: SourceRef, cursor: dict | None, warning: ReadWarning) -> ReadResult:
        """A damaged store: read every row SQLite still returns (``_sqlite_salvage``), from
        a clean copy in a temporary folder. Runs it no longer returns are kept in the index
        (the result is not ``complete``), and the next change reads from the start again."""
        with tempfile.TemporaryDirectory(prefix="labdeck-salvage-") as tmp:
            copy = Path(tmp) / DB_NAME
            try:
                con, _immutable = connect(source.path)
                try:
                    report = salvage(con, copy)
                finally:
                    con.close()
                salvaged = sqlite3.connect(copy, isolation_level=None)
                salvaged.text_factory = decode_text
                try:
                    result = self._read(salvaged, source, None)
                finally:
                    salvaged.close()
            except (StoreError, sqlite3.Error, ValueError, TypeError, KeyError):
                return self._failed(source, cursor, warning)
        for run in result.runs:
            run.warnings = [w for w in run.warnings if w.code != "unreadable-metrics"]
        result.complete = False
        result.cursor = {"v": 0}  # not a cursor of this reader's: the next read starts over
        result.warnings.append(ReadWarning(
            "corrupt-db", f"{source.rel} is damaged ({warning.message}); indexed every row SQLite "
            f"still returns; lost: {report.describe()}", source.rel))
        return result

    def _failed(self, source: SourceRef, cursor: dict | None, warning: ReadWarning) -> ReadResult:
        """Nothing read: keep the cursor, so the next read goes on from the same place."""
        warning.path = source.rel
        if source.rel not in warning.message:
            warning.message = f"{source.rel}: {warning.message}"
        return ReadResult(runs=[], cursor=dict(cursor or {}), warnings=[warning])

    def _read(self, con: sqlite3.Connection, source: SourceRef, cursor: dict | None) -> ReadResult:
        lo = cursor["rowid"] if cursor else 0
        snap = take_snapshot(con, source.path.parent, lo)
        digests = {r["run_uuid"]: run_digest(r, snap) for r in snap.runs}
        registry_digest = _digest(snap.registry)
        new_cursor = {"v": CURSOR_VERSION, "rowid": snap.max_rowid, "tail": snap.tail,
                      "runs": digests, "registry": registry_digest}
        if cursor is None or not _cursor_holds(cursor, snap, digests):
            return self._full(con, source, snap, new_cursor)
        new_runs = [rid for (rid,) in con.execute(
            "SELECT DISTINCT run_uuid FROM metrics NOT INDEXED WHERE rowid > ? AND rowid <= ?",
            (lo, snap.max_rowid))]
        # Summaries of the new rows only; the index folds them into what it holds.
        summaries, warnings, new_points = summarise(con, lo, snap.max_rowid, new_runs, source.rel)
        known = cursor["runs"]
        records = []
        for run in snap.runs:
            rid = run["run_uuid"]
            if known.get(rid) != digests[rid]:
                record = run_record(run, snap, source)
            elif rid in summaries or rid in warnings:
                record = RunRecord(rid, meta={"series_source": SOURCE_KEY})
            else:
                continue
            record.summaries = summaries.get(rid)
            record.fold_summaries = True
            record.warnings += warnings.get(rid, [])
            records.append(record)
        changed = cursor.get("registry") != registry_digest
        return ReadResult(records, new_cursor, registered_models=snap.registry if changed else None,
                          points_in_source=new_points)

    def _full(
        self, con: sqlite3.Connection, source: SourceRef, snap: Snapshot, cursor: dict
    ) -> ReadResult:
        ids = [r["run_uuid"] for r in snap.runs]
        summaries, warnings, points = summarise(con, 0, snap.max_rowid, ids, source.rel)
        records = []
        for run in snap.runs:
            record = run_record(run, snap, source)
            record.summaries = summaries.get(record.source_id, {})
            record.warnings += warnings.get(record.source_id, [])
            if any(w.code == "unreadable-metrics" for w in record.warnings):
                record.summaries = None  # what was indexed stays rather than being wiped
            else:
                record.replace_series = True
            records.append(record)
        return ReadResult(records, cursor, complete=True, registered_models=snap.registry,
                          points_in_source=points)


def _usable(cursor: dict[str, Any] | None) -> dict[str, Any] | None:
    """The cursor if it is one this reader wrote, else None (read from the start)."""
    if not isinstance(cursor, dict) or cursor.get("v") != CURSOR_VERSION:
        return None
    if type(cursor.get("rowid")) is not int or not isinstance(cursor.get("runs"), dict):
        return None
    return cursor


def _cursor_holds(cursor: dict[str, Any], snap: Snapshot, digests: dict[str, str]) -> bool:
    """Reading on is sound only if no run vanished (MLflow's gc) and the metric rows were
    not renumbered (VACUUM, a replaced file): the row the cursor ended on is still there."""
    lo = cursor["rowid"]
    if lo > snap.max_rowid or not all(rid in digests for rid in cursor["runs"]):
        return False
    return lo == 0 or snap.row_at_cursor == cursor.get("tail")


def _file_state(db: Path) -> tuple:
    try:
        st = os.stat(db)
    except OSError:
        return ()
    return st.st_size, st.st_mtime_ns, os.path.exists(f"{db}-wal")


READER = MlflowSqliteReader()
