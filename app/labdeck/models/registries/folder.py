"""A registry in a shared folder (``folder:///mnt/team/registry``), e.g. on a network drive.

    <root>/blobs/<algo>/<hh>/<hex>        content-addressed file contents, never modified
    <root>/models/<name>/<N>.json         one manifest per version: files, hashes, metadata
    <root>/models/<name>/aliases.json     {alias: N}
    <root>/tmp/                           partial writes; anything here is garbage
    <root>/.lock                          flock()ed while versions are numbered and written

Every file is written to tmp/ and renamed into place, so readers never see a partial file.
Blobs go first, outside the lock (pushers share identical blobs harmlessly); the manifest,
which is what makes a version exist, is written last under an exclusive lock that also
numbers it, so several workstations may push at once. ``fcntl.flock`` needs a file system
that honours it across machines (NFSv4, SMB with locking): local disks and most NAS do.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

from labdeck.models import hashing
from labdeck.models.registries.base import (
    ByteProgress,
    IntegrityError,
    PullResult,
    PushRequest,
    PushResult,
    RegistryBackend,
    RegistryError,
    check_name,
    fsync_dir,
    read_verified,
)
from labdeck.models.registries.manifest import VersionManifest
from labdeck.models.registries.manifest import parse as parse_manifest
from labdeck.paths import read_only_mode
from labdeck.tasks import Task

MANIFEST_FORMAT = "labdeck-model-version"


class FolderRegistry(RegistryBackend):
    scheme = "folder"

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost") or not parsed.path:
            raise ValueError(f"bad folder registry URI {uri!r}: write folder:///absolute/path")
        self.root = Path(unquote(parsed.path))

    # Layout -----------------------------------------------------------------

    def _blob(self, digest: str) -> Path:
        algo, hexdigest = hashing.split(digest)
        return self.root / "blobs" / algo / hexdigest[:2] / hexdigest

    def _model_dir(self, name: str) -> Path:
        return self.root / "models" / check_name(name)

    def _tmp(self) -> Path:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp / f"{uuid.uuid4().hex}.part"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def _write_json(self, path: Path, data: dict) -> None:
        tmp = self._tmp()
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
        fsync_dir(path.parent)

    def _check_root(self) -> None:
        if not self.root.is_dir():
            try:
                self.root.mkdir(parents=True)
            except OSError as exc:
                raise RegistryError(f"cannot create the registry folder {self.root}: {exc.strerror or exc}") from exc

    # Reading ------------------------------------------------------------------

    def versions(self, name: str) -> list[str]:
        folder = self._model_dir(name)
        if not folder.is_dir():
            return []
        nums = sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit() and p.stem.isascii())
        return [str(n) for n in nums]

    def resolve(self, name: str, version: str) -> str:
        """The version number ``version`` names (itself, or what an alias points at)."""
        if version.isdigit() and version.isascii():
            return str(int(version))
        aliases = self._aliases(name)
        if version not in aliases:
            raise RegistryError(f"{self.uri}: {name} has no version or alias {version!r}")
        return str(aliases[version])

    def _raw_manifest(self, name: str, number: str) -> object:
        path = self._model_dir(name) / f"{number}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            have = ", ".join(self.versions(name)) or "none"
            raise RegistryError(f"{self.uri}: {name} has no version {number} (versions: {have})") from None
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"{self.uri}: the manifest {path} is unreadable: {exc}") from exc

    def manifest(self, name: str, version: str) -> VersionManifest:
        """Version ``version``'s manifest, every field checked; it must name itself (name, number)."""
        number = self.resolve(name, version)
        return parse_manifest(self._raw_manifest(name, number), f"{self.uri}: {name}:{number}",
                              expect={"format": MANIFEST_FORMAT, "name": name, "version": int(number)})

    def _aliases(self, name: str) -> dict[str, int]:
        path = self._model_dir(name) / "aliases.json"
        try:
            aliases = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"{self.uri}: {path} is unreadable: {exc}") from exc
        if not isinstance(aliases, dict) or not all(type(v) is int and v > 0 for v in aliases.values()):
            raise IntegrityError(f"{self.uri}: {path} is not a map of alias to version number")
        return aliases

    # Push -------------------------------------------------------------------------

    def _put_blob(self, request: PushRequest, rel: str, size: int, digest: str, task: Task | None,
                  on_bytes) -> None:
        blob = self._blob(digest)
        if blob.is_file() and blob.stat().st_size == size:
            on_bytes(size)
            return  # content-addressed: already there (pull verifies the bytes)
        tmp = self._tmp()
        try:
            with open(tmp, "wb") as out:
                out.writelines(read_verified(request.source_of(rel), digest, size, task, on_bytes,
                                           f"{request.name}:{request.local_version} changed since approval"))
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, read_only_mode())  # never modified in place; the user's umask still applies
            blob.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, blob)
        finally:
            tmp.unlink(missing_ok=True)

    def push(self, request: PushRequest, task: Task | None = None) -> PushResult:
        self._check_root()
        digest = request.digest
        on_bytes = ByteProgress(task, digest.size, f"pushing {request.name}")

        for i, (rel, size, file_hash) in enumerate(digest.manifest):
            self._put_blob(request, rel, size, file_hash, task, on_bytes)
            if task:
                task.report(on_bytes.done, on_bytes.total, f"stored {i + 1}/{len(digest.manifest)} files", force=True)
        if task:
            task.check()
        folder = self._model_dir(request.name)
        with self._locked():
            for v in self.versions(request.name):
                if self._pushed_hash(request.name, v) == digest.hash:
                    self._set_alias(request.name, request.alias, int(v))
                    return PushResult(v, created=False)
            numbers = [int(v) for v in self.versions(request.name)]
            number = max(numbers, default=0) + 1
            self._write_json(folder / f"{number}.json", {
                "format": MANIFEST_FORMAT,
                "name": request.name,
                "version": number,
                "artifact_hash": digest.hash,
                "kind": digest.kind,
                "size": digest.size,
                "files": [{"path": p, "size": s, "hash": h} for p, s, h in digest.manifest],
                "metadata": request.metadata,
                "pushed_by": request.pushed_by,
                "pushed_at": int(time.time() * 1000),
            })
            self._set_alias(request.name, request.alias, number)
        return PushResult(str(number), created=True)

    def _pushed_hash(self, name: str, number: str) -> str | None:
        """The hash version ``number`` holds; None when its manifest is damaged (never reused)."""
        try:
            return self.manifest(name, number).artifact_hash
        except RegistryError:
            return None

    def _set_alias(self, name: str, alias: str, number: int) -> None:
        """Caller holds the lock."""
        if not alias:
            return
        aliases = self._aliases(name)
        if aliases.get(alias) != number:
            aliases[alias] = number
            self._write_json(self._model_dir(name) / "aliases.json", aliases)

    # Pull -------------------------------------------------------------------------

    def pull(self, name: str, version: str, dest: Path, task: Task | None = None,
             expected_hash: str | None = None) -> PullResult:
        """Copy a version into ``dest`` (a new folder), verifying every byte; nothing lands if one is wrong.

        ``expected_hash``: what the index recorded when this version was pushed; a manifest that
        names anything else is refused, however consistent it is with itself.
        """
        number = self.resolve(name, version)
        m = self.manifest(name, number)
        if expected_hash is not None and m.artifact_hash != expected_hash:
            raise IntegrityError(f"{self.uri}: {name}:{number} now names {m.artifact_hash}, but {expected_hash} "
                                 "was pushed: the registry's manifest was replaced or edited")
        dest = Path(dest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise RegistryError(f"{dest} already exists and is not an empty folder")
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = dest.parent / f".{dest.name}.partial-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        on_bytes = ByteProgress(task, m.size, f"pulling {name}")

        try:
            for rel, size, file_hash in m.files:
                target = staging / rel  # rel is checked: relative, no '..', not below another file
                target.parent.mkdir(parents=True, exist_ok=True)
                blob = self._blob(file_hash)
                if not blob.is_file():
                    raise IntegrityError(f"{self.uri}: blob {file_hash} of {rel} is missing")
                with open(target, "xb") as out:
                    out.writelines(read_verified(blob, file_hash, size, task, on_bytes,
                                               f"{self.uri}: blob of {rel} is corrupt"))
            if dest.exists():
                dest.rmdir()
            os.replace(staging, dest)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return PullResult(dest, m.artifact_hash, len(m.files), on_bytes.total)
