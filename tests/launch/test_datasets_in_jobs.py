"""--dataset NAME:VERSION: the version is checked out for the job and recorded for lineage."""

from __future__ import annotations

from pathlib import Path

import pytest

from labdeck.db.engine import Database

READER = '''\
import json, os
folder = os.environ["LABDECK_DATASET_TOY_SET"]
print(open(os.path.join(folder, "rows.csv")).read().strip(), json.loads(os.environ["LABDECK_DATASETS"]) == {"toy-set": folder})
'''


def test_dataset_version_checked_out_for_the_job(repo, git, cli, tmp_path):
    service_mod = pytest.importorskip("labdeck.datasets.service")
    source = tmp_path / "toy"
    source.mkdir()
    (source / "rows.csv").write_text("a,b\n1,2\n")
    db = Database(cli.index)
    try:
        service_mod.Datasets(db).add("toy-set", source)
    finally:
        db.close()
    (repo / "read_data.py").write_text(READER)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "reader")

    code, _, err = cli("launch", "--project", str(repo), "--dataset", "toy-set:9", "--", "python", "read_data.py")
    assert code == 2 and "toy-set" in err and "no version 9" in err
    code, job, err = cli("launch", "--project", str(repo), "--dataset", "toy-set:1", "--wait", "--json", "--",
                         "python", "read_data.py", parse=True)
    assert code == 0, err
    assert (Path(job["run_dir"]) / "stdout.log").read_text() == "a,b\n1,2 True\n"
    code, shown, _ = cli("show", job["run"], "--json", parse=True)
    assert shown["tags"]["labdeck.dataset.toy-set"] == "1"
    events = (Path(job["run_dir"]) / "events.jsonl").read_text()
    assert '"type": "dataset", "name": "toy-set", "version": 1' in events  # lineage for the datasets view
    code, plan, err = cli("reproduce", job["run"], "--plan", "--json", parse=True)
    item = next(i for i in plan["items"] if i["what"] == "dataset toy-set:1")
    assert code == 0 and item["status"] == "restored" and "byte-for-byte" in item["detail"]
    assert (source / "rows.csv").read_text() == "a,b\n1,2\n"  # the user's dataset folder is untouched
