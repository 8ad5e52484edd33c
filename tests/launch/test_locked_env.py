"""--env locked: a venv built by uv from the repository's lock, cached by the lock's hash."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from labdeck.launch import envs
from labdeck.paths import data_dir

SCRIPT = '''\
import sys
import labdeck
import tinypkg
print(sys.prefix, tinypkg.VALUE, flush=True)
with labdeck.start_run(".") as run:
    run.log({"value": tinypkg.VALUE}, step=0)
'''


def _wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel, so that uv installs it without any network."""
    path = folder / "tinypkg-1.0-py3-none-any.whl"
    files = {
        "tinypkg/__init__.py": "VALUE = 42\n",
        "tinypkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + "tinypkg-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
        z.writestr("tinypkg-1.0.dist-info/RECORD", record)
    return path


def test_parse_lock_refuses_loose_pins():
    assert envs.parse_lock("numpy==1.26.4\n# c\nfoo @ file:///x.whl\n", "r") == ["numpy==1.26.4", "foo @ file:///x.whl"]
    with pytest.raises(envs.EnvError, match="line 2: 'pandas>=2' is not an exact pin"):
        envs.parse_lock("numpy==1.26.4\npandas>=2\n", "requirements.lock")


def test_locked_env_built_by_uv_then_reused(repo, git, cli, tmp_path, monkeypatch):
    try:
        envs.uv_binary()
    except envs.EnvError:
        pytest.skip("uv is not installed")
    monkeypatch.setenv("UV_OFFLINE", "1")
    wheel = _wheel(tmp_path)
    (repo / "requirements.lock").write_text(f"tinypkg @ {wheel.as_uri()}\n")
    (repo / "env_job.py").write_text(SCRIPT)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "locked job")
    results = []
    for _ in range(2):
        code, job, err = cli("launch", "--project", str(repo), "--env", "locked", "--wait", "--json", "--",
                             "python", "env_job.py", parse=True)
        assert code == 0, (err, (Path(job["run_dir"]) / "stderr.log").read_text() if job.get("run_dir") else job)
        results.append(job)
    prefixes = []
    notes = []
    for job in results:
        stdout = (Path(job["run_dir"]) / "stdout.log").read_text().split()
        prefixes.append(Path(stdout[0]))
        assert stdout[1] == "42"
        man = json.loads((Path(job["run_dir"]) / "labdeck-run.json").read_text())["provenance"]["manifest"]
        notes.append(" ".join(man["notes"]))
        assert man["env"]["kind"] == "locked" and man["env"]["lock"] == [f"tinypkg @ {wheel.as_uri()}"]
        assert {p["name"]: p["source"] for p in man["packages"]}["tinypkg"] == wheel.as_uri()
    assert prefixes[0] == prefixes[1] and prefixes[0].parent == data_dir() / "launch" / "envs"
    assert "built by uv" in notes[0] and "reused from the cache" in notes[1]
    code, shown, _ = cli("show", results[1]["run"], "--json", parse=True)
    assert shown["metrics"]["value"]["last"] == 42.0  # the SDK worked inside the locked venv


def test_a_lock_that_cannot_be_built_fails_the_job_with_uv_s_reason(repo, git, cli, tmp_path, monkeypatch):
    try:
        envs.uv_binary()
    except envs.EnvError:
        pytest.skip("uv is not installed")
    monkeypatch.setenv("UV_OFFLINE", "1")
    (repo / "requirements.lock").write_text(f"tinypkg @ {(tmp_path / 'gone-1.0-py3-none-any.whl').as_uri()}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "broken lock")
    code, job, _ = cli("launch", "--project", str(repo), "--env", "locked", "--wait", "--json", "--", "python",
                       "train.py", parse=True)
    assert code != 0 and job["status"] == "failed"
    assert job["message"].startswith("cannot build the environment: uv could not install the lock")
    assert not any(p.name.endswith(".building") for p in (data_dir() / "launch" / "envs").iterdir())
