"""Pack files: the small objects of an add stored in a few files instead of one file each.

Creating thousands of files is what a first add of copies costs on a file system without
reflinks, not the bytes, so objects up to ``Store.pack_limit`` are appended to packs:

    packs/<id>.pack   the objects' bytes one after another; an object is a byte range
    packs/<id>.idx    which ranges hold which objects, little-endian:
                        b"LDPACKIX", u32 format version (1), u32 entry count,
                        count x (32-byte BLAKE3 digest, u64 offset, u64 size), sorted by digest,
                        then the BLAKE3 of all the bytes before it

An object exists once an index names it. A pack is written and fdatasync'ed first (and the
folder fsync'ed for its name); only then is its index written (temp file, fsync, rename into
``packs/``, fsync of the folder). So a
pack without an index, left by an interrupted add, holds nothing anyone can see, and gc
deletes it. A pack never changes once indexed: gc copies a pack's live entries into a new
pack (new pack and index durable first) and then removes the old pair.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import blake3

from labdeck.paths import read_only_mode

MAGIC = b"LDPACKIX"
VERSION = 1
HEADER = struct.Struct("<8sII")
ENTRY = struct.Struct("<32sQQ")
PACK_TARGET = 256 << 20  # an add starts another pack past this size, so gc never rewrites huge files
# Every this many bytes appended, a pack is flushed in the background while hashing goes on,
# so sealing waits only for the last stretch.
FLUSH_AHEAD = 32 << 20
COPY_CHUNK = 8 << 20


class Entry(NamedTuple):
    digest: str
    offset: int
    size: int


def fsync_path(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pread_exact(fd: int, size: int, offset: int) -> bytes:
    """``size`` bytes at ``offset`` (fewer only where the file ends sooner: a truncated pack)."""
    data = os.pread(fd, size, offset)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size and (more := os.pread(fd, size - got, offset + got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


# The index file ----------------------------------------------------------------


def index_bytes(entries: Iterable[Entry]) -> bytes:
    rows = sorted(entries)
    body = HEADER.pack(MAGIC, VERSION, len(rows)) + b"".join(
        ENTRY.pack(bytes.fromhex(e.digest), e.offset, e.size) for e in rows)
    return body + blake3.blake3(body).digest()


def parse_index(data: bytes) -> list[Entry]:
    """The entries of an index file; ValueError if it is not one (or is damaged)."""
    if len(data) < HEADER.size + 32 or blake3.blake3(data[:-32]).digest() != data[-32:]:
        raise ValueError("damaged pack index (checksum mismatch)")
    magic, version, count = HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or len(data) != HEADER.size + count * ENTRY.size + 32:
        raise ValueError(f"not a pack index of format {VERSION}")
    # tuple.__new__: NamedTuple's own __new__ is Python code, half the parse of a 10,000-entry
    # index, which every add reads once.
    return [_new(Entry, (d.hex(), off, size)) for d, off, size in ENTRY.iter_unpack(data[HEADER.size:-32])]


_new = tuple.__new__


def write_index(folder: Path, pack_id: str, entries: list[Entry], temp: Path) -> None:
    """Publish a pack whose bytes are already durable: its index, atomically and durably."""
    with open(temp, "wb") as f:
        f.write(index_bytes(entries))
        f.flush()
        os.fsync(f.fileno())
    os.chmod(temp, read_only_mode())  # 0444 less the umask
    os.replace(temp, folder / f"{pack_id}.idx")


# What the store holds in packs ------------------------------------------------------


class PackIndex:
    """digest -> (pack id, offset, size) for every indexed pack, kept in memory.

    Loaded from the ``.idx`` files; ``refresh`` lists the folder again and loads the indexes
    that are new (another process's add) and forgets those that are gone (gc). Readers
    refresh when a digest is missing or its pack has gone, an add once at its start.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._packs: dict[str, list[Entry]] = {}
        self._map: dict[str, tuple[str, int, int]] = {}
        self.damaged: dict[str, str] = {}  # pack id -> why its index cannot be read

    def get(self, digest: str) -> tuple[str, int, int] | None:
        return self._map.get(digest)

    def __contains__(self, digest: str) -> bool:
        return digest in self._map

    def digests(self) -> Mapping[str, tuple[str, int, int]]:
        """The packed objects as of the last refresh, for many lookups in a row (a map once
        published is never changed: a refresh publishes another)."""
        return self._map

    def packs(self) -> dict[str, list[Entry]]:
        self.refresh()
        with self._lock:
            return dict(self._packs)

    def refresh(self) -> bool:
        """Load new indexes and forget removed ones; True if anything changed."""
        with self._lock:
            try:
                ids = {n[:-4] for n in os.listdir(self.folder) if n.endswith(".idx")}
            except FileNotFoundError:  # a store nothing was added to yet
                ids = set()
            gone = self._packs.keys() - ids
            new = {}
            for pack_id in ids - self._packs.keys():
                try:
                    new[pack_id] = parse_index((self.folder / f"{pack_id}.idx").read_bytes())
                except FileNotFoundError:
                    continue  # removed by gc since the listing
                except (OSError, ValueError) as exc:
                    self.damaged[pack_id] = str(exc)  # its objects read as missing; gc leaves it alone
                    new[pack_id] = []
            if not gone and not new:
                return False
            for pack_id in gone:
                del self._packs[pack_id]
                self.damaged.pop(pack_id, None)
            self._packs.update(new)
            self._publish(gone, new)
            return True

    def add(self, pack_id: str, entries: list[Entry]) -> None:
        """A pack this process has just indexed (no need to read its index back)."""
        with self._lock:
            self._packs[pack_id] = entries
            self._publish((), {pack_id: entries})

    def drop(self, pack_id: str) -> None:
        with self._lock:
            self._packs.pop(pack_id, None)
            self._publish((pack_id,), {})

    def _publish(self, gone: Iterable[str], new: dict[str, list[Entry]]) -> None:
        # A new dict, swapped in whole: readers never see one half-built. A digest may sit in
        # two packs (a crash during gc, two adds at once), so a removal rebuilds the map.
        m = {} if gone else dict(self._map)
        for pack_id, entries in (self._packs if gone else new).items():
            m.update((e.digest, (pack_id, e.offset, e.size)) for e in entries)
        self._map = m


class _OpenPack:
    __slots__ = ("entries", "fd", "flushed", "id", "size")

    def __init__(self, folder: Path) -> None:
        self.id = os.urandom(16).hex()
        self.fd = os.open(folder / f"{self.id}.pack", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        self.size = 0
        self.flushed = 0  # size when a background flush last started
        self.entries: list[Entry] = []


class PackWriter:
    """The packs of one add: objects are appended from many threads, then sealed or dropped.

    Appends reserve a range under a lock and write outside it, so hashing threads never wait
    on each other's writes. Nothing is visible to anyone (not even this process's
    ``has_object``) until ``seal``; ``has`` answers for this add's own pending objects.
    """

    def __init__(self, folder: Path, index: PackIndex, temp_path: Callable[[], Path], limit: int) -> None:
        self.folder = folder
        self.index = index
        self.temp_path = temp_path
        self.limit = limit
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._packs: list[_OpenPack] = []
        self._flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labdeck-pack-flush")
        self._flushing: Future | None = None

    def has(self, digest: str) -> bool:
        return digest in self._pending

    def append(self, digest: str, data: bytes) -> bool:
        """Store ``data`` as ``digest``; False if this add holds that object already."""
        with self._lock:
            if digest in self._pending:
                return False
            if not self._packs or self._packs[-1].size >= PACK_TARGET:
                self._packs.append(_OpenPack(self.folder))
            pack = self._packs[-1]
            offset = pack.size
            pack.size += len(data)
            pack.entries.append(Entry(digest, offset, len(data)))
            self._pending.add(digest)
            if pack.size - pack.flushed >= FLUSH_AHEAD and (self._flushing is None or self._flushing.done()):
                pack.flushed = pack.size  # an early start only: seal's fdatasync is what counts
                self._flushing = self._flusher.submit(os.fdatasync, pack.fd)
        pwrite_all(pack.fd, data, offset)
        return True

    def seal(self) -> None:
        """Make the packs durable, then index them: from here on their objects exist."""
        self._flusher.shutdown(wait=True)
        if not self._packs:
            return
        with ThreadPoolExecutor(max_workers=len(self._packs)) as pool:
            list(pool.map(lambda p: os.fdatasync(p.fd), self._packs))
        fsync_path(self.folder)  # the packs' names too, before an index names them
        for pack in self._packs:
            write_index(self.folder, pack.id, pack.entries, self.temp_path())
        fsync_path(self.folder)  # the indexes' names
        for pack in self._packs:
            os.close(pack.fd)
            self.index.add(pack.id, pack.entries)
        self._packs = []

    def abort(self) -> None:
        """An add that failed or was cancelled: remove its packs (and any index a failed seal wrote)."""
        self._flusher.shutdown(wait=True)  # no flush may use a descriptor after it is closed
        for pack in self._packs:
            with contextlib.suppress(OSError):
                os.close(pack.fd)
            (self.folder / f"{pack.id}.idx").unlink(missing_ok=True)
            (self.folder / f"{pack.id}.pack").unlink(missing_ok=True)
        self._packs = []
        self._pending.clear()


def rewrite(folder: Path, index: PackIndex, pack_id: str, live: list[Entry], temp: Path) -> None:
    """Replace a pack by one holding only ``live`` (gc, under the store's exclusive lock).

    The new pack and its index are durable before the old pair goes, so a crash in between
    leaves both, each complete: the live objects are twice in the store until the next gc.
    """
    old = folder / f"{pack_id}.pack"
    if live:
        out = _OpenPack(folder)
        src = os.open(old, os.O_RDONLY)
        try:
            for e in sorted(live, key=lambda e: e.offset):
                for start in range(0, e.size, COPY_CHUNK):
                    chunk = pread_exact(src, min(COPY_CHUNK, e.size - start), e.offset + start)
                    # pwrite at the entry's place: bytes a truncated pack lacks stay a hole, which verify reports
                    pwrite_all(out.fd, chunk, out.size + start)
                out.entries.append(Entry(e.digest, out.size, e.size))
                out.size += e.size
            os.ftruncate(out.fd, out.size)
            os.fdatasync(out.fd)
        finally:
            os.close(src)
            os.close(out.fd)
        fsync_path(folder)
        write_index(folder, out.id, out.entries, temp)
        fsync_path(folder)
        index.add(out.id, out.entries)
    (folder / f"{pack_id}.idx").unlink(missing_ok=True)  # the objects go with the index
    old.unlink(missing_ok=True)
    index.drop(pack_id)
