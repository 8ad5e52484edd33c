"""labdeck executor add|list|remove, and launch/reproduce naming executors (no engine needed)."""

from __future__ import annotations

import json

from labdeck.cli import run_cli


def call(capsys, index, *argv):
    code = run_cli([argv[0], "--index", str(index), *argv[1:]])
    out, err = capsys.readouterr()
    return code, out, err


def test_executors_are_added_listed_and_removed(tmp_path, capsys):
    index = tmp_path / "index.sqlite"
    assert call(capsys, index, "executor", "add", "gpu", "slurm", "--partition", "a100", "--time", "02:00:00",
                "--extra=--constraint=a100")[0] == 0
    assert call(capsys, index, "executor", "add", "team", "ray", "--address", "ray://head:10001")[0] == 0
    code, out, _ = call(capsys, index, "executor", "list", "--json")
    listed = {e["name"]: e for e in json.loads(out)}
    assert listed["local"]["kind"] == "local"
    assert listed["gpu"] == {"name": "gpu", "kind": "slurm", "partition": "a100", "time": "02:00:00",
                             "extra": "--constraint=a100"}
    assert listed["team"]["address"] == "ray://head:10001"
    assert call(capsys, index, "executor", "remove", "gpu")[0] == 0
    code, out, _ = call(capsys, index, "executor", "list")
    assert "team" in out and "gpu" not in out


def test_bad_executor_input_exits_2_with_one_line(tmp_path, capsys):
    index = tmp_path / "index.sqlite"
    for argv, message in [
        (("executor", "add", "local", "slurm"), "'local' is built in"),
        (("executor", "add", "x", "kube"), "executor kind 'kube': use slurm or ray"),
        (("executor", "add", "x", "ray"), "a ray executor needs --address"),
        (("executor", "add", "x", "ray", "--address", "http://h:8265", "--partition", "p"), "takes no --partition"),
        (("executor", "add", "x", "slurm", "--time", "soon"), "--time 'soon'"),
        (("executor", "remove", "nope"), "unknown executor 'nope'"),
        (("launch", "--executor", "nope", "--", "python", "x.py"), "unknown executor 'nope'"),
        (("reproduce", "somerun", "--executor", "nope"), "unknown executor 'nope'"),
    ]:
        code, _, err = call(capsys, index, *argv)
        assert code == 2, argv
        assert message in err and "Traceback" not in err and err.count("\n") == 1, (argv, err)
