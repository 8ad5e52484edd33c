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

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

import yaml

from labdeck.runs.readers._mlflow_metric_files import (
    parse_metric_bytes,
    parse_model_metric_bytes,
)
from labdeck.runs.readers.base import (
    Detection,
    Points,
    Reader,
    ReadResult,
    ReadWarning,
    RunRecord,
    SourceRef,
)

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe: never builds Python objects
_CURSOR_VERSION = 1
_MAX_SMALL_FILE = 1 << 20  # meta.yaml, params, tags: anything bigger is not MLflow's
_EXP_NOT_RUNS = frozenset({"tags", "datasets", "models", "traces", "artifacts"})
_STATUS = {1: "running", 2: "scheduled", 3: "finished", 4: "failed", 5: "killed"}
_LIVE = frozenset({"running", "scheduled", "unknown"})
_MODEL_STATUS = {0: "UNSPECIFIED", 1: "PENDING", 2: "READY", 3: "FAILED"}
_PARENT_TAG = "mlflow.parentRunId"
_DETECT_TRIES = 3


def _is_exp_name(name: str) -> bool:
    return name.isascii() and name.isdigit()


def _is_run_id(name: str) -> bool:
    return len(name) == 32 and name.isascii() and all(c in "0123456789abcdef" for c in name)


def _sig(path: Path | str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _size(entry: os.DirEntry) -> int:
    try:
        return entry.stat().st_size
    except OSError:
        return 0


def _entry_sig(entry: os.DirEntry) -> str:
    try:
        st = entry.stat()
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _digest(parts: list[str]) -> str:
    data = "\n".join(parts).encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _clean(name: str) -> str:
    """A file name as text (undecodable bytes, kept by os as surrogates, become U+FFFD)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _walk(root: Path, skip_top: frozenset[str] = frozenset(), errors: list[str] | None = None
          ) -> Iterator[tuple[str, os.DirEntry]]:
    """Every file and folder under ``root`` as ('/'-relative name, entry), sorted, without
    following symlinked folders (no loops). A missing root yields nothing."""
    stack = [(str(root), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if errors is not None:
                errors.append(f"{folder}: {exc.strerror or exc}")
            continue
        below = []
        for entry in entries:
            if _is_dir(entry):
                if not (prefix == "" and entry.name in skip_top):
                    below.append((entry.path, prefix + entry.name + "/"))
                    yield prefix + entry.name, entry
            else:
                yield prefix + entry.name, entry
        stack.extend(reversed(below))


def _tree_parts(root: Path, skip_top: frozenset[str] = frozenset()) -> list[str]:
    return [f"{rel}={_entry_sig(e)}" for rel, e in _walk(root, skip_top)]


def _subdirs(folder: Path, errors: list[str] | None = None) -> list[tuple[str, Path]]:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    except OSError as exc:
        if errors is not None:
            errors.append(f"{folder}: {exc.strerror or exc}")
        return []
    return sorted((e.name, Path(e.path)) for e in entries if _is_dir(e))


def _experiment_dirs(store: Path, errors: list[str] | None = None) -> list[tuple[str, Path, bool]]:
    """(path relative to the store, folder, in .trash) of every experiment folder."""
    found = []
    for parent, prefix, trashed in ((store, "", False), (store / ".trash", ".trash/", True)):
        for name, path in _subdirs(parent, errors):
            if _is_exp_name(name):
                found.append((prefix + name, path, trashed))
    return found


def _run_dirs(exp_dir: Path, errors: list[str] | None = None) -> list[tuple[str, Path]]:
    return [(name, path) for name, path in _subdirs(exp_dir, errors)
            if name not in _EXP_NOT_RUNS and (_is_run_id(name) or (path / "meta.yaml").is_file())]


def _is_experiment_meta(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return b"experiment_id:" in head and b"artifact_location:" in head


def _looks_like_store(folder: Path, names: frozenset[str]) -> bool:
    candidates = sorted((n for n in names if _is_exp_name(n)), key=len)[:_DETECT_TRIES]
    tries = [folder / n for n in candidates]
    if ".trash" in names:
        tries += [p for n, p in _subdirs(folder / ".trash") if _is_exp_name(n)][:_DETECT_TRIES]
    return any(_is_experiment_meta(p / "meta.yaml") for p in tries)


def _ms(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _str_dict(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _resolve_artifacts(recorded: Any, local: Path) -> str | None:
    """The recorded artifact folder when it exists here, else the store's own copy (a store
    copied from another machine keeps artifacts next to the runs). None for remote ones."""
    uri = recorded if isinstance(recorded, str) else ""
    parsed = urlparse(uri)
    remote = len(parsed.scheme) > 1 and parsed.scheme != "file"  # 1 letter: a Windows drive
    path = unquote(parsed.path) if parsed.scheme == "file" else uri
    if not remote and path and os.path.isabs(path) and os.path.isdir(path):
        return path
    if remote and not local.is_dir():
        return None
    return str(local)


def _hash_json(value: Any) -> str:
    data = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def _cursor_ok(cursor: dict[str, Any] | None) -> bool:
    return (isinstance(cursor, dict) and cursor.get("v") == _CURSOR_VERSION
            and isinstance(cursor.get("runs"), dict) and isinstance(cursor.get("exps"), dict))


# -- metric file parsing -------------------------------------------------------------------



@dataclass
class _Exp:
    rel: str  # relative to the store: "123" or ".trash/123"
    path: Path
    name: str | None
    deleted: bool


class _Scan:
    """One ``read_on`` call: reads the store, collects warnings, builds the cursor."""

    def __init__(self, source: SourceRef) -> None:
        self.source = source
        self.store = source.path
        self.warnings: list[ReadWarning] = []
        self.listing_failed = False
        self._datasets: dict[tuple[str, str], dict[str, Any] | None] = {}

    # -- small helpers -------------------------------------------------------------------

    def prel(self, path: Path | str) -> str:
        inner = os.path.relpath(path, self.store).replace(os.sep, "/")
        return "/".join(p for p in (self.source.rel, "" if inner == "." else inner) if p)

    def warn(self, out: list[ReadWarning], code: str, path: Path | str, what: str,
             transient: bool = False) -> None:
        rel = _clean(self.prel(path))
        out.append(ReadWarning(code, f"{rel}: {what}", rel, transient))

    def listing_errors(self, errors: list[str]) -> None:
        for err in errors:
            self.listing_failed = True
            self.warnings.append(ReadWarning("unreadable-dir", _clean(err), self.source.rel))
        errors.clear()

    def read_bytes(self, path: Path, out: list[ReadWarning], limit: int | None = None
                   ) -> bytes | None:
        try:
            with open(path, "rb") as f:
                data = f.read() if limit is None else f.read(limit + 1)
        except FileNotFoundError:
            self.warn(out, "vanished", path, "file disappeared while being read", transient=True)
            return None
        except OSError as exc:
            self.warn(out, "unreadable-file", path, f"cannot be read ({exc.strerror or exc})")
            return None
        if limit is not None and len(data) > limit:
            self.warn(out, "file-too-large", path, f"larger than {limit} bytes, ignored")
            return None
        return data

    def read_text(self, path: Path, out: list[ReadWarning]) -> str | None:
        data = self.read_bytes(path, out, _MAX_SMALL_FILE)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.warn(out, "bad-encoding", path, "not UTF-8; undecodable bytes replaced")
            return data.decode("utf-8", "replace")

    def read_yaml(self, path: Path, out: list[ReadWarning]) -> dict[str, Any] | None:
        if not path.exists():
            self.warn(out, "missing-meta-yaml", path, "meta.yaml is missing")
            return None
        data = self.read_bytes(path, out, _MAX_SMALL_FILE)
        if data is None:
            return None
        try:
            doc = yaml.load(data, Loader=_LOADER)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.warn(out, "bad-meta-yaml", path, f"not valid YAML ({first})")
            return None
        if not isinstance(doc, dict):
            self.warn(out, "bad-meta-yaml", path, "not a YAML mapping")
            return None
        return doc

    def files(self, folder: Path, out: list[ReadWarning]) -> list[tuple[str, os.DirEntry]]:
        errors: list[str] = []
        found = [(_clean(rel), e) for rel, e in _walk(folder, errors=errors) if not _is_dir(e)]
        for err in errors:
            out.append(ReadWarning("unreadable-dir", _clean(err), self.prel(folder)))
        return found

    # -- experiments and runs ----------------------------------------------------------------

    def experiments(self) -> list[_Exp]:
        errors: list[str] = []
        exps = []
        for rel, path, trashed in _experiment_dirs(self.store, errors):
            meta = self.read_yaml(path / "meta.yaml", self.warnings) or {}
            deleted = trashed or meta.get("lifecycle_stage") == "deleted"
            exps.append(_Exp(rel, path, _opt_str(meta.get("name")), deleted))
        self.listing_errors(errors)
        return exps

    def list_runs(self, exps: list[_Exp]) -> dict[str, tuple[_Exp, Path]]:
        errors: list[str] = []
        runs: dict[str, tuple[_Exp, Path]] = {}
        for exp in exps:
            for name, path in _run_dirs(exp.path, errors):
                run_id = _clean(name)
                if run_id in runs:
                    self.warn(self.warnings, "duplicate-run", path,
                              f"run id also in {self.prel(runs[run_id][1])}; this copy ignored")
                    continue
                runs[run_id] = (exp, path)
        self.listing_errors(errors)
        return runs

    def apply_meta(self, rec: RunRecord, exp: _Exp, path: Path, meta: dict[str, Any] | None,
                   tags: dict[str, str] | None) -> str:
        """Sets the run columns from meta.yaml; returns the status."""
        rec.meta.update(experiment=exp.name, path=self.prel(path))
        rec.artifact_dir = _resolve_artifacts((meta or {}).get("artifact_uri"), path / "artifacts")
        if meta is None:
            rec.meta.update(status="unknown", deleted=exp.deleted)
            return "unknown"
        raw = meta.get("status")
        status = _STATUS.get(raw) if isinstance(raw, int) else str(raw).lower()
        if status not in _STATUS.values():
            self.warn(rec.warnings, "bad-status", path / "meta.yaml", f"unknown run status {raw!r}")
            status = "unknown"
        name = meta.get("run_name") or (tags or {}).get("mlflow.runName")
        rec.meta.update(
            name=_opt_str(name), status=status,
            deleted=exp.deleted or meta.get("lifecycle_stage") == "deleted",
            start_time=_ms(meta.get("start_time")), end_time=_ms(meta.get("end_time")),
        )
        return status

    def read_kv(self, folder: Path, prev: dict[str, str], out: list[ReadWarning]
                ) -> tuple[dict[str, str], dict[str, str], bool]:
        """Values of files changed since ``prev`` (key -> stat), the new stats, and whether
        a key disappeared."""
        values: dict[str, str] = {}
        sigs: dict[str, str] = {}
        for key, entry in self.files(folder, out):
            sig = _entry_sig(entry)
            if prev.get(key) == sig:
                sigs[key] = sig
                continue
            text = self.read_text(Path(entry.path), out)
            if text is not None:
                values[key] = text
                sigs[key] = sig
            elif key in prev:  # unreadable now: keep what the index has rather than drop it
                sigs[key] = prev[key]
        return values, sigs, any(k not in sigs for k in prev)

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
            if prev and (prev[1] != entry.inode() or _size(entry) < prev[0]):
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
        try:
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read()
        except FileNotFoundError:
            self.warn(out, "vanished", path, "file disappeared while being read", transient=True)
            return None
        except OSError as exc:
            self.warn(out, "unreadable-file", path, f"cannot be read ({exc.strerror or exc})")
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

    def dataset(self, exp: _Exp, dataset_id: str, out: list[ReadWarning]) -> dict[str, Any] | None:
        key = (exp.rel, dataset_id)
        if key not in self._datasets:
            meta = exp.path / "datasets" / dataset_id / "meta.yaml"
            self._datasets[key] = self.read_yaml(meta, out)
        return self._datasets[key]

    def read_inputs(self, exp: _Exp, run_dir: Path, out: list[ReadWarning]) -> list[dict[str, Any]]:
        inputs = []
        for _, folder in _subdirs(run_dir / "inputs"):
            link = self.read_yaml(folder / "meta.yaml", out)
            if not link or link.get("source_type") != "DATASET":
                continue  # model inputs have no place in RunRecord
            ds = self.dataset(exp, str(link.get("source_id")), out)
            if ds is None:
                continue
            tags = _str_dict(link.get("tags"))
            inputs.append({
                **{k: _opt_str(ds.get(k)) for k in ("name", "digest", "source_type", "source",
                                                     "schema", "profile")},
                "context": tags.get("mlflow.data.context"), "tags": tags,
            })
        return inputs

    def read_run_full(self, exp: _Exp, run_id: str, path: Path) -> tuple[RunRecord, dict[str, Any]]:
        rec = RunRecord(run_id, replace_params=True, replace_tags=True, replace_series=True)
        w = rec.warnings
        meta_sig = _sig(path / "meta.yaml")
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
                         i=_digest(_tree_parts(path / "inputs")))
        return rec, entry

    def read_run_live(self, exp: _Exp, run_id: str, path: Path, prev: dict[str, Any]
                      ) -> tuple[RunRecord | None, dict[str, Any]]:
        rec = RunRecord(run_id)
        w = rec.warnings
        meta_sig = _sig(path / "meta.yaml")
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
        in_digest = _digest(_tree_parts(path / "inputs"))
        if in_digest != prev.get("i"):
            rec.inputs = self.read_inputs(exp, path, w)
        entry: dict[str, Any] = {"e": exp.rel, "m": meta_sig}
        if live:
            entry.update(live=1, s=status, off=offsets, p=psigs, t=tsigs, i=in_digest)
        changed = (rec.meta or rec.params or rec.tags or rec.points or w or rec.replace_series
                   or rec.inputs is not None)
        return (rec if changed else None), entry

    # -- logged models and the registry -------------------------------------------------------

    def models_digests(self, exps: list[_Exp]) -> dict[str, str]:
        digests = {}
        for exp in exps:
            parts = []
            for name, folder in _subdirs(exp.path / "models"):
                parts.append(f"{name}/={_sig(folder)}")
                parts += [f"{name}/{p}" for p in _tree_parts(folder, frozenset({"artifacts"}))]
            digests[exp.rel] = _digest(parts)
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
            "name": _opt_str(meta.get("name")),
            "artifact_path": _resolve_artifacts(meta.get("artifact_location"),
                                                folder / "artifacts"),
            "step": None, "status": _MODEL_STATUS.get(raw, str(raw)) if raw is not None else None,
            "model_type": _opt_str(meta.get("model_type")),
            "created": _ms(meta.get("creation_timestamp")),
            "tags": self.read_kv(folder / "tags", {}, out)[0],
            "params": self.read_kv(folder / "params", {}, out)[0],
            "metrics": metrics, "_run": _opt_str(meta.get("source_run_id")),
        }

    def model_index(self, exps: list[_Exp], runs: dict[str, tuple[_Exp, Path]]
                    ) -> dict[str, tuple[list[dict[str, Any]], list[ReadWarning]]]:
        """run id -> (models it produced, warnings about them)."""
        index: dict[str, tuple[list[dict[str, Any]], list[ReadWarning]]] = {}
        for exp in exps:
            for _, folder in _subdirs(exp.path / "models"):
                out: list[ReadWarning] = []
                model = self.logged_model(folder, out)
                run_id = model.pop("_run") if model else None
                if model is None or run_id not in runs:
                    self.warnings += out
                    continue
                step_meta = runs[run_id][1] / "outputs" / model["model_id"] / "meta.yaml"
                if step_meta.exists():
                    model["step"] = _ms((self.read_yaml(step_meta, out) or {}).get("step"))
                models, warns = index.setdefault(run_id, ([], []))
                models.append(model)
                warns += out
        for models, _ in index.values():
            models.sort(key=lambda m: (m["created"] or 0, m["model_id"]))
        return index

    def attach_models(self, exps: list[_Exp], runs: dict[str, tuple[_Exp, Path]],
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
        for _, folder in _subdirs(self.store / "models"):
            meta = self.read_yaml(folder / "meta.yaml", self.warnings)
            if meta is None:
                continue
            aliases = _str_dict(meta.get("aliases"))
            if (folder / "aliases").is_dir():  # the folder is what MLflow reads back
                found = self.read_kv(folder / "aliases", {}, self.warnings)[0]
                aliases = {alias: version.strip() for alias, version in found.items()}
            versions = [v for _, vdir in _subdirs(folder) if vdir.name.startswith("version-")
                        if (v := self.model_version(vdir, aliases)) is not None]
            versions.sort(key=lambda v: (len(v["version"]), v["version"]))  # numeric order
            models.append({
                "name": str(meta.get("name") or folder.name),
                "description": _opt_str(meta.get("description")),
                "tags": self.read_kv(folder / "tags", {}, self.warnings)[0],
                "aliases": aliases, "created": _ms(meta.get("creation_timestamp")),
                "versions": versions,
            })
        return sorted(models, key=lambda m: m["name"])

    def model_version(self, folder: Path, aliases: dict[str, str]) -> dict[str, Any] | None:
        meta = self.read_yaml(folder / "meta.yaml", self.warnings)
        if meta is None or meta.get("current_stage") == "Deleted_Internal":  # soft-deleted
            return None
        version = str(meta.get("version", folder.name[len("version-"):]))
        return {
            "version": version, "source": _opt_str(meta.get("source")),
            "run_source_id": _opt_str(meta.get("run_id")),
            "model_id": _opt_str(meta.get("model_id")),
            "status": _opt_str(meta.get("status")), "stage": _opt_str(meta.get("current_stage")),
            "aliases": sorted(a for a, v in aliases.items() if v == version),
            "tags": self.read_kv(folder / "tags", {}, self.warnings)[0],
            "description": _opt_str(meta.get("description")),
            "created": _ms(meta.get("creation_timestamp")),
        }

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
        for run_id, (exp, path) in runs.items():
            prev = prev_runs.get(run_id)
            old_exp = prev_exps.get(exp.rel)
            if (prev is None or prev.get("e") != exp.rel or (old_exp and old_exp[1] != exp.deleted)
                    or (not prev.get("live") and prev.get("m") != _sig(path / "meta.yaml"))):
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

    def cursor(self, exps: list[_Exp], entries: dict[str, dict[str, Any]],
               models_digests: dict[str, str]) -> dict[str, Any]:
        return {
            "v": _CURSOR_VERSION, "runs": entries,
            "exps": {e.rel: [e.name, e.deleted] for e in exps},
            "md": models_digests, "rg": _digest(_tree_parts(self.store / "models")),
        }


class MlflowFileReader(Reader):
    """Reads an MLflow file store; one source per store."""

    format = "mlflow"

    def __init__(self) -> None:
        # Store path -> (run ids known, run ids live) from the last cursor this process saw,
        # so that fingerprint stats only the files that can still grow.
        self._hot: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    def detect(self, folder: Path, names: frozenset[str], rel: str) -> Detection | None:
        if not (".trash" in names or any(_is_exp_name(n) for n in names)):
            return None
        if not _looks_like_store(folder, names):
            return None
        return Detection(sources=[SourceRef(self.format, folder, rel)], claim_all=True)

    def fingerprint(self, source: SourceRef) -> str:
        """Stats of the store and experiment folders, every meta.yaml, the registry and the
        logged models; the files of a run only while it is live (or not yet seen by
        ``read_on`` in this process). A cold run changes its meta.yaml when it changes state,
        so appending points to an already finished run is seen only at the next full read."""
        store = source.path
        known, live = self._hot.get(str(store), (None, frozenset()))
        parts = [f".={_sig(store)}", f".trash={_sig(store / '.trash')}"]
        parts += [f"models/{p}" for p in _tree_parts(store / "models")]
        for rel, exp_dir, _ in _experiment_dirs(store):
            parts += [f"{rel}={_sig(exp_dir)}", f"{rel}/meta.yaml={_sig(exp_dir / 'meta.yaml')}",
                      f"{rel}/datasets={_sig(exp_dir / 'datasets')}"]
            for name, model_dir in _subdirs(exp_dir / "models"):
                parts += [f"{rel}/models/{name}/{p}"
                          for p in _tree_parts(model_dir, frozenset({"artifacts"}))]
            for run_id, run_dir in _run_dirs(exp_dir):
                if known is None or run_id in live or run_id not in known:
                    parts += [f"{rel}/{run_id}/{p}"
                              for p in _tree_parts(run_dir, frozenset({"artifacts"}))]
                else:
                    parts.append(f"{rel}/{run_id}={_sig(run_dir / 'meta.yaml')}")
        return _digest(parts)

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
