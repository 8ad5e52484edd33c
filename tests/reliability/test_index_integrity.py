"""The index stays true: one writer at a time, passes that lose nothing when cut short, runs
kept (with their keys and what points at them) when their files go and come back."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from labdeck.db.engine import Database
from labdeck.runs.indexer import index_project
from labdeck.runs.native_format import is_staging
from labdeck.tasks import Task
from labdeck.workspace import Workspace
from reliability.index_dump import cli, dump, integrity
from tests_support import make_runs


def _touch_all(project: Path) -> None:
    """Every run's files change (a new point each), as after a night of trainings."""
    for run_dir in sorted((project / "labdeck-runs").iterdir()):
        with open(run_dir / "metrics.csv", "a", encoding="utf-8") as f:
            f.write("late,0,1.0,1\n")


class _CancelAfter(Task):
    """A task whose user cancels after ``n`` looks at the flag (mid-walk, mid-read...)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.looks = 0

    @property
    def cancelled(self) -> bool:  # type: ignore[override]
        self.looks += 1
        return self.looks > self.n


def _looks_of_a_pass(tmp_path: Path) -> int:
    """How often a whole pass over the test's project looks at its cancel flag: measured on
    a twin of the project, so that the cancels below fall all along the pass."""
    twin = tmp_path / "twin"
    twin.mkdir()
    ws = Workspace(tmp_path / "twin.sqlite")
    try:
        make_runs(twin, 30, steps=3)
        ws.add_project(twin)
        ws.index()
        _touch_all(twin)
        counting = _CancelAfter(10**9)
        index_project(ws.db, str(twin), task=counting)
        return counting.looks
    finally:
        ws.close()


@pytest.mark.parametrize("share", [0.0, 0.02, 0.1, 0.3, 0.6, 0.9])
def test_a_pass_cancelled_at_any_point_forgets_no_run(workspace, project, tmp_path, share):
    looks = _looks_of_a_pass(tmp_path)
    assert looks > 30  # the flag is read while walking and again for each source read
    make_runs(project, 30, steps=3)
    workspace.add_project(project)
    workspace.index()
    before = {r.id: r for r in workspace.runs()}
    workspace.set_hidden([next(iter(before))])
    _touch_all(project)

    stats = index_project(workspace.db, str(project), task=_CancelAfter(int(share * looks)))

    assert stats.cancelled and stats.forgotten == 0
    after = {r.id: r for r in workspace.runs(include_deleted=True)}
    assert set(after) == set(before)
    assert not any(r.gone for r in after.values())
    assert sum(r.hidden for r in after.values()) == 1


def test_quitting_the_app_during_its_start_up_scan_loses_no_run(tmp_path, project):
    """The reported case: 400 changed native runs, the app quit right after its first paint."""
    index = tmp_path / "index.sqlite"
    make_runs(project, 400, steps=2)
    ws = Workspace(index)
    ws.add_project(project)
    ws.index()
    hidden = ws.runs()[5].id
    ws.set_hidden([hidden])
    before = {r.id for r in ws.runs(include_deleted=True)}
    ws.close()
    _touch_all(project)

    env_quit = {"LABDECK_QUIT_AFTER_PAINT": "1", "QT_QPA_PLATFORM": "offscreen"}
    for _ in range(3):
        done = _app(index, env_quit)
        assert done.returncode == 0, done.stderr

    ws = Workspace(index)
    try:
        runs = {r.id: r for r in ws.runs(include_deleted=True)}
        assert set(runs) == before
        assert not any(r.gone for r in runs.values())
        assert [r.id for r in runs.values() if r.hidden] == [hidden]
    finally:
        ws.close()


def _app(index: Path, extra_env: dict):
    import subprocess
    import sys

    env = {**os.environ, **extra_env, "LABDECK_INDEX": str(index)}
    return subprocess.run([sys.executable, "-m", "labdeck"], env=env, capture_output=True, text=True, timeout=120)


def test_two_copies_of_one_store_are_two_sets_of_runs(workspace, project):
    for name in ("a", "backup"):
        make_runs(project / name, 3, steps=4)
    shutil.rmtree(project / "backup" / "labdeck-runs")
    shutil.copytree(project / "a" / "labdeck-runs", project / "backup" / "labdeck-runs")
    workspace.add_project(project)
    workspace.index()

    runs = workspace.runs()
    assert len(runs) == 6
    assert len({r.id for r in runs}) == 6
    by_source = {}
    for r in runs:
        by_source.setdefault(r.source_id, []).append(r.path.split("/")[0])
    assert all(sorted(places) == ["a", "backup"] for places in by_source.values())
    for r in runs:
        assert len(workspace.series(r.id)["loss"]) == 4
    # Indexing again changes nothing: no run moves from one copy to the other.
    ids = {(r.path, r.id) for r in runs}
    workspace.index()
    assert {(r.path, r.id) for r in workspace.runs()} == ids


def test_a_run_whose_files_go_and_come_back_keeps_its_id_links_and_flags(workspace, project, tmp_path):
    runs = make_runs(project, 3, steps=5)
    workspace.add_project(project)
    workspace.index()
    target = next(r for r in workspace.runs() if r.name == "run-1")
    workspace.set_hidden([target.id])
    with workspace.db.read() as session:
        pk = session.execute(
            sqlite_text("SELECT pk FROM runs WHERE uid = :u"), {"u": target.id}
        ).scalar_one()

    parked = tmp_path / "parked"
    shutil.move(str(runs[1].dir), parked)
    stats = workspace.index()
    assert stats.forgotten == 1
    assert target.id not in {r.id for r in workspace.runs()}
    gone = workspace.run(target.id)
    assert gone.gone and gone.hidden and gone.params == target.params

    shutil.move(str(parked), runs[1].dir)
    workspace.index()
    back = workspace.run(target.id)
    assert not back.gone and back.hidden
    assert workspace.series(target.id)["loss"].steps.tolist() == [0, 1, 2, 3, 4]  # not doubled
    with workspace.db.read() as session:
        assert session.execute(
            sqlite_text("SELECT pk FROM runs WHERE uid = :u"), {"u": target.id}
        ).scalar_one() == pk


def sqlite_text(sql: str):
    from sqlalchemy import text

    return text(sql)


def test_a_repeated_step_without_wall_times_is_indexed(workspace, project):
    """Lightning appends a row with a step already seen (validation); its CSV has no times."""
    version = project / "lightning_logs" / "version_0"
    version.mkdir(parents=True)
    (version / "hparams.yaml").write_text("lr: 0.1\n")
    metrics = version / "metrics.csv"
    metrics.write_text("epoch,step,train_loss,val_loss\n0,9,0.5,\n0,19,0.4,\n")
    workspace.add_project(project)
    workspace.index()
    with open(metrics, "a") as f:
        f.write("0,19,,0.45\n0,19,0.39,\n")

    stats = workspace.index()

    assert stats.read == 1
    run = workspace.runs()[0]
    assert run.metrics["train_loss"].count == 3
    assert run.metrics["train_loss"].last == 0.39  # a tie at the last step goes to the later point
    assert run.metrics["val_loss"].last == 0.45
    assert workspace.warnings() == []


def test_one_writer_at_a_time_and_the_others_say_whom_they_wait_for(tmp_path):
    from labdeck.db.lock import holder, is_locked, writer_lock

    index = tmp_path / "index.sqlite"
    Database(index).close()
    entered = threading.Event()
    release = threading.Event()

    def hold():
        with writer_lock(index, "holding for the test"):
            entered.set()
            release.wait(10)

    holder_thread = threading.Thread(target=hold)
    holder_thread.start()
    entered.wait(5)
    assert is_locked(index)
    assert "holding for the test" in holder(index) and f"pid {os.getpid()}" in holder(index)

    told = []
    order = []

    def wait_then_enter():
        with writer_lock(index, "second", on_wait=told.append):
            order.append("second")

    waiter = threading.Thread(target=wait_then_enter)
    waiter.start()
    threading.Event().wait(0.3)
    assert order == [] and told  # still waiting, and said so
    order.append("first done")
    release.set()
    holder_thread.join(5)
    waiter.join(5)
    assert order == ["first done", "second"]
    assert not is_locked(index)


def test_an_index_pass_waits_for_another_process_and_stores_every_point_once(tmp_path, project):
    index = tmp_path / "index.sqlite"
    make_runs(project, 40, steps=50)
    cli("add", str(project), "--no-index", index=index)
    from reliability.index_dump import popen

    passes = [popen("index", index=index) for _ in range(3)]
    for p in passes:
        assert p.wait(120) == 0
    clean = tmp_path / "clean.sqlite"
    cli("add", str(project), index=clean)
    assert dump(index) == dump(clean)
    assert integrity(index) == "ok"


def test_an_index_killed_while_it_is_created_opens_whole_afterwards(tmp_path):
    """Kill times swept across the schema's creation (all migrations from nothing)."""
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import sys; from labdeck.db.engine import Database; print('ready', flush=True); "
        "Database(sys.argv[1]).close()"
    )

    def start(index: Path) -> tuple[subprocess.Popen, float]:
        proc = subprocess.Popen([sys.executable, "-c", code, str(index)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        return proc, time.perf_counter()

    proc, began = start(tmp_path / "timing.sqlite")
    proc.wait(60)
    window = time.perf_counter() - began
    trials = 24
    for i in range(trials):
        index = tmp_path / f"i{i}.sqlite"
        proc, began = start(index)
        time.sleep(max(0.0, window * i / trials - (time.perf_counter() - began)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        Database(index).close()  # finishes what the killed process began; never a half schema
        assert integrity(index) == "ok"
        with sqlite3.connect(index) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        assert {"runs", "warnings", "model_versions", "jobs"} <= tables
        from labdeck.db.engine import make_engine
        from labdeck.db.migrate import head_revision

        assert version == head_revision(make_engine(index))


def test_live_runs_under_two_watchers_and_the_app_lose_and_double_nothing(tmp_path, project):
    """20 SDK writers (some killed mid-run) while two `labdeck watch` processes and an
    in-process watcher (what the app runs) index the same index."""
    import signal
    import subprocess
    import sys

    index = tmp_path / "index.sqlite"
    cli("add", str(project), "--no-index", index=index)
    from reliability.index_dump import popen

    watchers = [
        popen("watch", "--rescan", "1", index=index, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for w in watchers:  # each has made its first pass and is watching
        while "watching" not in (line := w.stdout.readline()):
            assert line, w.stderr.read()
        threading.Thread(target=w.stdout.read, daemon=True).start()  # keep its pipe from filling
    from labdeck.runs.watcher import Watcher

    ws = Workspace(index)
    app_watcher = Watcher(ws.db, rescan_s=1.0)
    app_watcher.start()
    writer = (
        "import sys, time, labdeck\n"
        "run = labdeck.start_run(sys.argv[1], name=sys.argv[2], record_provenance=False)\n"
        "for i in range(240):\n"
        "    run.log({'loss': 1.0 / (i + 1), 'acc': i / 240}, step=i)\n"
        "    time.sleep(0.004)\n"
        "run.end()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", writer, str(project), f"w{i}"]) for i in range(20)
    ]
    try:
        threading.Event().wait(1.0)
        for p in procs[::5]:  # four writers die mid-run
            p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait(120)
        threading.Event().wait(2.5)  # the watchers catch up with the last writes
    finally:
        app_watcher.stop()
        ws.close()
        for w in watchers:
            w.send_signal(signal.SIGINT)
        for w in watchers:
            w.wait(30)
    assert all(w.returncode == 0 for w in watchers), [w.stderr.read() for w in watchers]
    cli("index", index=index)

    logged = stored = 0
    got = dump(index)
    # A writer killed while it started its run leaves only a hidden staging folder (no points).
    run_dirs = [d for d in (project / "labdeck-runs").iterdir() if not is_staging(d.name)]
    assert len(got) == len(run_dirs) >= 16
    for run in got.values():
        for key, (steps, _values, _walls) in run["series"].items():
            assert steps == sorted(steps) and len(steps) == len(set(steps)), f"{run['name']} {key} doubled"
            stored += len(steps)
    for d in run_dirs:
        lines = (d / "metrics.csv").read_bytes().split(b"\n")[1:]
        logged += sum(1 for line in lines[:-1] if line)  # complete lines only
    assert stored == logged
    assert integrity(index) == "ok"


TRIALS = int(os.environ.get("LABDECK_SOAK_TRIALS", "4"))


@pytest.mark.parametrize("what", ["index", "app"])
def test_kills_at_random_moments_of_a_pass_leave_an_index_equal_to_a_clean_one(tmp_path, project, what):
    """SIGKILL of `labdeck index` (cold, then incremental) or of the app during its start-up
    scan, at random moments; each time the index checks whole, keeps every run it had, and
    after one more pass equals an index built cleanly from the same files."""
    import random
    import signal
    import time

    from reliability.index_dump import popen

    rng = random.Random(13)
    index = tmp_path / "index.sqlite"
    make_runs(project, 60, steps=30)
    cli("add", str(project), "--no-index", index=index)
    had: set[str] = set()
    for trial in range(TRIALS):
        if trial % 2:
            _touch_all(project)  # an incremental pass: every run has news
        args, env = (("index",), {}) if what == "index" else ((), {"QT_QPA_PLATFORM": "offscreen"})
        proc = popen(*args, index=index, env_extra=env) if env else popen(*args, index=index)
        time.sleep(rng.uniform(0.2, 1.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert integrity(index) == "ok"
        ws = Workspace(index)
        try:
            now = {r.id for r in ws.runs(include_deleted=True) if not r.gone}
        finally:
            ws.close()
        assert had <= now, "a kill lost runs"
        had = now
    cli("index", index=index)
    clean = tmp_path / "clean.sqlite"
    cli("add", str(project), index=clean)
    assert dump(index) == dump(clean)
