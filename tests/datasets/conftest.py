"""Fixtures for the dataset tests: a Datasets service on a fresh index, real folders of files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

OLD_NS = 1_600_000_000 * 10**9  # an mtime long past, so the hash cache may keep these files


def write(path: Path, data: bytes | str, *, old: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Saved as editors do (new file, renamed over the old): edits in place are tested explicitly.
    tmp = path.with_name(path.name + ".saving")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)
    if old:
        os.utime(path, ns=(OLD_NS, OLD_NS))
    return path


@pytest.fixture
def ds(workspace):
    from labdeck.datasets.service import Datasets

    return Datasets(workspace.db)


@pytest.fixture
def folder(tmp_path) -> Path:
    """A small real dataset: binary files, a nested CSV, odd names, an empty file."""
    root = tmp_path / "data"
    for i in range(6):
        write(root / "images" / f"img_{i}.bin", os.urandom(3000 + i))
    write(root / "tables" / "train.csv", "id,label,score\n1,cat,0.5\n2,dog,0.75\n3,cat,\n")
    write(root / "ünïcode name.txt", "héllo\n")
    write(root / "empty", b"")
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class Helpers:
    """Test helpers, handed out as a fixture (conftest modules are not importable by name here)."""

    write = staticmethod(write)
    snapshot = staticmethod(snapshot)
    OLD_NS = OLD_NS


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers
