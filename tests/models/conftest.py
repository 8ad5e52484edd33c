"""Fixtures for the models capability: real runs with real model files, and real MLflow servers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import labdeck
import pytest
from labdeck.models.publish import Publisher
from labdeck.models.versions import ModelService

REPO = Path(__file__).resolve().parents[2]
TOOLS_PY = REPO / ".venv-tools" / "bin" / "python"


def mlflow_executable() -> str | None:
    env = os.environ.get("LABDECK_MLFLOW")
    if env:
        return env if Path(env).exists() else shutil.which(env)
    local = REPO / ".venv-tools" / "bin" / "mlflow"
    return str(local) if local.exists() else None


def _write_model_run(project: Path, *, val_acc: float = 0.95, seed: bytes = b"w") -> labdeck.sdk.Run:
    """A native run with an SDK-logged Hugging Face-style folder and a loose .pt file."""
    src = project.parent / f"model-src-{seed.hex()}"
    src.mkdir(exist_ok=True)
    (src / "config.json").write_text('{"hidden": 8}')
    (src / "model.safetensors").write_bytes(seed * 50_000)
    with labdeck.start_run(project, name="train", params={"lr": 0.1}, record_provenance=False) as run:
        run.log({"val_acc": val_acc, "loss": 0.2}, step=0)
        run.log_model(src, name="classifier")
        pt = project.parent / "extra.pt"
        pt.write_bytes(b"not really torch " + seed)
        run.log_artifact(pt)
    return run


@pytest.fixture
def write_model_run():
    """The function that writes a run with models (for tests that need to change it first)."""
    return _write_model_run


@pytest.fixture
def model_run(workspace, project):
    """(workspace, run id, run folder) with one indexed native run holding models."""
    run = _write_model_run(project)
    workspace.add_project(project)
    workspace.index()
    (info,) = workspace.runs()
    return workspace, info.id, run.dir


@pytest.fixture
def svc(model_run) -> ModelService:
    return ModelService(model_run[0].db)


@pytest.fixture
def pub(model_run) -> Publisher:
    return Publisher(model_run[0].db)


@pytest.fixture
def approved(model_run, svc) -> str:
    """'classifier:1' registered from the run's SDK-logged folder, submitted and approved."""
    _, run_id, _ = model_run
    mv = svc.register(run_id, "artifacts/models/classifier", "classifier")
    svc.transition(mv.ref, "submit")
    svc.transition(mv.ref, "approve", "looks good")
    return mv.ref


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ADMIN_PASSWORD = "labdeck-admin-pw-42"


class MlflowServer:
    """A real ``mlflow server --app-name basic-auth`` on 127.0.0.1: SQLite back end, local
    artifact root, proxied artifacts. One server serves every test (starting one costs tens of
    seconds); tests authenticate as its admin through the usual MLFLOW_TRACKING_* variables.
    """

    def __init__(self, root: Path) -> None:
        exe = mlflow_executable()
        if exe is None:
            pytest.skip("mlflow not found: run scripts/tools_env.sh (or set LABDECK_MLFLOW)")
        root.mkdir(parents=True, exist_ok=True)
        # MLflow's client runs under the interpreter beside the mlflow executable.
        self.python = str(Path(exe).with_name("python")) if Path(exe).with_name("python").exists() else str(TOOLS_PY)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ini = root / "auth.ini"
        # The credential cache spares a PBKDF2 check per request (seconds each on a loaded machine).
        ini.write_text("[mlflow]\ndefault_permission = READ\n"
                       f"database_uri = sqlite:///{root / 'auth.db'}\n"
                       f"admin_username = admin\nadmin_password = {ADMIN_PASSWORD}\n"
                       "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                       "auth_cache_ttl_seconds = 600\n")
        cmd = [exe, "server", "--app-name", "basic-auth", "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
               "--artifacts-destination", str(root / "artifacts"), "--serve-artifacts"]
        env = {**os.environ, "MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_FLASK_SERVER_SECRET_KEY": "labdeck-tests"}
        for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
            env.pop(var, None)
        self.log = open(root / "server.log", "wb")  # noqa: SIM115 - open for the server's lifetime
        self.proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._wait_ready(root)

    def _wait_ready(self, root: Path) -> None:
        # A start-up guard, not a timed assertion: give up only after a generous three minutes.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("mlflow server did not start within 180 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:  # a throwaway server: no need to wait for a graceful exit
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.log.close()

    def client(self, code: str, *args: str) -> str:
        """Run ``code`` under the tools venv with MLflow's own client pointed at this server."""
        script = f"import mlflow, sys\nmlflow.set_tracking_uri({self.url!r})\n" + code
        env = {**os.environ, "MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD}
        out = subprocess.run([self.python, "-c", script, *args], capture_output=True, text=True, env=env, check=False,
                             timeout=300)
        if out.returncode != 0:
            raise AssertionError(f"MLflow client failed:\n{out.stderr[-3000:]}")
        return out.stdout


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    yield server
    server.stop()


@pytest.fixture
def mlflow_creds(monkeypatch) -> None:
    """Authenticate as the test server's admin, the way a user would: through the environment."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)


@pytest.fixture(name="free_port")
def _free_port_fixture() -> int:
    return free_port()
