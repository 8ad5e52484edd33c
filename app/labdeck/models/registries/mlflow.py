"""An MLflow Model Registry server (``mlflow+http://host:port``), over its REST API with urllib.

A push: (1) create the registered model if needed; (2) if a version of it already carries
tag ``labdeck.artifact_hash`` with these bytes, that is the answer (a no-op, also after an
interrupted push whose local record was lost); (3) create a run in experiment
``labdeck-registry`` and upload the files through the server's proxied artifact API,
each re-hashed on the way; (4) create the model version (source: that run's ``model``
folder) with labdeck's provenance and approval record as tags; (5) set the alias. The model
version is created last, so an interrupted push leaves at most an orphaned run, never a
version without its files.

Credentials come from ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (or
``MLFLOW_TRACKING_TOKEN``), or the OS keyring (service ``labdeck:HOST:PORT``) when the
``keyring`` package is installed; they are never written to the index.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from labdeck.models import hashing
from labdeck.models.registries.base import (
    ByteProgress,
    IntegrityError,
    PullResult,
    PushRequest,
    PushResult,
    RegistryBackend,
    RegistryError,
    read_verified,
)
from labdeck.models.registries.manifest import parse as parse_manifest
from labdeck.tasks import Task

EXPERIMENT = "labdeck-registry"
HASH_TAG = "labdeck.artifact_hash"
MANIFEST_FILE = "labdeck-manifest.json"
TAG_LIMIT = 5000  # MLflow's limit on a model version tag value
TIMEOUT_S = 60


def _credentials(netloc: str) -> tuple[str, str] | None:
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password is None:
        try:
            import keyring  # optional

            password = keyring.get_password(f"labdeck:{netloc}", user)
        except Exception:  # noqa: BLE001 - no keyring, no backend: fall through to no password
            password = None
    return (user, password or "") if user else None


class MlflowRegistry(RegistryBackend):
    scheme = "mlflow+http"

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme not in ("mlflow+http", "mlflow+https") or not parsed.netloc:
            raise ValueError(f"bad MLflow registry URI {uri!r}: write mlflow+http://host:port")
        self.base = f"{parsed.scheme.removeprefix('mlflow+')}://{parsed.netloc}{parsed.path.rstrip('/')}"
        self.netloc = parsed.netloc

    # HTTP ---------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        creds = _credentials(self.netloc)
        if creds:
            raw = f"{creds[0]}:{creds[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _request(self, method: str, path: str, *, body: Any = None, data: Any = None, length: int | None = None,
                 query: dict | None = None, raw: bool = False, missing_ok: bool = False) -> Any:
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = self._headers()
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif data is not None:
            headers["Content-Type"] = "application/octet-stream"
            if length is not None:
                headers["Content-Length"] = str(length)
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - an http(s) registry URL
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310
                payload = resp.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            try:
                err = json.loads(text)
            except ValueError:
                err = {"message": text.strip()[:300]}
            if exc.code in (401, 403):
                raise RegistryError(
                    f"the MLflow server at {self.base} refused the credentials (HTTP {exc.code}"
                    f"{': ' + err.get('message', '') if err.get('message') else ''}); set MLFLOW_TRACKING_USERNAME "
                    "and MLFLOW_TRACKING_PASSWORD for a user allowed to register models"
                ) from None
            if missing_ok and err.get("error_code") in ("RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS"):
                return err
            raise RegistryError(f"MLflow server {self.base}: {method} {path} failed (HTTP {exc.code}): "
                                f"{err.get('message') or err}") from None
        except urllib.error.URLError as exc:
            raise RegistryError(f"cannot reach the MLflow server at {self.base}: {exc.reason}") from None
        except OSError as exc:
            raise RegistryError(f"cannot reach the MLflow server at {self.base}: {exc}") from None
        if raw:
            return payload
        return json.loads(payload) if payload else {}

    def _api(self, method: str, endpoint: str, body: dict | None = None, **kw) -> Any:
        if method == "GET":
            return self._request("GET", f"/api/2.0/mlflow/{endpoint}", query=body, **kw)
        return self._request(method, f"/api/2.0/mlflow/{endpoint}", body=body or {}, **kw)

    @staticmethod
    def _artifact_path(uri: str) -> str:
        """``mlflow-artifacts:/1/abc/artifacts/model`` -> ``1/abc/artifacts/model``."""
        if not uri.startswith("mlflow-artifacts:"):
            raise RegistryError(f"the server stores artifacts at {uri!r}, not through its proxy: start it with "
                                "--serve-artifacts (labdeck uploads through the server)")
        path = urllib.parse.urlparse(uri).path
        return path.lstrip("/")

    def _put(self, path: str, data: Any, length: int) -> None:
        quoted = urllib.parse.quote(path)
        self._request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{quoted}", data=data, length=length)

    def _get(self, path: str) -> bytes:
        return self._request("GET", f"/api/2.0/mlflow-artifacts/artifacts/{urllib.parse.quote(path)}", raw=True)

    # Reading ------------------------------------------------------------------

    def _search(self, name: str) -> list[dict]:
        out, token = [], None
        while True:
            query = {"filter": f"name='{name}'", "max_results": 200}
            if token:
                query["page_token"] = token
            page = self._api("GET", "model-versions/search", query)
            out.extend(page.get("model_versions", []))
            token = page.get("next_page_token")
            if not token:
                return out

    def versions(self, name: str) -> list[str]:
        return sorted((v["version"] for v in self._search(name)), key=int)

    def _existing(self, name: str, artifact_hash: str) -> str | None:
        for v in self._search(name):
            tags = {t["key"]: t["value"] for t in v.get("tags", [])}
            if tags.get(HASH_TAG) == artifact_hash:
                return v["version"]
        return None

    # Push -----------------------------------------------------------------------

    def _experiment_id(self) -> str:
        got = self._api("GET", "experiments/get-by-name", {"experiment_name": EXPERIMENT}, missing_ok=True)
        if "experiment" in got:
            return got["experiment"]["experiment_id"]
        made = self._api("POST", "experiments/create", {"name": EXPERIMENT}, missing_ok=True)
        if "experiment_id" in made:
            return made["experiment_id"]
        got = self._api("GET", "experiments/get-by-name", {"experiment_name": EXPERIMENT})  # created meanwhile
        return got["experiment"]["experiment_id"]

    def _tags(self, request: PushRequest) -> list[dict[str, str]]:
        tags = {HASH_TAG: request.digest.hash, "labdeck.local_version": f"{request.name}:{request.local_version}",
                "labdeck.pushed_by": request.pushed_by, **request.metadata}
        return [{"key": k, "value": v[:TAG_LIMIT]} for k, v in tags.items()]

    def push(self, request: PushRequest, task: Task | None = None) -> PushResult:
        digest = request.digest
        self._api("POST", "registered-models/create", {"name": request.name}, missing_ok=True)
        existing = self._existing(request.name, digest.hash)
        if existing is None:
            existing = self._upload_and_create(request, task)
            created = True
        else:
            created = False
        if request.alias:
            self._api("POST", "registered-models/alias",
                      {"name": request.name, "alias": request.alias, "version": existing})
        return PushResult(existing, created)

    def _upload_and_create(self, request: PushRequest, task: Task | None) -> str:
        digest = request.digest
        run = self._api("POST", "runs/create", {
            "experiment_id": self._experiment_id(),
            "run_name": f"{request.name}-v{request.local_version}",
            "tags": [{"key": "labdeck.source", "value": f"{request.name}:{request.local_version}"}],
        })["run"]["info"]
        run_id = run["run_id"]
        root = self._artifact_path(run["artifact_uri"])
        on_bytes = ByteProgress(task, digest.size, f"uploading {request.name}")

        try:
            for rel, size, file_hash in digest.manifest:
                chunks = read_verified(request.source_of(rel), file_hash, size, task, on_bytes,
                                       f"{request.name}:{request.local_version} changed since approval")
                # urllib streams an iterable body; read_verified raises at its end if the bytes
                # changed, which aborts the request before the version exists.
                self._put(f"{root}/model/{rel}", chunks, size)
            manifest = {"artifact_hash": digest.hash, "kind": digest.kind,
                        "files": [{"path": p, "size": s, "hash": h} for p, s, h in digest.manifest]}
            blob = json.dumps(manifest, indent=1).encode()
            self._put(f"{root}/{MANIFEST_FILE}", blob, len(blob))
            if task:
                task.check()
            mv = self._api("POST", "model-versions/create", {
                "name": request.name,
                "source": f"{run['artifact_uri']}/model",
                "run_id": run_id,
                "tags": self._tags(request),
                "description": f"pushed by labdeck from {request.name}:{request.local_version}",
            })["model_version"]
        except BaseException:
            self._end_run(run_id, "FAILED")
            raise
        self._end_run(run_id, "FINISHED")
        return mv["version"]

    def _end_run(self, run_id: str, status: str) -> None:
        try:
            self._api("POST", "runs/update", {"run_id": run_id, "status": status})
        except RegistryError:
            pass  # the version (or its absence) is what matters; a run left RUNNING is harmless

    # Pull -----------------------------------------------------------------------------

    def _model_version(self, name: str, version: str) -> dict:
        if version.isdigit() and version.isascii():
            return self._api("GET", "model-versions/get", {"name": name, "version": version})["model_version"]
        return self._api("GET", "registered-models/alias", {"name": name, "alias": version})["model_version"]

    def resolve(self, name: str, version: str) -> str:
        return str(self._model_version(name, version)["version"])

    def pull(self, name: str, version: str, dest: Path, task: Task | None = None,
             expected_hash: str | None = None) -> PullResult:
        import shutil
        import uuid

        mv = self._model_version(name, version)
        where = f"{self.base}: {name}:{mv['version']}"
        source = self._artifact_path(mv["source"])
        base = source.rsplit("/", 1)[0]
        try:
            raw = json.loads(self._get(f"{base}/{MANIFEST_FILE}"))
        except (RegistryError, ValueError) as exc:
            raise RegistryError(f"{name}:{mv['version']} was not pushed by labdeck (no manifest to verify): "
                                f"{exc}") from None
        manifest = parse_manifest(raw, where)
        tags = {t["key"]: t["value"] for t in mv.get("tags", [])}
        if tags.get(HASH_TAG) != manifest.artifact_hash:
            raise IntegrityError(f"{where}: the manifest does not match the version's hash tag")
        if expected_hash is not None and manifest.artifact_hash != expected_hash:
            raise IntegrityError(f"{where} now names {manifest.artifact_hash}, but {expected_hash} was pushed: "
                                 "the registry's version was replaced or edited")
        algo, _ = hashing.split(manifest.artifact_hash)
        dest = Path(dest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise RegistryError(f"{dest} already exists and is not an empty folder")
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = dest.parent / f".{dest.name}.partial-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            for i, (rel, size, file_hash) in enumerate(manifest.files):
                data = self._get(f"{source}/{rel}")  # rel is checked: relative, no '..', not below a file
                h = hashing.new_hasher(algo)
                h.update(data)
                if f"{algo}:{h.hexdigest()}" != file_hash or len(data) != size:
                    raise IntegrityError(f"{where}: {rel} does not match its hash")
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "xb") as out:
                    out.write(data)
                if task:
                    task.report(i + 1, len(manifest.files), f"pulled {rel}", force=True)
            if dest.exists():
                dest.rmdir()
            os.replace(staging, dest)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return PullResult(dest, manifest.artifact_hash, len(manifest.files), manifest.size)
