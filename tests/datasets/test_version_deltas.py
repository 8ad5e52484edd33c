"""Versions stored as changes against the version before: rows written, lists rebuilt, removal."""

from __future__ import annotations

import sqlite3

import blake3
from alembic import command
from labdeck.db.migrate import alembic_config


def _rows(ds) -> dict[int, tuple[int | None, int, int]]:
    """{version: (base version or None, present rows, removed rows)} read straight from the index."""
    with sqlite3.connect(ds.db.path) as conn:
        bases = dict(conn.execute("SELECT v.version, b.version FROM dataset_versions v "
                                  "LEFT JOIN dataset_versions b ON b.id = v.base_id"))
        counts = {v: (0, 0) for v in bases}
        for version, removed, n in conn.execute(
            "SELECT v.version, f.removed, count(*) FROM dataset_files f JOIN dataset_versions v ON v.id = f.version_id "
            "GROUP BY v.version, f.removed"
        ):
            present, gone = counts[version]
            counts[version] = (present, gone + n) if removed else (present + n, gone)
    return {v: (bases[v], *counts[v]) for v in sorted(bases)}


def _expected(snap: dict[str, bytes]) -> list[tuple[str, int, str]]:
    return [(p, len(b), blake3.blake3(b).hexdigest()) for p, b in sorted(snap.items())]


def _listed(ds, version: int) -> list[tuple[str, int, str]]:
    """A version's files as the index rebuilds them (the manifest in the store must agree)."""
    rows = [(f.path, f.size, f.digest) for f in ds.files("d", version)]
    assert rows == ds.manifest("d", version)
    return rows


def _many(h, root, n=40):
    for i in range(n):
        h.write(root / f"part{i // 10}" / f"f{i:02}.bin", f"file {i}\n".encode() * (i + 1))


def test_re_add_stores_only_the_changes_and_rebuilds_every_version(ds, tmp_path, h):
    root = tmp_path / "many"
    _many(h, root)
    ds.add("d", root)
    first = h.snapshot(root)
    h.write(root / "part0" / "f03.bin", b"edited")
    h.write(root / "part3" / "f39.bin", b"edited too")
    (root / "part1" / "f12.bin").unlink()
    h.write(root / "part9" / "new.bin", b"brand new")
    ds.add("d", root)
    second = h.snapshot(root)

    # Version 2 holds two changed files, one new and one removed: four rows, not forty.
    assert _rows(ds) == {1: (None, 40, 0), 2: (1, 3, 1)}
    assert _listed(ds, 1) == _expected(first)
    assert _listed(ds, 2) == _expected(second)
    assert ds.version("d", 2).file_count == 40
    for version, snap in ((1, first), (2, second)):
        out = tmp_path / f"out{version}"
        ds.checkout("d", version, out)
        assert h.snapshot(out) == snap
        assert ds.verify("d", version) == {}
    diff = ds.diff("d", 1, 2)
    assert (diff.added, diff.removed, sorted(diff.changed)) == (
        ("part9/new.bin",), ("part1/f12.bin",), ["part0/f03.bin", "part3/f39.bin"])


def test_a_file_removed_then_restored_comes_back(ds, tmp_path, h):
    root = tmp_path / "many"
    _many(h, root, 12)
    ds.add("d", root)
    keep = (root / "part0" / "f05.bin").read_bytes()
    (root / "part0" / "f05.bin").unlink()
    ds.add("d", root)
    h.write(root / "part0" / "f05.bin", keep)
    r = ds.add("d", root)
    assert r.identical_to == 1 and r.version is None  # the same list as version 1 again
    h.write(root / "part0" / "f06.bin", b"x")
    ds.add("d", root)
    assert "part0/f05.bin" not in {p for p, _, _ in _listed(ds, 2)}
    assert _listed(ds, 3) == _expected(h.snapshot(root))


def test_removing_a_version_others_build_on_keeps_them_whole(ds, tmp_path, h):
    root = tmp_path / "many"
    _many(h, root, 20)
    snaps = {}
    for version in (1, 2, 3):
        if version > 1:
            h.write(root / "part1" / f"f1{version}.bin", f"v{version}".encode())
        ds.add("d", root)
        snaps[version] = h.snapshot(root)
    assert [b for b, _, _ in _rows(ds).values()] == [None, 1, 2]

    ds.remove("d", 2)
    assert _rows(ds) == {1: (None, 20, 0), 3: (1, 2, 0)}  # 3 now holds both edits against 1
    assert _listed(ds, 3) == _expected(snaps[3])
    ds.remove("d", 1)
    assert _rows(ds) == {3: (None, 20, 0)}
    assert _listed(ds, 3) == _expected(snaps[3])
    ds.gc()
    out = tmp_path / "out"
    ds.checkout("d", 3, out)
    assert h.snapshot(out) == snaps[3] and ds.verify("d", 3) == {}


def test_a_chain_is_written_whole_once_its_deltas_outnumber_the_files(ds, tmp_path, h):
    root = tmp_path / "four"
    for i in range(4):
        h.write(root / f"f{i}", f"{i}".encode())
    ds.add("d", root)
    for version in (2, 3, 4, 5):
        # Fresh mtimes: equal sizes with a reused inode and the helper's fixed old mtime
        # would look unchanged to the hash cache.
        h.write(root / "f0", f"f0 v{version}".encode(), old=False)
        h.write(root / "f1", f"f1 v{version}".encode(), old=False)
        ds.add("d", root)
    # Two rows each: versions 2 and 3 (4 delta rows for 4 files), then 4 starts again whole.
    assert _rows(ds) == {1: (None, 4, 0), 2: (1, 2, 0), 3: (2, 2, 0), 4: (None, 4, 0), 5: (4, 2, 0)}
    assert _listed(ds, 5) == _expected(h.snapshot(root))


def test_downgrade_gives_every_version_its_whole_list(ds, tmp_path, h):
    root = tmp_path / "many"
    _many(h, root, 10)
    ds.add("d", root)
    h.write(root / "part0" / "f01.bin", b"changed")
    (root / "part0" / "f02.bin").unlink()
    ds.add("d", root)
    lists = {v: _listed(ds, v) for v in (1, 2)}
    assert _rows(ds)[2] == (1, 1, 1)
    command.downgrade(alembic_config(ds.db.engine), "0008")
    with sqlite3.connect(ds.db.path) as conn:
        for version, files in lists.items():
            rows = conn.execute("SELECT f.path, f.size, f.digest FROM dataset_files f JOIN dataset_versions v "
                                "ON v.id = f.version_id WHERE v.version = ? ORDER BY f.path", (version,)).fetchall()
            assert rows == files


def test_upgrading_an_index_with_datasets_keeps_every_file_row(tmp_path, h):
    from labdeck.datasets.service import Datasets
    from labdeck.db.engine import Database, make_engine
    from labdeck.db.migrate import upgrade_to

    path = tmp_path / "old.sqlite"
    engine = make_engine(path)
    upgrade_to(engine, "0008")  # before versions could be deltas
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO datasets (id, name, created_at, rules, strict) VALUES (1, 'd', 0, '{}', 0)")
        conn.execute("INSERT INTO dataset_versions (id, dataset_id, version, digest, created_at, message, "
                     "source_path, file_count, total_bytes) VALUES (1, 1, 1, 'm1', 0, '', '/x', 2, 3)")
        conn.executemany("INSERT INTO dataset_files (version_id, path, size, digest) VALUES (1, ?, ?, ?)",
                         [("a", 1, "d" * 64), ("b", 2, "e" * 64)])
    engine.dispose()
    db = Database(path)  # migrates to head
    ds = Datasets(db)
    assert [(f.path, f.size, f.digest) for f in ds.files("d", 1)] == [("a", 1, "d" * 64), ("b", 2, "e" * 64)]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (0,)  # a fresh connection's default
    with db.engine.connect() as conn:  # labdeck's connections still enforce them
        assert conn.exec_driver_sql("PRAGMA foreign_keys").one() == (1,)
    db.close()
