"""Rebuilding a version's files from the store, each verified against its hash."""

from __future__ import annotations

import os
import stat
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import blake3

from labdeck.datasets.store import ObjectMissing, Store, StoreError
from labdeck.tasks import Task

CHUNK = 8 << 20


@dataclass(frozen=True)
class CheckoutResult:
    dest: Path
    files: int
    bytes: int


def safe_target(dest: Path, rel: str) -> Path:
    """``dest/rel``, refusing any manifest path that would land outside ``dest``."""
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or "\\" in rel or "\0" in rel or any(part in ("..", ".", "") for part in rel.split("/")):
        raise StoreError(f"refusing manifest path {rel!r}: it would escape the checkout folder {dest}")
    target = dest.joinpath(*p.parts)
    if os.path.commonpath([str(dest), os.path.abspath(target)]) != str(dest):
        raise StoreError(f"refusing manifest path {rel!r}: it would escape the checkout folder {dest}")
    return target


def verify_object(store: Store, digest: str) -> str | None:
    """None if the object is present and hashes to its name, else what is wrong."""
    h = blake3.blake3()
    try:
        with store.open_object(digest) as obj:
            for chunk in obj.chunks(CHUNK):
                h.update(chunk)
    except ObjectMissing:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    return None if h.hexdigest() == digest else "corrupt (its content no longer matches its hash)"


# Folders are opened one component at a time without following symlinks, relative to the
# destination's descriptor: whatever symlink lies (or appears) inside the destination, no
# file is created outside it. O_NOFOLLOW on a symlink fails with ELOOP (ENOTDIR on a file).
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _open_parent(dest_fd: int, dest: Path, rel: str) -> int:
    """A descriptor of ``rel``'s folder below ``dest_fd``, created as needed, never through a symlink."""
    fd = os.dup(dest_fd)
    done: list[str] = []
    try:
        for part in rel.split("/")[:-1]:
            try:
                os.mkdir(part, 0o777, dir_fd=fd)
            except FileExistsError:
                pass
            done.append(part)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                where = dest.joinpath(*done)
                raise StoreError(f"refusing {rel}: {where} is a symlink or a file, not a folder") from exc
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def _copy_verified(store: Store, rel: str, digest: str, dest_fd: int, dest: Path) -> int:
    parent_fd = _open_parent(dest_fd, dest, rel)
    name = rel.rsplit("/", 1)[-1]
    tmp = f".{name}.{uuid.uuid4().hex[:8]}.labdeck-tmp"
    h = blake3.blake3()
    n = 0
    try:
        # 0o666 less the umask, as any file the user creates (never more open than the umask allows).
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                     0o666, dir_fd=parent_fd)
        try:
            with store.open_object(digest) as obj, os.fdopen(fd, "wb") as fout:
                # A packed object is a byte range: copied. A loose one may be cloned where the file system can.
                if obj.packed or not store.try_reflink(obj.fd, fout.fileno()):
                    for chunk in obj.chunks(CHUNK):
                        h.update(chunk)
                        fout.write(chunk)
                        n += len(chunk)
                else:  # cloned: hash what landed in the file
                    while chunk := os.pread(fd, CHUNK, n):
                        h.update(chunk)
                        n += len(chunk)
            if h.hexdigest() != digest:
                raise StoreError(f"object for {rel} is corrupt in the store (hash mismatch); that version fails verification")
            # rename replaces a name in this folder, never following a symlink there.
            os.replace(tmp, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        except ObjectMissing:
            raise StoreError(f"object for {rel} is missing from the store; that version fails verification") from None
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=parent_fd)
            except FileNotFoundError:
                pass
            raise
    finally:
        os.close(parent_fd)
    return n


def _refuse_symlinks(dest: Path, targets: list[tuple[str, str, Path]]) -> None:
    """Refuse up front (before anything is written) a symlink, or a file where a folder must go,
    on any file's way inside ``dest``; the descriptors above enforce it against later changes."""
    seen: set[str] = set()
    for rel, _, target in targets:
        parts = rel.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in seen:
                continue
            seen.add(prefix)
            path = dest.joinpath(*parts[:i])
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                break
            if stat.S_ISLNK(st.st_mode):
                raise StoreError(f"refusing {rel}: {path} is a symlink (a checkout writes only inside {dest})")
            if not stat.S_ISDIR(st.st_mode):
                raise StoreError(f"refusing {rel}: {path} is a file, not a folder")
        if os.path.islink(target) or (os.path.lexists(target) and not os.path.isfile(target)):
            raise StoreError(f"refusing to replace {target}: it is a folder or symlink")


def resolve_dest(dest: str | os.PathLike) -> Path:
    """The destination as the system reaches it: symlinks and '..' resolved once, here (a
    lexical '..' after a symlink names another folder than the kernel does)."""
    return Path(os.path.realpath(Path(dest).expanduser()))


def checkout(
    store: Store, files: list[tuple[str, int, str]], dest: str | os.PathLike, *, force: bool = False,
    task: Task | None = None, workers: int = 4,
) -> CheckoutResult:
    dest_path = resolve_dest(dest)
    if dest_path.exists() and not dest_path.is_dir():
        raise StoreError(f"{dest_path} exists and is not a folder")
    targets = [(rel, digest, safe_target(dest_path, rel)) for rel, _, digest in files]
    clashes = [str(t) for _, _, t in targets if os.path.lexists(t)]
    if clashes and not force:
        more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        raise StoreError(f"refusing to overwrite {', '.join(clashes[:3])}{more} (use --force to overwrite)")
    _refuse_symlinks(dest_path, targets)
    dest_path.mkdir(parents=True, exist_ok=True)
    try:
        dest_fd = os.open(dest_path, _DIR_FLAGS)
    except OSError as exc:
        raise StoreError(f"{dest_path} changed while checking out (now a symlink or a file)") from exc
    done = 0
    total_bytes = 0
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labdeck-checkout") as pool:
            futures = [pool.submit(_copy_verified, store, rel, digest, dest_fd, dest_path) for rel, digest, _ in targets]
            try:
                for fut in futures:
                    total_bytes += fut.result()
                    done += 1
                    if task is not None:
                        task.report(done, len(targets), "checking out")
                        task.check()
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    finally:
        os.close(dest_fd)
    return CheckoutResult(dest_path, done, total_bytes)
