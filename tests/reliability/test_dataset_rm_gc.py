"""Nothing in use is deleted: ``dataset rm`` refuses a version that runs, model versions or jobs
use (``--force`` keeps their records), and ``gc`` never frees bytes they still need nor opens
(and migrates) another index file sharing the store. Real SQLite, real files, real CLI processes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import labdeck
from labdeck.db.job_spec import JobSpec
import pytest


def cli(index: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LABDECK_INDEX"}
    return subprocess.run([sys.executable, "-m", "labdeck", "--index", str(index), *args], capture_output=True,
                          text=True, env=env, timeout=120)


def write(path: Path, data: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)
    return path


@pytest.fixture
def used(workspace, tmp_path):
    """'ds' v1 (used by a run, a model version and a job) and v2 (used by nothing)."""
    from labdeck.datasets.service import Datasets
    from labdeck.db import jobs
    from labdeck.launch import datasets as launch_datasets
    from labdeck.models.versions import ModelService

    src = tmp_path / "src"
    write(src / "only-in-v1.txt", "bytes only version 1 holds")
    ds = Datasets(workspace.db)
    v1 = ds.add("ds", src).version
    write(src / "only-in-v1.txt", "changed for version 2")
    ds.add("ds", src)
    project = tmp_path / "project"
    project.mkdir()
    with labdeck.start_run(project, name="train-a", record_provenance=False) as run:
        run.use_dataset("ds:1")
        write(run.dir / "model.bin", "weights")
    workspace.add_project(project)
    workspace.index()
    model = ModelService(workspace.db).register(run.id, "model.bin", "clf")
    with workspace.db.write() as s:
        job = jobs.insert_job(s, job_id="job0001", project=str(project), command=["python", "t.py"],
                              spec=JobSpec(datasets=(launch_datasets.resolve(workspace.db, "ds:1"),)))
    return ds, v1, run, model, job


def test_rm_refuses_a_version_in_use_and_names_its_users(used, workspace):
    ds, v1, run, model, job = used
    done = cli(workspace.db.path, "dataset", "rm", "ds", "1")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    msg = done.stderr.strip()
    assert f"version 1 of 'ds' is used by run {model.run_uid} (training)" in msg
    assert f"model {model.ref}" in msg and f"job {job.id}" in msg and "--force removes it anyway" in msg
    assert cli(workspace.db.path, "dataset", "rm", "ds").returncode == 2  # the whole dataset holds it too
    assert [v.version for v in ds.versions("ds")] == [1, 2]
    assert cli(workspace.db.path, "dataset", "rm", "ds", "2").returncode == 0  # nothing uses version 2


def test_forced_rm_keeps_the_lineage_facts_and_reproduction_says_what_happened(used, workspace):
    from labdeck.db import jobs
    from labdeck.launch import datasets as launch_datasets
    from labdeck.models.versions import ModelService

    ds, v1, run, model, job = used
    done = cli(workspace.db.path, "dataset", "rm", "ds", "1", "--force")
    assert done.returncode == 0, done.stderr
    assert [(u.dataset, u.version, u.digest) for u in ds.inputs_of_run(run.id)] == [("ds", 1, v1.digest)]
    mv = ModelService(workspace.db).version(model.ref)
    assert [d["digest"] for d in mv.datasets] == [v1.digest]
    with workspace.db.read() as s:
        assert jobs.get_job(s, job.id).spec.datasets[0]["digest"] == v1.digest
    with pytest.raises(launch_datasets.DatasetError, match=r"version 1 of 'ds' .* was removed .*--force"):
        launch_datasets.resolve(workspace.db, "ds:1")  # what reproduce asks: a clear refusal


def test_a_removed_version_number_is_never_given_out_again(workspace, tmp_path):
    from labdeck.datasets.service import Datasets

    ds = Datasets(workspace.db)
    src = write(tmp_path / "src" / "a.txt", "one").parent
    ds.add("ds", src)
    write(src / "a.txt", "two")
    ds.add("ds", src)
    ds.remove("ds", 2)
    write(src / "a.txt", "three")
    assert ds.add("ds", src).version.version == 3  # "ds:2" in old lineage still means the removed bytes
    ds.remove("ds")
    assert ds.add("ds", src).version.version == 4


def test_gc_keeps_the_bytes_of_a_forced_version_that_models_and_jobs_record(used, workspace):
    ds, v1, run, model, job = used
    only_v1 = {p: d for p, _, d in ds.manifest("ds", 1)}["only-in-v1.txt"]
    assert cli(workspace.db.path, "dataset", "rm", "ds", "1", "--force").returncode == 0
    done = cli(workspace.db.path, "gc", "--json")
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    assert r["objects"] == 0 and r["kept_objects"] == 1
    assert sorted(r["kept_for"][v1.digest]) == sorted([f"model {model.ref}", f"job {job.id}"])
    assert ds.store.has_object(only_v1) and ds.store.read_manifest(v1.digest)
    text = cli(workspace.db.path, "gc").stdout
    assert f"kept removed version {v1.digest[:12]}" in text


def test_gc_frees_a_forced_version_that_only_runs_used(workspace, tmp_path, project):
    from labdeck.datasets.service import Datasets

    ds = Datasets(workspace.db)
    src = write(tmp_path / "src" / "a.txt", "only here")
    ds.add("ds", src.parent)
    with labdeck.start_run(project, record_provenance=False) as run:
        run.use_dataset("ds:1")
    workspace.add_project(project)
    workspace.index()
    with pytest.raises(Exception, match="used by run"):
        ds.remove("ds", 1)
    ds.remove("ds", 1, force=True)
    assert ds.gc().objects == 1  # a run keeps the facts (name, version, hash), not the bytes
    assert [u.version for u in ds.inputs_of_run(run.id)] == [1]


def _other_index(tmp_path, store, revision: str) -> Path:
    """Another index using the same store, with one version, left at an older schema revision."""
    from alembic import command
    from labdeck.datasets.service import Datasets
    from labdeck.db.engine import Database
    from labdeck.db.migrate import alembic_config

    path = tmp_path / "other.sqlite"
    db = Database(path)
    Datasets(db, store).add("theirs", write(tmp_path / "theirs" / "t.txt", "kept by the other index").parent)
    command.downgrade(alembic_config(db.engine), revision)
    db.close()
    return path


def test_gc_never_opens_and_migrates_another_index_sharing_the_store(workspace, tmp_path):
    from labdeck.datasets.service import Datasets

    ds = Datasets(workspace.db)
    other = _other_index(tmp_path, ds.store, "0010")
    theirs = next(ds.store.iter_objects())[0]
    done = cli(workspace.db.path, "gc")
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(other) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchone() == ("0010",)
    assert ds.store.has_object(theirs)  # its version still counts


def test_an_unreadable_index_sharing_the_store_stops_gc(workspace, tmp_path):
    from labdeck.datasets.service import Datasets

    ds = Datasets(workspace.db)
    other = _other_index(tmp_path, ds.store, "head")
    for suffix in ("-wal", "-shm"):
        Path(f"{other}{suffix}").unlink(missing_ok=True)
    other.write_bytes(b"not an index at all" * 300)
    done = cli(workspace.db.path, "gc")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cannot read the index" in done.stderr and "gc removed nothing" in done.stderr
    assert len(list(ds.store.iter_objects())) == 1


def test_a_hash_cached_in_one_index_is_not_trusted_after_gc_from_another(workspace, tmp_path):
    from labdeck.datasets.service import Datasets
    from labdeck.db.engine import Database

    mine = Datasets(workspace.db)
    other_db = Database(tmp_path / "other.sqlite")
    other = Datasets(other_db, mine.store)
    src = write(tmp_path / "src" / "a.txt", "cached in the other index").parent
    os.utime(src / "a.txt", ns=(1_600_000_000 * 10**9,) * 2)  # old enough for the hash cache
    other.add("theirs", src)
    other.remove("theirs")  # its hash cache still names the object
    assert mine.gc().objects == 1  # nothing references it: gc from this index frees it
    v = other.add("theirs", src).version
    assert other.verify("theirs", v.version) == {}
    other_db.close()


def test_gc_and_the_next_add_leave_a_live_writers_temp_files_alone(workspace, tmp_path):
    from labdeck.datasets.service import Datasets

    ds = Datasets(workspace.db)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    try:
        for folder in (ds.store.tmp, ds.store.packs_dir):  # as the other writers made them
            folder.mkdir(parents=True, exist_ok=True)
        mine = ds.store.tmp / f"{live.pid}-0-abcd.part"  # a refs write in progress elsewhere
        mine.write_bytes(b"being written")
        stale = ds.store.tmp / f"{dead.stdout.strip()}-0-abcd.part"
        stale.write_bytes(b"left by a killed add")
        orphan = ds.store.packs_dir / "0123abcd.pack"  # written, never indexed
        orphan.write_bytes(b"x" * 100)
        ds.add("ds", write(tmp_path / "src" / "a.txt", "a").parent)
        assert mine.exists() and not stale.exists() and not orphan.exists()
        ds.gc()
        assert mine.exists()
    finally:
        live.kill()
        live.wait()
