"""Reading one run of an MLflow file store: meta.yaml, params, tags, metric files (from
the byte offsets of the last read while the run is live) and dataset inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labdeck.runs.readers._mlflow_artifacts import resolve_file_store_artifacts
from labdeck.runs.readers._mlflow_file_io import StoreFiles, ms, opt_str, str_dict
from labdeck.runs.readers._mlflow_file_layout import (
    Experiment,
    file_size,
    parts_digest,
    subdirs,
    tree_parts,
)
from labdeck.runs.readers._mlflow_metric_files import parse_metric_bytes
from labdeck.runs.readers.base import Points, ReadWarning, RunRecord, stat_sig

_STATUS = {1: "running", 2: "scheduled", 3: "finished", 4: "failed", 5: "killed"}
_LIVE = frozenset({"running", "scheduled", "unknown"})
_PARENT_TAG = "mlflow.parentRunId"


class RunReading(StoreFiles):
    """The runs part of a store scan."""

    def apply_meta(self, rec: RunRecord, exp: Experiment, path: Path, meta: dict[str, Any] | None,
                   tags: dict[str, str] | None) -> str:
        """Sets the run columns from meta.yaml; returns the status."""
        rec.meta.update(experiment=exp.name, path=self.prel(path))
        rec.artifact_dir = resolve_file_store_artifacts((meta or {}).get("artifact_uri"),
                                                        path / "artifacts")
        if meta is None:
            rec.meta.update(status="unknown", deleted=exp.deleted)
            return "unknown"
        raw = meta.get("status")
        status = (_STATUS.get(raw) if isinstance(raw, int) else str(raw).lower()) or "unknown"
        if status not in _STATUS.values():
            self.warn(rec.warnings, "bad-status", path / "meta.yaml", f"unknown run status {raw!r}")
            status = "unknown"
        name = meta.get("run_name") or (tags or {}).get("mlflow.runName")
        rec.meta.update(
            name=opt_str(name), status=status,
            deleted=exp.deleted or meta.get("lifecycle_stage") == "deleted",
            start_time=ms(meta.get("start_time")), end_time=ms(meta.get("end_time")),
        )
        return status

    def read_metrics(self, run_dir: Path, offsets: dict[str, list[int]], final: bool,
                     out: list[ReadWarning]
                     ) -> tuple[dict[str, Points], dict[str, list[int]], bool]:
        """New points since ``offsets`` (key -> [byte offset, inode]); the new offsets; and
        whether the series had to be read again from the start (a file rewritten/removed)."""
        files = self.files(run_dir / "metrics", out)
        names = {key for key, _ in files}
        rewritten = any(k not in names for k in offsets)
        for key, entry in files:
            prev = offsets.get(key)
            if prev and (prev[1] != entry.inode() or file_size(entry) < prev[0]):
                rewritten = True
        if rewritten:
            offsets = {}
        points: dict[str, Points] = {}
        new_offsets: dict[str, list[int]] = {}
        for key, entry in files:
            start = offsets.get(key, [0])[0]
            got = self.read_metric_file(Path(entry.path), start, final, out)
            new_offsets[key] = [start + (got[1] if got else 0), entry.inode()]
            if got and len(got[0]):
                points[key] = got[0]
        return points, new_offsets, rewritten

    def read_metric_file(self, path: Path, start: int, final: bool, out: list[ReadWarning]
                         ) -> tuple[Points, int] | None:
        data = self.read_bytes(path, out, start=start)
        if data is None:
            return None
        parsed = parse_metric_bytes(data, final)
        if parsed.bad:
            first = start + parsed.bad[0]
            self.warn(out, "bad-metric-line", path,
                      f"{len(parsed.bad)} malformed line(s) skipped, first at byte {first}")
        if parsed.tail and final:
            self.warn(out, "truncated-line", path, "last line is unterminated (cut off); skipped")
        elif parsed.tail:
            self.warn(out, "partial-line", path, "last line is still being written", transient=True)
        pts = Points(parsed.steps, parsed.values, parsed.walls)
        return pts, parsed.consumed

    def dataset(self, exp: Experiment, dataset_id: str, out: list[ReadWarning]
                ) -> dict[str, Any] | None:
        key = (exp.rel, dataset_id)
        if key not in self._datasets:
            meta = exp.path / "datasets" / dataset_id / "meta.yaml"
            self._datasets[key] = self.read_yaml(meta, out)
        return self._datasets[key]

    def read_inputs(self, exp: Experiment, run_dir: Path, out: list[ReadWarning]
                    ) -> list[dict[str, Any]]:
        inputs = []
        for _, folder in subdirs(run_dir / "inputs"):
            link = self.read_yaml(folder / "meta.yaml", out)
            if not link or link.get("source_type") != "DATASET":
                continue  # model inputs have no place in RunRecord
            ds = self.dataset(exp, str(link.get("source_id")), out)
            if ds is None:
                continue
            tags = str_dict(link.get("tags"))
            inputs.append({
                **{k: opt_str(ds.get(k)) for k in ("name", "digest", "source_type", "source",
                                                     "schema", "profile")},
                "context": tags.get("mlflow.data.context"), "tags": tags,
            })
        return inputs

    def read_run_full(self, exp: Experiment, run_id: str, path: Path
                      ) -> tuple[RunRecord, dict[str, Any]]:
        rec = RunRecord(run_id, replace_params=True, replace_tags=True, replace_series=True)
        w = rec.warnings
        meta_sig = stat_sig(path / "meta.yaml")
        meta = self.read_yaml(path / "meta.yaml", w)
        rec.params, psigs, _ = self.read_kv(path / "params", {}, w)
        rec.tags, tsigs, _ = self.read_kv(path / "tags", {}, w)
        status = self.apply_meta(rec, exp, path, meta, rec.tags)
        rec.meta["parent_source_id"] = rec.tags.get(_PARENT_TAG)
        live = status in _LIVE and not rec.meta["deleted"]
        rec.points, offsets, _ = self.read_metrics(path, {}, not live, w)
        rec.inputs = self.read_inputs(exp, path, w)
        entry: dict[str, Any] = {"e": exp.rel, "m": meta_sig}
        if live:
            entry.update(live=1, s=status, off=offsets, p=psigs, t=tsigs,
                         i=parts_digest(tree_parts(path / "inputs")))
        return rec, entry

    def read_run_live(self, exp: Experiment, run_id: str, path: Path, prev: dict[str, Any]
                      ) -> tuple[RunRecord | None, dict[str, Any]]:
        rec = RunRecord(run_id)
        w = rec.warnings
        meta_sig = stat_sig(path / "meta.yaml")
        status = prev.get("s", "unknown")
        if meta_sig != prev.get("m"):
            meta = self.read_yaml(path / "meta.yaml", w)
            status = self.apply_meta(rec, exp, path, meta, None)
        rec.params, psigs, removed = self.read_kv(path / "params", prev.get("p", {}), w)
        if removed:
            rec.params, psigs, _ = self.read_kv(path / "params", {}, w)
            rec.replace_params = True
        rec.tags, tsigs, removed = self.read_kv(path / "tags", prev.get("t", {}), w)
        if removed:
            rec.tags, tsigs, _ = self.read_kv(path / "tags", {}, w)
            rec.replace_tags = True
        if _PARENT_TAG in rec.tags or rec.replace_tags:
            rec.meta["parent_source_id"] = rec.tags.get(_PARENT_TAG)
        live = status in _LIVE and not rec.meta.get("deleted", False)
        rec.points, offsets, rec.replace_series = self.read_metrics(path, prev.get("off", {}),
                                                                    not live, w)
        in_digest = parts_digest(tree_parts(path / "inputs"))
        if in_digest != prev.get("i"):
            rec.inputs = self.read_inputs(exp, path, w)
        entry: dict[str, Any] = {"e": exp.rel, "m": meta_sig}
        if live:
            entry.update(live=1, s=status, off=offsets, p=psigs, t=tsigs, i=in_digest)
        changed = (rec.meta or rec.params or rec.tags or rec.points or w or rec.replace_series
                   or rec.inputs is not None)
        return (rec if changed else None), entry
