"""Rebuilding a version's files from the store, each verified against its hash."""

from __future__ import annotations

import os
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


def _copy_verified(store: Store, rel: str, digest: str, target: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.labdeck-tmp")
    h = blake3.blake3()
    n = 0
    try:
        with store.open_object(digest) as obj, open(tmp, "wb") as fout:
            # A packed object is a byte range: copied. A loose one may be cloned where the file system can.
            if obj.packed or not store.try_reflink(obj.fd, fout.fileno()):
                for chunk in obj.chunks(CHUNK):
                    h.update(chunk)
                    fout.write(chunk)
                    n += len(chunk)
            else:
                with open(tmp, "rb") as clone:
                    while chunk := clone.read(CHUNK):
                        h.update(chunk)
                        n += len(chunk)
        if h.hexdigest() != digest:
            raise StoreError(f"object for {rel} is corrupt in the store (hash mismatch); that version fails verification")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except ObjectMissing:
        raise StoreError(f"object for {rel} is missing from the store; that version fails verification") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def checkout(
    store: Store, files: list[tuple[str, int, str]], dest: str | os.PathLike, *, force: bool = False,
    task: Task | None = None, workers: int = 4,
) -> CheckoutResult:
    dest_path = Path(os.path.abspath(Path(dest).expanduser()))
    if dest_path.exists() and not dest_path.is_dir():
        raise StoreError(f"{dest_path} exists and is not a folder")
    targets = [(rel, digest, safe_target(dest_path, rel)) for rel, _, digest in files]
    clashes = [str(t) for _, _, t in targets if os.path.lexists(t)]
    if clashes and not force:
        more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        raise StoreError(f"refusing to overwrite {', '.join(clashes[:3])}{more} (use --force to overwrite)")
    real_dest = os.path.realpath(dest_path) if dest_path.exists() else None
    for rel, _, t in targets:
        # A symlinked folder inside an existing destination must not carry files elsewhere.
        if real_dest is not None and os.path.lexists(t.parent):
            parent = os.path.realpath(t.parent)
            if os.path.commonpath([real_dest, parent]) != real_dest:
                raise StoreError(f"refusing {rel}: {t.parent} leads outside {dest_path} through a symlink")
        if os.path.islink(t) or (os.path.exists(t) and not os.path.isfile(t)):
            raise StoreError(f"refusing to replace {t}: it is a folder or symlink")
    dest_path.mkdir(parents=True, exist_ok=True)
    done = 0
    total_bytes = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labdeck-checkout") as pool:
        futures = [pool.submit(_copy_verified, store, rel, digest, t) for rel, digest, t in targets]
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
    return CheckoutResult(dest_path, done, total_bytes)
