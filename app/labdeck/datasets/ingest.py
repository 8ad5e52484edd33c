"""Hashing source files into the store, in parallel, re-hashing only what changed.

Each file is read once: its bytes are hashed (BLAKE3) and written to a temp file in the
store (or, if small, appended to this add's pack) at the same time, so the stored object is
exactly what was hashed even if the source changes later. The pack is sealed (durable, then
indexed) once every file is in; a failed or cancelled add removes it unsealed. The file is stat'ed before and after; if it changed while being read, it is
read again once, then refused. A file whose (device, inode, size, mtime) match the hash cache
and whose object is present is not read at all.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import blake3

from labdeck.datasets.packs import PackWriter
from labdeck.datasets.scan import SourceFile
from labdeck.datasets.store import Store, StoreError
from labdeck.tasks import Task

CHUNK = 1 << 20  # 1 MiB reads; a file up to this size is read in one call
SMALL = 4 << 20  # files up to this size are hashed from memory before deciding to write
BATCH_FILES = 64  # files per worker job: per-file executor overhead dominates for small files
BATCH_BYTES = 64 << 20
# A file modified within this window of being hashed may change again within the same
# timestamp tick unnoticed, so its hash is not cached (git's "racy clean" problem).
RACY_NS = 200_000_000

CacheKey = tuple[int, int]
CacheVal = tuple[int, int, str]


class FileChanged(StoreError):
    pass


@dataclass
class IngestResult:
    files: list[tuple[str, int, str]] = field(default_factory=list)  # (rel, size, digest)
    new_cache: list[tuple[int, int, int, int, str]] = field(default_factory=list)
    hashed: int = 0  # files read and hashed
    hashed_bytes: int = 0
    cached: int = 0  # files taken from the hash cache
    new_objects: int = 0
    new_bytes: int = 0
    # Files edited in place after being stored as a hard link: their old object is damaged.
    damaged: list[str] = field(default_factory=list)
    new_digests: list[str] = field(default_factory=list)  # new loose objects (packs are durable already)


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_dev, a.st_size, a.st_mtime_ns) == (b.st_ino, b.st_dev, b.st_size, b.st_mtime_ns)


def _hash_fd(fd: int, size: int) -> tuple[str, int, bytes | None]:
    """(digest, bytes read, the bytes themselves when small enough to keep)."""
    h = blake3.blake3()
    if size <= SMALL:
        parts = []
        while chunk := os.read(fd, max(CHUNK, size + 1)):
            parts.append(chunk)
        data = b"".join(parts)
        h.update(data)
        return h.hexdigest(), len(data), data
    total = 0
    buf = bytearray(CHUNK * 8)
    view = memoryview(buf)
    with os.fdopen(os.dup(fd), "rb", buffering=0) as src:
        while n := src.readinto(buf):
            h.update(view[:n])
            total += n
    return h.hexdigest(), total, None


def _copy_hashing(store: Store, fd: int, tmp) -> tuple[str, int]:
    """Copy ``fd`` into ``tmp`` (a reflink where possible), hashing what was written."""
    h = blake3.blake3()
    total = 0
    os.lseek(fd, 0, os.SEEK_SET)
    with open(tmp, "wb") as out:
        if store.try_reflink(fd, out.fileno()):
            with open(tmp, "rb") as clone:  # hash the private clone: nothing can change it under us
                while chunk := clone.read(CHUNK * 8):
                    h.update(chunk)
                    total += len(chunk)
        else:
            buf = bytearray(CHUNK * 8)
            view = memoryview(buf)
            with os.fdopen(os.dup(fd), "rb", buffering=0) as src:
                while n := src.readinto(buf):
                    h.update(view[:n])
                    out.write(view[:n])
                    total += n
    return h.hexdigest(), total


def _read_once(store: Store, sf: SourceFile, link: bool,
               pack: PackWriter | None) -> tuple[str, os.stat_result, int, bool] | None:
    """(digest, stat before, bytes read, new object) or None if the file changed meanwhile.

    A small file is read into memory and hashed; only content the store lacks is written
    (into ``pack`` up to its limit). A large one is copied while hashed. With ``link`` the
    file is hashed and, if new, hard-linked (no bytes copied) where the file system allows.
    Either way the stored object holds exactly the bytes that were hashed.
    """
    fd = os.open(sf.path, os.O_RDONLY)
    tmp = None
    try:
        before = os.fstat(fd)
        if not link and before.st_size > SMALL:
            # A large file is copied while it is hashed: one read instead of two. If the
            # store had that content already, the copy is dropped.
            tmp = store.temp_path()
            digest, total = _copy_hashing(store, fd, tmp)
            if not _same(before, os.stat(sf.path)) or total != before.st_size:
                tmp.unlink()
                return None
            new = not store.has_object(digest)
            if new:
                store.commit_object(tmp, digest)
            else:
                tmp.unlink()
            return digest, before, total, new
        digest, total, data = _hash_fd(fd, before.st_size)
        if not _same(before, os.stat(sf.path)) or total != before.st_size:
            return None
        if store.has_object(digest):
            return digest, before, total, False
        if pack is not None and data is not None and total <= pack.limit:
            return digest, before, total, pack.append(digest, data)  # False: another thread packed it
        tmp = store.temp_path()
        if link and store.try_hardlink(sf.path, tmp):
            # Same inode, unchanged since it was hashed: the link holds exactly the hashed bytes.
            if not _same(before, os.stat(tmp)):
                tmp.unlink()
                return None
            store.commit_object(tmp, digest, make_read_only=False)  # its mode is the user's file's mode
            return digest, before, total, True
        if data is not None:
            # Created read-only: the open descriptor may still write, and no chmod is needed.
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(out, view):]
            finally:
                os.close(out)
            store.commit_object(tmp, digest, make_read_only=False)
        else:
            copied, n = _copy_hashing(store, fd, tmp)
            if copied != digest or n != total:
                tmp.unlink()
                return None
            store.commit_object(tmp, digest)
        return digest, before, total, True
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def _is_same_inode(store: Store, digest: str, sf: SourceFile) -> bool:
    try:
        st = os.stat(store.object_path(digest))
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (sf.dev, sf.ino)


def ingest_file(store: Store, sf: SourceFile, *, link: bool = False,
                pack: PackWriter | None = None) -> tuple[str, os.stat_result, int, bool]:
    try:
        for _attempt in range(2):
            done = _read_once(store, sf, link, pack)
            if done is not None:
                return done
    except PermissionError:
        raise StoreError(f"cannot read {sf.path}: permission denied; nothing was added") from None
    except FileNotFoundError:
        raise StoreError(f"{sf.path} disappeared while being added; nothing was added") from None
    except OSError as exc:
        raise StoreError(f"cannot add {sf.path}: {exc.strerror or exc}; nothing was added") from None
    raise FileChanged(f"{sf.path} kept changing while it was read (twice); nothing was added — retry once it is written")


def ingest(
    store: Store,
    files: list[SourceFile],
    cache: dict[CacheKey, CacheVal],
    task: Task | None = None,
    *,
    link: bool = False,
    workers: int | None = None,
) -> IngestResult:
    result = IngestResult()
    # The add holds the store's shared lock, so gc cannot run until it ends; what gc did
    # before must be seen now, or an object it removed could pass for present.
    store.packs.refresh()
    packed = store.packs.digests()  # what has_object asks, without a call per file
    digests: dict[str, tuple[int, str]] = {}
    todo: list[SourceFile] = []
    for sf in files:
        hit = cache.get((sf.dev, sf.ino))
        # The object must still be there: gc drops this index's cache entries for what it
        # removes, but a gc run from another index sharing the store cannot.
        if (hit is not None and hit[0] == sf.size and hit[1] == sf.mtime_ns
                and (hit[2] in packed or store.has_loose(hit[2]))):
            digests[sf.rel] = (sf.size, hit[2])
            result.cached += 1
            continue
        if hit is not None and _is_same_inode(store, hit[2], sf):
            # The old object *is* this file, edited since: its name no longer fits its content.
            # Drop the name so that content is stored afresh if it ever comes back.
            result.damaged.append(sf.rel)
            store.object_path(hit[2]).unlink(missing_ok=True)
        todo.append(sf)
    total = len(files)
    started_ns = time.time_ns()

    stop = threading.Event()  # set when one job failed or the task was cancelled

    def job(batch: list[SourceFile]) -> list[tuple[SourceFile, tuple[str, os.stat_result, int, bool]]]:
        out: list[tuple[SourceFile, tuple[str, os.stat_result, int, bool]]] = []
        for sf in batch:
            if stop.is_set() or (task is not None and task.cancelled):
                return out
            out.append((sf, ingest_file(store, sf, link=link, pack=pack)))
        return out

    batches: list[list[SourceFile]] = []
    cur: list[SourceFile] = []
    cur_bytes = 0
    for sf in todo:
        cur.append(sf)
        cur_bytes += sf.size
        if len(cur) >= BATCH_FILES or cur_bytes >= BATCH_BYTES:
            batches.append(cur)
            cur, cur_bytes = [], 0
    if cur:
        batches.append(cur)

    pack = store.pack_writer(todo[0].path) if todo and not link else None
    workers = workers or min(16, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labdeck-hash") as pool:
        pending = {pool.submit(job, b) for b in batches}
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    for sf, (digest, st, nbytes, new) in fut.result():
                        digests[sf.rel] = (nbytes, digest)
                        result.hashed += 1
                        result.hashed_bytes += nbytes
                        if new:
                            if pack is None or not pack.has(digest):
                                result.new_digests.append(digest)
                            result.new_objects += 1
                            result.new_bytes += nbytes
                        if st.st_mtime_ns < started_ns - RACY_NS:
                            result.new_cache.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, digest))
                if task is not None:
                    task.report(result.cached + result.hashed, total, "hashing")
                    task.check()
        except BaseException:
            stop.set()  # the other jobs stop at their next file
            for fut in pending:
                fut.cancel()
            if pack is not None:
                pool.shutdown(wait=True)  # no job may still be appending to the pack
                pack.abort()
            raise
    if pack is not None:
        if task is not None:
            task.report(total, total, "writing to disk")
        try:
            if task is not None:
                task.check()  # a cancel now still leaves nothing behind
            pack.seal()
        except BaseException:
            pack.abort()
            raise
    # Scan order is path order already: no sort needed (the manifest sorts canonically anyway).
    result.files = [(sf.rel, *digests[sf.rel]) for sf in files]
    return result
