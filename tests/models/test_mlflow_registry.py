"""Pushing to a real MLflow server (started by the tests) and reading back with MLflow's own client."""

from __future__ import annotations

import hashlib
import json

import pytest
from labdeck.models import hashing
from labdeck.models.registries.base import PushRequest, RegistryError
from labdeck.models.registries.mlflow import MlflowRegistry
from labdeck.models.states import TransitionRefused
from labdeck.tasks import Cancelled, Task

ADMIN_PASSWORD = "labdeck-admin-pw-42"  # the test server's admin (tests/models/conftest.py)

READ_BACK = r"""
import hashlib, json, os, tempfile
from mlflow import MlflowClient
import mlflow.artifacts
name, alias = sys.argv[1:3]
c = MlflowClient()
mv = c.get_model_version_by_alias(name, alias)
dst = tempfile.mkdtemp()
path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{mv.version}", dst_path=dst)
files = {}
for root, _, names in os.walk(path):
    for n in names:
        p = os.path.join(root, n)
        files[os.path.relpath(p, path)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
print(json.dumps({"version": mv.version, "tags": mv.tags, "aliases": list(mv.aliases),
                  "n_versions": len(c.search_model_versions(f"name='{name}'")), "files": files}))
"""


def _sha256_tree(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file()}


def test_push_approved_version_and_read_it_back_with_mlflow(model_run, svc, pub, approved, mlflow_server, mlflow_creds,
                                                            tmp_path):
    pub.add_registry("central", "mlflow+" + mlflow_server.url)
    outcome = pub.push(approved, "central", alias="champion")
    assert outcome.created and outcome.push.remote_version == "1"
    mv = svc.version(approved)
    assert mv.state == "published"

    seen = json.loads(mlflow_server.client(READ_BACK, "classifier", "champion"))
    assert seen["version"] == "1" and seen["aliases"] == ["champion"] and seen["n_versions"] == 1
    tags = seen["tags"]
    assert tags["labdeck.artifact_hash"] == mv.artifact_hash
    assert tags["labdeck.run_id"] == mv.run_uid and tags["labdeck.run_hash"] == mv.run_hash
    approval = json.loads(tags["labdeck.approval"])
    assert [a["action"] for a in approval] == ["register", "submit", "approve"]
    assert approval[-1]["comment"] == "looks good"
    assert json.loads(tags["labdeck.metrics"]) == {"val_acc": 0.95, "loss": 0.2}
    assert seen["files"] == _sha256_tree(model_run[2] / "artifacts" / "models" / "classifier")

    again = pub.push(approved, "central", alias="champion")  # a no-op
    assert not again.created and again.push.remote_version == "1"
    assert MlflowRegistry("mlflow+" + mlflow_server.url).versions("classifier") == ["1"]

    pulled = pub.pull("classifier:1", "central", tmp_path / "pulled")
    assert pulled.artifact_hash == mv.artifact_hash
    assert _sha256_tree(tmp_path / "pulled") == seen["files"]


def test_unapproved_version_is_refused_before_contacting_the_server(model_run, svc, pub, mlflow_server, mlflow_creds):
    mv = svc.register(model_run[1], "artifacts/extra.pt", "candidate")
    svc.transition(mv.ref, "submit")
    pub.add_registry("central", "mlflow+" + mlflow_server.url)
    with pytest.raises(TransitionRefused, match="only approved versions are pushed"):
        pub.push(mv.ref, "central")
    assert MlflowRegistry("mlflow+" + mlflow_server.url).versions("candidate") == []


def test_interrupted_push_leaves_no_version_and_can_be_retried(tmp_path, mlflow_server, mlflow_creds):
    src = tmp_path / "model"
    src.mkdir()
    for i in range(3):
        (src / f"part{i}.bin").write_bytes(bytes([i]) * 70_000)
    digest = hashing.digest_path(src)
    reg = MlflowRegistry("mlflow+" + mlflow_server.url)
    request = PushRequest(name="interrupted", local_version=1, root=src, digest=digest)

    def stop_midway(p):
        if p.done >= 140_000:  # the first file is uploaded, the second is on its way: the user cancels
            task.cancel()

    task = Task(stop_midway, every_s=0)
    with pytest.raises(Cancelled):
        reg.push(request, task)
    assert reg.versions("interrupted") == []
    result = reg.push(request)
    assert (result.remote_version, result.created) == ("1", True)
    assert reg.versions("interrupted") == ["1"]


def test_wrong_credentials_refused_with_a_clear_message(tmp_path, mlflow_server, monkeypatch):
    src = tmp_path / "m.onnx"
    src.write_bytes(b"onnx bytes" * 100)
    request = PushRequest(name="secured", local_version=1, root=src, digest=hashing.digest_path(src))
    reg = MlflowRegistry("mlflow+" + mlflow_server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
    with pytest.raises(RegistryError, match=r"refused the credentials \(HTTP 401.*MLFLOW_TRACKING_USERNAME"):
        reg.push(request)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    with pytest.raises(RegistryError, match=r"refused the credentials \(HTTP 401"):
        reg.push(request)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    assert reg.push(request).remote_version == "1"


def test_unreachable_server_is_a_clear_error(tmp_path, free_port):
    src = tmp_path / "m.pt"
    src.write_bytes(b"x")
    reg = MlflowRegistry(f"mlflow+http://127.0.0.1:{free_port}")
    with pytest.raises(RegistryError, match="cannot reach the MLflow server at http://127.0.0.1"):
        reg.push(PushRequest(name="m", local_version=1, root=src, digest=hashing.digest_path(src)))
