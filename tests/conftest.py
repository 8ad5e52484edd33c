"""Shared test set-up: nothing a test does touches the developer's own labdeck files."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]


def _fixtures_root() -> Path:
    """LABDECK_FIXTURES, else ../shared/fixtures (the reference corpus) when present, else the
    project's own corpus tests/fixtures/corpus (made by scripts/make_fixtures)."""
    env = os.environ.get("LABDECK_FIXTURES")
    if env:
        return Path(env)
    shared = REPO.parent / "shared" / "fixtures"
    return shared if shared.is_dir() else OWN_CORPUS


OWN_CORPUS = REPO / "tests" / "fixtures" / "corpus"


def _written_recently(root: Path, cutoff: float) -> bool:
    return any(
        os.stat(os.path.join(dirpath, name)).st_mtime > cutoff
        for dirpath, _dirs, files in os.walk(root)
        for name in files
    )


def aged_corpus(root: Path, scratch: Path) -> Path:
    """The corpus, or a copy of it whose recently written files carry older modification times.

    A checkout writes every file anew, and readers call a run whose files changed within their
    quiet period "running"; the corpus was written long before. The copy changes only times, never
    contents, and leaves the corpus itself untouched (../shared is read-only)."""
    from labdeck.runs.readers._liveness import QUIET_PERIOD_S

    old = time.time() - QUIET_PERIOD_S - 60
    if not _written_recently(root, old):
        return root
    copy = scratch / root.name
    shutil.copytree(root, copy, symlinks=True)
    for dirpath, _dirs, files in os.walk(copy):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.lstat(path).st_mtime > old:
                os.utime(path, (old, old), follow_symlinks=False)
    return copy


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Point labdeck's data directory and index at a fresh temporary folder for every test."""
    home = tmp_path_factory.mktemp("labdeck-home")
    monkeypatch.setenv("LABDECK_HOME", str(home))
    monkeypatch.delenv("LABDECK_INDEX", raising=False)
    yield home


@pytest.fixture(scope="session")
def fixtures_dir(tmp_path_factory) -> Path:
    """The corpus of run logs written by the real tools (read-only; see _fixtures_root)."""
    root = _fixtures_root()
    if not root.is_dir():
        pytest.fail(f"test corpus not found at {root} (set LABDECK_FIXTURES)")
    return aged_corpus(root, tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def workspace(tmp_path):
    """A workspace on a fresh index file."""
    from labdeck.workspace import Workspace

    ws = Workspace(tmp_path / "index.sqlite")
    yield ws
    ws.close()


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    return folder

