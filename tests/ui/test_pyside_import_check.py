"""labdeck answers PySide6's per-import question ("does this module use PySide6?") from the
module's bytes, not its tokenized source: the answer must be PySide6's own for every module."""

from __future__ import annotations

import sys

import pytest

from labdeck.ui import pyside_import_check, theme  # noqa: F401 - theme: a module that uses PySide6


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # PySide6's own check, on built-in modules
def test_the_cheaper_check_answers_as_pyside6_does():
    hook_module = sys.modules.get("shibokensupport.feature")
    if hook_module is None:
        pytest.skip("this PySide6 has no per-import feature check")
    ours = hook_module._mod_uses_pyside
    assert getattr(ours, "labdeck", False), "importing labdeck.ui installs the check"
    original = ours.__closure__[0].cell_contents  # the check it replaced, kept for other modules
    modules = [m for name, m in sorted(sys.modules.items()) if m is not None]
    answers = {}
    for m in modules:
        mine = ours(m)  # never raises
        assert isinstance(mine, bool)
        try:
            answers[getattr(m, "__name__", repr(m))] = (mine, original(m))
        except Exception:  # noqa: BLE001 - PySide6's own check fails on some odd modules (torch's)
            continue
    differ = {name: pair for name, pair in answers.items() if pair[0] != pair[1]}
    assert not differ
    # Both answers occur among the modules loaded: the comparison is not vacuous.
    assert any(a for a, _ in answers.values()) and not all(a for a, _ in answers.values())
    assert answers["labdeck.ui.theme"] == (True, True)
    assert answers["json"] == (False, False)
    assert pyside_import_check.install() is False  # once only
