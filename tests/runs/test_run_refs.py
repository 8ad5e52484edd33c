"""A RUN argument names a run by labdeck's id, the tool's own id, or a prefix of either; every
verb that takes a RUN resolves it the same way (run_listing.find_run_pk)."""

from __future__ import annotations

import json
import sqlite3

from tests_support import make_runs
from test_cli import cli


def _indexed(project, tmp_path, n=2):
    index = tmp_path / "i.sqlite"
    runs = make_runs(project, n, steps=3)
    cli("add", str(project), index=index)
    return index, runs


def test_show_and_hide_take_a_prefix_of_the_tools_run_id(project, tmp_path):
    index, runs = _indexed(project, tmp_path)
    prefix = runs[0].id[:6]  # like an MLflow run id prefix `cb4355`
    shown = json.loads(cli("show", prefix, "--json", index=index).stdout)
    assert shown["source_id"] == runs[0].id

    cli("hide", prefix, index=index)
    listed = json.loads(cli("runs", "--json", index=index).stdout)
    assert [r["source_id"] for r in listed] == [runs[1].id]
    cli("unhide", prefix, index=index)
    assert len(json.loads(cli("runs", "--json", index=index).stdout)) == 2

    by_labdeck_prefix = json.loads(cli("show", shown["id"][:6], "--json", index=index).stdout)
    assert by_labdeck_prefix["source_id"] == runs[0].id

    # The model verbs resolve the same way.
    assert cli("model", "candidates", prefix, "--json", index=index).returncode == 0
    assert cli("model", "candidates", "ffff0000ffff", index=index, check=False).returncode == 2


def test_an_ambiguous_prefix_lists_the_candidates_and_exits_2(project, tmp_path):
    index, runs = _indexed(project, tmp_path)
    # Two tools' ids sharing a prefix (as MLflow ids of two stores may): set them in the index.
    with sqlite3.connect(index) as db:
        db.execute("UPDATE runs SET source_id = 'cb4355' || source_id")
    done = cli("show", "cb4355", index=index, check=False)
    assert done.returncode == 2
    listed = json.loads(cli("runs", "--json", index=index).stdout)
    for run in listed:
        line = next(ln for ln in done.stderr.splitlines() if run["id"] in ln)
        assert run["format"] in line and run["name"] in line
    # A longer prefix or the full id still picks one.
    full = listed[0]["source_id"]
    assert json.loads(cli("show", full[:12], "--json", index=index).stdout)["id"] == listed[0]["id"]
