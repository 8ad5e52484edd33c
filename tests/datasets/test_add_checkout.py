"""Adding versions into the content-addressed store and checking them out again."""

from __future__ import annotations

import os

import blake3
import pytest
from labdeck.datasets.ingest import FileChanged, ingest_file
from labdeck.datasets.scan import SourceFile
from labdeck.datasets.store import StoreError


def _objects(ds) -> set[str]:
    return {d for d, _ in ds.store.iter_objects()}


def test_round_trip_is_byte_identical(ds, folder, tmp_path, h):
    r = ds.add("pets", folder, message="first")
    assert r.version.version == 1 and r.files == 9 and r.hashed == 9
    out = ds.checkout("pets", 1, tmp_path / "out")
    assert out.files == 9
    assert h.snapshot(tmp_path / "out") == h.snapshot(folder)
    # Objects are read-only copies named by their BLAKE3 (small ones inside a read-only pack);
    # the manifest lists every file.
    digest = next(x for p, _, x in ds.manifest("pets", 1) if p == "tables/train.csv")
    src = folder / "tables" / "train.csv"
    with ds.store.open_object(digest) as o:
        assert o.packed and o.size == src.stat().st_size
        obj = os.stat(o.path)
    assert obj.st_ino != src.stat().st_ino and obj.st_mode & 0o222 == 0
    assert blake3.blake3(src.read_bytes()).hexdigest() == digest
    assert [f.path for f in ds.files("pets", 1)] == sorted(h.snapshot(folder))


def test_link_mode_hard_links_and_leaves_the_source_mode_alone(ds, folder, tmp_path, h):
    ds.add("pets", folder, link=True)
    src = folder / "tables" / "train.csv"
    digest = next(x for p, _, x in ds.manifest("pets", 1) if p == "tables/train.csv")
    assert ds.store.object_path(digest).stat().st_ino == src.stat().st_ino  # no bytes copied
    assert src.stat().st_mode & 0o200
    ds.checkout("pets", 1, tmp_path / "out")  # checkouts are copies: editing them cannot reach the store
    assert (tmp_path / "out" / "tables" / "train.csv").stat().st_ino != src.stat().st_ino
    assert h.snapshot(tmp_path / "out") == h.snapshot(folder)


def test_in_place_edit_of_a_linked_file_is_reported(ds, folder, h):
    ds.add("pets", folder, link=True)
    path = folder / "tables" / "train.csv"
    ino = path.stat().st_ino
    with open(path, "r+b") as f:  # an in-place rewrite keeps the inode, as pandas' to_csv does
        f.write(b"ID")
    assert path.stat().st_ino == ino
    r = ds.add("pets", folder, link=True)
    assert r.damaged == ("tables/train.csv",) and r.version.version == 2
    assert ds.verify("pets", 1) == {"tables/train.csv": "missing"}  # version 1 says it lost that file
    assert ds.verify("pets", 2) == {}


def test_copies_protect_versions_from_in_place_edits(ds, folder, tmp_path, h):
    ds.add("pets", folder)
    with open(folder / "tables" / "train.csv", "r+b") as f:
        f.write(b"ID")
    r = ds.add("pets", folder)
    assert r.damaged == () and ds.verify("pets", 1) == {}
    ds.checkout("pets", 1, tmp_path / "v1")
    assert (tmp_path / "v1" / "tables" / "train.csv").read_bytes().startswith(b"id,label")


def test_single_file_dataset(ds, folder, tmp_path, h):
    ds.add("one", folder / "tables" / "train.csv")
    ds.checkout("one", 1, tmp_path / "o")
    assert (tmp_path / "o" / "train.csv").read_bytes() == (folder / "tables" / "train.csv").read_bytes()


def test_identical_content_makes_no_new_version(ds, folder):
    ds.add("pets", folder)
    again = ds.add("pets", folder)
    assert again.version is None and again.identical_to == 1
    assert again.cached == 9 and again.hashed == 0  # nothing was read: the hash cache knew every file
    assert [v.version for v in ds.versions("pets")] == [1]


def test_versions_share_unchanged_objects(ds, folder, h):
    ds.add("pets", folder)
    before = _objects(ds)
    h.write(folder / "tables" / "train.csv", "id,label,score\n1,cat,0.5\n", old=False)
    h.write(folder / "new.txt", "new")
    r = ds.add("pets", folder, message="second")
    assert r.version.version == 2
    assert r.new_objects == 2  # only the changed and the new file take space
    assert len(_objects(ds)) == len(before) + 2
    assert ds.versions("pets")[0].digest != ds.versions("pets")[1].digest


def test_hash_cache_rehashes_only_changed_files(ds, folder, h):
    ds.add("pets", folder)
    # Same inode, same size, new content, new mtime: only the mtime in the cache key reveals it.
    path = folder / "images" / "img_0.bin"
    ino = path.stat().st_ino
    with open(path, "r+b") as f:
        f.write(os.urandom(3000))
    os.utime(path, ns=(h.OLD_NS + 10**9, h.OLD_NS + 10**9))
    assert path.stat().st_ino == ino
    r = ds.add("pets", folder)
    assert (r.hashed, r.cached) == (1, 8)
    assert r.version.version == 2
    changed = {p: h for p, _, h in ds.manifest("pets", 2)}["images/img_0.bin"]
    assert changed != {p: h for p, _, h in ds.manifest("pets", 1)}["images/img_0.bin"]




def test_symlink_outside_is_reported_and_not_followed(ds, folder, tmp_path, h):
    secret = h.write(tmp_path / "secret.txt", "do not copy")
    os.symlink(secret, folder / "link-out")
    os.symlink(folder / "tables" / "train.csv", folder / "link-in.csv")
    os.symlink(tmp_path, folder / "dir-out")
    r = ds.add("pets", folder)
    paths = {f.path for f in ds.files("pets", 1)}
    assert "link-out" not in paths and not any(p.startswith("dir-out") for p in paths)
    assert "link-in.csv" in paths  # a link inside the folder is its target's content
    assert any("link-out" in s and "outside" in s for s in r.skipped)
    assert any("dir-out" in s for s in r.skipped)


def test_file_that_changes_while_read_is_refused(ds, tmp_path):
    # /proc files claim size 0 but read back bytes: their stat never agrees with what was read.
    st = os.stat("/proc/self/status")
    sf = SourceFile("status", "/proc/self/status", st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with pytest.raises(FileChanged, match="kept changing"):
        ingest_file(ds.store, sf)
    assert not ds.store.tmp.exists() or list(ds.store.tmp.iterdir()) == []  # no temp file left behind


def test_read_error_refuses_with_the_path(ds):
    # /proc/self/mem opens but fails on read (EIO), whoever runs the test: a real read error.
    st = os.stat("/proc/self/mem")
    sf = SourceFile("mem", "/proc/self/mem", st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with pytest.raises(StoreError, match="cannot add /proc/self/mem: Input/output error; nothing was added"):
        ingest_file(ds.store, sf)
    assert not ds.store.tmp.exists() or list(ds.store.tmp.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_refuses_the_add(ds, folder):
    (folder / "empty").chmod(0)
    with pytest.raises(StoreError, match="permission denied"):
        ds.add("pets", folder)
    assert ds.list() == []


def test_bad_names_and_missing_paths(ds, folder, tmp_path):
    with pytest.raises(StoreError, match="bad dataset name"):
        ds.add("../evil", folder)
    with pytest.raises(StoreError, match="no such file or folder"):
        ds.add("pets", tmp_path / "nope")
    (tmp_path / "hollow").mkdir()
    with pytest.raises(StoreError, match="holds no files"):
        ds.add("pets", tmp_path / "hollow")


def test_checkout_refuses_to_overwrite_unless_forced(ds, folder, tmp_path, h):
    ds.add("pets", folder)
    dest = tmp_path / "out"
    h.write(dest / "empty", "mine")
    with pytest.raises(StoreError, match="refusing to overwrite .*empty"):
        ds.checkout("pets", 1, dest)
    assert (dest / "empty").read_text() == "mine" and not (dest / "tables").exists()
    ds.checkout("pets", 1, dest, force=True)
    assert h.snapshot(dest) == h.snapshot(folder)


def test_checkout_refuses_paths_escaping_the_folder(tmp_path):
    from labdeck.datasets.checkout import safe_target

    for bad in ("../x", "/etc/passwd", "a/../../b", "a//b", "./a", ""):
        with pytest.raises(StoreError, match="escape the checkout folder"):
            safe_target(tmp_path, bad)
    assert safe_target(tmp_path, "a/b.csv") == tmp_path / "a" / "b.csv"


def _damage(ds, digest: str, packed: bool) -> None:
    """Flip one byte of the stored object, in its pack or its own file."""
    with ds.store.open_object(digest) as o:
        assert o.packed == packed
        path, offset = o.path, o.offset + o.size // 2
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


@pytest.mark.parametrize("packed", [True, False])
def test_corrupt_object_fails_verification_and_checkout(ds, folder, tmp_path, packed):
    if not packed:
        ds.store.pack_limit = 0  # every object its own file, as in stores from before packs
    ds.add("pets", folder)
    files = {p: h for p, _, h in ds.manifest("pets", 1)}
    digest = files["tables/train.csv"]
    _damage(ds, digest, packed)
    assert ds.verify("pets", 1) == {"tables/train.csv": "corrupt (its content no longer matches its hash)"}
    with pytest.raises(StoreError, match="object for tables/train.csv is corrupt"):
        ds.checkout("pets", 1, tmp_path / "out")
    assert not (tmp_path / "out" / "tables" / "train.csv").exists()
    assert ds.store.read_object(files["ünïcode name.txt"]) == "héllo\n".encode()  # its neighbours are intact
    with ds.store.open_object(digest) as o:
        path = o.path
    os.unlink(path if not packed else path[:-len(".pack")] + ".idx")  # a lost index loses the pack's objects
    assert ds.verify("pets", 1)["tables/train.csv"] == "missing"
    with pytest.raises(StoreError, match="object for .* is missing from the store"):
        ds.checkout("pets", 1, tmp_path / "out2")


@pytest.mark.parametrize("link", [False, True])
def test_large_files_round_trip_in_both_modes(ds, tmp_path, h, link):
    # Past 4 MB a file is streamed (copied while hashed, or hashed then linked), not held in memory.
    root = tmp_path / "big"
    h.write(root / "a.bin", os.urandom(5 << 20))
    h.write(root / "b.bin", os.urandom(1000))
    r = ds.add("big", root, link=link)
    assert r.new_objects == 2 and r.new_bytes == (5 << 20) + 1000
    ds.checkout("big", 1, tmp_path / "out")
    assert h.snapshot(tmp_path / "out") == h.snapshot(root)
    assert ds.verify("big", 1) == {}
    h.write(root / "c.bin", (root / "a.bin").read_bytes())  # same content under a new name: stored once
    r = ds.add("big", root, link=link)
    assert (r.hashed, r.new_objects) == (1, 0)


def test_opening_a_store_writes_nothing_until_the_first_add(workspace, folder, tmp_path, h):
    from labdeck.datasets.service import Datasets
    from labdeck.datasets.store import Store

    root = tmp_path / "fresh-store"
    ds = Datasets(workspace.db, Store(root))  # the Datasets tab does this on the GUI thread
    assert ds.list() == [] and ds.store.manifest_digests() == [] and list(ds.store.iter_objects()) == []
    assert not root.exists()
    assert ds.gc(dry_run=True).objects == 0
    r = ds.add("fresh", folder)
    assert r.version.version == 1 and (root / "objects" / "ff").is_dir()
    ds.checkout("fresh", 1, tmp_path / "out")
    assert h.snapshot(tmp_path / "out") == h.snapshot(folder)
