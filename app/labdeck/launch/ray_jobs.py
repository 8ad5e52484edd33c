"""Ray as an engine, through its Job Submission REST API (the job server on the head, :8265).

labdeck speaks HTTP itself (urllib) rather than importing ``ray.job_submission``: the same
endpoints ``JobSubmissionClient`` uses, without making the heavy ``ray`` package a dependency.
The job's code (the snapshot) is uploaded as a package, ``PUT /api/packages/gcs/_ray_pkg_<hash>.zip``,
and named as the job's ``runtime_env.working_dir``, exactly as Ray's own client does
(``ray/dashboard/modules/dashboard_sdk.py``); GPUs are entrypoint resources.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from labdeck.db.jobs import JobInfo
from labdeck.launch.cluster_bundle import Bundle
from labdeck.launch.cluster_engine import Engine, EngineState, EngineUnreachable
from labdeck.launch.executor import SubmissionRejected
from labdeck.launch.executors_config import ExecutorConfig
from labdeck.launch.scheduler import GpuRequest

TIMEOUT_S = 20
DASHBOARD_PORT = 8265
STATES = {"PENDING": "queued", "RUNNING": "running", "SUCCEEDED": "succeeded", "FAILED": "failed",
          "STOPPED": "cancelled"}
ZIP_SKIP = (".git",)


def http_address(address: str) -> str:
    """``http(s)://HOST:PORT`` as given; ``ray://HOST:PORT`` means the job server on HOST:8265."""
    parts = urlsplit(address)
    if parts.scheme == "ray":
        return f"http://{parts.hostname}:{DASHBOARD_PORT}"
    return address.rstrip("/")


def zip_code(folder: Path) -> bytes:
    """The folder's files (not its ``.git``), relative paths, in a stable order."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for dirpath, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d not in ZIP_SKIP)
            for name in sorted(files):
                path = Path(dirpath, name)
                info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (path.stat().st_mode & 0o777) << 16
                zf.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buf.getvalue()


class RayEngine(Engine):
    kind = "ray"
    results_in_bundle = True

    def __init__(self, cfg: ExecutorConfig) -> None:
        self.cfg = cfg
        self.base = http_address(cfg.get("address"))

    def cluster_name(self) -> str:
        return self.base

    def _request(self, method: str, path: str, body: bytes | dict | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        req = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - base is http(s), checked when the executor is added
        if isinstance(body, dict):
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310 - the configured job server
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EngineUnreachable(f"Ray's job server at {self.base} does not answer: {reason}") from None

    def upload_code(self, folder: Path) -> str:
        data = zip_code(folder)
        name = f"_ray_pkg_{hashlib.sha1(data).hexdigest()}.zip"  # noqa: S324 - a content name, as Ray's
        status, _ = self._request("GET", f"/api/packages/gcs/{name}")
        if status != 200:
            status, text = self._request("PUT", f"/api/packages/gcs/{name}", data)
            if status != 200:
                raise SubmissionRejected(f"Ray refused the job's code package: {text.decode(errors='replace')[-300:]}")
        return f"gcs://{name}"

    def submit(self, bundle: Bundle, job: JobInfo, python: str) -> dict:
        gpus = GpuRequest.from_json(job.spec.gpus)
        submission_id = f"labdeck-{job.id}"
        try:
            working_dir = self.upload_code(bundle.code)
            body: dict[str, Any] = {
                "entrypoint": f"{shlex.quote(python)} -m labdeck.launch.cluster_job "
                              f"{shlex.quote(str(bundle.job_file))} --code .",
                "submission_id": submission_id,
                "runtime_env": {"working_dir": working_dir,
                                "env_vars": {"LABDECK_RAY_SUBMISSION_ID": submission_id,
                                             "LABDECK_RAY_ADDRESS": self.base}},
                "metadata": {"labdeck_job": job.id},
            }
            count = len(gpus.uuids) or gpus.count
            if count:
                body["entrypoint_num_gpus"] = count
            resources = job.spec.resources
            if resources.cpus:
                body["entrypoint_num_cpus"] = int(resources.cpus)
            if resources.mem_gb:
                body["entrypoint_memory"] = int(resources.mem_gb * 2**30)
            status, text = self._request("POST", "/api/jobs/", body)
        except EngineUnreachable as exc:
            raise SubmissionRejected(f"cannot submit to Ray: {exc}") from None
        if status != 200:
            raise SubmissionRejected(f"Ray rejected the job: {text.decode(errors='replace').strip()[-500:]}")
        return {"id": json.loads(text).get("submission_id") or submission_id, "cluster": self.base,
                "working_dir": working_dir}

    def state(self, info: dict) -> EngineState | None:
        status, text = self._request("GET", f"/api/jobs/{info['id']}")
        if status == 404:
            return None
        if status != 200:
            raise EngineUnreachable(f"Ray's job server answered {status}: {text[:200]!r}")
        data = json.loads(text)
        raw = data.get("status") or "UNKNOWN"
        return EngineState(STATES.get(raw, "failed"), raw, data.get("message") or "",
                           data.get("driver_node_id") or "")

    def cancel(self, info: dict) -> None:
        status, text = self._request("POST", f"/api/jobs/{info['id']}/stop")
        if status != 200:
            raise EngineUnreachable(f"Ray did not stop the job: {text.decode(errors='replace')[-200:]}")
