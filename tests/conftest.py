"""Shared test set-up: nothing a test does touches the developer's own labdeck files."""

from __future__ import annotations

import os
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


def age_corpus(root: Path) -> None:
    """Move back the modification time of corpus files written within the readers' quiet period.

    A checkout writes every file anew, and readers call a run whose files changed within their
    quiet period "running"; the corpus was written long before. Only times change, never contents,
    and no file gets a time before the tools wrote it (once the corpus is 11 minutes old)."""
    from labdeck.runs.readers._liveness import QUIET_PERIOD_S

    old = time.time() - QUIET_PERIOD_S - 60
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.stat(path).st_mtime > old:
                os.utime(path, (old, old))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Point labdeck's data directory and index at a fresh temporary folder for every test."""
    home = tmp_path_factory.mktemp("labdeck-home")
    monkeypatch.setenv("LABDECK_HOME", str(home))
    monkeypatch.delenv("LABDECK_INDEX", raising=False)
    yield home


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The corpus of run logs written by the real tools (read-only; see _fixtures_root)."""
    root = _fixtures_root()
    if not root.is_dir():
        pytest.fail(f"test corpus not found at {root} (set LABDECK_FIXTURES)")
    if root.resolve() == OWN_CORPUS.resolve():
        age_corpus(root)
    return root


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

