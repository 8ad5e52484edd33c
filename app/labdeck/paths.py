"""Where labdeck keeps its own files (never inside a project folder)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "labdeck"


def data_dir() -> Path:
    """labdeck's data directory; ``LABDECK_HOME`` moves it (tests, portable installs)."""
    home = os.environ.get("LABDECK_HOME")
    return Path(home) if home else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_index_path() -> Path:
    """The index file: ``LABDECK_INDEX`` if set, else ``index.sqlite`` in the data directory."""
    env = os.environ.get("LABDECK_INDEX")
    return Path(env) if env else data_dir() / "index.sqlite"


def demo_dir() -> Path:
    return data_dir() / "demo"
