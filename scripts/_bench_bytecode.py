"""Bytecode for labdeck's own modules before a process-to-process benchmark.

An installed labdeck runs from compiled bytecode (pip compiles at install; an editable install
writes it on first import). A machine with PYTHONDONTWRITEBYTECODE set (CI images, sandboxes)
would instead compile every labdeck module from source in every timed process: measured here,
that added 0.3–0.4 s to each `labdeck launch`, which is not what a user waits for.
"""

from __future__ import annotations

import compileall
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"


def compile_labdeck() -> None:
    """Write labdeck's bytecode beside its sources (read even where writing is switched off)."""
    compileall.compile_dir(APP / "labdeck", quiet=1)
