"""Small objects in pack files: round trips, dedupe, crashes, gc's rewrite, concurrent adds."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import blake3
import pytest
from labdeck.datasets import packs
from labdeck.datasets.store import ObjectMissing, Store


def _pack_files(ds) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in ds.store.packs_dir.iterdir()}


def _pack_bytes(files: dict[str, int]) -> int:
    return sum(s for n, s in files.items() if n.endswith(".pack"))


def _packed(ds, digest: str) -> bool:
    with ds.store.open_object(digest) as o:
        return o.packed


def _mixed(h, root, n: int = 40) -> None:
    """Files below and above a 4,000-byte pack limit, a duplicate and an empty file."""
    for i in range(n):
        h.write(root / f"part{i % 3}" / f"f{i:02}.bin", os.urandom(100 * i + (5000 if i % 7 == 0 else 0)))
    h.write(root / "copy.bin", (root / "part0" / "f03.bin").read_bytes())
    h.write(root / "empty", b"")


def test_packed_round_trip_and_loose_large_objects(ds, tmp_path, h):
    ds.store.pack_limit = 4000
    root = tmp_path / "d"
    _mixed(h, root)
    r = ds.add("d", root)
    assert r.files == 42 and r.new_objects == 41  # copy.bin is f03.bin's content: stored once
    sizes = {p: (s, d) for p, s, d in ds.manifest("d", 1)}
    for size, digest in sizes.values():
        assert _packed(ds, digest) == (size <= 4000)
    loose = {d for d, _ in ds.store.iter_loose()}
    assert loose == {d for s, d in sizes.values() if s > 4000}
    assert len([n for n in _pack_files(ds) if n.endswith(".pack")]) == 1
    ds.checkout("d", 1, tmp_path / "out")
    assert h.snapshot(tmp_path / "out") == h.snapshot(root)
    assert ds.verify("d", 1) == {}


def test_versions_share_packed_objects(ds, tmp_path, h):
    root = tmp_path / "d"
    _mixed(h, root)
    ds.add("d", root)
    first = _pack_files(ds)
    h.write(root / "part1" / "f01.bin", b"changed", old=False)
    h.write(root / "new.bin", b"new")
    r = ds.add("d", root)
    assert (r.hashed, r.new_objects, r.new_bytes) == (2, 2, len(b"changed") + len(b"new"))
    grown = {n: s for n, s in _pack_files(ds).items() if n not in first}
    # One new pack holding just the two new objects; the first pack is untouched.
    assert sorted(s for n, s in grown.items() if n.endswith(".pack")) == [len(b"changed") + len(b"new")]
    assert {n: s for n, s in _pack_files(ds).items() if n in first} == first
    other = tmp_path / "other"
    h.write(other / "same-as-f05.bin", (root / "part2" / "f05.bin").read_bytes())
    assert ds.add("other", other).new_objects == 0  # shared with another dataset's pack
    ds.checkout("d", 1, tmp_path / "v1")
    ds.checkout("d", 2, tmp_path / "v2")
    assert h.snapshot(tmp_path / "v2") == h.snapshot(root)
    assert (tmp_path / "v1" / "part1" / "f01.bin").read_bytes() != b"changed"


CRASH_BEFORE_INDEX = """
import os, sys
from labdeck.datasets import packs
from labdeck.cli import run_cli

def die(*args):  # the pack's bytes are durable; the process dies before its index exists
    os._exit(3)

packs.write_index = die
sys.exit(run_cli(["dataset", "add", "crashed", sys.argv[1], "--index", sys.argv[2]]))
"""


def test_a_crash_between_pack_and_index_leaves_nothing_visible(ds, tmp_path, h, workspace):
    root = tmp_path / "d"
    for i in range(50):
        h.write(root / f"f{i}.txt", f"{i}\n" * 100)
    proc = subprocess.run([sys.executable, "-c", CRASH_BEFORE_INDEX, str(root), str(workspace.index_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 3, proc.stderr
    left = _pack_files(ds)
    assert [n[-5:] for n in left] == [".pack"] and next(iter(left.values())) > 0
    assert ds.list() == [] and list(ds.store.iter_objects()) == []  # no version, no object
    dry = ds.gc(dry_run=True)
    assert (dry.objects, dry.bytes) == (0, sum(left.values())) and _pack_files(ds) == left
    ds.gc()
    assert _pack_files(ds) == {}
    r = ds.add("crashed", root)
    assert r.new_objects == 50 and ds.verify("crashed", 1) == {}


def test_gc_rewrites_a_pack_keeping_live_objects_byte_identical(ds, tmp_path, h):
    root = tmp_path / "d"
    for i in range(30):
        h.write(root / f"f{i:02}.bin", os.urandom(1000 + i))
    ds.add("d", root)
    old = {p: d for p, _, d in ds.manifest("d", 1)}
    for i in range(10):
        h.write(root / f"f{i:02}.bin", os.urandom(500), old=False)
    ds.add("d", root)
    snap = h.snapshot(root)
    ds.remove("d", 1)
    dead = {old[f"f{i:02}.bin"] for i in range(10)}
    dead_bytes = sum(1000 + i for i in range(10))
    before = _pack_files(ds)

    dry = ds.gc(dry_run=True)
    assert set(dry.digests) == dead and dry.bytes == dead_bytes
    assert _pack_files(ds) == before and all(ds.store.has_object(d) for d in dead)  # a dry run changes nothing

    r = ds.gc()
    assert set(r.digests) == dead and r.bytes == dead_bytes
    after = _pack_files(ds)
    assert _pack_bytes(before) - _pack_bytes(after) == dead_bytes
    assert len(after) == len(before) and set(after) != set(before)  # the first pack was replaced
    assert not any(ds.store.has_object(d) for d in dead)
    assert ds.verify("d", 2) == {}
    ds.checkout("d", 2, tmp_path / "out")
    assert h.snapshot(tmp_path / "out") == snap
    assert ds.gc().bytes == 0  # nothing left to collect

    ds.remove("d")
    assert ds.gc().objects == 30 and _pack_files(ds) == {}  # packs with nothing live are deleted


def test_another_process_sees_a_rewritten_pack(ds, tmp_path, h):
    root = tmp_path / "d"
    for i in range(5):
        h.write(root / f"f{i}.txt", f"content {i}")
    ds.add("d", root)
    h.write(root / "f0.txt", "edited", old=False)
    ds.add("d", root)
    other = Store(ds.store.root)
    digest = {p: d for p, _, d in ds.manifest("d", 2)}["f1.txt"]
    dead = {p: d for p, _, d in ds.manifest("d", 1)}["f0.txt"]
    assert other.read_object(digest) == b"content 1" and other.read_object(dead) == b"content 0"
    ds.remove("d", 1)
    ds.gc()  # rewrites the pack whose index `other` holds in memory
    assert other.read_object(digest) == b"content 1"
    with pytest.raises(ObjectMissing):
        other.read_object(dead)


def test_a_damaged_index_hides_its_objects_and_gc_keeps_its_pack(ds, folder, tmp_path):
    ds.add("pets", folder)
    (idx,) = ds.store.packs_dir.glob("*.idx")
    data = bytearray(idx.read_bytes())
    data[20] ^= 0xFF
    os.chmod(idx, 0o644)
    idx.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        packs.parse_index(bytes(data))
    fresh = Store(ds.store.root)
    assert list(fresh.iter_objects()) == [] and fresh.packs.damaged
    ds.remove("pets")
    before = sorted(p.name for p in ds.store.packs_dir.iterdir())
    ds.store = fresh
    assert ds.gc().objects == 0 and sorted(p.name for p in fresh.packs_dir.iterdir()) == before


ADD_TOGETHER = """
import os, sys, time
from labdeck.cli import run_cli

name, root, index, gate = sys.argv[1:]
open(f"{gate}.{name}", "w").close()  # imported and ready: wait for the other one
while not os.path.exists(gate):
    time.sleep(0.005)
sys.exit(run_cli(["dataset", "add", name, root, "--index", index]))
"""


def test_two_processes_add_different_folders_to_one_store_at_once(ds, tmp_path, h, workspace):
    roots = {}
    for name in ("left", "right"):
        root = tmp_path / name
        for j in range(400):
            h.write(root / f"p{j % 4}" / f"{name}-{j}.bin", f"{name} {j}\n".encode() * 40)
        for j in range(20):  # the same content in both: each add may pack it before the other
            h.write(root / "shared" / f"s{j}.txt", f"shared {j}\n" * 30)
        roots[name] = root
    gate = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", ADD_TOGETHER, name, str(root), str(workspace.index_path), str(gate)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, root in roots.items()]
    while not all(os.path.exists(f"{gate}.{name}") for name in roots) and all(p.poll() is None for p in procs):
        time.sleep(0.005)
    gate.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    for name, root in roots.items():
        assert ds.verify(name, 1) == {}
        ds.checkout(name, 1, tmp_path / f"out-{name}")
        assert h.snapshot(tmp_path / f"out-{name}") == h.snapshot(root)
    print("stored before gc", len([d for d, _ in ds.store.iter_objects()]))
    r = ds.gc()  # everything is referenced; a shared object packed twice is kept once
    assert r.objects == 0
    digests = [d for d, _ in ds.store.iter_objects()]
    assert len(digests) == len(set(digests)) == 820
    assert ds.verify("left", 1) == {} and ds.verify("right", 1) == {}


def test_an_object_packed_by_two_adds_at_once_is_kept_once(ds, tmp_path, h):
    # Two adds that ran at the same time could not see each other's unsealed packs.
    root = tmp_path / "d"
    h.write(root / "a.txt", "same in both")
    h.write(root / "b.txt", "only in the first")
    store = ds.store
    writers = [store.pack_writer(str(root / "a.txt")) for _ in range(2)]
    for w, names in zip(writers, (("a.txt", "b.txt"), ("a.txt",)), strict=True):
        for n in names:
            data = (root / n).read_bytes()
            assert w.append(blake3.blake3(data).hexdigest(), data)
    for w in writers:
        w.seal()
    assert len([d for d, _ in store.iter_objects()]) == 3
    ds.add("d", root)
    assert ds.gc().objects == 0
    assert sorted(d for d, _ in store.iter_objects()) == sorted(d for _, _, d in ds.manifest("d", 1))
    assert ds.verify("d", 1) == {}


def test_a_store_of_loose_objects_takes_packed_versions_alongside(ds, folder, tmp_path, h):
    from labdeck.datasets.store import PACK_LIMIT

    ds.store.pack_limit = 0  # version 1 as a store from before packs wrote it
    ds.add("pets", folder)
    loose = {d for d, _ in ds.store.iter_loose()}
    assert len(loose) == 9 and _pack_files(ds) == {}
    ds.store.pack_limit = PACK_LIMIT
    h.write(folder / "tables" / "train.csv", "id,label,score\n7,owl,1\n", old=False)
    r = ds.add("pets", folder)
    assert (r.hashed, r.new_objects) == (1, 1)  # the unchanged files are found loose, not stored again
    new = {p: d for p, _, d in ds.manifest("pets", 2)}["tables/train.csv"]
    assert _packed(ds, new) and {d for d, _ in ds.store.iter_loose()} == loose
    for v in (1, 2):
        assert ds.verify("pets", v) == {}
    ds.remove("pets", 1)
    r = ds.gc()
    assert r.objects == 1 and len({d for d, _ in ds.store.iter_loose()}) == 8  # the old CSV, loose, went
    ds.checkout("pets", 2, tmp_path / "out")
    assert h.snapshot(tmp_path / "out") == h.snapshot(folder)


def test_nothing_is_packed_where_reflinks_work_or_files_are_linked(ds, folder, tmp_path, h, monkeypatch):
    # This machine's file system has no reflinks: pretend the probe's clone worked.
    monkeypatch.setattr(Store, "try_reflink", lambda self, src, dst: True)
    ds.add("pets", folder)
    assert len({d for d, _ in ds.store.iter_loose()}) == 9 and _pack_files(ds) == {}
    monkeypatch.undo()
    other = tmp_path / "other"
    h.write(other / "x.txt", "linked, not packed")
    ds.add("linked", other, link=True)
    assert _pack_files(ds) == {} and len({d for d, _ in ds.store.iter_loose()}) == 10


def test_tabular_previews_and_validation_read_packed_files(ds, tmp_path, h):
    import pandas as pd
    import pyarrow as pa
    from labdeck.datasets import tabular

    root = tmp_path / "t"
    frame = pd.DataFrame({"age": [31, 42, 200], "label": ["cat", "dog", "cat"]})
    root.mkdir()
    frame.to_csv(root / "people.csv", index=False)
    frame.to_parquet(root / "people.parquet")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with pa.OSFile(str(root / "people.arrow"), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
        w.write_table(table)  # the IPC stream format: read by the fallback after feather refuses it
    big = pd.DataFrame({"age": range(30_000), "label": ["cat"] * 30_000})
    big.to_csv(root / "big.csv", index=False)
    ds.store.pack_limit = 100_000  # big.csv (~300 KB) stays loose: read from its path
    ds.add("people", root)
    files = {f.path: f.digest for f in ds.files("people", 1)}
    assert [_packed(ds, files[p]) for p in sorted(files)] == [False, True, True, True]
    for rel in ("people.csv", "people.parquet", "people.arrow"):
        assert ds.frame(files[rel], rel).equals(tabular.load(root / rel, rel)), rel
        assert ds.profile(files[rel], rel).columns["age"].max == 200
    assert ds.profile(files["big.csv"], "big.csv").rows == 30_000
    ds.set_rules("people", {"files": "people.*", "columns": {"age": {"max": 120}}})
    problems = ds.validate("people").problems
    assert sorted(p.file for p in problems) == ["people.arrow", "people.csv", "people.parquet"]
    assert all("1 value(s) above 120" in p.message for p in problems)


def test_a_fresh_store_finds_packed_objects_from_many_threads_at_once(ds, tmp_path, h):
    # Every thread misses in the empty in-memory index at the same moment; the one that
    # loads the indexes must not leave the others calling their objects missing.
    import threading

    root = tmp_path / "d"
    _mixed(h, root)
    ds.add("d", root)
    digests = sorted({d for _, _, d in ds.manifest("d", 1)})
    for _attempt in range(20):
        fresh = Store(ds.store.root)
        gate = threading.Barrier(8)
        found: list[bytes] = []
        errors: list[Exception] = []

        def read(digest: str) -> None:
            gate.wait()
            try:
                found.append(fresh.read_object(digest))
            except ObjectMissing as exc:
                errors.append(exc)

        threads = [threading.Thread(target=read, args=(d,)) for d in digests[:8]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and len(found) == 8
