"""An index may live in any folder a user can name: the path is a path, not URL text.

Found by opening indexes in folders with odd names: '#', '%' and non-ASCII letters failed
to open at all (the migration's config read '%' as interpolation), and a '?' sent the index
to another file (SQLAlchemy read the rest as URL query parameters).
"""

from __future__ import annotations

import pytest

import labdeck
from labdeck.workspace import Workspace


@pytest.mark.parametrize("folder", ["runs #1", "what?", "100% sure", "a&b=c", "données été", "x;y 'q'"])
def test_an_index_in_an_oddly_named_folder_opens_where_it_was_asked(tmp_path, folder):
    home = tmp_path / folder
    home.mkdir()
    with labdeck.start_run(tmp_path / "project", name="r1", record_provenance=False) as run:
        run.log({"loss": 0.5}, step=0)
    index = home / "index.sqlite"
    ws = Workspace(index)
    try:
        ws.add_project(tmp_path / "project")
        ws.index()
        assert [r.name for r in ws.runs()] == ["r1"]
        assert [r.name for r in ws.runs('name ~ "r"', "name")] == ["r1"]  # the plain-SQL listing too
    finally:
        ws.close()
    made = {p.name for p in home.iterdir()}
    assert "index.sqlite" in made and made <= {"index.sqlite", "index.sqlite-wal", "index.sqlite-shm",
                                               "index.sqlite.lock"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([folder, "project"])  # nothing beside it
    ws = Workspace(index)  # opened again: the same runs
    try:
        assert [r.name for r in ws.runs()] == ["r1"]
    finally:
        ws.close()
