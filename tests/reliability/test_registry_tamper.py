"""A shared-folder registry is input, not a record: tampered and malformed manifests are refused.

Versions are pushed through the real CLI from a real index; the registry folder is then edited
the way someone with write access to the share could, and ``labdeck model pull`` must refuse
(exit 2, one line, nothing written) instead of delivering other bytes or crashing.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import labdeck
import pytest
from labdeck.cli import run_cli
from labdeck.models import hashing
from labdeck.models.registries.base import RegistryError
from labdeck.models.registries.folder import FolderRegistry
from labdeck.models.versions import ModelService
from labdeck.workspace import Workspace


def _write_run(project: Path, i: int) -> None:
    src = project.parent / f"model-src-{i}"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"version": i}))
    (src / "weights.bin").write_bytes(bytes([65 + i]) * 30_000)
    with labdeck.start_run(project, name=f"train-{i}", record_provenance=False) as run:
        run.log({"acc": 0.9 + i / 100}, step=0)
        run.log_model(src, name="clf")


@pytest.fixture
def pushed(tmp_path, capsys):
    """An index with clf:1 and clf:2 (different bytes) pushed to the folder registry 'team'."""
    project = tmp_path / "project"
    project.mkdir()
    for i in (1, 2):
        _write_run(project, i)
    index = tmp_path / "index.sqlite"
    ws = Workspace(index)
    ws.add_project(project)
    ws.index()
    svc = ModelService(ws.db)
    for run in sorted(ws.runs(), key=lambda r: r.name):
        mv = svc.register(run.id, "artifacts/models/clf", "clf")
        svc.transition(mv.ref, "submit")
        svc.transition(mv.ref, "approve", "ok")
    ws.close()
    reg = tmp_path / "reg"

    def cli(*argv: str) -> tuple[int, str, str]:
        code = run_cli([argv[0], "--index", str(index), *argv[1:]])
        out, err = capsys.readouterr()
        return code, out, err

    assert cli("registry", "add", "team", f"folder://{reg}")[0] == 0
    for ref in ("clf:1", "clf:2"):
        code, out, err = cli("model", "push", ref, "--to", "team")
        assert code == 0, err
    cli.reg = reg
    cli.index = index
    return cli


def _manifest(reg: Path, n: int) -> Path:
    return reg / "models" / "clf" / f"{n}.json"


def _rehash(m: dict) -> dict:
    """What a careful tamperer does: make the manifest consistent with its own hash again."""
    files = [(f["path"], f["size"], f["hash"]) for f in m["files"]]
    m["artifact_hash"] = hashing.manifest_hash(files, hashing.split(m["artifact_hash"])[0])
    return m


def _refused(cli, tmp_path: Path, ref: str = "clf:1", *extra: str) -> str:
    dest = tmp_path / "got"
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = cli("model", "pull", ref, "--from", "team", "--dest", str(dest), *extra)
    assert code == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written beside it either
    return err


def test_untouched_versions_pull_verified_against_the_index(pushed, tmp_path):
    code, out, _ = pushed("model", "pull", "clf:1", "--from", "team", "--dest", str(tmp_path / "v1"))
    assert code == 0 and "recorded at push" in out
    assert (tmp_path / "v1" / "weights.bin").read_bytes() == b"B" * 30_000


def test_version_2s_manifest_copied_over_version_1_is_refused(pushed, tmp_path):
    shutil.copyfile(_manifest(pushed.reg, 2), _manifest(pushed.reg, 1))
    assert "expected 1" in _refused(pushed, tmp_path)


def test_copied_manifest_with_its_number_edited_is_refused_by_the_index(pushed, tmp_path):
    m = json.loads(_manifest(pushed.reg, 2).read_text())
    m["version"] = 1
    _manifest(pushed.reg, 1).write_text(json.dumps(m))
    assert "was pushed" in _refused(pushed, tmp_path)


def test_manifest_repointed_at_another_blob_with_its_hash_recomputed_is_refused(pushed, tmp_path):
    one = json.loads(_manifest(pushed.reg, 1).read_text())
    two = json.loads(_manifest(pushed.reg, 2).read_text())
    other = {f["path"]: f for f in two["files"]}["weights.bin"]
    one["files"] = [other if f["path"] == "weights.bin" else f for f in one["files"]]
    _manifest(pushed.reg, 1).write_text(json.dumps(_rehash(one)))
    assert "was pushed" in _refused(pushed, tmp_path)


def test_a_version_this_index_did_not_push_needs_unverified(pushed, tmp_path):
    other_index = tmp_path / "colleague.sqlite"
    ws = Workspace(other_index)
    ws.close()
    code = run_cli(["registry", "add", "--index", str(other_index), "team", f"folder://{pushed.reg}"])
    assert code == 0
    code = run_cli(["model", "pull", "--index", str(other_index), "clf:1", "--from", "team",
                    "--dest", str(tmp_path / "a")])
    assert code == 2 and not (tmp_path / "a").exists()
    code = run_cli(["model", "pull", "--index", str(other_index), "clf:1", "--from", "team",
                    "--dest", str(tmp_path / "b"), "--unverified"])
    assert code == 0 and (tmp_path / "b" / "weights.bin").read_bytes() == b"B" * 30_000


def _files(m: dict) -> list:
    return m["files"]


# Each: a change to version 1's manifest (its own hash recomputed where it still can be).
MALFORMED = {
    "empty path": lambda m: _files(m)[0].update(path=""),
    "dot path": lambda m: _files(m)[0].update(path="."),
    "dot-dot path": lambda m: _files(m)[0].update(path=".."),
    "escaping path": lambda m: _files(m)[0].update(path="../../outside.bin"),
    "absolute path": lambda m: _files(m)[0].update(path="/tmp/labdeck-absolute.bin"),
    "path below a file": lambda m: _files(m).append({**_files(m)[1], "path": _files(m)[1]["path"] + "/x"}),
    "duplicate path": lambda m: _files(m).append(dict(_files(m)[0])),
    "control character": lambda m: _files(m)[0].update(path="a\tb"),
    "lone surrogate": lambda m: _files(m)[0].update(path="\udcff.bin"),
    "files not a list": lambda m: m.update(files={"weights.bin": 1}),
    "files empty": lambda m: m.update(files=[]),
    "entry not an object": lambda m: _files(m).append("weights.bin"),
    "entry missing size": lambda m: _files(m)[0].pop("size"),
    "size as text": lambda m: _files(m)[0].update(size="12"),
    "size as float": lambda m: _files(m)[0].update(size=12.0),
    "size as bool": lambda m: _files(m)[0].update(size=True),
    "negative size": lambda m: _files(m)[0].update(size=-1),
    "huge size": lambda m: _files(m)[0].update(size=10**40),
    "hash not text": lambda m: _files(m)[0].update(hash=12),
    "hash not hex": lambda m: _files(m)[0].update(hash="blake2b:../../x"),
    "kind unknown": lambda m: m.update(kind="tarball"),
    "artifact hash missing": lambda m: m.pop("artifact_hash"),
    "not an object": lambda m: (m.clear(), m.update(__list__=True)),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_manifest_is_a_clear_refusal(pushed, tmp_path, case):
    path = _manifest(pushed.reg, 1)
    m = json.loads(path.read_text())
    MALFORMED[case](m)
    if m.get("__list__"):
        text = "[1, 2, 3]"
    else:
        try:
            text = json.dumps(_rehash(m))
        except (KeyError, TypeError, AttributeError, ValueError, IndexError, UnicodeEncodeError):
            text = json.dumps(m)
    path.write_text(text)
    _refused(pushed, tmp_path)  # through the index: exit 2, one line, nothing written
    with pytest.raises(RegistryError):  # and the back end alone, trusting nothing it reads
        FolderRegistry(f"folder://{pushed.reg}").pull("clf", "1", tmp_path / "direct")
    assert not (tmp_path / "direct").exists()
    assert not Path("/tmp/labdeck-absolute.bin").exists() and not (tmp_path.parent / "outside.bin").exists()


def test_damaged_aliases_and_manifests_do_not_break_a_push(pushed, tmp_path):
    (pushed.reg / "models" / "clf" / "aliases.json").write_text('{"prod": "../../etc"}')
    err = _refused(pushed, tmp_path, "clf:prod")
    assert "alias" in err
    os.unlink(pushed.reg / "models" / "clf" / "aliases.json")
    _manifest(pushed.reg, 1).write_text("[")  # damaged: a push never reuses it as "already there"
    assert _refused(pushed, tmp_path).strip()
