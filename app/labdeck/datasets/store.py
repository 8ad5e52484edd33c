"""The content-addressed dataset store in labdeck's data directory.

    datasets/objects/ab/cdef…      file contents, named by their BLAKE3, read-only, never rewritten
    datasets/packs/<id>.pack, .idx small objects of one add in one file, and where each lies
                                   (format and crash safety: ``labdeck.datasets.packs``)
    datasets/manifests/<hash>.json a version's manifest: sorted [path, size, hash]; named by its hash
    datasets/refs/<name>.json      {version: manifest hash} so the stdlib-only SDK can resolve NAME:VERSION
    datasets/tmp/                  temp files, renamed into place (same file system, so atomic)

Everything is written to a temp file and renamed (a pack: made durable, then indexed); an
object or manifest either exists whole or not at all. Adds hold a shared lock and ``gc`` an
exclusive one, so gc never removes the objects of an add in progress.

An object is loose (its own file) or packed; ``has_object``, ``open_object`` and
``iter_objects`` cover both, so callers never need to know which. Objects up to
``pack_limit`` bytes are packed when copied (not hard-linked, nor reflinked: a reflink
shares the source's blocks, a pack would copy them). A store of loose objects only, as
written before packs existed, reads the same.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import blake3

from labdeck.datasets.packs import PackIndex, PackWriter, fsync_path, pread_exact
from labdeck.errors import UserError
from labdeck.paths import data_dir, read_only_mode

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
FICLONE = 0x40049409  # linux/fs.h: share the source's blocks (btrfs, XFS, bcachefs)
# Objects up to this size are packed. Adding 300 MB on ext4, packed vs loose: files of 250 KB
# 0.4 vs 0.8 s, of 2 MB 0.37 vs 0.5 s, of 4 MB even; bigger ones stay loose, as gc never
# needs to rewrite them.
PACK_LIMIT = 2 << 20


class StoreError(UserError):
    """A problem with the store or a request to it; the message is for the user."""


class ObjectMissing(StoreError):
    pass


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name or ""):
        raise StoreError(
            f"bad dataset name {name!r}: use letters, digits, '.', '_' or '-' (starting with a letter or digit)"
        )
    return name


# What JSON escapes in a string (ensure_ascii off): quote, backslash and control characters.
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')


def manifest_bytes(files: list[tuple[str, int, str]]) -> bytes:
    """The canonical manifest: the hash of these bytes is the version's hash.

    ``json.dumps`` of the sorted (path, size, hex digest) tuples, compact, non-ASCII kept.
    Where no path needs escaping, the same text is formatted directly: 4 ms where json took
    17 for 10,000 files, a tenth of a whole re-add (a test checks both give the same bytes).
    """
    rows = sorted(files)  # cheap on the already-sorted scan
    if _JSON_ESCAPED.search("".join([r[0] for r in rows])) is None:
        return ("[" + ",".join([f'["{p}",{int(n)},"{d}"]' for p, n, d in rows]) + "]").encode()
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_digest(files: list[tuple[str, int, str]]) -> str:
    return blake3.blake3(manifest_bytes(files)).hexdigest()


class ObjectReader:
    """An open object: a whole loose file, or a byte range of a pack."""

    def __init__(self, fd: int, offset: int, size: int, path: str, packed: bool) -> None:
        self.fd, self.offset, self.size, self.path, self.packed = fd, offset, size, path, packed

    def chunks(self, chunk: int) -> Iterator[bytes]:
        """Its bytes in order; a truncated pack ends the range early (the hash will not match)."""
        for start in range(0, self.size, chunk):
            data = pread_exact(self.fd, min(chunk, self.size - start), self.offset + start)
            if data:
                yield data
            if len(data) < min(chunk, self.size - start):
                return

    def read(self) -> bytes:
        return b"".join(self.chunks(max(self.size, 1)))


def _writer_alive(temp_name: str) -> bool:
    """Whether the process that named a temp file ``<pid>-…`` still runs (this one counts as running)."""
    pid_text = temp_name.split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def store_root() -> Path:
    return data_dir() / "datasets"


class Store:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else store_root()
        self.objects = self.root / "objects"
        self.manifests = self.root / "manifests"
        self.refs = self.root / "refs"
        self.tmp = self.root / "tmp"
        self.packs_dir = self.root / "packs"
        self._laid_out = False  # the folders are made by the first write, not here (the GUI thread opens stores)
        self._reflink_ok: bool | None = None
        self._hardlink_ok: bool | None = None
        self._tmp_seq = itertools.count()
        self._tag = os.urandom(4).hex()
        self._objects_s = str(self.objects)
        self.packs = PackIndex(self.packs_dir)
        self.pack_limit = PACK_LIMIT  # 0: every object is loose

    def _ensure_layout(self) -> None:
        """The store's folders, every object fan-out folder included (no mkdir per object later)."""
        if self._laid_out:
            return
        for d in (self.objects, self.manifests, self.refs, self.tmp, self.packs_dir):
            d.mkdir(parents=True, exist_ok=True)
        for i in range(256):
            (self.objects / f"{i:02x}").mkdir(exist_ok=True)
        self._laid_out = True

    # Locking ---------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, *, exclusive: bool) -> Iterator[None]:
        self._ensure_layout()  # every add, rm and gc starts here
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    # Objects -----------------------------------------------------------------

    def object_path(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest[2:]

    def has_object(self, digest: str) -> bool:
        """Whether the object is loose, or in a pack as of the last ``packs.refresh``.

        An add refreshes once at its start, under the shared lock (so gc cannot remove anything
        until it ends); a pack another add writes meanwhile is missed, costing only a second
        copy, which gc drops. Called once per file: no further stat of the packs folder.
        """
        return digest in self.packs or self.has_loose(digest)

    def has_loose(self, digest: str) -> bool:
        # Plain strings: called once per file on every add, where pathlib's cost showed up.
        return os.path.exists(f"{self._objects_s}/{digest[:2]}/{digest[2:]}")

    @contextlib.contextmanager
    def open_object(self, digest: str) -> Iterator[ObjectReader]:
        """The object, loose or packed; ObjectMissing if the store lacks it."""
        reader = self._open(digest)
        if reader is None:
            # Packed by another process since, or its pack rewritten by gc. Retried whatever
            # refresh says: another thread of this process may have loaded the new index
            # first (a parallel checkout then found objects "missing", about 1 run in 8).
            self.packs.refresh()
            reader = self._open(digest)
        if reader is None:
            raise ObjectMissing(f"object {digest[:12]} is missing from the store {self.root}")
        try:
            yield reader
        finally:
            os.close(reader.fd)

    def _open(self, digest: str) -> ObjectReader | None:
        hit = self.packs.get(digest)
        try:
            if hit is not None:
                path = f"{self.packs_dir}/{hit[0]}.pack"
                return ObjectReader(os.open(path, os.O_RDONLY), hit[1], hit[2], path, True)
            path = f"{self._objects_s}/{digest[:2]}/{digest[2:]}"
            fd = os.open(path, os.O_RDONLY)
            return ObjectReader(fd, 0, os.fstat(fd).st_size, path, False)
        except FileNotFoundError:
            return None

    def read_object(self, digest: str) -> bytes:
        with self.open_object(digest) as obj:
            return obj.read()

    def object_source(self, digest: str) -> str | bytes:
        """A loose object's path (readers may stream or map it), else a packed object's bytes."""
        with self.open_object(digest) as obj:
            return obj.read() if obj.packed else obj.path

    def pack_writer(self, sample: str) -> PackWriter | None:
        """A writer for the small objects of an add from where ``sample`` lies, or None if they stay loose.

        Loose where reflinks work: a reflinked object shares the source's blocks, where a pack
        would copy them.
        """
        if self.pack_limit <= 0 or self._reflinks_from(sample):
            return None
        return PackWriter(self.packs_dir, self.packs, self.temp_path, self.pack_limit)

    def _reflinks_from(self, path: str) -> bool:
        if self._reflink_ok is not None:
            return self._reflink_ok
        tmp = self.temp_path()
        try:
            with open(path, "rb") as src, open(tmp, "wb") as dst:
                return self.try_reflink(src.fileno(), dst.fileno())
        except OSError:
            return False  # unreadable: the add itself will say so
        finally:
            tmp.unlink(missing_ok=True)

    def temp_path(self) -> Path:
        self._ensure_layout()
        # pid + a per-process counter: unique without an os.urandom call per file
        return self.tmp / f"{os.getpid()}-{next(self._tmp_seq)}-{self._tag}.part"

    def commit_object(self, tmp: Path | str, digest: str, *, make_read_only: bool = True) -> None:
        """Move a fully written temp file into place as ``digest``.

        No existence check: names are content hashes, so replacing an object that appeared
        meanwhile (a concurrent add) puts identical bytes under the same name, atomically.
        Copies are read-only (0444 less the umask: never readable by more people than the
        user allows). A hard link shares the user's inode, so its mode is left alone.
        """
        if make_read_only:
            os.chmod(tmp, read_only_mode())
        os.replace(tmp, f"{self._objects_s}/{digest[:2]}/{digest[2:]}")

    def make_durable(self, digests: list[str]) -> None:
        """Flush new objects (and their folder entries) to disk before a version may name them.

        A few objects: fsync each, from parallel threads, so the file system commits them
        together (21 fsyncs measured 22-79 ms one after another, 3-4 ms in parallel). Many:
        one ``sync`` is cheaper than thousands of fsyncs. The manifest was fsynced when written.
        """
        if len(digests) > 256:
            os.sync()
            return
        folders = {self._objects_s + "/" + d[:2] for d in digests} | {str(self.manifests)}
        paths = [f"{self._objects_s}/{d[:2]}/{d[2:]}" for d in digests] + sorted(folders)
        with ThreadPoolExecutor(max_workers=min(16, len(paths))) as pool:
            list(pool.map(fsync_path, paths))

    def try_hardlink(self, src: str, tmp: Path) -> bool:
        """Link ``src`` as ``tmp`` when on the same file system (and the kernel permits it)."""
        if self._hardlink_ok is False:
            return False
        try:
            os.link(src, tmp, follow_symlinks=True)
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES):
                if exc.errno in (errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP):
                    self._hardlink_ok = False  # the whole source is elsewhere: stop trying
                return False
            raise
        return True

    def try_reflink(self, src_fd: int, dst_fd: int) -> bool:
        """Clone ``src`` into ``dst`` sharing blocks, where the file system can (cheap to detect)."""
        if self._reflink_ok is False:
            return False
        try:
            fcntl.ioctl(dst_fd, FICLONE, src_fd)
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.ENOSYS, errno.EPERM):
                self._reflink_ok = False
                return False
            raise
        self._reflink_ok = True
        return True

    def iter_loose(self) -> Iterator[tuple[str, Path]]:
        if not self.objects.is_dir():
            return
        for sub in sorted(self.objects.iterdir()):
            if not sub.is_dir():
                continue
            for p in sub.iterdir():
                yield sub.name + p.name, p

    def iter_objects(self) -> Iterator[tuple[str, int]]:
        """(digest, size) of every object, loose or packed (one in two packs: twice)."""
        for digest, path in self.iter_loose():
            yield digest, path.stat().st_size
        for entries in self.packs.packs().values():
            for e in entries:
                yield e.digest, e.size

    def remove_object(self, digest: str) -> int:
        p = self.object_path(digest)
        size = p.stat().st_size
        p.unlink()
        return size

    # Manifests and refs ----------------------------------------------------------

    def write_manifest(self, digest: str, data: bytes) -> None:
        """Store ``manifest_bytes(files)`` under its hash (computed once by the caller)."""
        dest = self.manifests / f"{digest}.json"
        if dest.exists():
            return
        self._write_atomic(dest, data)

    def read_manifest(self, digest: str) -> list[tuple[str, int, str]]:
        path = self.manifests / f"{digest}.json"
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise StoreError(f"manifest {digest[:12]} is missing from the store {self.root}") from None
        except ValueError as exc:
            raise StoreError(f"manifest {digest[:12]} in the store is corrupt: {exc}") from None
        files = [(str(p), int(s), str(h)) for p, s, h in data]
        if manifest_digest(files) != digest:
            raise StoreError(f"manifest {digest[:12]} in the store fails verification (its hash differs)")
        return files

    def manifest_digests(self) -> list[str]:
        return [p.stem for p in self.manifests.glob("*.json")]

    def remove_manifest(self, digest: str) -> None:
        (self.manifests / f"{digest}.json").unlink(missing_ok=True)

    def write_refs(self, name: str, versions: list[tuple[int, str]]) -> None:
        path = self.refs / f"{check_name(name)}.json"
        if not versions:
            path.unlink(missing_ok=True)
            return
        data = {"name": name, "versions": {str(v): d for v, d in versions}}
        self._write_atomic(path, json.dumps(data, indent=1).encode())

    def ref_names(self) -> list[str]:
        return [p.stem for p in self.refs.glob("*.json")]

    # Index files sharing this store ----------------------------------------------------

    def indexes(self) -> list[str]:
        try:
            return list(json.loads((self.root / "indexes.json").read_text())["indexes"])
        except (OSError, ValueError, KeyError):
            return []

    def set_indexes(self, paths: list[str]) -> None:
        self._write_atomic(self.root / "indexes.json", json.dumps({"indexes": sorted(set(paths))}, indent=1).encode())

    def clean_tmp(self) -> int:
        """Remove temp files whose writer has ended (named ``<pid>-…``); a live process's may be in use.

        Refs and index-list writes happen outside the store lock, so even gc's exclusive lock
        does not make every temp file garbage.
        """
        n = 0
        if not self.tmp.is_dir():
            return 0
        for p in self.tmp.iterdir():
            if _writer_alive(p.name):
                continue
            p.unlink(missing_ok=True)
            n += 1
        return n

    def recover(self) -> int:
        """Remove what killed adds left (temp files, packs never indexed), if no add or gc runs now.

        Called by an add before it starts; an add or gc at work (holding the lock) may own such
        files, so then nothing is touched and a later add or gc cleans up.
        """
        self._ensure_layout()
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0
            n = self.clean_tmp()
            for name in os.listdir(self.packs_dir):
                # A pack is written whole before its index, so one without an index holds nothing.
                if name.endswith(".pack") and not (self.packs_dir / f"{name[:-5]}.idx").exists():
                    (self.packs_dir / name).unlink(missing_ok=True)
                    n += 1
            return n
        finally:
            os.close(fd)

    def _write_atomic(self, dest: Path, data: bytes) -> None:
        tmp = self.temp_path()  # makes the store's folders on its first write
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
