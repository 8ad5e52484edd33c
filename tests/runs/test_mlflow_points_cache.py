"""MLflow points read again come from a cache that never outlives a change to the store:
checked with real MLflow logging to a live run between reads."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from labdeck.db import compare
from labdeck.db.catalogue_tables import Run
from labdeck.db.series_sources import SeriesUnavailable
from labdeck.runs.readers import _mlflow_sqlite_cache

REPO = Path(__file__).resolve().parents[2]
TOOLS_PY = REPO / ".venv-tools" / "bin" / "python"

# A live MLflow run driven step by step from stdin: "log N" logs N more steps of `loss`,
# "end" ends the run. Each command answers "ok" once MLflow has committed.
DRIVER = textwrap.dedent('''
    import sys
    import mlflow
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    mlflow.set_experiment("live")
    run = mlflow.start_run(run_name="growing")
    print(run.info.run_id, flush=True)
    step = 0
    for line in sys.stdin:
        word, *rest = line.split()
        if word == "log":
            for _ in range(int(rest[0])):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
                step += 1
        elif word == "end":
            mlflow.end_run()
        print("ok", flush=True)
''')


@pytest.fixture
def live_mlflow(tmp_path):
    if not TOOLS_PY.exists():
        pytest.skip(f"no MLflow environment at {TOOLS_PY} (scripts/tools_env.sh makes it)")
    project = tmp_path / "project"
    project.mkdir()
    proc = subprocess.Popen([str(TOOLS_PY), "-c", DRIVER], cwd=project, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)

    def send(command: str) -> None:
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ok"

    run_id = proc.stdout.readline().strip()
    yield project, run_id, send
    proc.stdin.close()
    proc.wait(timeout=60)


def _loss(workspace, pk) -> list[int]:
    with workspace.db.rows() as conn:
        return compare.series_many(conn, [pk], ["loss"])[pk]["loss"].steps.tolist()


def test_points_read_again_follow_a_live_mlflow_run(workspace, live_mlflow):
    project, run_id, send = live_mlflow
    send("log 5")
    workspace.add_project(project)
    workspace.index(str(project))
    with workspace.db.read() as session:
        pk = session.query(Run.pk).filter(Run.source_id == run_id).scalar()
    assert _loss(workspace, pk) == list(range(5))
    assert _loss(workspace, pk) == list(range(5))  # the second read: from the cache
    backup = project.parent / "backup.db"
    shutil.copyfile(project / "mlflow.db", backup)
    assert any(key[1] == run_id for key in _mlflow_sqlite_cache.CACHE._entries)
    send("log 3")  # MLflow appends to the live run; nothing re-indexed yet
    assert _loss(workspace, pk) == list(range(8))
    send("log 1")
    send("end")
    assert _loss(workspace, pk) == list(range(9))
    workspace.index(str(project))
    assert _loss(workspace, pk) == list(range(9))
    os.replace(backup, project / "mlflow.db")  # rewritten: an older copy put back
    assert _loss(workspace, pk) == list(range(5))
    (project / "mlflow.db").unlink()
    with pytest.raises(SeriesUnavailable):
        _loss(workspace, pk)
