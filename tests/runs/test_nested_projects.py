"""A folder watched as a project and as part of a bigger one: every run is listed once.

A user who added ~/work/mnist and later ~/work (or the other way round) saw each run of
mnist twice, under two ids. A folder inside a watched project is that project's; a project
holding others leaves their folders to them, also when a link leads there."""

from __future__ import annotations

from labdeck.db.catalogue_tables import Project
from labdeck.runs.indexer import index_project
from tests_support import make_runs


def _listed(workspace) -> dict[str, int]:
    """{project folder: runs listed} (hidden and gone runs left out, as listings do)."""
    return {p.path: p.run_count for p in workspace.projects()}


def test_a_project_added_around_another_leaves_its_runs_to_it(workspace, tmp_path, capsys):
    outer = tmp_path / "work"
    inner = outer / "mnist"
    inner.mkdir(parents=True)
    inner_runs = make_runs(inner, 2, steps=3)
    make_runs(outer / "other", 1, steps=3)
    workspace.add_project(inner)
    workspace.index()
    ids = {r.source_id: r.id for r in workspace.runs()}
    from labdeck.cli import run_cli

    assert run_cli(["--index", str(workspace.index_path), "add", str(outer)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [f"added {outer}", f"  {inner} is a project of its own: its runs stay listed there, once"]
    assert _listed(workspace) == {str(outer): 1, str(inner): 2}
    assert len(workspace.runs()) == 3
    # the nested project's runs kept their ids
    assert {r.source_id: r.id for r in workspace.runs() if r.source_id in ids} == ids
    assert {r.source_id for r in workspace.runs()} >= {r.id for r in inner_runs}


def test_a_folder_inside_a_project_is_that_project(workspace, tmp_path, capsys):
    from labdeck.cli import run_cli

    outer = tmp_path / "work"
    inner = outer / "mnist"
    make_runs(inner, 2, steps=3)
    workspace.add_project(outer)
    workspace.index()
    assert workspace.add_project(inner) == (str(outer), False)
    workspace.index()
    assert _listed(workspace) == {str(outer): 2}
    assert run_cli(["--index", str(workspace.index_path), "add", str(inner)]) == 0
    assert capsys.readouterr().out.startswith(f"already watching {outer} (it holds {inner}")


def test_an_index_with_nested_projects_lists_each_run_once_after_a_pass(workspace, tmp_path):
    """Indexes made before this rule hold both copies: the outer project's next pass marks
    its copies gone (kept, with their ids, for what points at them)."""
    outer = tmp_path / "work"
    inner = outer / "mnist"
    make_runs(inner, 2, steps=3)
    workspace.add_project(outer)
    workspace.index()
    with workspace.db.write() as session:  # what an older labdeck let a user do
        session.add(Project(path=str(inner), name="mnist", added_at=0))
    index_project(workspace.db, str(inner))
    index_project(workspace.db, str(outer))
    assert len(workspace.runs()) == 2
    assert _listed(workspace) == {str(outer): 0, str(inner): 2}
    assert len(workspace.runs(include_deleted=True)) == 4


def test_a_link_to_another_project_is_not_walked_into(workspace, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    make_runs(elsewhere, 2, steps=3)
    project = tmp_path / "project"
    make_runs(project, 1, steps=3)
    (project / "shortcut").symlink_to(elsewhere, target_is_directory=True)
    workspace.add_project(elsewhere)
    workspace.add_project(project)
    workspace.index()
    assert _listed(workspace) == {str(elsewhere): 2, str(project): 1}


def test_a_change_inside_a_nested_project_is_indexed_by_it_alone(workspace, tmp_path):
    """The watcher's partial passes (``starts``) follow the same rule."""
    outer = tmp_path / "work"
    inner = outer / "mnist"
    inner.mkdir(parents=True)
    workspace.add_project(inner)
    workspace.add_project(outer)
    workspace.index()
    run = make_runs(inner, 1, steps=3)[0]
    assert index_project(workspace.db, str(outer), starts=[run.dir]).read == 0
    assert index_project(workspace.db, str(inner), starts=[run.dir]).read == 1
    assert _listed(workspace) == {str(outer): 0, str(inner): 1}
