"""Hostile input to the dataset verbs: out-of-range numbers are user errors, a checkout never
writes outside its destination whatever symlinks lie on the way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labdeck.datasets.store import StoreError

HUGE = "99999999999999999999999"


def cli(index: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LABDECK_INDEX"}
    return subprocess.run([sys.executable, "-m", "labdeck", "--index", str(index), *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)


def files_below(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def added(workspace, tmp_path):
    """A dataset 'ds' with one version: a file at the top and one two folders down."""
    from labdeck.datasets.service import Datasets

    src = tmp_path / "src"
    write(src / "top.txt", "top\n")
    write(src / "a" / "b" / "deep.txt", "deep\n")
    ds = Datasets(workspace.db)
    ds.add("ds", src)
    return ds


# Numbers out of range ------------------------------------------------------------------


def test_checkout_of_a_huge_version_is_a_user_error(tmp_path):
    """The issue's command, as a user runs it."""
    done = cli(tmp_path / "i.sqlite", "dataset", "checkout", "ds", HUGE, str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"labdeck: bad version '{HUGE}': out of range (at most {2**63 - 1})"


@pytest.mark.parametrize("args", [
    ("dataset", "diff", "ds", "1", HUGE),
    ("dataset", "verify", "ds", HUGE),
    ("dataset", "validate", "ds", HUGE),
    ("dataset", "lineage", "ds", HUGE),
    ("dataset", "rm", "ds", HUGE),
    ("model", "show", f"m:{HUGE}"),
    ("model", "approve", f"m:{HUGE}", "--comment", "ok"),
    ("launch", "--priority", HUGE, "--", "true"),
    ("launch", "--seed", HUGE, "--", "true"),
    ("launch", "--seed", "-1", "--", "true"),
])
def test_numbers_out_of_range_are_user_errors(tmp_path, capsys, args):
    from labdeck.cli import run_cli

    try:
        status = run_cli(["--index", str(tmp_path / "i.sqlite"), *args])
    except SystemExit as exc:  # argparse's own usage errors
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert "out of range" in err and "Traceback" not in err


def test_a_version_past_sqlite_integers_is_not_found(added):
    from labdeck.db.datasets import DatasetNotFound

    with pytest.raises(DatasetNotFound):
        added.manifest("ds", 10**30)  # the path launch --dataset NAME:VERSION takes


# Checkout stays inside its destination --------------------------------------------------------


def test_destination_through_a_symlinked_grand_parent_is_the_folder_the_system_names(added, tmp_path):
    """``link/../out`` names far/out for the kernel (``ls``, ``cd``); a lexical '..' named ./out."""
    far = tmp_path / "far"
    (far / "inner").mkdir(parents=True)
    (tmp_path / "link").symlink_to(far / "inner")
    meant = Path(os.path.realpath(tmp_path / "link" / ".." / "out"))
    assert meant == far / "out"
    result = added.checkout("ds", 1, tmp_path / "link" / ".." / "out")
    assert result.dest == meant
    assert files_below(far / "out") == ["a/b/deep.txt", "top.txt"]
    assert not (tmp_path / "out").exists()


def test_destination_below_a_symlinked_grand_parent_is_written_inside_it(added, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "gp").symlink_to(real)
    added.checkout("ds", 1, tmp_path / "gp" / "parent" / "dest")
    assert files_below(real) == ["parent/dest/a/b/deep.txt", "parent/dest/top.txt"]
    assert files_below(tmp_path / "src") == ["a/b/deep.txt", "top.txt"]  # nothing else anywhere near


def test_a_symlink_inside_the_destination_never_carries_files_outside(added, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a").symlink_to(outside)  # a/b does not exist yet: it would be created through the link
    with pytest.raises(StoreError, match="symlink"):
        added.checkout("ds", 1, dest)
    assert list(outside.iterdir()) == []
    assert files_below(dest) == []


def test_a_symlinked_file_in_the_destination_is_not_written_through(added, tmp_path):
    outside = tmp_path / "victim.txt"
    outside.write_text("keep me")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "top.txt").symlink_to(outside)
    with pytest.raises(StoreError, match="symlink"):
        added.checkout("ds", 1, dest, force=True)
    assert outside.read_text() == "keep me"


def test_a_symlink_swapped_in_after_the_checks_is_not_followed(added, tmp_path):
    """The folders are walked by descriptor without following links: a symlink that appears
    between the up-front checks and the writes still leads nowhere."""
    from labdeck.datasets import checkout as co

    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        (dest / "a").symlink_to(outside)
        with pytest.raises(StoreError, match="symlink"):
            co._copy_verified(added.store, "a/b/deep.txt", "0" * 64, fd, dest)
    finally:
        os.close(fd)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("rel", ["../escape.txt", "/abs/escape.txt", "a/../../escape.txt", "a//b", "./x"])
def test_manifest_paths_that_leave_the_destination_are_refused(added, tmp_path, rel):
    from labdeck.datasets.checkout import checkout

    digest = added.manifest("ds", 1)[0][2]
    with pytest.raises(StoreError, match="refusing manifest path"):
        checkout(added.store, [(rel, 4, digest)], tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists() and not Path("/abs/escape.txt").exists()


# Permissions follow the umask ---------------------------------------------------------------


@pytest.fixture
def umask_077():
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def modes_below(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.lstat().st_mode & 0o777 for p in root.rglob("*")}


def _store_and_checkout(workspace, tmp_path) -> tuple[Path, Path]:
    """A version holding packed, read-from-memory and streamed objects; a second version that
    shares one small file, then the first removed and gc'd (a pack rewritten); a checkout."""
    from labdeck.datasets.service import Datasets
    from labdeck.datasets.store import store_root

    src = tmp_path / "src"
    write(src / "small_a.txt", "a" * 100)
    write(src / "small_b.txt", "b" * 100)
    (src / "mid.bin").write_bytes(os.urandom(3 << 20))  # past the pack limit, hashed in memory
    (src / "big.bin").write_bytes(os.urandom(5 << 20))  # streamed while hashed
    ds = Datasets(workspace.db)
    ds.add("ds", src)
    (src / "small_b.txt").unlink()
    write(src / "small_c.txt", "c" * 100)
    ds.add("ds", src)
    ds.remove("ds", 1)
    ds.gc()
    out = tmp_path / "out"
    ds.checkout("ds", 2, out)
    return store_root(), out


def test_store_and_checkout_follow_umask_077(workspace, tmp_path, umask_077):
    store, out = _store_and_checkout(workspace, tmp_path)
    store_modes = modes_below(store)
    assert any(rel.endswith(".pack") for rel in store_modes) and any(rel.endswith(".idx") for rel in store_modes)
    assert any(rel.startswith("objects/") and len(rel) > 20 for rel in store_modes)
    too_open = {rel: oct(m) for rel, m in store_modes.items() if m & 0o077}
    assert too_open == {}
    read_only = {rel: oct(m) for rel, m in store_modes.items()
                 if rel.endswith((".pack", ".idx")) or (rel.startswith("objects/") and len(rel) > 20)}
    assert set(read_only.values()) == {"0o400"}, read_only
    checked_out = modes_below(out)
    assert {checked_out[rel] for rel in ("small_a.txt", "small_c.txt", "mid.bin", "big.bin")} == {0o600}


def test_store_objects_are_0444_and_checkouts_0644_under_the_usual_umask(workspace, tmp_path):
    old = os.umask(0o022)
    try:
        store, out = _store_and_checkout(workspace, tmp_path)
    finally:
        os.umask(old)
    objects = {m for rel, m in modes_below(store).items()
               if rel.endswith((".pack", ".idx")) or (rel.startswith("objects/") and len(rel) > 20)}
    assert objects == {0o444}
    assert set(modes_below(out).values()) == {0o644}
