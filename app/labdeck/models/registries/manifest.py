"""Reading a version's manifest from a registry: every field checked before any of it is used.

A registry is shared storage that anyone with write access can edit, so its manifests are
input, not records: a wrong type, an odd path or a number out of range is a clear
``IntegrityError`` here, never a ``TypeError`` or a write in the wrong place later. The
manifest must also hash to its own ``artifact_hash``; whether that hash is the one pushed is
checked against the index by the caller (``Publisher.pull``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from labdeck.models import hashing
from labdeck.models.registries.base import IntegrityError

MAX_FILES = 1_000_000
MAX_SIZE = 1 << 50  # 1 PiB per file: anything larger is not a model, and keeps sums exact
MAX_PATH = 4096
MAX_PART = 255
DIGEST_RE = re.compile(r"^(blake3|blake2b|sha256):[0-9a-f]{64}$")


@dataclass(frozen=True)
class VersionManifest:
    artifact_hash: str
    kind: str  # file | folder
    files: tuple[tuple[str, int, str], ...]  # (relative path, size, hash), as checked

    @property
    def size(self) -> int:
        return sum(s for _, s, _ in self.files)


def check_path(rel: Any, where: str) -> str:
    """A relative POSIX path naming a file strictly inside the destination."""
    if not isinstance(rel, str):
        raise IntegrityError(f"{where}: a file path is {type(rel).__name__}, not text")
    parts = rel.split("/")
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise IntegrityError(f"{where}: the file path {rel!r} is not valid text") from None
    # Control characters would also make the manifest's hash lines ("path\tsize\thash\n") ambiguous.
    if (not rel or rel.startswith("/") or "\\" in rel or any(ord(c) < 0x20 for c in rel) or len(rel) > MAX_PATH
            or any(p in ("", ".", "..") or len(p.encode("utf-8")) > MAX_PART for p in parts)):
        raise IntegrityError(f"{where}: bad file path {rel!r} (relative, no '.', '..', empty or absolute parts)")
    return rel


def _check_size(size: Any, rel: str, where: str) -> int:
    if type(size) is not int or not 0 <= size <= MAX_SIZE:
        raise IntegrityError(f"{where}: the size of {rel!r} is {size!r}, not a whole number of bytes in range")
    return size


def _check_digest(digest: Any, what: str, where: str) -> str:
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise IntegrityError(f"{where}: the hash of {what} is {str(digest)[:80]!r}, not '<algo>:<64 hex digits>'")
    return digest


def _check_files(raw: Any, algo: str, where: str) -> tuple[tuple[str, int, str], ...]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_FILES:
        raise IntegrityError(f"{where}: 'files' must be a non-empty list (got {type(raw).__name__})")
    files, seen = [], set()
    for entry in raw:
        if not isinstance(entry, dict) or set(entry) != {"path", "size", "hash"}:
            raise IntegrityError(f"{where}: each file must be an object with path, size and hash "
                                 f"(got {str(entry)[:80]!r})")
        rel = check_path(entry["path"], where)
        if rel in seen:
            raise IntegrityError(f"{where}: the file {rel!r} is listed twice")
        seen.add(rel)
        digest = _check_digest(entry["hash"], repr(rel), where)
        if hashing.split(digest)[0] != algo:
            raise IntegrityError(f"{where}: {rel!r} is hashed with another algorithm than the artifact")
        files.append((rel, _check_size(entry["size"], rel, where), digest))
    for rel, _, _ in files:  # a file may not also be a folder of another entry ("w.bin" and "w.bin/x")
        parts = rel.split("/")
        clash = next(("/".join(parts[:i]) for i in range(1, len(parts)) if "/".join(parts[:i]) in seen), None)
        if clash is not None:
            raise IntegrityError(f"{where}: {rel!r} lies below {clash!r}, which is a file")
    return tuple(files)


def parse(data: Any, where: str, *, expect: dict[str, Any] | None = None) -> VersionManifest:
    """Check a decoded manifest; ``expect`` holds fields that must equal (name, version, format)."""
    if not isinstance(data, dict):
        raise IntegrityError(f"{where}: the manifest is {type(data).__name__}, not an object")
    for key, want in (expect or {}).items():
        if data.get(key) != want or type(data.get(key)) is not type(want):
            raise IntegrityError(f"{where}: the manifest says {key} {data.get(key)!r}, expected {want!r}: "
                                 "it was copied or edited")
    kind = data.get("kind")
    if kind not in ("file", "folder"):
        raise IntegrityError(f"{where}: the manifest's kind is {kind!r}, not 'file' or 'folder'")
    artifact_hash = _check_digest(data.get("artifact_hash"), "the artifact", where)
    algo = hashing.split(artifact_hash)[0]
    files = _check_files(data.get("files"), algo, where)
    if kind == "file" and len(files) != 1:
        raise IntegrityError(f"{where}: a single-file artifact lists {len(files)} files")
    try:
        whole = files[0][2] if kind == "file" else hashing.manifest_hash(files, algo)
    except ValueError as exc:  # an algorithm this installation lacks (blake3 not installed)
        raise IntegrityError(f"{where}: {exc}") from None
    if whole != artifact_hash:
        raise IntegrityError(f"{where}: the manifest does not match its own hash "
                             f"({whole} != {artifact_hash}): it was edited")
    return VersionManifest(artifact_hash, kind, files)
