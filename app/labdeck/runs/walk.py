"""Walking a project folder to find run sources, skipping what is never a run."""

from __future__ import annotations

import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING


from labdeck.runs.native_format import is_staging
from labdeck.runs.readers.base import Reader, ReadWarning, SourceRef

if TYPE_CHECKING:
    import pathspec

IGNORE_FILE = ".labdeckignore"
# Folders that never hold runs and can be huge.
SKIP_NAMES = frozenset(
    {".git", ".hg", ".svn", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", ".tox", ".nox", ".ipynb_checkpoints", ".venv", "venv", "site-packages",
     ".labdeck-cluster"}  # cluster jobs' code copies and in-flight results (launch/cluster_bundle.py)
)


# A listing is remembered only when its folder last changed this long before it was
# listed: a change in the same tick of the file system's clock as the remembered one would
# otherwise leave the folder's times as they were (git's "racy" entries, likewise).
RACY_NS = 2_000_000_000


@dataclass(frozen=True, slots=True)
class _Found:
    """What the readers made of a folder: its sources and which sub-folders they keep the
    walk out of (see ``Detection``)."""

    sources: tuple[tuple[Reader, SourceRef], ...]
    prune: frozenset[str]
    only: frozenset[str] | None
    claimed: bool


@dataclass(slots=True)
class _Listing:
    stamp: tuple[int, int, int, int]  # device, inode, mtime_ns, ctime_ns of the folder
    path: Path
    names: frozenset[str]
    subdirs: tuple[str, ...]  # the sub-folders to enter (none of them a link)
    # The readers' answer for these names, where every reader asked decides from names
    # alone (``Reader.detects_by_names``): an unchanged run folder is then not looked at
    # again, pass after pass.
    found: _Found | None = None


class ListingMemo:
    """Folder listings kept from one pass to the next, each with its folder's times: an
    unchanged folder's listing is taken from here for one ``stat`` (on this machine 5 µs,
    against 20 µs to list a folder, and no Python work per entry).

    Any change of a folder's entries (a file or folder made, removed or renamed) changes its
    mtime, and any change of its metadata its ctime, which even ``os.utime`` cannot set
    back. Folders holding a symbolic link are not remembered: a link's target can change
    without its folder's times changing. Nor are folders changed within ``RACY_NS`` of
    their listing."""

    def __init__(self) -> None:
        self._listings: dict[str, _Listing] = {}
        self._walked: set[str] | None = None  # during a whole walk: the folders it reached

    def __len__(self) -> int:
        return len(self._listings)

    def __contains__(self, folder: str) -> bool:
        return folder in self._listings

    def get(self, folder: str, stamp: tuple[int, int, int, int]) -> _Listing | None:
        if self._walked is not None:
            self._walked.add(folder)
        listing = self._listings.get(folder)
        return listing if listing is not None and listing.stamp == stamp else None

    def begin_whole_walk(self) -> None:
        self._walked = set()

    def end_whole_walk(self, complete: bool) -> None:
        """After a walk of the whole project: forget the folders it no longer reached (gone,
        renamed, pruned), so that a long session keeps no listing of a deleted run."""
        walked, self._walked = self._walked, None
        if complete and walked is not None:
            self._listings = {k: v for k, v in self._listings.items() if k in walked}

    def remember(self, folder: str, listing: _Listing, listed_at_ns: int) -> bool:
        """Keep ``listing`` unless its folder changed too close to the listing; whether kept."""
        if max(listing.stamp[2], listing.stamp[3]) < listed_at_ns - RACY_NS:
            self._listings[folder] = listing
            return True
        self._listings.pop(folder, None)
        return False

    def forget(self, folder: str) -> None:
        self._listings.pop(folder, None)


@dataclass
class WalkResult:
    sources: list[tuple[Reader, SourceRef]] = field(default_factory=list)
    warnings: list[ReadWarning] = field(default_factory=list)
    folders: int = 0


def load_ignore(project: Path, warnings: list[ReadWarning]) -> pathspec.PathSpec | None:
    path = project / IGNORE_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        warnings.append(ReadWarning("bad-ignore-file", f"cannot read {IGNORE_FILE}: {exc}", IGNORE_FILE))
        return None
    try:
        import pathspec  # here: every CLI verb imports this module, few walk a project

        return pathspec.GitIgnoreSpec.from_lines(lines)
    except (ValueError, TypeError) as exc:
        warnings.append(ReadWarning("bad-ignore-file", f"{IGNORE_FILE} has a bad pattern: {exc}", IGNORE_FILE))
        return None


def walk_project(
    project: Path,
    readers: tuple[Reader, ...],
    *,
    start: Path | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    others: frozenset[str] = frozenset(),
    mounted: bool | None = None,
    memo: ListingMemo | None = None,
) -> WalkResult:
    """Find every source below ``project`` (or below ``start`` inside it).

    ``others`` are the real paths of the other registered projects: a folder that is one of
    them (nested in this project, or reached through a link) is that project's to index, so
    its runs are indexed once. ``mounted``: whether ``mounts_below`` the walk's root, when
    the caller knows already (None: read from the mount table). ``memo``: listings kept
    from the last pass, to take those of unchanged folders from (and to update)."""
    result = WalkResult()
    ignore = load_ignore(project, result.warnings)
    root = start or project
    root_real = os.path.realpath(root)
    if within(root_real, others):
        return result  # a change inside a nested project: that project's pass reads it
    # A folder mounted a second time inside the project (a bind mount) has a real path of its
    # own: there, folders are known by device and inode instead (a stat each, as a pass did for
    # every folder before, where it cost a tenth of an unchanged rescan).
    if mounted is None:
        mounted = mounts_below(root_real)
    inodes = _Inodes(others) if mounted else None
    seen: set[str] = set()
    whole = memo if start is None else None  # a walk of the whole project: the memo follows it
    if whole is not None:
        whole.begin_whole_walk()
    sources = result.sources
    for folder, rel, names, subdirs, listing in _folders(
            root, _rel(root, project), root_real, project, result, seen, others, cancelled, inodes,
            memo if inodes is None else None):
        result.folders += 1
        found = listing.found if listing is not None else None
        if found is None:
            found, keep = _detect(readers, folder, names, rel, result.warnings)
            if keep and listing is not None:
                listing.found = found
        sources.extend(found.sources)
        if found.claimed:
            subdirs.clear()
            continue
        if found.only is not None:
            subdirs &= found.only
        if subdirs:
            for name in list(subdirs):
                if name in found.prune or _ignored(ignore, rel, name):
                    subdirs.discard(name)
    if whole is not None:
        whole.end_whole_walk(complete=not cancelled())
    return result


def _detect(
    readers: tuple[Reader, ...], folder: Path, names: frozenset[str], rel: str, warnings: list[ReadWarning]
) -> tuple[_Found, bool]:
    """Each reader in turn about one folder, and whether the answer may be kept for as long
    as the folder's listing is unchanged (no reader that reads files was asked, none failed)."""
    found: list[tuple[Reader, SourceRef]] = []
    prune: frozenset[str] = frozenset()
    only: frozenset[str] | None = None
    claimed = False
    keep = True
    warned = len(warnings)
    for reader in readers:
        keep = keep and reader.detects_by_names
        try:
            detection = reader.detect(folder, names, rel)
        except OSError as exc:
            warnings.append(ReadWarning("unreadable-folder", f"cannot read {rel or '.'}: {exc.strerror}", rel))
            detection = None
        except Exception as exc:  # noqa: BLE001 - one odd folder must not stop the pass
            warnings.append(ReadWarning(
                "reader-error", f"the {reader.format} reader failed to look at {rel or '.'}: "
                f"{type(exc).__name__}: {exc}", rel))
            detection = None
        if detection is None:
            continue
        found.extend((reader, source) for source in detection.sources)
        prune = prune | detection.prune
        if detection.only is not None:
            only = detection.only if only is None else only & detection.only
        if detection.claim_all:
            claimed = True
            break  # the folder and everything below it are this reader's alone
        if detection.exclusive:
            break  # the folder's own files are this reader's; sub-folders are walked
    return _Found(tuple(found), prune, only, claimed), keep and len(warnings) == warned


def mounts_below(real: str) -> bool:
    """Whether a file system is mounted a second time somewhere below the folder ``real``: a
    bind mount, or a device mounted at two places (Linux's mount table; elsewhere none is
    known). A disk mounted once, below or not, shows each folder under one path only."""
    inside = real.rstrip("/") + "/"
    mounts = _mounts()
    devices = Counter(device for device, _root, _point in mounts)
    return any(point.startswith(inside) and (root != "/" or devices[device] > 1)
               for device, root, point in mounts)


def _mounts() -> list[tuple[str, str, str]]:
    """(device, root inside it, mount point) of each mount, from /proc/self/mountinfo."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4:  # space, tab, newline and backslash come as octal escapes
            out.append((fields[2], _unescaped(fields[3]), _unescaped(fields[4])))
    return out


def _unescaped(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


class _Inodes:
    """Folders known by (device, inode): another registered project's folder, mounted here
    too, is known as that project's."""

    def __init__(self, others: frozenset[str]) -> None:
        self.others = {key for key in map(self.of, others) if key is not None}
        self.seen: set[tuple[int, int]] = set()

    @staticmethod
    def of(folder: str) -> tuple[int, int] | None:
        try:
            st = os.stat(folder)
        except OSError:
            return None  # the listing that follows says why
        return st.st_dev, st.st_ino


def within(real: str, others: Iterable[str]) -> bool:
    """Whether the real path ``real`` is one of ``others`` or lies inside one of them."""
    return any(real == other or real.startswith(other + "/") for other in others)


def _ignored(ignore: pathspec.PathSpec | None, rel: str, name: str) -> bool:
    if ignore is None:
        return False
    child = f"{rel}/{name}" if rel else name
    return ignore.match_file(child + "/")


def _rel(folder: Path, project: Path) -> str:
    rel = os.path.relpath(folder, project)
    return "" if rel == "." else rel.replace(os.sep, "/")


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _skip_undecodable(folder: Path, name: str, project: Path, result: WalkResult) -> None:
    """A folder whose name is not UTF-8 cannot be named in the index: skipped, and said so.
    (Python decodes such names with lone surrogates; shown here with U+FFFD.)"""
    rel = _rel(folder / name, project)
    shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    result.warnings.append(ReadWarning(
        "non-utf8-name", f"{shown} has a name that is not UTF-8; it and its runs are skipped "
        "(rename it to index it)", shown))


def _folders(
    root: Path,
    root_rel: str,
    root_real: str,
    project: Path,
    result: WalkResult,
    seen: set[str],
    others: frozenset[str],
    cancelled: Callable[[], bool],
    inodes: _Inodes | None = None,
    memo: ListingMemo | None = None,
) -> Iterator[tuple[Path, str, frozenset[str], set[str], _Listing | None]]:
    """Depth-first: each folder, its path relative to the project ('/'-separated, '' for the
    project), all its entry names, the set of sub-folders to enter next (the caller
    removes names from that set to keep the walk out of them), and its listing where the
    memo keeps it.

    Every folder is walked once, under the first path that reaches it: a folder is known by
    its real path, resolved only where a symbolic link was followed (a sub-folder that is
    not a link is its parent's real path plus its name). Relative paths, too, are built as
    the walk goes down. Both spare a system call or a path computation per folder: an
    unchanged rescan of 10,000 runs is mostly this walk. With a ``memo``, an unchanged
    folder costs one ``stat`` instead of its listing."""
    stack = [(os.fspath(root), root_rel, root_real)]
    count = 0
    while stack:
        count += 1
        if count % 32 == 1 and cancelled():  # a few microseconds of walk apart
            return
        folder, folder_rel, real = stack.pop()
        rel = folder_rel or "."
        if real in others:
            continue  # another registered project: its own pass indexes it
        if real in seen:
            result.warnings.append(
                ReadWarning("symlink-loop", f"{rel} leads back to a folder already walked; skipped", rel)
            )
            continue
        seen.add(real)
        if inodes is not None:  # mounts below: the same folder may have two real paths
            key = inodes.of(folder)
            if key in inodes.others:
                continue
            if key is not None and key in inodes.seen:
                result.warnings.append(ReadWarning(
                    "same-folder", f"{rel} is a folder already walked under another path (a mount); skipped", rel))
                continue
            if key is not None:
                inodes.seen.add(key)
        stamp = None
        if memo is not None:
            try:
                st = os.stat(folder)
            except OSError:
                memo.forget(folder)  # the listing below says why
            else:
                stamp = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
            kept = memo.get(folder, stamp) if stamp is not None else None
            if kept is not None:
                if "pyvenv.cfg" in kept.names and folder_rel != root_rel:
                    continue
                enter = set(kept.subdirs)
                yield kept.path, folder_rel, kept.names, enter, kept
                if enter:
                    _push(stack, folder, folder_rel, real, enter, dict.fromkeys(kept.subdirs, False))
                continue
        # Taken after the stamp: a change between the two still counts as racy.
        listed_at = time.time_ns()
        warned = len(result.warnings)
        listing = _list(folder, rel, project, result)
        if listing is None:
            continue
        frozen, subdirs, has_link = listing
        path = Path(folder)
        kept = None
        if memo is not None and stamp is not None:
            if has_link or len(result.warnings) > warned:  # a warning must be found again on each pass
                memo.forget(folder)
            else:
                kept = _Listing(stamp, path, frozen, tuple(subdirs))
                if not memo.remember(folder, kept, listed_at):
                    kept = None
        # Virtual environments have many names; `pyvenv.cfg` marks them.
        if "pyvenv.cfg" in frozen and folder_rel != root_rel:
            continue
        enter = set(subdirs)
        yield path, folder_rel, frozen, enter, kept
        if enter:
            _push(stack, folder, folder_rel, real, enter, subdirs)


def _push(stack: list[tuple[str, str, str]], folder: str, folder_rel: str, real: str, enter: set[str],
          links: dict[str, bool]) -> None:
    """The sub-folders left in ``enter``, onto the walk's stack (``links``: name -> is a link)."""
    for name in sorted(enter, reverse=True):
        child = f"{folder}/{name}"
        child_real = os.path.realpath(child) if links[name] else f"{real}/{name}"
        stack.append((child, f"{folder_rel}/{name}" if folder_rel else name, child_real))


def _list(
    folder: str, rel: str, project: Path, result: WalkResult
) -> tuple[frozenset[str], dict[str, bool], bool] | None:
    """A folder's entry names, its sub-folders to walk (name -> is a link) and whether any
    entry is a link; None (with a warning) where it cannot be listed."""
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except FileNotFoundError:
        result.warnings.append(ReadWarning("folder-vanished", f"{rel} disappeared during the scan", rel))
        return None
    except PermissionError:
        result.warnings.append(ReadWarning("permission-denied", f"no permission to read {rel}", rel))
        return None
    except OSError as exc:
        result.warnings.append(ReadWarning("unreadable-folder", f"cannot read {rel}: {exc.strerror}", rel))
        return None
    names = set()
    subdirs: dict[str, bool] = {}  # name -> is a symbolic link
    has_link = False
    for entry in entries:
        name = sys.intern(entry.name)  # kept listings share the names every run folder has
        try:
            is_dir = entry.is_dir()  # follows links; a loop is caught by its real path
        except OSError:
            is_dir = False
        link = entry.is_symlink()
        has_link = has_link or link
        if is_dir:
            if not name.isascii() and not _utf8(name):
                _skip_undecodable(Path(folder), name, project, result)
                continue
            if name not in SKIP_NAMES and not is_staging(name):
                subdirs[name] = link  # a native run being started is not a run until renamed
        names.add(name)
    return frozenset(names), subdirs, has_link
