"""The indexer on real folders: incremental, read-only, and robust to what disks hold."""

from __future__ import annotations

import math
import os
import shutil

import pytest

import labdeck
from labdeck.runs import native_format as fmt
from labdeck.runs.readers.native import NativeReader
from tests_support import make_runs, tree_snapshot


def test_cold_index_then_unchanged_rescan_parses_nothing(workspace, project, monkeypatch):
    runs = make_runs(project, 5, steps=50)
    workspace.add_project(project)
    stats = workspace.index()
    assert (stats.read, stats.runs, stats.points) == (5, 5, 5 * 50 * 2)
    assert stats.seconds > 0  # a pass over every project reports its time (labdeck index said 0.00 s)
    calls = []
    original = NativeReader.read_on
    monkeypatch.setattr(NativeReader, "read_on", lambda self, *a: calls.append(a) or original(self, *a))
    again = workspace.index()
    assert (again.read, again.skipped) == (0, 5)
    assert calls == []
    listed = {r.source_id: r for r in workspace.runs()}
    assert set(listed) == {r.id for r in runs}
    one = listed[runs[0].id]
    assert one.metrics["loss"].count == 50 and one.metrics["loss"].last_step == 49
    assert one.metrics["loss"].last == pytest.approx(1 / 50)


def test_indexing_never_writes_into_the_project(workspace, project):
    make_runs(project, 3, steps=10)
    before = tree_snapshot(project)
    workspace.add_project(project)
    workspace.index()
    workspace.index()
    assert tree_snapshot(project) == before


def test_appended_points_are_read_on_not_reread(workspace, project):
    run = labdeck.start_run(project, name="live", record_provenance=False)
    for i in range(10):
        run.log({"loss": float(i)}, step=i)
    workspace.add_project(project)
    workspace.index()
    for i in range(10, 15):
        run.log({"loss": float(i)}, step=i)
    stats = workspace.index()
    assert stats.points == 5
    s = workspace.series(run.id)["loss"]
    assert s.steps.tolist() == list(range(15)) and s.values.tolist() == [float(i) for i in range(15)]
    assert workspace.run(run.id).status == "running"
    run.end()
    workspace.index()
    info = workspace.run(run.id)
    assert info.status == "finished" and info.metrics["loss"].count == 15


def test_many_appends_are_compacted_without_losing_points(workspace, project):
    run = labdeck.start_run(project, record_provenance=False)
    workspace.add_project(project)
    for i in range(80):
        run.log({"x": float(i)}, step=i)
        workspace.index()
    s = workspace.series(run.id)["x"]
    assert s.steps.tolist() == list(range(80))
    run.end()


def test_nan_and_infinity_summaries(workspace, project):
    with labdeck.start_run(project, record_provenance=False) as run:
        run.log({"only_nan": math.nan, "mixed": 1.0}, step=0)
        run.log({"only_nan": math.nan, "mixed": math.inf}, step=1)
        run.log({"mixed": math.nan}, step=2)
    workspace.add_project(project)
    workspace.index()
    m = workspace.run(run.id).metrics
    assert math.isnan(m["only_nan"].last) and math.isnan(m["only_nan"].min) and m["only_nan"].count == 2
    assert math.isnan(m["mixed"].last) and m["mixed"].min == 1.0 and m["mixed"].max == math.inf


def test_deleted_run_folder_leaves_the_index(workspace, project):
    runs = make_runs(project, 3, steps=5)
    workspace.add_project(project)
    workspace.index()
    shutil.rmtree(runs[1].dir)
    stats = workspace.index()
    assert stats.forgotten == 1
    assert {r.source_id for r in workspace.runs()} == {runs[0].id, runs[2].id}


def test_skips_vcs_venvs_node_modules_and_ignore_patterns(workspace, project):
    make_runs(project, 1, steps=3)
    for hidden in (".git/x", "node_modules/pkg", "__pycache__", "env-a", "scratch/old"):
        make_runs(project / hidden, 1, steps=3)
    (project / "env-a" / "pyvenv.cfg").write_text("home = /usr\n")
    (project / ".labdeckignore").write_text("scratch/\n")
    workspace.add_project(project)
    workspace.index()
    assert [r.path.split("/")[0] for r in workspace.runs()] == [fmt.RUNS_FOLDER]


def test_unicode_folder_names(workspace, project):
    odd = project / "exp ü 日本 'q'"
    make_runs(odd, 1, steps=3)
    workspace.add_project(project)
    workspace.index()
    (run,) = workspace.runs()
    assert run.path.startswith("exp ü 日本 'q'/")


def test_permission_denied_is_a_warning_and_keeps_runs_below(workspace, project, monkeypatch):
    make_runs(project, 1, steps=3)
    locked = project / "locked"
    make_runs(locked, 1, steps=3)
    workspace.add_project(project)
    workspace.index()
    # Root reads any folder, so the refusal is injected where the walk meets the disk.
    real_scandir = os.scandir

    def refusing(path):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr("labdeck.runs.walk.os.scandir", refusing)
    stats = workspace.index()
    assert stats.forgotten == 0 and len(workspace.runs()) == 2
    (w,) = [w for w in workspace.warnings() if w.code == "permission-denied"]
    assert w.path == "locked" and "no permission to read locked" in w.message


def test_unreadable_file_is_a_warning_and_old_data_is_kept(workspace, project):
    (run,) = make_runs(project, 1, steps=3)
    workspace.add_project(project)
    workspace.index()
    metrics = run.dir / fmt.METRICS_FILE
    metrics.rename(run.dir / "moved")
    metrics.mkdir()  # reading it now fails with IsADirectoryError
    workspace.index()
    assert workspace.run(run.id).metrics["loss"].count == 3
    assert "unreadable-file" in {w.code for w in workspace.warnings()}


def test_symlink_loop_is_a_warning(workspace, project):
    make_runs(project, 1, steps=3)
    (project / "loop").mkdir()
    (project / "loop" / "back").symlink_to(project, target_is_directory=True)
    workspace.add_project(project)
    workspace.index()
    assert len(workspace.runs()) == 1
    assert "symlink-loop" in {w.code for w in workspace.warnings()}


def test_a_folder_reached_through_links_is_walked_once(workspace, project, tmp_path):
    """Walked folders are known by their real paths (no stat per folder): a link to a
    folder of the project, two links to one folder outside it, and a loop out there each
    cost a warning, never a doubled run."""
    make_runs(project / "a", 2, steps=3)
    (project / "b").symlink_to(project / "a", target_is_directory=True)  # walked as a/ first
    outside = tmp_path / "outside"
    make_runs(outside, 1, steps=3)
    (outside / "again").symlink_to(outside, target_is_directory=True)
    (project / "c").symlink_to(outside, target_is_directory=True)
    (project / "d").symlink_to(outside, target_is_directory=True)
    workspace.add_project(project)
    workspace.index()
    runs = workspace.runs()
    assert len(runs) == 3
    assert sorted(r.path.split("/")[0] for r in runs) == ["a", "a", "c"]
    loops = [w for w in workspace.warnings() if w.code == "symlink-loop"]
    assert sorted(w.path for w in loops) == ["b", "c/again", "d"]


def test_a_lock_that_appears_is_seen_by_the_next_pass(workspace, project):
    """The native fingerprint takes a lock's absence from the walk's listing; a lock made
    afterwards must still make the next pass read the run (it turns it running or killed)."""
    run = make_runs(project, 1, steps=3)[0]
    (run.dir / fmt.EVENTS_FILE).unlink()  # no end event: the lock decides the status
    workspace.add_project(project)
    workspace.index()
    assert workspace.index().read == 0
    (run.dir / fmt.LOCK_FILE).write_text(fmt.lock_text(), encoding="utf-8")  # this process: live
    assert workspace.index().read == 1
    assert workspace.run(run.id).status == "running"
    assert workspace.index().read == 0


def test_missing_project_folder_keeps_its_runs(workspace, project, tmp_path):
    make_runs(project, 2, steps=3)
    workspace.add_project(project)
    workspace.index()
    project.rename(tmp_path / "elsewhere")
    workspace.index()
    assert len(workspace.runs()) == 2
    assert "project-missing" in {w.code for w in workspace.warnings()}


def test_a_crashing_reader_is_a_warning_and_the_rest_is_indexed(workspace, project, monkeypatch):
    runs = make_runs(project, 2, steps=3)
    original = NativeReader.read_on

    def flaky(self, source, cursor):
        if source.path == runs[0].dir:
            raise RuntimeError("boom")
        return original(self, source, cursor)

    monkeypatch.setattr(NativeReader, "read_on", flaky)
    workspace.add_project(project)
    workspace.index()
    assert [r.source_id for r in workspace.runs()] == [runs[1].id]
    (w,) = [w for w in workspace.warnings() if w.code == "reader-error"]
    assert "RuntimeError: boom" in w.message
    monkeypatch.setattr(NativeReader, "read_on", original)
    workspace.index()  # the failed source is retried on the next pass
    assert len(workspace.runs()) == 2


def test_cancel_stops_between_sources_and_keeps_what_was_written(workspace, project):
    from labdeck.tasks import Task

    make_runs(project, 4, steps=3)
    workspace.add_project(project)
    task = Task()
    task.cancel()
    stats = workspace.index(task=task)
    assert stats.cancelled
    assert workspace.index().read == 4


def test_remove_project_forgets_its_runs(workspace, project):
    make_runs(project, 2, steps=3)
    workspace.add_project(project)
    workspace.index()
    assert workspace.remove_project(project)
    assert workspace.runs() == [] and workspace.projects() == []
    assert (project / fmt.RUNS_FOLDER).is_dir()
