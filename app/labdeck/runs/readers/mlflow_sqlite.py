"""MLflow's SQLite tracking store (``mlflow.db``, MLflow's default backend since 3.7).

Reads the tables MLflow's SQLAlchemy store writes through a read-only connection; mlflow
itself is never imported. Metric rows are only ever appended (MLflow deletes them only with
their run), so a read on fetches the rows whose rowid is past the cursor; the small tables
(runs, params, tags, inputs, models, registry) are re-read whole and only runs whose rows
changed are reported. Series are copied into the index (one code path for every format):
measured, the copy costs what a plain select of the same rows costs.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

import numpy as np
import pandas as pd

from labdeck.runs.readers.base import (
    Detection,
    Points,
    Reader,
    ReadResult,
    ReadWarning,
    RunRecord,
    SourceRef,
    stat_fingerprint,
)

DB_NAME = "mlflow.db"
ARTIFACT_ROOT = "mlruns"  # MLflow's default artifact root, next to mlflow.db
SQLITE_MAGIC = b"SQLite format 3\x00"
CORE_TABLES = frozenset({"experiments", "runs", "metrics", "params", "tags"})
DBL_MAX = float(np.finfo(np.float64).max)  # MLflow stores ±inf as ±DBL_MAX
STATUSES = {"RUNNING": "running", "FINISHED": "finished", "FAILED": "failed",
            "KILLED": "killed", "SCHEDULED": "scheduled"}
MODEL_STATUSES = {0: "UNSPECIFIED", 1: "PENDING", 2: "READY", 3: "FAILED"}  # proto enum ints
DELETED_VERSION_STAGE = "Deleted_Internal"  # soft-deleted model versions MLflow hides
CHUNK_ROWS = 200_000  # metric rows per statement: each read lock stays well under a second
BUSY_TIMEOUT_S = 2.0
CURSOR_VERSION = 1
_ROW = np.dtype([("k", "O"), ("s", "i8"), ("v", "f8"), ("t", "f8")])
_SERIES_SQL = (
    "SELECT key, step, CASE WHEN is_nan THEN NULL ELSE value END, timestamp FROM metrics"
    " WHERE run_uuid = ? AND rowid > ? AND rowid <= ? ORDER BY rowid"
)
# The rowid CHUNK_ROWS rows further on (index-only): where the next chunk starts.
_BOUNDARY_SQL = (
    "SELECT rowid FROM metrics WHERE run_uuid = ? AND rowid > ? AND rowid <= ?"
    " ORDER BY rowid LIMIT 1 OFFSET ?"
)


class StoreError(Exception):
    def __init__(self, code: str, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.warning = ReadWarning(code, message, transient=transient)


# Opening ------------------------------------------------------------------------------------


def _header(db: Path) -> bytes:
    with open(db, "rb") as fh:
        return fh.read(100)


def connect(db: Path) -> tuple[sqlite3.Connection, bool]:
    """A read-only connection and whether it is ``immutable``.

    A WAL database opened ``mode=ro`` creates ``-wal``/``-shm`` next to it when they are
    missing (and cannot delete them again), so then it is opened ``immutable``: with no
    ``-wal`` the main file holds every commit, and no writer is attached."""
    try:
        if not db.is_file():
            raise StoreError("unreadable-file", f"{db.name} is not a regular file")
        header = _header(db)
    except OSError as exc:
        raise StoreError("unreadable-file", f"cannot read {db.name}: {exc.strerror}") from exc
    if not header.startswith(SQLITE_MAGIC):
        raise StoreError("not-sqlite", f"{db.name} is not an SQLite database (bad header)")
    wal_mode = len(header) >= 20 and 2 in (header[18], header[19])
    wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
    immutable = wal_mode and not (wal.exists() and shm.exists())
    path = urllib.parse.quote(db.as_posix(), safe="/:")
    uri = f"file:{path}?mode=ro" + ("&immutable=1" if immutable else "")
    con = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    con.execute("PRAGMA temp_store = MEMORY")  # this connection only: no temp files
    return con, immutable


def _as_warning(exc: sqlite3.Error, db: Path) -> ReadWarning:
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return ReadWarning("db-busy", f"{db.name} is locked by a writer: {text}", transient=True)
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return ReadWarning("corrupt-db", f"{db.name} is damaged: {text}")
    if "unable to open" in low or "disk i/o" in low:
        return ReadWarning("unreadable-file", f"cannot read {db.name}: {text}")
    if "no such" in low:
        return ReadWarning("unsupported-schema", f"{db.name} lacks what MLflow writes: {text}")
    return ReadWarning("read-error", f"reading {db.name} failed: {text}")


def _tables(con: sqlite3.Connection) -> set[str]:
    return {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def is_mlflow_db(db: Path) -> bool:
    """An SQLite file with MLflow's tables; one we cannot open yet is claimed (read_on warns)."""
    if not db.is_file():
        return False
    try:
        con, _ = connect(db)
    except StoreError as exc:
        return exc.warning.code == "unreadable-file"
    except sqlite3.Error:
        return True
    try:
        return CORE_TABLES <= _tables(con)
    except sqlite3.Error:
        return True
    finally:
        con.close()


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


# The small tables ---------------------------------------------------------------------------


@dataclass
class Snapshot:
    """The small tables, read in one short transaction, and where the metrics table ends."""

    experiments: dict[str, tuple[str, bool]] = field(default_factory=dict)  # id -> name, deleted
    runs: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, dict[str, str]] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    inputs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    models: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by producing run
    registry: list[dict[str, Any]] = field(default_factory=list)
    max_rowid: int = 0
    tail: list[Any] | None = None  # identity of the row at max_rowid
    row_at_cursor: list[Any] | None = None


def _text(value: Any) -> str:
    return value if type(value) is str else ("" if value is None else str(value))


def _ms(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and value == value else None


def _rows(con: sqlite3.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    cur = con.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _kv(con: sqlite3.Connection, sql: str) -> dict[Any, dict[str, str]]:
    out: dict[Any, dict[str, str]] = {}
    for owner, key, value in con.execute(sql):
        out.setdefault(owner, {})[_text(key)] = _text(value)
    return out


def _tail(con: sqlite3.Connection, rowid: int) -> list[Any] | None:
    row = con.execute(
        "SELECT run_uuid, key, step, timestamp FROM metrics WHERE rowid = ?", (rowid,)
    ).fetchone()
    return list(row) if row else None


def take_snapshot(con: sqlite3.Connection, base: Path, cursor_rowid: int) -> Snapshot:
    snap = Snapshot()
    con.execute("BEGIN")
    try:
        tables = _tables(con)
        missing = CORE_TABLES - tables
        if missing:
            raise StoreError(
                "not-mlflow-store", f"{DB_NAME} has no MLflow table(s) {sorted(missing)}")
        for e in _rows(con, "SELECT * FROM experiments"):
            snap.experiments[_text(e.get("experiment_id"))] = (
                _text(e.get("name")), e.get("lifecycle_stage") == "deleted")
        snap.runs = _rows(con, "SELECT * FROM runs")
        snap.params = _kv(con, "SELECT run_uuid, key, value FROM params")
        snap.tags = _kv(con, "SELECT run_uuid, key, value FROM tags")
        if {"inputs", "input_tags", "datasets"} <= tables:
            snap.inputs = _dataset_inputs(con)
        if "logged_models" in tables:
            snap.models = _logged_models(con, tables, base)
        if {"registered_models", "model_versions"} <= tables:
            snap.registry = _registry(con, tables)
        snap.max_rowid = con.execute("SELECT max(rowid) FROM metrics").fetchone()[0] or 0
        snap.tail = _tail(con, snap.max_rowid)
        if cursor_rowid:
            snap.row_at_cursor = _tail(con, cursor_rowid)
    finally:
        if con.in_transaction:
            con.execute("COMMIT")  # ends the read transaction; nothing is written
    return snap


def _dataset_inputs(con: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    datasets = {d["dataset_uuid"]: d for d in _rows(con, "SELECT * FROM datasets")}
    tags = _kv(con, "SELECT input_uuid, name, value FROM input_tags")
    out: dict[str, list[dict[str, Any]]] = {}
    links = con.execute(
        "SELECT input_uuid, source_id, destination_id FROM inputs"
        " WHERE source_type = 'DATASET' AND destination_type = 'RUN' ORDER BY rowid"
    )
    for input_uuid, dataset_uuid, run_id in links:
        d = datasets.get(dataset_uuid)
        if d is None:
            continue
        t = tags.get(input_uuid, {})
        out.setdefault(run_id, []).append({
            "name": d.get("name"), "digest": d.get("digest"),
            "source_type": d.get("dataset_source_type"), "source": d.get("dataset_source"),
            "schema": d.get("dataset_schema"), "profile": d.get("dataset_profile"),
            "context": t.get("mlflow.data.context"), "tags": t,
        })
    return out


def _metric_value(value: Any) -> float:
    """A model metric as labdeck shows it: NULL (SQLite's NaN) or no number is NaN."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return float("inf") if v == DBL_MAX else float("-inf") if v == -DBL_MAX else v


def _logged_models(con: sqlite3.Connection, tables: set[str], base: Path) -> dict[str, list[dict]]:
    def side(table: str, sql: str) -> dict[Any, dict[str, str]]:
        return _kv(con, sql) if table in tables else {}

    tags = side("logged_model_tags", "SELECT model_id, tag_key, tag_value FROM logged_model_tags")
    params = side("logged_model_params",
                  "SELECT model_id, param_key, param_value FROM logged_model_params")
    metrics: dict[str, list[dict[str, Any]]] = {}
    if "logged_model_metrics" in tables:
        for m in _rows(con, "SELECT * FROM logged_model_metrics ORDER BY rowid"):
            metrics.setdefault(m["model_id"], []).append({
                "key": m.get("metric_name"), "value": _metric_value(m.get("metric_value")),
                "step": m.get("metric_step"), "timestamp": m.get("metric_timestamp_ms"),
                "dataset_name": m.get("dataset_name"), "dataset_digest": m.get("dataset_digest"),
            })
    steps: dict[tuple[str, str], int] = {}
    if "inputs" in tables:
        for run_id, model_id, step in con.execute(
            "SELECT source_id, destination_id, step FROM inputs"
            " WHERE source_type = 'RUN_OUTPUT' AND destination_type = 'MODEL_OUTPUT'"
        ):
            steps[(run_id, model_id)] = step
    produced = {model_id: run_id for run_id, model_id in steps}
    out: dict[str, list[dict[str, Any]]] = {}
    for m in _rows(con, "SELECT * FROM logged_models ORDER BY creation_timestamp_ms, model_id"):
        if m.get("lifecycle_stage") == "deleted":
            continue  # MLflow's search hides deleted models too
        mid = m["model_id"]
        run_id = m.get("source_run_id") or produced.get(mid)
        if not run_id:
            continue
        out.setdefault(run_id, []).append({
            "model_id": mid, "name": m.get("name"),
            "artifact_path": resolve_artifacts(m.get("artifact_location"), base),
            "step": steps.get((run_id, mid)),
            "status": MODEL_STATUSES.get(m.get("status"), "UNSPECIFIED"),
            "model_type": m.get("model_type"), "created": _ms(m.get("creation_timestamp_ms")),
            "tags": tags.get(mid, {}), "params": params.get(mid, {}),
            "metrics": metrics.get(mid, []),
        })
    return out


def _registry(con: sqlite3.Connection, tables: set[str]) -> list[dict[str, Any]]:
    def opt(table: str, sql: str) -> list[tuple]:
        return con.execute(sql).fetchall() if table in tables else []

    model_tags: dict[str, dict[str, str]] = {}
    for key, value, name in opt(
        "registered_model_tags", "SELECT key, value, name FROM registered_model_tags"
    ):
        model_tags.setdefault(name, {})[key] = _text(value)
    version_tags: dict[tuple[str, int], dict[str, str]] = {}
    for key, value, name, version in opt(
        "model_version_tags", "SELECT key, value, name, version FROM model_version_tags"
    ):
        version_tags.setdefault((name, version), {})[key] = _text(value)
    aliases: dict[str, dict[str, str]] = {}
    for alias, version, name in opt(
        "registered_model_aliases", "SELECT alias, version, name FROM registered_model_aliases"
    ):
        aliases.setdefault(name, {})[alias] = str(version)
    versions: dict[str, list[dict[str, Any]]] = {}
    for v in _rows(con, "SELECT * FROM model_versions ORDER BY name, version"):
        if v.get("current_stage") == DELETED_VERSION_STAGE:
            continue
        name, number = v["name"], v["version"]
        versions.setdefault(name, []).append({
            "version": str(number), "source": v.get("source"), "run_source_id": v.get("run_id"),
            "model_id": v.get("model_id"),  # a column only newer schemas may have
            "status": v.get("status"), "stage": v.get("current_stage"),
            "aliases": sorted(a for a, n in aliases.get(name, {}).items() if n == str(number)),
            "tags": version_tags.get((name, number), {}), "description": v.get("description"),
            "created": _ms(v.get("creation_time")),
        })
    return [
        {"name": m["name"], "description": m.get("description"),
         "tags": model_tags.get(m["name"], {}), "aliases": aliases.get(m["name"], {}),
         "created": _ms(m.get("creation_time")), "versions": versions.get(m["name"], [])}
        for m in _rows(con, "SELECT * FROM registered_models ORDER BY name")
    ]


# Artifacts ----------------------------------------------------------------------------------


def _local_path(uri: str | None) -> str | None:
    """The filesystem path of a local artifact URI (None for s3:, mlflow-artifacts:, ...)."""
    if not uri:
        return None
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        return urllib.parse.unquote(parsed.path)
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a plain path, or a Windows drive
        return uri
    return None


def resolve_artifacts(uri: str | None, base: Path) -> str | None:
    """Where an artifact URI is on this machine.

    MLflow records absolute paths of the machine that wrote them; when the project was
    moved or copied, the part from the last ``mlruns`` component on is mapped under the
    folder holding mlflow.db (MLflow's default artifact root is ``./mlruns``). A run that
    logged no artifacts has no folder yet: it maps all the same."""
    recorded = _local_path(uri)
    if recorded is None:
        return None
    parts = PurePosixPath(recorded.replace("\\", "/")).parts
    if ARTIFACT_ROOT in parts:
        at = len(parts) - 1 - parts[::-1].index(ARTIFACT_ROOT)
        local = base.joinpath(*parts[at:])
        if local.exists() or not os.path.exists(recorded):
            return str(local)
    return recorded


# Metric rows --------------------------------------------------------------------------------


def _to_array(rows: list[tuple], bad: list[int]) -> np.ndarray:
    """Rows as one structured array; rows that are not numbers are dropped and counted."""
    try:
        return np.array(rows, dtype=_ROW)
    except (TypeError, ValueError, OverflowError):
        good = []
        for row in rows:
            try:
                np.array([row], dtype=_ROW)
            except (TypeError, ValueError, OverflowError):
                continue
            good.append(row)
        bad.append(len(rows) - len(good))
        return np.array(good, dtype=_ROW)


def _run_rows(con: sqlite3.Connection, run_id: str, lo: int, hi: int, bad: list[int]) -> np.ndarray:
    """The run's metric rows with rowid in (lo, hi], in logging order, in bounded chunks."""
    parts = []
    start = lo
    while True:
        nxt = con.execute(_BOUNDARY_SQL, (run_id, start, hi, CHUNK_ROWS)).fetchone()
        end = hi if nxt is None else nxt[0] - 1
        parts.append(_to_array(con.execute(_SERIES_SQL, (run_id, start, end)).fetchall(), bad))
        if nxt is None:
            return parts[0] if len(parts) == 1 else np.concatenate(parts)
        start = end


def _group(rows: np.ndarray) -> dict[str, Points]:
    values = rows["v"]
    values[values == DBL_MAX] = np.inf
    values[values == -DBL_MAX] = -np.inf
    codes, keys = pd.factorize(rows["k"], use_na_sentinel=False)
    if len(keys) == 1:  # copies: views would keep every row's key string alive
        return {_text(keys[0]): Points(rows["s"].copy(), values.copy(), rows["t"].copy())}
    order = np.argsort(codes, kind="stable")  # stable: each series keeps logging order
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return {
        _text(key): Points(rows["s"][idx], values[idx], rows["t"][idx])
        for key, idx in zip(keys, np.split(order, bounds))
    }


def read_series(
    con: sqlite3.Connection, run_ids: Iterable[str], lo: int, hi: int, rel: str
) -> tuple[dict[str, dict[str, Points]], dict[str, list[ReadWarning]]]:
    points: dict[str, dict[str, Points]] = {}
    warnings: dict[str, list[ReadWarning]] = {}
    for run_id in run_ids:
        bad: list[int] = []
        try:
            rows = _run_rows(con, run_id, lo, hi, bad)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "lock" in str(exc).lower():
                raise  # a busy store: the whole read is retried later
            warnings.setdefault(run_id, []).append(ReadWarning(
                "unreadable-metrics",
                f"metrics of run {run_id} in {rel} cannot be read: {exc}", rel))
            continue
        if sum(bad):
            warnings.setdefault(run_id, []).append(ReadWarning(
                "bad-metric-value",
                f"{sum(bad)} metric row(s) of run {run_id} in {rel} hold no number; skipped", rel))
        if len(rows):
            points[run_id] = _group(rows)
    return points, warnings


# Runs ---------------------------------------------------------------------------------------


def _digest(*parts: Any) -> str:
    return hashlib.blake2b(repr(parts).encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def run_digest(run: dict[str, Any], snap: Snapshot) -> str:
    rid = run.get("run_uuid")
    return _digest(
        sorted(run.items()), snap.experiments.get(_text(run.get("experiment_id"))),
        sorted(snap.tags.get(rid, {}).items()), sorted(snap.params.get(rid, {}).items()),
        snap.inputs.get(rid), [(m["model_id"], m["status"], m["tags"], m["metrics"], m["params"])
                               for m in snap.models.get(rid, [])],
    )


def run_record(run: dict[str, Any], snap: Snapshot, source: SourceRef) -> RunRecord:
    """Everything about one run but its points (which the caller adds)."""
    rid = run["run_uuid"]
    tags = snap.tags.get(rid, {})
    experiment, experiment_deleted = snap.experiments.get(
        _text(run.get("experiment_id")), ("", False))
    word = run.get("status")
    warnings = []
    if word not in STATUSES:
        warnings.append(ReadWarning(
            "unknown-status", f"run {rid} in {source.rel} has status {word!r}", source.rel))
    meta = {
        "experiment": experiment,
        "name": _text(run.get("name") or tags.get("mlflow.runName")),
        "status": STATUSES.get(word, "unknown"),
        "deleted": run.get("lifecycle_stage") == "deleted" or experiment_deleted,
        "parent_source_id": tags.get("mlflow.parentRunId") or None,
        "start_time": _ms(run.get("start_time")),
        "end_time": _ms(run.get("end_time")),
        "path": source.rel,
    }
    return RunRecord(
        rid, meta=meta, params=dict(snap.params.get(rid, {})), tags=dict(tags),
        replace_params=True, replace_tags=True, warnings=warnings,
        artifact_dir=resolve_artifacts(run.get("artifact_uri"), source.path.parent),
        inputs=snap.inputs.get(rid, []), models=snap.models.get(rid, []),
    )


# The reader ---------------------------------------------------------------------------------


class MlflowSqliteReader(Reader):
    format = "mlflow"

    def detect(self, folder: Path, names: frozenset[str], rel: str) -> Detection | None:
        if DB_NAME not in names or not is_mlflow_db(folder / DB_NAME):
            return None
        prune = frozenset()
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
                return self._failed(source, cursor, _as_warning(exc, source.path))
            except (ValueError, TypeError, KeyError) as exc:  # values no MLflow would write
                return self._failed(source, cursor, ReadWarning(
                    "read-error",
                    f"{source.rel} holds unexpected data: {type(exc).__name__}: {exc}"))
            # An immutable open takes no locks: trust it only if no writer came meanwhile.
            if not immutable or _file_state(source.path) == before:
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
        points, warnings = read_series(con, new_runs, lo, snap.max_rowid, source.rel)
        known = cursor["runs"]
        records = []
        for run in snap.runs:
            rid = run["run_uuid"]
            if known.get(rid) != digests[rid]:
                record = run_record(run, snap, source)
            elif rid in points or rid in warnings:
                record = RunRecord(rid)
            else:
                continue
            record.points = points.get(rid, {})
            record.warnings += warnings.get(rid, [])
            records.append(record)
        changed = cursor.get("registry") != registry_digest
        return ReadResult(records, new_cursor, registered_models=snap.registry if changed else None)

    def _full(
        self, con: sqlite3.Connection, source: SourceRef, snap: Snapshot, cursor: dict
    ) -> ReadResult:
        ids = [r["run_uuid"] for r in snap.runs]
        points, warnings = read_series(con, ids, 0, snap.max_rowid, source.rel)
        records = []
        for run in snap.runs:
            record = run_record(run, snap, source)
            record.points = points.get(record.source_id, {})
            record.warnings += warnings.get(record.source_id, [])
            # Series that could not be read are kept as indexed rather than wiped.
            record.replace_series = not any(w.code == "unreadable-metrics" for w in record.warnings)
            records.append(record)
        return ReadResult(records, cursor, complete=True, registered_models=snap.registry)


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
