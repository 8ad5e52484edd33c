"""A cheaper answer to the question PySide6 asks of every module imported after it.

PySide6 hooks imports for its ``__feature__`` switches: for each module imported, it reads
the module's source with ``inspect.getsource`` (the file tokenized, its lines cached) to see
whether the text "PySide6" is in it. At start-up that cost 40 ms over 178 modules before the
window could show, and the import of SQLAlchemy after the first page held the interpreter for
as long again, on the worker that imports it, while the GUI thread waited. labdeck uses no
``__feature__``; the same answer is read here from the file's bytes, in a fraction of the
time. Where PySide6 has no such hook (another version), nothing is replaced.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from types import ModuleType

import PySide6  # noqa: F401 - loads shiboken's support modules, the hook among them

_HOOK_MODULE = "shibokensupport.feature"
_HOOK = "_mod_uses_pyside"


def install() -> bool:
    """Replace PySide6's check with ``_uses_pyside``; False where there is none to replace."""
    hook_module = sys.modules.get(_HOOK_MODULE)
    original = getattr(hook_module, _HOOK, None)
    if hook_module is None or not callable(original) or getattr(original, "labdeck", False):
        return False
    setattr(hook_module, _HOOK, _checker(original))
    return True


def _checker(original: Callable[[ModuleType], bool]) -> Callable[[ModuleType], bool]:
    def uses_pyside(module: ModuleType) -> bool:
        try:
            path = getattr(module, "__file__", None)
        except Exception:  # noqa: BLE001 - a module object that raises on any attribute (torch.classes)
            return False
        if not (isinstance(path, str) and path.endswith(".py")):
            return original(module)  # built in, compiled or bytecode only: PySide6's own answer
        try:
            with io.open_code(path) as source:  # the import system's own read of a module
                return b"PySide6" in source.read()
        except OSError:
            return False  # as PySide6 answers for a module whose source cannot be read

    uses_pyside.labdeck = True  # type: ignore[attr-defined]
    return uses_pyside
