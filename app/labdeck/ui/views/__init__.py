"""Views shown as tabs of the main window beside Runs (Datasets, Models, Jobs, ...).

Each module here defines ``TITLE`` (the tab's text), ``ORDER`` (its position; lower first)
and ``create(workspace, parent) -> View`` (``_view.py``). Modules are found by listing the
package, so a capability adds its view without touching the main window; a module without
those names is a mistake and fails loudly.
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
        modules.append(importlib.import_module(f"{__name__}.{info.name}"))
    return sorted(modules, key=lambda m: (m.ORDER, m.TITLE))
