"""The command line, run as a user runs it (a subprocess), on a folder of SDK runs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import labdeck
from tests_support import make_runs


def cli(*args, index=None, env_index=None, check=True):
    env = dict(os.environ)
    if env_index:
        env["LABDECK_INDEX"] = str(env_index)
    argv = [sys.executable, "-m", "labdeck", *args]
    if index:
        argv += ["--index", str(index)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_add_index_runs_show_json(project, tmp_path):
    index = tmp_path / "i.sqlite"
    runs = make_runs(project, 3, steps=20)
    with labdeck.start_run(project, name="odd values", record_provenance=False) as odd:
        odd.log({"v": math.nan}, step=0)
        odd.log({"v": math.inf}, step=1)
        odd.log({"v": -math.inf}, step=2)
    out = cli("add", str(project), index=index).stdout
    assert "added" in out and "4 run(s) updated" in out

    listed = json.loads(cli("runs", "--json", index=index).stdout)
    assert len(listed) == 4
    first = next(r for r in listed if r["source_id"] == runs[0].id)
    assert set(first) >= {"id", "project", "format", "source_id", "experiment", "name", "status", "deleted",
                          "parent", "start_time", "end_time", "params", "tags", "metrics", "warnings"}
    assert first["format"] == "labdeck" and first["project"] == str(project.resolve())
    assert first["metrics"]["loss"] == {"last": 1 / 20, "min": 1 / 20, "max": 1.0, "count": 20, "last_step": 19}
    assert first["params"] == {"lr": "0.1", "idx": "0"}

    shown = json.loads(cli("show", odd.id, "--series", "--json", index=index).stdout)  # the tool's own id
    assert [p[:2] for p in shown["series"]["v"]] == [[0, "NaN"], [1, "Infinity"], [2, "-Infinity"]]
    assert all(isinstance(p[2], int) for p in shown["series"]["v"])
    assert shown["metrics"]["v"]["last"] == "-Infinity"

    by_labdeck_id = json.loads(cli("show", shown["id"], "--json", index=index).stdout)
    assert by_labdeck_id["source_id"] == odd.id

    filtered = json.loads(cli("runs", "--json", "--query", "params.idx >= 1 and metrics.loss < 0.1",
                              "--sort=-params.idx", index=index).stdout)
    assert [r["name"] for r in filtered] == ["run-2", "run-1"]

    with_series = json.loads(cli("runs", "--json", "--series", "-q", "name = run-0", index=index).stdout)
    assert len(with_series[0]["series"]["loss"]) == 20


def test_env_index_and_projects_and_remove(project, tmp_path):
    index = tmp_path / "env.sqlite"
    make_runs(project, 1, steps=2)
    cli("add", str(project), env_index=index)
    assert index.exists()
    projects = json.loads(cli("projects", "--json", env_index=index).stdout)
    assert projects[0]["path"] == str(project.resolve()) and projects[0]["runs"] == 1
    summary = json.loads(cli("index", "--json", env_index=index).stdout)
    assert summary["unchanged"] == 1 and summary["read"] == 0
    cli("remove", str(project), env_index=index)
    assert json.loads(cli("runs", "--json", env_index=index).stdout) == []


def test_bad_query_points_at_the_token(project, tmp_path):
    done = cli("runs", "--query", "status = done", index=tmp_path / "i.sqlite", check=False)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert "unknown status 'done'" in lines[0]
    assert lines[-1].index("^") == lines[-2].index("done")


def test_unknown_run_and_missing_folder_are_clear_errors(tmp_path):
    index = tmp_path / "i.sqlite"
    done = cli("show", "nope", index=index, check=False)
    assert done.returncode == 2 and "no run with id 'nope'" in done.stderr
    done = cli("add", str(tmp_path / "missing"), index=index, check=False)
    assert done.returncode == 2 and "not a folder" in done.stderr


def test_warnings_verb_lists_problems(project, tmp_path):
    index = tmp_path / "i.sqlite"
    (run,) = make_runs(project, 1, steps=2)
    (run.dir / "labdeck-run.json").write_text("{oops")
    cli("add", str(project), index=index)
    warnings = json.loads(cli("warnings", "--json", index=index).stdout)
    assert [w["code"] for w in warnings] == ["bad-run-file"]
    assert "not valid JSON" in warnings[0]["message"]


def test_watch_keeps_the_index_current(project, tmp_path):
    index = tmp_path / "i.sqlite"
    cli("add", str(project), index=index)
    proc = subprocess.Popen([sys.executable, "-m", "labdeck", "watch", "--index", str(index)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "watching 1 project" in _read_until(proc, "watching")
        (run,) = make_runs(project, 1, steps=5)
        _read_until(proc, "point(s)")
        shown = json.loads(cli("show", run.id, "--json", index=index).stdout)
        assert shown["metrics"]["loss"]["count"] == 5
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0


def _read_until(proc, text, limit=50):
    seen = ""
    for _ in range(limit):
        line = proc.stdout.readline()
        seen += line
        if text in line or not line:
            break
    return seen


def test_demo_verb_makes_a_real_training(tmp_path):
    index = tmp_path / "i.sqlite"
    cli("demo", "--dir", str(tmp_path / "demo"), index=index)
    runs = json.loads(cli("runs", "--json", index=index).stdout)
    assert len(runs) >= 5
    for r in runs:
        acc = r["metrics"]["val/accuracy"]
        assert acc["count"] == 300 and 0.0 <= acc["max"] <= 1.0
    best = max(r["metrics"]["val/accuracy"]["max"] for r in runs)
    assert best > 0.85  # the network really learns the problem


def test_index_option_works_before_or_after_the_verb(project, tmp_path):
    make_runs(project, 1, steps=2)
    before, after = tmp_path / "before.sqlite", tmp_path / "after.sqlite"
    done = subprocess.run([sys.executable, "-m", "labdeck", "--index", str(before), "add", str(project)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    cli("add", str(project), index=after)
    for index in (before, after):
        assert len(json.loads(cli("runs", "--json", index=index).stdout)) == 1


def test_gui_or_verb_routing(tmp_path, monkeypatch):
    from labdeck.__main__ import _is_gui_call

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()  # a TensorBoard folder named like a verb
    assert _is_gui_call([], bare_words_are_folders=False)
    assert _is_gui_call(["gui"], bare_words_are_folders=False)
    assert _is_gui_call(["--index", "x.sqlite", "./runs"], bare_words_are_folders=False)
    assert not _is_gui_call(["runs"], bare_words_are_folders=False)  # decided once verbs are known
    assert _is_gui_call(["runs"], bare_words_are_folders=True)
    assert not _is_gui_call(["runs", "--json"], bare_words_are_folders=True)


def test_the_index_option_may_come_before_the_gui_verb():
    """As with every verb: `labdeck --index X gui DIR` printed the usage and opened nothing."""
    from labdeck.__main__ import _verb_first

    assert _verb_first(["--index", "x.sqlite", "gui", "/p"]) == ["gui", "--index", "x.sqlite", "/p"]
    assert _verb_first(["--index=x.sqlite", "gui"]) == ["gui", "--index=x.sqlite"]
    assert _verb_first(["--index", "x.sqlite", "runs"]) == ["--index", "x.sqlite", "runs"]
    assert _verb_first(["--index", "gui"]) == ["--index", "gui"]  # an index file named gui


def test_hide_and_unhide_runs(project, tmp_path):
    index = tmp_path / "i.sqlite"
    runs = make_runs(project, 3, steps=2)
    cli("add", str(project), index=index)
    assert "1 run(s) hidden" in cli("hide", runs[0].id, index=index).stdout
    cli("index", index=index)  # re-indexing keeps the choice
    listed = json.loads(cli("runs", "--json", index=index).stdout)
    assert sorted(r["source_id"] for r in listed) == sorted(r.id for r in runs[1:])
    everything = json.loads(cli("runs", "--json", "--all", index=index).stdout)
    assert [r["hidden"] for r in everything if r["source_id"] == runs[0].id] == [True]
    assert runs[0].dir.is_dir()  # the files are untouched
    cli("unhide", runs[0].id, index=index)
    assert len(json.loads(cli("runs", "--json", index=index).stdout)) == 3


def test_config_user_is_who_acts_unless_labdeck_user_is_set(tmp_path, monkeypatch):
    from labdeck.models.versions import current_user

    monkeypatch.delenv("LABDECK_USER", raising=False)
    os_user = current_user()
    cli("config", "user", "Ada Lovelace", index=tmp_path / "i.sqlite")
    assert cli("config", "user", index=tmp_path / "i.sqlite").stdout.strip() == "Ada Lovelace"
    assert current_user() == "Ada Lovelace"
    monkeypatch.setenv("LABDECK_USER", "bob")
    assert current_user() == "bob"
    monkeypatch.delenv("LABDECK_USER")
    cli("config", "user", "--unset", index=tmp_path / "i.sqlite")
    assert current_user() == os_user
    done = cli("config", "colour", "blue", index=tmp_path / "i.sqlite", check=False)
    assert done.returncode == 2 and "unknown setting 'colour'" in done.stderr


def test_the_verb_table_names_the_module_that_adds_each_verb():
    import argparse

    from labdeck.cli import VERB_MODULES, _verb_modules

    added = {}
    for module in _verb_modules():
        module.register(lambda name, _help, _func, m=module: (added.setdefault(name, m.__name__.rsplit(".", 1)[1]),
                                                              argparse.ArgumentParser())[1])
    assert added == VERB_MODULES


def test_a_verb_imports_only_its_own_module(tmp_path):
    # Importing what a verb does not use is start-up time the user waits for (scripts/bench_cli.py).
    # Listing reads in plain SQL: SQLAlchemy and its ORM alone were half of `labdeck runs --json`.
    heavy = ("labdeck.cli.", "alembic", "sqlalchemy", "pandas", "numpy", "pyarrow", "labdeck.sdk")
    code = ("import sys; from labdeck.cli import run_cli; run_cli(['--index', sys.argv[1], *sys.argv[2:]]); "
            f"print(sorted({{m.split('.')[0] if not m.startswith('labdeck') else m for m in sys.modules "
            f"if m.startswith({heavy!r})}}))")
    index = tmp_path / "i.sqlite"
    cli("runs", index=index)  # creates (and migrates) the index: the check below is of a daily start
    listing = (["runs", "--json"], ["runs", "-q", "params.lr > 0.01 or name ~ 'a.*b'", "--sort=-metrics.loss"],
               ["projects"], ["warnings"])
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("x,y\n1,2\n")
    # Adding a dataset writes in plain SQL too: a re-add after a few edits took less time
    # than importing SQLAlchemy (scripts/bench_datasets.py).
    adds = [["dataset", "add", "demo", str(data)]] * 2  # a first add, then an identical one
    datasets = [*adds, ["dataset", "list"]]
    for verb, own in [*((v, "runs") for v in listing), *((v, "datasets") for v in datasets)]:
        done = subprocess.run([sys.executable, "-c", code, str(index), *verb], capture_output=True, text=True,
                              check=True)
        loaded = done.stdout.strip().splitlines()[-1]
        assert loaded == f"['labdeck.cli.common', 'labdeck.cli.{own}']", (verb, loaded)
    # Nor do the dataset verbs load the runs' query language, RE2, the runs' records, the
    # datasets' rules (none were set) or platformdirs (LABDECK_HOME names the data folder).
    runs_only = ("re2", "labdeck.runs.query", "labdeck.db.filters", "labdeck.db.entities", "labdeck.datasets.rules",
                 "platformdirs")
    code = ("import sys; from labdeck.cli import run_cli; run_cli(['--index', sys.argv[1], *sys.argv[2:]]); "
            f"print(sorted(set(sys.modules) & {set(runs_only)!r}))")
    for verb in datasets:
        done = subprocess.run([sys.executable, "-c", code, str(index), *verb], capture_output=True, text=True,
                              check=True, env={**os.environ, "LABDECK_HOME": str(tmp_path / "home")})
        assert done.stdout.strip().splitlines()[-1] == "[]", verb


def test_a_user_error_is_one_line_and_a_bug_keeps_its_traceback(tmp_path, monkeypatch, capsys):
    import pytest

    from labdeck.cli import run_cli
    from labdeck.errors import UserError
    from labdeck.launch.store import SnapshotMissing
    from labdeck.workspace import Workspace

    index = str(tmp_path / "i.sqlite")
    assert run_cli(["--index", index, "show", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert err == "labdeck: no run with id 'nosuch' in the index\n"
    # A user error raised as a KeyError for older callers still reads as a message, unquoted.
    assert str(SnapshotMissing("snapshot 1234 is not in the store")) == "snapshot 1234 is not in the store"
    assert issubclass(SnapshotMissing, UserError) and issubclass(SnapshotMissing, KeyError)

    def broken(self, *args, **kwargs):
        return {}["a key labdeck forgot"]  # a bug: it must not pass for bad input

    monkeypatch.setattr(Workspace, "runs", broken)
    with pytest.raises(KeyError):
        run_cli(["--index", index, "runs", "--json"])


def test_runs_lists_nested_runs_under_their_parent_as_the_app_does(project, tmp_path, capsys):
    from labdeck.cli import run_cli

    with labdeck.start_run(project, name="sweep", record_provenance=False) as parent:
        parent.log({"loss": 1.0}, step=0)
    for i in range(2):
        with labdeck.start_run(project, name=f"trial-{i}", parent=parent.id, record_provenance=False) as child:
            child.log({"loss": 0.5 + i}, step=0)
    with labdeck.start_run(project, name="lonely", record_provenance=False) as run:
        run.log({"loss": 2.0}, step=0)
    index = str(tmp_path / "i.sqlite")
    assert run_cli(["--index", index, "add", str(project)]) == 0
    capsys.readouterr()
    assert run_cli(["--index", index, "runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[1:3] for line in lines[1:-1]]
    at = next(i for i, n in enumerate(names) if n[0] == "sweep")
    assert sorted(tuple(n) for n in names[at + 1 : at + 3]) == [("└", "trial-0"), ("└", "trial-1")]
    assert ["lonely"] == [n[0] for n in names if n[0] == "lonely"]
    assert lines[-1].startswith("4 runs; 2 sit under their parent run")
    # JSON stays one flat list, each run naming its parent.
    assert run_cli(["--index", index, "runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    sweep_id = next(r["id"] for r in listed if r["name"] == "sweep")
    assert sorted(r["name"] for r in listed if r["parent"] == sweep_id) == ["trial-0", "trial-1"]
