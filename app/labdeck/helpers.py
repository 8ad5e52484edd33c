"""Starting labdeck's own helper processes (job runners, monitors, the indexer) without the
user's modules.

``python -m module`` puts the current folder first on ``sys.path``; started from a project
that holds a ``yaml.py`` or ``json.py``, a runner imported (and ran) those instead of the real
ones. So helpers run with ``-P`` (no current or script folder on ``sys.path``; it is not
inherited by the job the runner starts), from labdeck's own data folder, and without
``PYTHONPATH`` entries that are relative (they would name folders below wherever they run).
Site-packages stay, so labdeck imports from its environment as before; ``-I`` would also drop
``PYTHONPATH`` and the user site, which some installs need to find labdeck at all.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from labdeck.paths import data_dir

PATH_VARIABLES = ("LABDECK_HOME", "LABDECK_INDEX")


def helper_command(module: str, *args: str) -> list[str]:
    """The command line of ``python -m module args…`` under this interpreter, cwd left off sys.path.

    Paths among ``args`` must be absolute: the helper runs in ``helper_cwd()``.
    """
    return [sys.executable, "-P", "-m", module, *args]


def helper_cwd() -> Path:
    """A folder of labdeck's own to run helpers in (never the project)."""
    folder = data_dir() / "launch"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def helper_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with relative ``PYTHONPATH`` entries removed."""
    env = dict(os.environ if base is None else base)
    entries = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.isabs(p)]
    if entries:
        env["PYTHONPATH"] = os.pathsep.join(entries)
    else:
        env.pop("PYTHONPATH", None)
    for var in PATH_VARIABLES:  # a relative path meant the launcher's folder, not the helper's
        if env.get(var) and not os.path.isabs(env[var]):
            env[var] = os.path.abspath(env[var])
    return env
