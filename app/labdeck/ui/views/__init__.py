"""Views shown as tabs of the main window beside Runs (Datasets, Models, Jobs, ...).

Each module here defines ``TITLE`` (the tab's text), ``ORDER`` (its position; lower first)
and ``create(workspace, parent) -> QWidget``. Modules are found by listing the package, so
a capability adds its view without touching the main window.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def view_modules() -> list[ModuleType]:
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "create") and hasattr(module, "TITLE"):
            modules.append(module)
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.TITLE))
