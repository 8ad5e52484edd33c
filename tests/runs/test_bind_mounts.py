"""A folder mounted a second time inside a project (a bind mount, as containers and lab
machines make them) has a real path of its own: its runs must still be indexed once, by the
whole pass and by the watcher's partial passes alike."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import labdeck
from labdeck.runs.indexer import index_project


@pytest.fixture
def mounted(tmp_path):
    """proj/data holds a run; proj/mirror is proj/data, bind-mounted."""
    project = tmp_path / "proj"
    data, mirror = project / "data", project / "mirror"
    mirror.mkdir(parents=True)
    with labdeck.start_run(data, name="one", record_provenance=False) as run:
        run.log({"loss": 1.0}, step=0)
    made = subprocess.run(["mount", "--bind", str(data), str(mirror)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {made.stderr.strip()}")
    try:
        yield project
    finally:
        subprocess.run(["umount", str(mirror)], check=True)


def test_a_bind_mounted_folder_is_walked_once(workspace, mounted: Path):
    workspace.add_project(mounted)
    workspace.index()
    runs = workspace.runs()
    assert [r.name for r in runs] == ["one"] and runs[0].path.startswith("data/")
    assert [w.code for w in workspace.warnings()] == ["same-folder"]
    workspace.index()  # an unchanged pass keeps it so
    assert len(workspace.runs()) == 1


def test_a_change_seen_under_the_mounted_path_indexes_nothing_twice(workspace, mounted: Path):
    """The watcher hears a write under both paths; a partial pass from the second one must
    not make the run again."""
    workspace.add_project(mounted)
    workspace.index()
    run_folder = next((mounted / "mirror" / "labdeck-runs").iterdir())
    with open(run_folder / "metrics.csv", "a") as f:
        f.write("loss,1,0.5,0\n")
    index_project(workspace.db, str(mounted), starts=[run_folder])
    runs = workspace.runs()
    assert len(runs) == 1 and runs[0].metrics["loss"].count == 2


def test_only_a_second_mount_makes_a_pass_know_folders_by_inode(tmp_path, mounted: Path):
    """A disk mounted once inside a project shows each folder under one path: its passes
    keep knowing folders by path (a stat per folder spared) and stay partial."""
    from labdeck.runs.walk import mounts_below

    assert mounts_below(str(mounted)) and mounts_below(str(tmp_path))
    assert not mounts_below(str(mounted / "data"))
    scratch = tmp_path / "other" / "scratch"
    scratch.mkdir(parents=True)
    made = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(scratch)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        assert not mounts_below(str(tmp_path / "other"))
    finally:
        subprocess.run(["umount", str(scratch)], check=True)
