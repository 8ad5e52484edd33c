"""Reading MLflow 3 logged models (``<exp_id>/models/<model_id>/``) and the model registry
(``<store>/models/<name>/``) of an MLflow file store."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from labdeck.runs.readers._mlflow_artifacts import (
    MODEL_STATUSES,
    resolve_file_store_artifacts,
)
from labdeck.runs.readers._mlflow_file_io import StoreFiles, ms, opt_str, str_dict
from labdeck.runs.readers._mlflow_file_layout import (
    Experiment,
    parts_digest,
    subdirs,
    tree_parts,
)
from labdeck.runs.readers._mlflow_metric_files import parse_model_metric_bytes
from labdeck.runs.readers.base import ReadWarning, RunRecord, stat_sig


def _hash_json(value: Any) -> str:
    data = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.blake2b(data, digest_size=12).hexdigest()


class ModelReading(StoreFiles):
    """The logged models and registry part of a store scan."""

    def models_digests(self, exps: list[Experiment]) -> dict[str, str]:
        digests = {}
        for exp in exps:
            parts = []
            for name, folder in subdirs(exp.path / "models"):
                parts.append(f"{name}/={stat_sig(folder)}")
                parts += [f"{name}/{p}" for p in tree_parts(folder, frozenset({"artifacts"}))]
            digests[exp.rel] = parts_digest(parts)
        return digests

    def logged_model(self, folder: Path, out: list[ReadWarning]) -> dict[str, Any] | None:
        meta = self.read_yaml(folder / "meta.yaml", out)
        if meta is None:
            return None
        raw = meta.get("status")
        metrics: list[dict[str, Any]] = []
        for key, entry in self.files(folder / "metrics", out):
            data = self.read_bytes(Path(entry.path), out)
            records, bad = parse_model_metric_bytes(data or b"")
            if bad:
                self.warn(out, "bad-metric-line", entry.path, f"{bad} malformed line(s) skipped")
            metrics += [{"key": key, **r} for r in records]
        return {
            "model_id": str(meta.get("model_id") or folder.name),
            "name": opt_str(meta.get("name")),
            "artifact_path": resolve_file_store_artifacts(meta.get("artifact_location"),
                                                          folder / "artifacts"),
            "step": None, "status": MODEL_STATUSES.get(raw, str(raw)) if raw is not None else None,
            "model_type": opt_str(meta.get("model_type")),
            "created": ms(meta.get("creation_timestamp")),
            "tags": self.read_kv(folder / "tags", {}, out)[0],
            "params": self.read_kv(folder / "params", {}, out)[0],
            "metrics": metrics, "_run": opt_str(meta.get("source_run_id")),
        }

    def model_index(self, exps: list[Experiment], runs: dict[str, tuple[Experiment, Path]]
                    ) -> dict[str, tuple[list[dict[str, Any]], list[ReadWarning]]]:
        """run id -> (models it produced, warnings about them)."""
        index: dict[str, tuple[list[dict[str, Any]], list[ReadWarning]]] = {}
        for exp in exps:
            for _, folder in subdirs(exp.path / "models"):
                out: list[ReadWarning] = []
                model = self.logged_model(folder, out)
                run_id = model.pop("_run") if model else None
                if model is None or run_id not in runs:
                    self.warnings += out
                    continue
                step_meta = runs[run_id][1] / "outputs" / model["model_id"] / "meta.yaml"
                if step_meta.exists():
                    model["step"] = ms((self.read_yaml(step_meta, out) or {}).get("step"))
                models, warns = index.setdefault(run_id, ([], []))
                models.append(model)
                warns += out
        for models, _ in index.values():
            models.sort(key=lambda m: (m["created"] or 0, m["model_id"]))
        return index

    def attach_models(self, exps: list[Experiment], runs: dict[str, tuple[Experiment, Path]],
                      records: dict[str, RunRecord], entries: dict[str, dict[str, Any]],
                      forced: set[str]) -> None:
        """Sets ``models`` on the records of runs whose models changed (always on ``forced``)."""
        index = self.model_index(exps, runs)
        for run_id in runs:
            models, warns = index.get(run_id, ([], []))
            digest = _hash_json(models) if models else None
            if run_id not in forced and digest == entries[run_id].get("mh"):
                continue
            rec = records.setdefault(run_id, RunRecord(run_id))
            rec.models = models
            rec.warnings += warns
            entries[run_id].pop("mh", None)
            if digest:
                entries[run_id]["mh"] = digest

    def registry(self) -> list[dict[str, Any]]:
        models = []
        for _, folder in subdirs(self.store / "models"):
            meta = self.read_yaml(folder / "meta.yaml", self.warnings)
            if meta is None:
                continue
            aliases = str_dict(meta.get("aliases"))
            if (folder / "aliases").is_dir():  # the folder is what MLflow reads back
                found = self.read_kv(folder / "aliases", {}, self.warnings)[0]
                aliases = {alias: version.strip() for alias, version in found.items()}
            versions = [v for _, vdir in subdirs(folder) if vdir.name.startswith("version-")
                        if (v := self.model_version(vdir, aliases)) is not None]
            versions.sort(key=lambda v: (len(v["version"]), v["version"]))  # numeric order
            models.append({
                "name": str(meta.get("name") or folder.name),
                "description": opt_str(meta.get("description")),
                "tags": self.read_kv(folder / "tags", {}, self.warnings)[0],
                "aliases": aliases, "created": ms(meta.get("creation_timestamp")),
                "versions": versions,
            })
        return sorted(models, key=lambda m: m["name"])

    def model_version(self, folder: Path, aliases: dict[str, str]) -> dict[str, Any] | None:
        meta = self.read_yaml(folder / "meta.yaml", self.warnings)
        if meta is None or meta.get("current_stage") == "Deleted_Internal":  # soft-deleted
            return None
        version = str(meta.get("version", folder.name[len("version-"):]))
        return {
            "version": version, "source": opt_str(meta.get("source")),
            "run_source_id": opt_str(meta.get("run_id")),
            "model_id": opt_str(meta.get("model_id")),
            "status": opt_str(meta.get("status")), "stage": opt_str(meta.get("current_stage")),
            "aliases": sorted(a for a, v in aliases.items() if v == version),
            "tags": self.read_kv(folder / "tags", {}, self.warnings)[0],
            "description": opt_str(meta.get("description")),
            "created": ms(meta.get("creation_timestamp")),
        }
