"""The small tables of MLflow's SQLite store (experiments, runs, params, tags, dataset
inputs, logged models, the model registry), read whole in one short read transaction
together with where the metrics table ends."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labdeck.runs.readers._mlflow_artifacts import (
    MODEL_STATUSES,
    resolve_db_store_artifacts,
)
from labdeck.runs.readers._mlflow_sqlite_store import (
    CORE_TABLES,
    DB_NAME,
    DBL_MAX,
    StoreError,
    as_text,
    ms,
    select_dicts,
    select_kv,
    table_names,
)

DELETED_VERSION_STAGE = "Deleted_Internal"  # soft-deleted model versions MLflow hides


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


def _tail(con: sqlite3.Connection, rowid: int) -> list[Any] | None:
    row = con.execute(
        "SELECT run_uuid, key, step, timestamp FROM metrics WHERE rowid = ?", (rowid,)
    ).fetchone()
    return list(row) if row else None


def take_snapshot(con: sqlite3.Connection, base: Path, cursor_rowid: int) -> Snapshot:
    snap = Snapshot()
    con.execute("BEGIN")
    try:
        tables = table_names(con)
        missing = CORE_TABLES - tables
        if missing:
            raise StoreError(
                "not-mlflow-store", f"{DB_NAME} has no MLflow table(s) {sorted(missing)}")
        for e in select_dicts(con, "SELECT * FROM experiments"):
            snap.experiments[as_text(e.get("experiment_id"))] = (
                as_text(e.get("name")), e.get("lifecycle_stage") == "deleted")
        snap.runs = select_dicts(con, "SELECT * FROM runs")
        snap.params = select_kv(con, "SELECT run_uuid, key, value FROM params")
        snap.tags = select_kv(con, "SELECT run_uuid, key, value FROM tags")
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
    datasets = {d["dataset_uuid"]: d for d in select_dicts(con, "SELECT * FROM datasets")}
    tags = select_kv(con, "SELECT input_uuid, name, value FROM input_tags")
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
        return select_kv(con, sql) if table in tables else {}

    tags = side("logged_model_tags", "SELECT model_id, tag_key, tag_value FROM logged_model_tags")
    params = side("logged_model_params",
                  "SELECT model_id, param_key, param_value FROM logged_model_params")
    metrics: dict[str, list[dict[str, Any]]] = {}
    if "logged_model_metrics" in tables:
        for m in select_dicts(con, "SELECT * FROM logged_model_metrics ORDER BY rowid"):
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
    for m in select_dicts(
        con, "SELECT * FROM logged_models ORDER BY creation_timestamp_ms, model_id"
    ):
        if m.get("lifecycle_stage") == "deleted":
            continue  # MLflow's search hides deleted models too
        mid = m["model_id"]
        run_id = m.get("source_run_id") or produced.get(mid)
        if not run_id:
            continue
        out.setdefault(run_id, []).append({
            "model_id": mid, "name": m.get("name"),
            "artifact_path": resolve_db_store_artifacts(m.get("artifact_location"), base),
            "step": steps.get((run_id, mid)),
            "status": MODEL_STATUSES.get(m.get("status"), "UNSPECIFIED"),
            "model_type": m.get("model_type"), "created": ms(m.get("creation_timestamp_ms")),
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
        model_tags.setdefault(name, {})[key] = as_text(value)
    version_tags: dict[tuple[str, int], dict[str, str]] = {}
    for key, value, name, version in opt(
        "model_version_tags", "SELECT key, value, name, version FROM model_version_tags"
    ):
        version_tags.setdefault((name, version), {})[key] = as_text(value)
    aliases: dict[str, dict[str, str]] = {}
    for alias, version, name in opt(
        "registered_model_aliases", "SELECT alias, version, name FROM registered_model_aliases"
    ):
        aliases.setdefault(name, {})[alias] = str(version)
    versions: dict[str, list[dict[str, Any]]] = {}
    for v in select_dicts(con, "SELECT * FROM model_versions ORDER BY name, version"):
        if v.get("current_stage") == DELETED_VERSION_STAGE:
            continue
        name, number = v["name"], v["version"]
        versions.setdefault(name, []).append({
            "version": str(number), "source": v.get("source"), "run_source_id": v.get("run_id"),
            "model_id": v.get("model_id"),  # a column only newer schemas may have
            "status": v.get("status"), "stage": v.get("current_stage"),
            "aliases": sorted(a for a, n in aliases.get(name, {}).items() if n == str(number)),
            "tags": version_tags.get((name, number), {}), "description": v.get("description"),
            "created": ms(v.get("creation_time")),
        })
    return [
        {"name": m["name"], "description": m.get("description"),
         "tags": model_tags.get(m["name"], {}), "aliases": aliases.get(m["name"], {}),
         "created": ms(m.get("creation_time")), "versions": versions.get(m["name"], [])}
        for m in select_dicts(con, "SELECT * FROM registered_models ORDER BY name")
    ]
