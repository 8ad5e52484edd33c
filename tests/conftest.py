"""Shared test set-up: nothing a test does touches the developer's own labdeck files."""

from __future__ import annotations

import os
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
    return shared if shared.is_dir() else REPO / "tests" / "fixtures" / "corpus"


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

