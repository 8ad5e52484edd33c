"""Lineage through the SDK and the index, and the dataset verbs of the command line."""

from __future__ import annotations

import json

import labdeck
import pytest
from labdeck.cli import run_cli


def _events(run) -> list[dict]:
    return [json.loads(line) for line in (run.dir / "events.jsonl").read_text().splitlines()]


def test_use_dataset_records_the_version_hash_and_lineage_is_queryable(ds, folder, project, workspace, h):
    v1 = ds.add("pets", folder).version
    h.write(folder / "more.txt", "more")
    v2 = ds.add("pets", folder).version
    with labdeck.start_run(project, name="train-a", record_provenance=False) as a:
        event = a.use_dataset("pets:1")
        a.use_dataset("pets", context="eval")  # the latest version
    with labdeck.start_run(project, name="train-b", record_provenance=False) as b:
        b.use_dataset("pets:2")
    assert event["digest"] == v1.digest
    ev = [e for e in _events(a) if e["type"] == "dataset"]
    assert [(e["name"], e["version"], e["digest"], e["context"]) for e in ev] == [
        ("pets", 1, v1.digest, "training"), ("pets", 2, v2.digest, "eval")]
    assert all(isinstance(e["time"], int) for e in ev)

    workspace.add_project(project)
    workspace.index()
    assert {u.run_name for u in ds.runs_using("pets", 2)} == {"train-a", "train-b"}
    assert [u.run_name for u in ds.runs_using("pets", 1)] == ["train-a"]
    assert len(ds.runs_using("pets")) == 3
    assert ds.use_counts() == {v1.digest: 1, v2.digest: 2}
    uses = ds.inputs_of_run(a.id)
    assert [(u.dataset, u.version, u.context) for u in uses] == [("pets", 1, "training"), ("pets", 2, "eval")]


def test_use_dataset_refuses_unknown_datasets_and_versions(ds, folder, project):
    ds.add("pets", folder)
    with labdeck.start_run(project, record_provenance=False) as run:
        with pytest.raises(ValueError, match="unknown dataset 'nope'"):
            run.use_dataset("nope:1")
        with pytest.raises(ValueError, match="has no version '7'"):
            run.use_dataset("pets:7")
        with pytest.raises(ValueError, match="bad dataset reference"):
            run.use_dataset("../x:1")
    assert [e for e in _events(run) if e["type"] == "dataset"] == []


def test_cli_verbs(folder, tmp_path, capsys, h):
    index = ["--index", str(tmp_path / "i.sqlite")]
    assert run_cli(["dataset", "add", "pets", str(folder), "-m", "first", *index]) == 0
    assert "pets version 1: 9 file(s)" in capsys.readouterr().out
    assert run_cli(["dataset", "add", "pets", str(folder), *index]) == 0
    assert "identical to version 1; no new version" in capsys.readouterr().out
    h.write(folder / "tables" / "train.csv", "id,label,score\n1,cat,0.5\n", old=False)
    assert run_cli(["dataset", "add", "pets", str(folder), *index]) == 0
    capsys.readouterr()
    assert run_cli(["dataset", "list", "pets", "--json", *index]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["message"], v["files"]) for v in listed] == [(1, "first", 9), (2, "", 9)]
    assert run_cli(["dataset", "diff", "pets", "1", "2", "--json", *index]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["changed"] == ["tables/train.csv"] and d["tabular"]["tables/train.csv"]["rows_change"] == -2
    rules = h.write(tmp_path / "rules.json", '{"files": "*.csv", "rows": {"min": 2}}')
    assert run_cli(["dataset", "rules", "pets", "--set", str(rules), *index]) == 0
    capsys.readouterr()
    assert run_cli(["dataset", "validate", "pets", *index]) == 1
    assert "[rows.min] tables/train.csv: 1 rows, fewer than the minimum 2" in capsys.readouterr().out
    dest = tmp_path / "out"
    assert run_cli(["dataset", "checkout", "pets", "1", str(dest), *index]) == 0
    assert h.snapshot(dest)["tables/train.csv"].startswith(b"id,label,score\n1,cat,0.5\n2,dog")
    assert run_cli(["dataset", "checkout", "pets", "1", str(dest), *index]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert run_cli(["dataset", "checkout", "pets", "9", str(tmp_path / "x"), *index]) == 2
    assert "has no version 9 (latest: 2)" in capsys.readouterr().err
    assert run_cli(["dataset", "add", "pets", str(tmp_path / "missing"), *index]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert run_cli(["dataset", "rm", "pets", "1", *index]) == 0
    assert run_cli(["gc", "--dry-run", "--json", *index]) == 0
    capsys.readouterr()
    assert run_cli(["gc", "--dry-run", "--json", *index]) == 0
    assert json.loads(capsys.readouterr().out)["objects"] == 1
    assert run_cli(["dataset", "lineage", "pets", *index]) == 0
    assert "no runs recorded using it" in capsys.readouterr().out


def test_cli_lists_dvc_outputs(project, tmp_path, capsys, h):
    h.write(project / "sub" / "one.csv.dvc", "outs:\n- md5: 1b26352878b4ebb7a0cdc8ef486faf5a\n  size: 7\n"
                                             "  hash: md5\n  path: one.csv\n")
    h.write(project / "sub" / "one.csv", "single\n")
    h.write(project / "broken.dvc", "outs: [unclosed\n")
    assert run_cli(["dataset", "dvc", str(project), "--json", "--index", str(tmp_path / "i.sqlite")]) == 0
    entries = {e["path"]: e for e in json.loads(capsys.readouterr().out)}
    one = entries["sub/one.csv"]
    assert (one["md5"], one["size"], one["defined_in"], one["present"]) == (
        "1b26352878b4ebb7a0cdc8ef486faf5a", 7, "sub/one.csv.dvc", True)
    assert entries["broken.dvc"]["error"].startswith("cannot read broken.dvc")
