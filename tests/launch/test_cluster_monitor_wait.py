"""The cluster monitor starts before the submission and waits for the engine's id (no engine needed)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

from labdeck.db import jobs as jobsdb
from labdeck.launch.cluster_monitor import NOT_SUBMITTED, wait_for_submission
from labdeck.db.job_spec import JobSpec, Launcher


def _job(workspace, launcher_pid: int) -> str:
    with workspace.db.write() as s:
        job = jobsdb.insert_job(s, job_id="mon0001", project="/tmp/p", command=["python", "t.py"],
                                spec=JobSpec(launcher=Launcher(launcher_pid, socket.gethostname())))
    return job.id


def test_a_launcher_that_dies_before_submitting_leaves_a_failed_job_not_a_queued_one(workspace):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    job_id = _job(workspace, int(gone.stdout))
    assert wait_for_submission(workspace.db, job_id) is False
    with workspace.db.read() as s:
        job = jobsdb.get_job(s, job_id)
    assert job.status == "failed" and job.message == NOT_SUBMITTED


def test_the_monitor_follows_the_job_once_its_launcher_records_the_engine_id(workspace):
    job_id = _job(workspace, os.getpid())  # this process is the launcher, alive

    def submit() -> None:
        time.sleep(0.3)
        with workspace.db.write() as s:
            spec = jobsdb.get_job(s, job_id).spec
            jobsdb.update_job(s, job_id, spec=spec.but(cluster={"id": "42", "kind": "slurm"}))

    writer = threading.Thread(target=submit)
    writer.start()
    assert wait_for_submission(workspace.db, job_id) is True
    writer.join()
    with workspace.db.read() as s:
        assert jobsdb.get_job(s, job_id).status == "queued"
