"""Discovery, registration and content hashes of model versions."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import labdeck
import pytest
from labdeck.db import registry as q
from labdeck.models import hashing
from labdeck.models.discovery import find_candidates
from labdeck.models.versions import ModelService


class _Bomb:
    """Unpickling this would create a file: proof that discovery never unpickles."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_discovery_finds_every_kind_without_loading(tmp_path):
    run_dir = tmp_path / "run"
    art = run_dir / "artifacts"
    (art / "mlflow_model").mkdir(parents=True)
    (art / "mlflow_model" / "MLmodel").write_text("flavors: {}\n")
    (art / "mlflow_model" / "model.pkl").write_bytes(b"inside the MLflow model")
    (art / "ckpt" / "checkpoint-10").mkdir(parents=True)
    (art / "ckpt" / "checkpoint-10" / "config.json").write_text("{}")
    (art / "ckpt" / "checkpoint-10" / "model.safetensors").write_bytes(b"x" * 10)
    (art / "net.onnx").write_bytes(b"onnx")
    (art / "clf.joblib").write_bytes(b"joblib")
    marker = tmp_path / "unpickled"
    (art / "evil.pkl").write_bytes(pickle.dumps(_Bomb(str(marker))))
    (art / "notes.txt").write_text("not a model")
    (art / "lonely" ).mkdir()
    (art / "lonely" / "config.json").write_text("{}")  # config without weights: not a checkpoint

    found = {c.rel: (c.kind, c.format) for c in find_candidates(run_dir, art)}
    assert found == {
        "artifacts/mlflow_model": ("folder", "mlflow"),
        "artifacts/ckpt/checkpoint-10": ("folder", "hf"),
        "artifacts/net.onnx": ("file", "onnx"),
        "artifacts/clf.joblib": ("file", "joblib"),
        "artifacts/evil.pkl": ("file", "pickle"),
    }
    assert not marker.exists()


def test_sdk_log_model_copies_and_records_an_event(project, tmp_path):
    src = tmp_path / "weights.pt"
    src.write_bytes(b"\x00\x01weights")
    with labdeck.start_run(project, record_provenance=False) as run:
        dest = run.log_model(src, name="net")
        with pytest.raises(ValueError, match="without slashes"):
            run.log_model(src, name="a/b")
    assert dest == run.dir / "artifacts" / "models" / "net"
    assert (dest / "weights.pt").read_bytes() == b"\x00\x01weights"
    events = [json.loads(line) for line in (run.dir / "events.jsonl").read_text().splitlines()]
    model_events = [e for e in events if e["type"] == "model"]
    assert len(model_events) == 1
    assert model_events[0]["name"] == "net" and model_events[0]["path"] == "artifacts/models/net"
    assert isinstance(model_events[0]["time"], int)
    (cand,) = find_candidates(run.dir, run.dir / "artifacts")
    assert (cand.format, cand.name, cand.kind, cand.rel) == ("sdk", "net", "folder", "artifacts/models/net")


def test_candidates_of_indexed_runs(model_run, svc):
    _, run_id, _ = model_run
    found = {(c.run_id, c.candidate.rel, c.candidate.format) for c in svc.candidates()}
    assert found == {(run_id, "artifacts/models/classifier", "sdk"), (run_id, "artifacts/extra.pt", "pt")}


def test_register_binds_version_to_hash_run_and_metrics(model_run, svc, monkeypatch):
    _, run_id, run_dir = model_run
    monkeypatch.setenv("LABDECK_USER", "alice")
    mv = svc.register(run_id, "artifacts/models/classifier", "classifier")
    assert (mv.name, mv.version, mv.state, mv.kind, mv.model_format) == ("classifier", 1, "draft", "folder", "sdk")
    assert mv.run_uid == run_id and mv.registered_by == "alice"
    assert mv.metrics == {"val_acc": 0.95, "loss": 0.2}
    folder = run_dir / "artifacts" / "models" / "classifier"
    # The manifest lists each file with its own hash; the version's hash is the manifest's.
    algo = hashing.default_algorithm()
    expected_files = []
    for rel in ("config.json", "model.safetensors"):
        data = (folder / rel).read_bytes()
        h = hashing.new_hasher(algo)
        h.update(data)
        expected_files.append((rel, len(data), f"{algo}:{h.hexdigest()}"))
    assert list(mv.manifest) == expected_files
    assert mv.artifact_hash == hashing.manifest_hash(expected_files, algo)

    one_file = svc.register(run_id, str(run_dir / "artifacts" / "extra.pt"), "classifier")
    assert one_file.version == 2 and one_file.kind == "file" and one_file.model_format == "pt"
    h = hashing.new_hasher(algo)
    h.update((run_dir / "artifacts" / "extra.pt").read_bytes())
    assert one_file.artifact_hash == f"{algo}:{h.hexdigest()}"
    assert [v.version for v in svc.versions("classifier")] == [1, 2]


def test_blake2b_fallback_hash_is_verifiable(tmp_path):
    f = tmp_path / "m.onnx"
    f.write_bytes(b"abc" * 1000)
    d = hashing.digest_path(f, "blake2b")
    assert d.hash == "blake2b:" + hashlib.blake2b(b"abc" * 1000, digest_size=32).hexdigest()


def test_register_bad_input_is_specific(model_run, svc):
    _, run_id, _ = model_run
    with pytest.raises(FileNotFoundError, match="no model at 'artifacts/nope'"):
        svc.register(run_id, "artifacts/nope", "classifier")
    with pytest.raises(ValueError, match="bad model name"):
        svc.register(run_id, "artifacts/extra.pt", "has space")
    with pytest.raises(LookupError, match="no run with id"):
        svc.register("zzzzzzzz", "artifacts/extra.pt", "classifier")
    with pytest.raises(q.ModelNotFound, match="no model named 'ghost'"):
        svc.version("ghost:1")
    with pytest.raises(ValueError, match="write NAME:VERSION"):
        svc.version("classifier")


def test_dataset_versions_come_from_the_runs_inputs(workspace, project, write_model_run):
    run = write_model_run(project)
    event = {"type": "dataset", "name": "mnist-train", "version": 2, "digest": "abc123", "context": "training",
             "time": 1}
    with open(run.dir / "events.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")
    workspace.add_project(project)
    workspace.index()
    (info,) = workspace.runs()
    mv = ModelService(workspace.db).register(info.id, "artifacts/extra.pt", "withdata")
    assert [(d["name"], d["digest"], d["source"]) for d in mv.datasets] == [("mnist-train", "abc123", "mnist-train:2")]


def test_model_service_is_usable_on_a_fresh_index(workspace):
    assert ModelService(workspace.db).versions() == []


def test_folder_hash_follows_file_links_and_refuses_an_empty_folder(tmp_path):
    blob = tmp_path / "blobs" / "abc"
    blob.parent.mkdir()
    blob.write_bytes(b"weights")
    snap = tmp_path / "snapshot"
    snap.mkdir()
    (snap / "model.safetensors").symlink_to(blob)  # as in a Hugging Face cache snapshot
    (snap / "config.json").write_text("{}")
    d = hashing.digest_path(snap)
    assert [(p, s) for p, s, _ in d.manifest] == [("config.json", 2), ("model.safetensors", 7)]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no files"):
        hashing.digest_path(tmp_path / "empty")


def test_mlflow3_logged_models_outside_the_run_folder_are_candidates(workspace, tmp_path, fixtures_dir):
    import shutil

    project = tmp_path / "mlflow-project"
    shutil.copytree(fixtures_dir / "mlflow-file", project)  # the corpus itself stays read-only
    workspace.add_project(project)
    workspace.index()
    svc = ModelService(workspace.db)
    found = [c for c in svc.candidates() if c.candidate.format == "mlflow"]
    logged = sorted(p.parent for p in project.glob("mlruns/*/models/*/artifacts/MLmodel"))
    assert logged and sorted({Path(c.candidate.path) for c in found}) == logged
    c = found[0]
    mv = svc.register(c.run_id, c.candidate.path, "from-mlflow")
    assert mv.model_format == "mlflow" and mv.kind == "folder"
    assert any(p == "MLmodel" for p, _, _ in mv.manifest)
