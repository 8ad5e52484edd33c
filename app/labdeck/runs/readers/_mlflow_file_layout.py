"""Where an MLflow file store keeps things: experiment and run folders, the walk of a
folder's tree, and the digests that tell whether any of it changed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_EXP_NOT_RUNS = frozenset({"tags", "datasets", "models", "traces", "artifacts"})
_DETECT_TRIES = 3


def is_exp_name(name: str) -> bool:
    return name.isascii() and name.isdigit()


def is_run_id(name: str) -> bool:
    return len(name) == 32 and name.isascii() and all(c in "0123456789abcdef" for c in name)


def is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def file_size(entry: os.DirEntry) -> int:
    try:
        return entry.stat().st_size
    except OSError:
        return 0


def entry_sig(entry: os.DirEntry) -> str:
    try:
        st = entry.stat()
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def parts_digest(parts: list[str]) -> str:
    data = "\n".join(parts).encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def clean_name(name: str) -> str:
    """A file name as text (undecodable bytes, kept by os as surrogates, become U+FFFD)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def walk(root: Path, skip_top: frozenset[str] = frozenset(), errors: list[str] | None = None
          ) -> Iterator[tuple[str, os.DirEntry]]:
    """Every file and folder under ``root`` as ('/'-relative name, entry), sorted, without
    following symlinked folders (no loops). A missing root yields nothing."""
    stack = [(str(root), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if errors is not None:
                errors.append(f"{folder}: {exc.strerror or exc}")
            continue
        below = []
        for entry in entries:
            if is_dir(entry):
                if not (prefix == "" and entry.name in skip_top):
                    below.append((entry.path, prefix + entry.name + "/"))
                    yield prefix + entry.name, entry
            else:
                yield prefix + entry.name, entry
        stack.extend(reversed(below))


def tree_parts(root: Path, skip_top: frozenset[str] = frozenset()) -> list[str]:
    return [f"{rel}={entry_sig(e)}" for rel, e in walk(root, skip_top)]


def subdirs(folder: Path, errors: list[str] | None = None) -> list[tuple[str, Path]]:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    except OSError as exc:
        if errors is not None:
            errors.append(f"{folder}: {exc.strerror or exc}")
        return []
    return sorted((e.name, Path(e.path)) for e in entries if is_dir(e))


def experiment_dirs(store: Path, errors: list[str] | None = None) -> list[tuple[str, Path, bool]]:
    """(path relative to the store, folder, in .trash) of every experiment folder."""
    found = []
    for parent, prefix, trashed in ((store, "", False), (store / ".trash", ".trash/", True)):
        for name, path in subdirs(parent, errors):
            if is_exp_name(name):
                found.append((prefix + name, path, trashed))
    return found


def run_dirs(exp_dir: Path, errors: list[str] | None = None) -> list[tuple[str, Path]]:
    return [(name, path) for name, path in subdirs(exp_dir, errors)
            if name not in _EXP_NOT_RUNS and (is_run_id(name) or (path / "meta.yaml").is_file())]


def _is_experiment_meta(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return b"experiment_id:" in head and b"artifact_location:" in head


def looks_like_store(folder: Path, names: frozenset[str]) -> bool:
    candidates = sorted((n for n in names if is_exp_name(n)), key=len)[:_DETECT_TRIES]
    tries = [folder / n for n in candidates]
    if ".trash" in names:
        tries += [p for n, p in subdirs(folder / ".trash") if is_exp_name(n)][:_DETECT_TRIES]
    return any(_is_experiment_meta(p / "meta.yaml") for p in tries)


@dataclass
class Experiment:
    rel: str  # relative to the store: "123" or ".trash/123"
    path: Path
    name: str | None
    deleted: bool
