"""Card templates: ``resources/cards/`` (shipped in the wheel), or a team's own folder.

Templates are ``string.Template`` files (``$placeholder``): a team restyles or reorders a
card by copying the folder, editing it and pointing ``LABDECK_CARD_TEMPLATES`` at it; the
facts themselves are rendered by code, so a template can only place them, never change them.
"""

from __future__ import annotations

import os
import string
import sys
from importlib.resources import files
from pathlib import Path

from labdeck.errors import UserError

ENV = "LABDECK_CARD_TEMPLATES"


class TemplateError(UserError, ValueError):
    pass


def template_dirs() -> list[Path]:
    dirs = []
    if os.environ.get(ENV):
        dirs.append(Path(os.environ[ENV]).expanduser())
    if getattr(sys, "frozen", False):  # a PyInstaller bundle keeps the wheel's layout
        dirs.append(Path(getattr(sys, "_MEIPASS", "")) / "labdeck" / "resources" / "cards")
    try:
        dirs.append(Path(str(files("labdeck") / "resources" / "cards")))
    except (ModuleNotFoundError, TypeError):
        pass
    dirs.append(Path(__file__).resolve().parents[3] / "resources" / "cards")  # the checkout
    return dirs


def read(name: str) -> str:
    for d in template_dirs():
        p = d / name
        if p.is_file():
            return p.read_text(encoding="utf-8")
    raise TemplateError(f"card template {name!r} not found (looked in: {', '.join(map(str, template_dirs()))})")


def fill(name: str, values: dict[str, str]) -> str:
    try:
        return string.Template(read(name)).substitute(values)
    except KeyError as exc:
        raise TemplateError(f"card template {name!r} uses ${exc.args[0]}, which cards do not provide "
                            f"(known: {', '.join(sorted(values))})") from None
    except ValueError as exc:
        raise TemplateError(f"card template {name!r}: {exc} (write $$ for a dollar sign)") from None
