"""Where labdeck keeps its own files (never inside a project folder)."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "labdeck"


def data_dir() -> Path:
    """labdeck's data directory; ``LABDECK_HOME`` moves it (tests, portable installs)."""
    home = os.environ.get("LABDECK_HOME")
    return Path(home) if home else Path(_platform_data_dir())


def _platform_data_dir() -> str:
    """The platform's data directory for labdeck, as platformdirs gives it; imported only when
    asked (it cost every verb 10-14 ms of start-up, LABDECK_HOME set or not)."""
    import platformdirs

    return platformdirs.user_data_dir(APP_NAME, appauthor=False)


def default_index_path() -> Path:
    """The index file: ``LABDECK_INDEX`` if set, else ``index.sqlite`` in the data directory."""
    env = os.environ.get("LABDECK_INDEX")
    return Path(env) if env else data_dir() / "index.sqlite"


def normalise(path: str | os.PathLike) -> str:
    """A project folder as the index records it: absolute, user expanded, links resolved."""
    return str(Path(path).expanduser().resolve())


def demo_dir() -> Path:
    return data_dir() / "demo"


def current_umask() -> int:
    """This process's umask, read without changing it (``os.umask`` sets it, racing other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc: the classic dance, briefly
    os.umask(mask)
    return mask


def read_only_mode() -> int:
    """0444 less what the user's umask removes: making a file read-only never opens it to more people."""
    return 0o444 & ~current_umask()
