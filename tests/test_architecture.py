"""The layering rules of DESIGN.md, checked by import-linter on every run of the suite."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import labdeck

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" in done.stdout and "0 broken" in done.stdout


def test_ruff_finds_nothing():
    """pyproject.toml's [tool.ruff] rules hold for the app, its scripts and its tests."""
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run([str(ruff), "check", "--output-format", "concise", "app", "scripts", "tests"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing():
    """pyproject.toml's [tool.mypy] packages and modules type-check: everything but ui/."""
    mypy = Path(sys.executable).with_name("mypy")
    done = subprocess.run([str(mypy), "--cache-dir", str(REPO / ".mypy_cache")], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_module_outside_ui_is_under_the_qt_contract():
    """A new top-level module cannot slip past the Qt ban by not being listed."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    contract = config["tool"]["importlinter"]["contracts"][0]
    listed = set(contract["source_modules"])
    top_level = {f"labdeck.{m.name}" for m in pkgutil.iter_modules(labdeck.__path__)}
    exempt = {"labdeck.ui", "labdeck.__main__"}
    assert top_level - exempt - listed == set()


def test_importing_the_sdk_loads_no_heavy_libraries():
    code = (
        "import sys, labdeck; "
        "bad = [m for m in ('numpy', 'pandas', 'pyarrow', 'sqlalchemy', 'PySide6') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
