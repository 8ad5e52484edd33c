"""MLflow file store (an ``mlruns/`` folder), read without importing mlflow.

Layout (MLflow 1.x to 3.x): ``<store>/<exp_id>/meta.yaml``; runs in ``<exp_id>/<run_id>/``
with ``meta.yaml``, ``params/``, ``tags/``, ``metrics/`` (a ``/`` in a key makes nested
files), ``inputs/``, ``outputs/``, ``artifacts/``; datasets in ``<exp_id>/datasets/``;
MLflow 3 logged models in ``<exp_id>/models/<model_id>/``; deleted experiments in
``<store>/.trash/<exp_id>/``; the model registry in ``<store>/models/<name>/``. A metric
file holds one record a line: ``timestamp value step [dataset_name dataset_digest]``.

Incremental reading: a run whose status is running/scheduled/unknown is *live*; the cursor
keeps the byte offset of each of its metric files and the stats of its param/tag files.
Any other run is *cold*: only its meta.yaml stat is kept, and it is re-read whole (series
replaced) when meta.yaml changes (resumed, deleted, restored, renamed, moved to .trash).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeGuard

from labdeck.runs.readers._mlflow_file_io import opt_str
from labdeck.runs.readers._mlflow_file_layout import (
    Experiment,
    clean_name,
    experiment_dirs,
    is_exp_name,
    looks_like_store,
    parts_digest,
    run_dirs,
    subdirs,
    tree_parts,
)
from labdeck.runs.readers._mlflow_file_models import ModelReading
from labdeck.runs.readers._mlflow_file_runs import RunReading
from labdeck.runs.readers.base import (
    Detection,
    Reader,
    ReadResult,
    ReadWarning,
    RunRecord,
    SourceRef,
    stat_sig,
)

_CURSOR_VERSION = 1


def _cursor_ok(cursor: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    return (isinstance(cursor, dict) and cursor.get("v") == _CURSOR_VERSION
            and isinstance(cursor.get("runs"), dict) and isinstance(cursor.get("exps"), dict))


class _Scan(RunReading, ModelReading):
    """One ``read_on`` call: reads the store, collects warnings, builds the cursor."""

    # -- experiments and runs ----------------------------------------------------------------

    def experiments(self) -> list[Experiment]:
        errors: list[str] = []
        exps = []
        for rel, path, trashed in experiment_dirs(self.store, errors):
            meta = self.read_yaml(path / "meta.yaml", self.warnings) or {}
            deleted = trashed or meta.get("lifecycle_stage") == "deleted"
            exps.append(Experiment(rel, path, opt_str(meta.get("name")), deleted))
        self.listing_errors(errors)
        return exps

    def list_runs(self, exps: list[Experiment]) -> dict[str, tuple[Experiment, Path]]:
        errors: list[str] = []
        runs: dict[str, tuple[Experiment, Path]] = {}
        for exp in exps:
            for name, path in run_dirs(exp.path, errors):
                run_id = clean_name(name)
                if run_id in runs:
                    self.warn(self.warnings, "duplicate-run", path,
                              f"run id also in {self.prel(runs[run_id][1])}; this copy ignored")
                    continue
                runs[run_id] = (exp, path)
        self.listing_errors(errors)
        return runs

    # -- whole reads ----------------------------------------------------------------------

    def read_all(self) -> ReadResult:
        exps = self.experiments()
        runs = self.list_runs(exps)
        records: dict[str, RunRecord] = {}
        entries: dict[str, dict[str, Any]] = {}
        for run_id, (exp, path) in runs.items():
            records[run_id], entries[run_id] = self.read_run_full(exp, run_id, path)
        self.attach_models(exps, runs, records, entries, forced=set(runs))
        cursor = self.cursor(exps, entries, self.models_digests(exps))
        return ReadResult(list(records.values()), cursor, self.warnings,
                          complete=not self.listing_failed, registered_models=self.registry())

    def read_since(self, cursor: dict[str, Any]) -> ReadResult:
        exps = self.experiments()
        runs = self.list_runs(exps)
        prev_runs: dict[str, dict[str, Any]] = cursor["runs"]
        if not self.listing_failed and any(r not in runs for r in prev_runs):
            return _Scan(self.source).read_all()  # runs removed for good: re-list everything
        prev_exps = cursor["exps"]
        records: dict[str, RunRecord] = {}
        entries = dict(prev_runs)  # runs of unreadable folders keep their entries
        fully: set[str] = set()
        rec: RunRecord | None
        for run_id, (exp, path) in runs.items():
            prev = prev_runs.get(run_id)
            old_exp = prev_exps.get(exp.rel)
            if (prev is None or prev.get("e") != exp.rel or (old_exp and old_exp[1] != exp.deleted)
                    or (not prev.get("live") and prev.get("m") != stat_sig(path / "meta.yaml"))):
                rec, entries[run_id] = self.read_run_full(exp, run_id, path)
                entries[run_id].update({"mh": prev["mh"]} if prev and "mh" in prev else {})
                fully.add(run_id)
            elif prev.get("live"):
                rec, entries[run_id] = self.read_run_live(exp, run_id, path, prev)
                entries[run_id].update({"mh": prev["mh"]} if "mh" in prev else {})
            else:
                rec = None
            if old_exp and old_exp[0] != exp.name:
                rec = rec or RunRecord(run_id)
                rec.meta["experiment"] = exp.name
            if rec is not None:
                records[run_id] = rec
        digests = self.models_digests(exps)
        if fully or digests != cursor.get("md"):
            self.attach_models(exps, runs, records, entries, forced=fully)
        new_cursor = self.cursor(exps, entries, digests)
        registry = self.registry() if new_cursor["rg"] != cursor.get("rg") else None
        return ReadResult(list(records.values()), new_cursor, self.warnings,
                          registered_models=registry)

    def cursor(self, exps: list[Experiment], entries: dict[str, dict[str, Any]],
               models_digests: dict[str, str]) -> dict[str, Any]:
        return {
            "v": _CURSOR_VERSION, "runs": entries,
            "exps": {e.rel: [e.name, e.deleted] for e in exps},
            "md": models_digests, "rg": parts_digest(tree_parts(self.store / "models")),
        }


class MlflowFileReader(Reader):
    """Reads an MLflow file store; one source per store."""

    format = "mlflow"

    def __init__(self) -> None:
        # Store path -> (run ids known, run ids live) from the last cursor this process saw,
        # so that fingerprint stats only the files that can still grow.
        self._hot: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    def detect(self, folder: Path, names: frozenset[str], rel: str) -> Detection | None:
        if not (".trash" in names or any(is_exp_name(n) for n in names)):
            return None
        if not looks_like_store(folder, names):
            return None
        return Detection(sources=[SourceRef(self.format, folder, rel)], claim_all=True)

    def fingerprint(self, source: SourceRef) -> str:
        """Stats of the store and experiment folders, every meta.yaml, the registry and the
        logged models; the files of a run only while it is live (or not yet seen by
        ``read_on`` in this process). A cold run changes its meta.yaml when it changes state,
        so appending points to an already finished run is seen only at the next full read."""
        store = source.path
        known, live = self._hot.get(str(store), (None, frozenset()))
        parts = [f".={stat_sig(store)}", f".trash={stat_sig(store / '.trash')}"]
        parts += [f"models/{p}" for p in tree_parts(store / "models")]
        for rel, exp_dir, _ in experiment_dirs(store):
            parts += [f"{rel}={stat_sig(exp_dir)}",
                      f"{rel}/meta.yaml={stat_sig(exp_dir / 'meta.yaml')}",
                      f"{rel}/datasets={stat_sig(exp_dir / 'datasets')}"]
            for name, model_dir in subdirs(exp_dir / "models"):
                parts += [f"{rel}/models/{name}/{p}"
                          for p in tree_parts(model_dir, frozenset({"artifacts"}))]
            for run_id, run_dir in run_dirs(exp_dir):
                if known is None or run_id in live or run_id not in known:
                    parts += [f"{rel}/{run_id}/{p}"
                              for p in tree_parts(run_dir, frozenset({"artifacts"}))]
                else:
                    parts.append(f"{rel}/{run_id}={stat_sig(run_dir / 'meta.yaml')}")
        return parts_digest(parts)

    def read_on(self, source: SourceRef, cursor: dict[str, Any] | None) -> ReadResult:
        scan = _Scan(source)
        try:
            result = scan.read_since(cursor) if _cursor_ok(cursor) else scan.read_all()
        except Exception as exc:  # noqa: BLE001 - a reader bug must not stop the index
            where = source.rel or "."
            warning = ReadWarning("reader-error", f"{where}: {type(exc).__name__}: {exc}", where)
            return ReadResult([], cursor or {}, [warning], complete=False)
        runs = result.cursor["runs"]
        self._hot[str(source.path)] = (
            frozenset(runs), frozenset(r for r, e in runs.items() if e.get("live")))
        return result


READER = MlflowFileReader()
