"""The one interface every registry back end implements; the back end is chosen by URI scheme.

A push receives the artifact's manifest as hashed and approved, and re-checks every byte
it sends against it: bytes changed since approval never reach the registry. A back end
makes a version visible last (blobs first, manifest or model version at the end), so an
interrupted push leaves nothing half-visible and can simply be retried.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from labdeck.errors import UserError
from labdeck.models import hashing
from labdeck.tasks import Task

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class RegistryError(UserError, RuntimeError):
    """A registry refused or failed an operation; the message says which and why."""


class IntegrityError(RegistryError):
    """Bytes do not match their recorded hash (tampered, corrupted, or changed since approval)."""


@dataclass(frozen=True)
class PushRequest:
    name: str
    local_version: int
    root: Path  # the artifact: a file, or a folder
    digest: hashing.Digest  # what was approved
    metadata: dict[str, str] = field(default_factory=dict)  # provenance and approval record
    alias: str = ""
    pushed_by: str = ""

    def source_of(self, rel: str) -> Path:
        return self.root if self.digest.kind == "file" else self.root / rel


@dataclass(frozen=True)
class PushResult:
    remote_version: str
    created: bool  # False when the registry already held these exact bytes under this name


@dataclass(frozen=True)
class PullResult:
    path: Path
    artifact_hash: str
    files: int
    size: int
    against_index: bool = False  # its hash is the one this index recorded when it was pushed


class RegistryBackend(ABC):
    scheme: str = ""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    @abstractmethod
    def push(self, request: PushRequest, task: Task | None = None) -> PushResult: ...

    @abstractmethod
    def resolve(self, name: str, version: str) -> str:
        """The registry's version number that ``version`` (a number or an alias) names."""

    @abstractmethod
    def pull(self, name: str, version: str, dest: Path, task: Task | None = None,
             expected_hash: str | None = None) -> PullResult:
        """Fetch a version into ``dest``, verified; refused unless it holds ``expected_hash`` (when given)."""

    @abstractmethod
    def versions(self, name: str) -> list[str]: ...


def check_name(name: str, what: str = "model name") -> str:
    if not NAME_RE.match(name):
        raise ValueError(f"bad {what} {name!r}: use letters, digits, '.', '_' and '-' (at most 128, "
                         "starting with a letter or digit)")
    return name


def open_registry(uri: str) -> RegistryBackend:
    """The back end for ``uri``: ``folder:///path`` or ``mlflow+http(s)://host:port``."""
    scheme = urlparse(uri).scheme
    if scheme == "folder":
        from labdeck.models.registries.folder import FolderRegistry

        return FolderRegistry(uri)
    if scheme in ("mlflow+http", "mlflow+https"):
        from labdeck.models.registries.mlflow import MlflowRegistry

        return MlflowRegistry(uri)
    raise ValueError(f"unsupported registry URI {uri!r}: use folder:///path or mlflow+http://host:port")


class ByteProgress:
    """Counts the bytes a transfer moved and reports them on the task (``on_bytes`` callback)."""

    def __init__(self, task: Task | None, total: int, message: str) -> None:
        self.task, self.total, self.message, self.done = task, total, message, 0

    def __call__(self, n: int) -> None:
        self.done += n
        if self.task:
            self.task.report(self.done, self.total, self.message)


def read_verified(
    path: Path, expected: str, size: int, task: Task | None, on_bytes: Callable[[int], None] | None, what: str,
) -> Iterator[bytes]:
    """Yield the file's bytes in chunks; raise IntegrityError at the end if they are not ``expected``.

    Consumers must not make anything visible before the generator is exhausted.
    """
    algo, _ = hashing.split(expected)
    h = hashing.new_hasher(algo)
    n = 0
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the with below; opened apart for the message
    except OSError as exc:
        raise IntegrityError(f"{what}: cannot read {path}: {exc.strerror or exc}") from exc
    with f:
        while chunk := f.read(hashing.CHUNK):
            h.update(chunk)
            n += len(chunk)
            if on_bytes:
                on_bytes(len(chunk))
            if task:
                task.check()
            yield chunk
    got = f"{algo}:{h.hexdigest()}"
    if got != expected or n != size:
        raise IntegrityError(f"{what}: {path} hashes to {got} ({n} bytes), expected {expected} ({size} bytes)")


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
