"""Interrupted adds, removal and garbage collection keep the store consistent."""

from __future__ import annotations

import json

import pytest
from labdeck.tasks import Cancelled, Task


def _cancel_once_files_are_in() -> Task:
    """Cancel at the first progress report after some files were stored. Counting reports
    instead was flaky: on a busy machine every hashing job could finish before the third
    report, and the add then ended without its cancel (CI, 2026-12-07). The add reports, then
    checks, after each finished job, so this cancel always lands before the version would."""

    def on_progress(p):
        if p.done > 0:
            task.cancel()

    task = Task(on_progress, every_s=0)
    return task


@pytest.mark.parametrize("packed", [True, False])
def test_interrupted_add_leaves_no_half_version(ds, tmp_path, h, packed):
    if not packed:
        ds.store.pack_limit = 0  # every object its own file, as in stores from before packs
    root = tmp_path / "many"
    for i in range(300):
        h.write(root / f"f{i:03}.txt", f"file {i}\n" * 50)
    with pytest.raises(Cancelled):
        ds.add("big", root, task=_cancel_once_files_are_in())
    assert ds.list() == []
    assert ds.store.manifest_digests() == [] and ds.store.ref_names() == []
    orphans = {d for d, _ in ds.store.iter_objects()}
    if packed:
        # The pack was never indexed, so none of its objects exist; the cancel removed it.
        assert orphans == set() and list(ds.store.packs_dir.iterdir()) == []
    else:
        # Loose objects written before the cancel are unreferenced: gc reports and removes exactly them.
        # (All 300 when the jobs outran the cancel on a busy machine.)
        assert 0 < len(orphans) <= 300
    dry = ds.gc(dry_run=True)
    assert set(dry.digests) == orphans and {d for d, _ in ds.store.iter_objects()} == orphans
    ds.gc()
    assert list(ds.store.iter_objects()) == []
    r = ds.add("big", root)  # and the same add goes through afterwards
    assert r.version.version == 1 and r.files == 300 and r.new_objects == 300
    assert ds.verify("big", 1) == {}


def test_gc_keeps_referenced_objects(ds, folder, tmp_path, h):
    ds.add("pets", folder)
    old_csv = {p: d for p, _, d in ds.manifest("pets", 1)}["tables/train.csv"]
    h.write(folder / "tables" / "train.csv", "id,label,score\n9,cow,1\n", old=False)
    ds.add("pets", folder)
    assert ds.gc().objects == 0  # every object belongs to a version
    assert ds.remove("pets", 1) == 1
    r = ds.gc(dry_run=True)
    assert r.digests == (old_csv,) and ds.store.has_object(old_csv)
    r = ds.gc()
    assert (r.objects, r.manifests) == (1, 1) and not ds.store.has_object(old_csv)
    out = ds.checkout("pets", 2, tmp_path / "out")  # the surviving version is whole
    assert out.files == 9 and ds.verify("pets", 2) == {}
    assert json.loads((ds.store.refs / "pets.json").read_text())["versions"] == {"2": ds.version("pets", 2).digest}
    ds.remove("pets")
    assert ds.list() == [] and ds.store.ref_names() == []
    assert ds.gc().objects == 9 and list(ds.store.iter_objects()) == []


def test_refs_file_names_each_version_for_the_sdk(ds, folder, h):
    v1 = ds.add("pets", folder).version
    h.write(folder / "extra.txt", "x")
    v2 = ds.add("pets", folder).version
    refs = json.loads((ds.store.refs / "pets.json").read_text())
    assert refs == {"name": "pets", "versions": {"1": v1.digest, "2": v2.digest}}
    # The version hash is the hash of the manifest, which the store verifies on reading.
    (ds.store.manifests / f"{v2.digest}.json").write_text("[]")
    with pytest.raises(Exception, match="fails verification"):
        ds.manifest("pets", 2)


def test_gc_after_a_refused_add_forgets_cached_hashes(ds, tmp_path, h):
    # A refused version leaves cached hashes of objects no version holds; after gc removes
    # those objects, adding the same files again must store them again, not trust the cache.
    root = tmp_path / "d"
    h.write(root / "t.csv", "x\n1\n2\n")
    ds.set_rules("nums", {"rows": {"min": 5}}, strict=True)
    with pytest.raises(Exception, match="refuses this version"):
        ds.add("nums", root)
    assert ds.gc().objects == 1
    r = ds.add("nums", root, strict=False)
    assert (r.hashed, r.cached, r.new_objects) == (1, 0, 1)
    assert ds.verify("nums", 1) == {}


def test_listing_repairs_a_refs_file_lost_in_a_crash(ds, folder):
    v1 = ds.add("pets", folder).version
    (ds.store.refs / "pets.json").unlink()  # as if the process died right after the commit
    assert [i.name for i in ds.list()] == ["pets"]
    assert json.loads((ds.store.refs / "pets.json").read_text())["versions"] == {"1": v1.digest}


def test_gc_keeps_objects_of_another_index_sharing_the_store(ds, folder, tmp_path, h):
    from labdeck.datasets.service import Datasets
    from labdeck.db.engine import Database

    other_db = Database(tmp_path / "other.sqlite")
    other = Datasets(other_db, ds.store)
    other_root = tmp_path / "other-data"
    h.write(other_root / "only-here.txt", "kept by the other index")
    other.add("theirs", other_root)
    ds.add("mine", folder)
    ds.remove("mine")
    r = ds.gc()
    assert r.objects == 9  # only this index's unreferenced files went
    assert other.verify("theirs", 1) == {}
    other_db.close()
    (tmp_path / "other.sqlite").unlink()  # once that index is gone, its objects may go too
    assert ds.gc().objects == 1


def test_concurrent_adds_from_two_processes_get_distinct_versions(ds, tmp_path, h, workspace):
    # Two real processes add to the same dataset at once; the index ends with versions 1 and 2.
    import subprocess
    import sys

    roots = []
    for i in range(2):
        root = tmp_path / f"d{i}"
        for j in range(200):
            h.write(root / f"f{j}.txt", f"{i}-{j}\n" * 20)
        roots.append(root)
    code = ("import sys; from labdeck.cli import run_cli; "
            "sys.exit(run_cli(['dataset', 'add', 'both', sys.argv[1], '--index', sys.argv[2]]))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(r), str(workspace.index_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in roots]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    versions = ds.versions("both")
    assert [v.version for v in versions] == [1, 2]
    assert {v.source_path for v in versions} == {str(r) for r in roots}
