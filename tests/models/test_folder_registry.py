"""The shared-folder registry: pushes from real concurrent processes, a push killed midway, verified pulls."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from labdeck.models import hashing
from labdeck.models.registries.base import IntegrityError, PushRequest, RegistryError
from labdeck.models.registries.folder import FolderRegistry
from labdeck.models.states import TransitionRefused

PUSHER = r"""
import os, sys, time
from pathlib import Path
from labdeck.models import hashing
from labdeck.models.registries.base import PushRequest
from labdeck.models.registries.folder import FolderRegistry
uri, name, src, go = sys.argv[1:5]
digest = hashing.digest_path(src)
while not os.path.exists(go):  # all pushers start together
    time.sleep(0.005)
r = FolderRegistry(uri).push(PushRequest(name=name, local_version=1, root=Path(src), digest=digest))
print(r.remote_version, r.created, digest.hash, flush=True)
"""

STALLER = r"""
import sys, time
from pathlib import Path
from labdeck.models import hashing
from labdeck.models.registries.base import PushRequest
from labdeck.models.registries.folder import FolderRegistry
from labdeck.tasks import Task
uri, name, src = sys.argv[1:4]
def on_progress(p):
    if p.message.startswith("stored 1/"):
        print("MIDWAY", flush=True)  # one blob is in place, the manifest is not: wait to be killed
        time.sleep(3600)
digest = hashing.digest_path(src)
FolderRegistry(uri).push(PushRequest(name=name, local_version=1, root=Path(src), digest=digest), Task(on_progress))
"""


def _artifact(folder: Path, unique: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"shared": true}')  # the same blob in every artifact
    (folder / "weights.bin").write_bytes(unique * 20_000)
    return folder


def _push(reg: FolderRegistry, name: str, src: Path) -> tuple:
    digest = hashing.digest_path(src)
    return reg.push(PushRequest(name=name, local_version=1, root=src, digest=digest)), digest


def test_push_then_pull_verifies_bytes(tmp_path):
    reg = FolderRegistry(f"folder://{tmp_path / 'reg'}")
    src = _artifact(tmp_path / "a", b"A")
    result, digest = _push(reg, "m", src)
    assert (result.remote_version, result.created) == ("1", True)
    again, _ = _push(reg, "m", src)
    assert (again.remote_version, again.created) == ("1", False)  # same bytes: a no-op
    pulled = reg.pull("m", "1", tmp_path / "out")
    assert pulled.artifact_hash == digest.hash
    for name in ("config.json", "weights.bin"):
        assert (tmp_path / "out" / name).read_bytes() == (src / name).read_bytes()
    manifest = json.loads((tmp_path / "reg" / "models" / "m" / "1.json").read_text())
    assert manifest["artifact_hash"] == digest.hash and len(manifest["files"]) == 2


def test_concurrent_pushers_from_separate_processes(tmp_path):
    root = tmp_path / "reg"
    uri = f"folder://{root}"
    srcs = [_artifact(tmp_path / f"src{i}", bytes([65 + i])) for i in range(3)]
    go = tmp_path / "go"
    cmds = [(s, "m") for s in srcs] + [(srcs[0], "m")]  # the last repeats the first artifact
    procs = [subprocess.Popen([sys.executable, "-c", PUSHER, uri, name, str(s), str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for s, name in cmds]
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        version, created, digest = out.split()
        outs.append((version, created == "True", digest))
    reg = FolderRegistry(uri)
    assert reg.versions("m") == ["1", "2", "3"]  # three artifacts, three versions, no gap, no overwrite
    by_hash: dict[str, set[str]] = {}
    for version, _, digest in outs:
        by_hash.setdefault(digest, set()).add(version)
    assert len(by_hash) == 3 and all(len(v) == 1 for v in by_hash.values())  # the repeat got the same version
    assert sum(1 for _, created, _ in outs if created) == 3
    for i, src in enumerate(srcs):
        version = next(iter(by_hash[hashing.digest_path(src).hash]))
        pulled = reg.pull("m", version, tmp_path / f"out{i}")
        assert (pulled.path / "weights.bin").read_bytes() == (src / "weights.bin").read_bytes()
    assert list((root / "tmp").iterdir()) == []


def test_push_killed_midway_leaves_nothing_visible_and_can_be_retried(tmp_path):
    root = tmp_path / "reg"
    uri = f"folder://{root}"
    src = _artifact(tmp_path / "src", b"K")
    proc = subprocess.Popen([sys.executable, "-c", STALLER, uri, "m", str(src)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "MIDWAY"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    reg = FolderRegistry(uri)
    assert reg.versions("m") == []
    with pytest.raises(RegistryError, match="m has no version 1"):
        reg.pull("m", "1", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    result, digest = _push(reg, "m", src)
    assert (result.remote_version, result.created) == ("1", True)
    assert reg.pull("m", "1", tmp_path / "out").artifact_hash == digest.hash


def test_tampered_blob_is_detected_and_nothing_lands(tmp_path):
    root = tmp_path / "reg"
    reg = FolderRegistry(f"folder://{root}")
    src = _artifact(tmp_path / "src", b"T")
    _, digest = _push(reg, "m", src)
    weights_hash = next(h for p, _, h in digest.manifest if p == "weights.bin")
    algo, hexdigest = hashing.split(weights_hash)
    blob = root / "blobs" / algo / hexdigest[:2] / hexdigest
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF  # same size, one bit pattern changed
    os.chmod(blob, 0o644)
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="blob of weights.bin is corrupt"):
        reg.pull("m", "1", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".out.partial")] == []


def test_edited_manifest_is_detected(tmp_path):
    root = tmp_path / "reg"
    reg = FolderRegistry(f"folder://{root}")
    _push(reg, "m", _artifact(tmp_path / "src", b"E"))
    path = root / "models" / "m" / "1.json"
    manifest = json.loads(path.read_text())
    manifest["files"][0]["size"] += 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="does not match its own hash"):
        reg.pull("m", "1", tmp_path / "out")


def test_bad_folder_uri(tmp_path):
    with pytest.raises(ValueError, match="write folder:///absolute/path"):
        FolderRegistry("folder://host/share")


# Through the workflow ------------------------------------------------------------


def test_only_approved_versions_push_and_each_push_is_recorded(model_run, svc, pub, tmp_path, monkeypatch):
    mv = svc.register(model_run[1], "artifacts/models/classifier", "classifier")
    pub.add_registry("team", f"folder://{tmp_path / 'reg'}")
    with pytest.raises(TransitionRefused, match="rule approved-only: classifier:1 is draft"):
        pub.push(mv.ref, "team")
    svc.transition(mv.ref, "submit")
    with pytest.raises(TransitionRefused, match="is in_review; only approved versions are pushed"):
        pub.push(mv.ref, "team")
    assert not (tmp_path / "reg" / "models").exists()
    svc.transition(mv.ref, "approve")
    monkeypatch.setenv("LABDECK_USER", "dana")
    outcome = pub.push(mv.ref, "team", alias="prod")
    assert outcome.created and outcome.push.remote_version == "1" and outcome.push.pushed_by == "dana"
    after = svc.version(mv.ref)
    assert after.state == "published"
    assert [(p.registry, p.remote_version, p.alias) for p in after.pushes] == [("team", "1", "prod")]
    assert svc.history("classifier")[-1].action == "publish"
    again = pub.push(mv.ref, "team")
    assert not again.created and again.push == outcome.push
    assert len(svc.history("classifier")) == 4  # the no-op adds nothing
    aliases = json.loads((tmp_path / "reg" / "models" / "classifier" / "aliases.json").read_text())
    assert aliases == {"prod": 1}
    pulled = pub.pull("classifier:prod", "team", tmp_path / "pulled")
    assert pulled.artifact_hash == mv.artifact_hash
    moved = pub.push(mv.ref, "team", alias="stable")  # same version, a new alias: nothing re-sent
    assert not moved.created and moved.push.alias == "stable"
    assert svc.version(mv.ref).pushes[0].alias == "stable"
    aliases = json.loads((tmp_path / "reg" / "models" / "classifier" / "aliases.json").read_text())
    assert aliases == {"prod": 1, "stable": 1}


def test_approval_stops_counting_when_the_bytes_change(model_run, svc, pub, approved, tmp_path):
    pub.add_registry("team", f"folder://{tmp_path / 'reg'}")
    weights = model_run[2] / "artifacts" / "models" / "classifier" / "model.safetensors"
    weights.write_bytes(b"retrained" + weights.read_bytes()[9:])  # same size, other bytes
    with pytest.raises(IntegrityError, match="the approval no longer counts"):
        pub.push(approved, "team")
    assert FolderRegistry(f"folder://{tmp_path / 'reg'}").versions("classifier") == []
    assert svc.version(approved).pushes == ()


def test_push_refused_when_the_log_fails_its_audit(model_run, svc, pub, approved, tmp_path):
    import sqlite3

    pub.add_registry("team", f"folder://{tmp_path / 'reg'}")
    conn = sqlite3.connect(model_run[0].index_path)
    conn.execute("DROP TRIGGER approval_events_no_update")
    conn.execute("UPDATE approval_events SET comment = 'rubber stamp' WHERE action = 'approve'")
    conn.commit()
    conn.close()
    with pytest.raises(TransitionRefused, match="rule audit: the approval log of classifier fails its audit"):
        pub.push(approved, "team")


def test_unknown_registry_and_bad_uri(pub, approved):
    with pytest.raises(LookupError, match="no registry named 'nowhere'"):
        pub.push(approved, "nowhere")
    with pytest.raises(ValueError, match="unsupported registry URI 's3://b'"):
        pub.add_registry("s3", "s3://b")
