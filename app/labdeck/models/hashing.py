"""Content hashes of model artifacts: one file, or a folder as a manifest of (path, size, hash).

BLAKE3 when the ``blake3`` package is installed, else BLAKE2b-256 from the standard library.
Every hash carries its algorithm ("blake3:…", "blake2b:…"), so a version registered with one
is re-checked with the same one after the other becomes available.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from labdeck.tasks import Task

CHUNK = 1 << 20

_blake3: Any
try:  # optional, faster; the stdlib fallback keeps labdeck working without it
    import blake3 as _blake3
except ImportError:  # pragma: no cover - depends on the environment
    _blake3 = None


def default_algorithm() -> str:
    return "blake3" if _blake3 is not None else "blake2b"


def new_hasher(algo: str) -> Any:
    if algo == "blake3":
        if _blake3 is None:
            raise ValueError("this artifact was hashed with BLAKE3, but the blake3 package is not installed")
        return _blake3.blake3()
    if algo == "blake2b":
        return hashlib.blake2b(digest_size=32)
    if algo == "sha256":
        return hashlib.sha256()
    raise ValueError(f"unknown hash algorithm {algo!r}")


def split(digest: str) -> tuple[str, str]:
    algo, _, hexdigest = digest.partition(":")
    if not hexdigest:
        raise ValueError(f"not a labdeck hash: {digest!r}")
    return algo, hexdigest


@dataclass(frozen=True)
class Digest:
    """The content hash of an artifact and, for a folder, its manifest (sorted by path)."""

    algo: str
    hash: str  # "<algo>:<hex>"
    kind: str  # file | folder
    size: int
    manifest: tuple[tuple[str, int, str], ...]  # (relative path, size, "<algo>:<hex>")


def hash_stream(f: BinaryIO, algo: str, task: Task | None = None, on_bytes: Callable[[int], None] | None = None) -> str:
    h = new_hasher(algo)
    while chunk := f.read(CHUNK):
        h.update(chunk)
        if on_bytes:
            on_bytes(len(chunk))
        if task:
            task.check()
    return f"{algo}:{h.hexdigest()}"


def hash_file(path: Path, algo: str | None = None, task: Task | None = None,
              on_bytes: Callable[[int], None] | None = None) -> str:
    with open(path, "rb") as f:
        return hash_stream(f, algo or default_algorithm(), task, on_bytes)


def manifest_hash(manifest: tuple[tuple[str, int, str], ...] | list, algo: str) -> str:
    """A folder's hash: the hash of its manifest, one "path\\tsize\\thash\\n" line per file."""
    h = new_hasher(algo)
    for rel, size, digest in manifest:
        h.update(f"{rel}\t{size}\t{digest}\n".encode())
    return f"{algo}:{h.hexdigest()}"


def iter_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Files below ``root`` as ('/'-separated relative path, path), sorted.

    A link to a file counts as that file (Hugging Face cache snapshots are links to blobs);
    links to folders are not followed (no loops).
    """
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_file():
                out.append((p.relative_to(root).as_posix(), p))
    yield from sorted(out)


def digest_path(path: str | os.PathLike, algo: str | None = None, task: Task | None = None) -> Digest:
    """Hash a file or folder, reporting progress in bytes and honouring cancellation."""
    root = Path(path)
    algo = algo or default_algorithm()
    if root.is_file():
        files = [(root.name, root)]
    elif root.is_dir():
        files = list(iter_files(root))
        if not files:
            raise FileNotFoundError(f"the folder {root} holds no files: nothing to version")
    else:
        raise FileNotFoundError(f"no file or folder at {root}")
    total = sum(p.stat().st_size for _, p in files)
    done = 0
    entries = []
    for rel, p in files:
        read = 0

        def advance(n: int) -> None:
            nonlocal done, read
            done += n
            read += n
            if task:
                task.report(done, total, f"hashing {root.name}")

        digest = hash_file(p, algo, task, advance)
        entries.append((rel, read, digest))  # the size actually hashed, not an earlier stat
    manifest = tuple(entries)
    size = sum(e[1] for e in manifest)
    if root.is_file():
        return Digest(algo, manifest[0][2], "file", size, manifest)
    return Digest(algo, manifest_hash(manifest, algo), "folder", size, manifest)
