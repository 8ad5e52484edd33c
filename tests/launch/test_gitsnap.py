"""Code snapshots: content-addressed, restored elsewhere, conflicts reported."""

from __future__ import annotations

import dataclasses

import pytest
from labdeck.launch import gitsnap, store
from labdeck.paths import data_dir


def test_snapshot_restores_diff_and_untracked_outside_the_users_tree(repo, tmp_path):
    (repo / "helper.py").write_text("SCALE = 0.03\n")
    (repo / "data").mkdir()
    (repo / "data" / "notes.txt").write_text("untracked ü\n")
    (repo / "labdeck-runs").mkdir()
    (repo / "labdeck-runs" / "x.csv").write_text("output, not code")
    snap = gitsnap.snapshot(repo / "data")
    assert snap.cwd_rel == "data" and snap.untracked_files == ("data/notes.txt",)
    assert store.blob_path(snap.diff).is_relative_to(data_dir()) and store.has(snap.untracked)
    again = gitsnap.snapshot(repo / "data")
    assert (again.diff, again.untracked) == (snap.diff, snap.untracked)  # content-addressed, deterministic
    cwd = gitsnap.materialise(snap, tmp_path / "work" / "j1")
    assert cwd == (tmp_path / "work" / "j1" / "data").resolve()
    assert (cwd.parent / "helper.py").read_text() == "SCALE = 0.03\n"
    assert (cwd / "notes.txt").read_text() == "untracked ü\n"
    assert not (cwd.parent / "labdeck-runs").exists()


def test_a_diff_that_does_not_apply_is_a_clear_error(repo, git, tmp_path):
    (repo / "helper.py").write_text("SCALE = 0.03\n")
    snap = gitsnap.snapshot(repo)
    git(repo, "checkout", "-q", "--", "helper.py")
    (repo / "helper.py").write_text("SCALE = 7\n")
    git(repo, "commit", "-qam", "conflicting change")
    moved = dataclasses.replace(snap, commit=git(repo, "rev-parse", "HEAD").strip())
    with pytest.raises(gitsnap.SnapshotError, match="do not apply"):
        gitsnap.materialise(moved, tmp_path / "w")
    (repo / "extra.py").write_text("x = 1\n")
    untracked = gitsnap.snapshot(repo)
    git(repo, "add", "extra.py")
    git(repo, "commit", "-qm", "now tracked")
    clash = dataclasses.replace(untracked, commit=git(repo, "rev-parse", "HEAD").strip(), diff=None)
    with pytest.raises(gitsnap.SnapshotError, match="conflicts"):
        gitsnap.materialise(clash, tmp_path / "w2")


def test_repository_without_commit_is_refused(tmp_path, git):
    (tmp_path / "r").mkdir()
    git(tmp_path / "r", "init", "-q")
    with pytest.raises(gitsnap.SnapshotError, match="no commit yet"):
        gitsnap.snapshot(tmp_path / "r")
