"""The wheel that `pip install .` and `pipx install .` build: code, migrations, resources."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import labdeck

pytestmark = pytest.mark.slow  # a real PEP 517 build (about 15 s)


@pytest.fixture(scope="module")
def wheel(clean_tree, tmp_path_factory) -> Path:
    src = clean_tree  # the build must not write into the shared checkout
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(src)],
                   check=True, capture_output=True)
    (found,) = out.glob("labdeck-*.whl")
    return found


@pytest.fixture(scope="module")
def names(wheel) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_every_module_of_the_package_is_in_the_wheel(names, repo):
    package = repo / "app"
    modules = {p.relative_to(package).as_posix() for p in (package / "labdeck").rglob("*.py")}
    assert modules - names == set()


def test_alembic_scripts_are_in_the_wheel(names, repo):
    """labdeck.db.migrate runs them from files next to the module: without them no index opens."""
    migrations = repo / "app" / "labdeck" / "db" / "migrations"
    versions = sorted(p.name for p in (migrations / "versions").glob("[0-9]*.py"))
    assert versions, "no migration scripts found in the checkout"
    assert "labdeck/db/migrations/env.py" in names
    assert {f"labdeck/db/migrations/versions/{v}" for v in versions} <= names


def test_resources_are_in_the_wheel_as_package_data(names, repo):
    resources = {p.relative_to(repo).as_posix() for p in (repo / "resources").rglob("*") if p.is_file()}
    assert "resources/icons/labdeck.svg" in resources
    assert {f"labdeck/{r}" for r in resources} <= names


def test_no_build_helpers_or_stray_files_in_the_wheel(names):
    top = {n.split("/", 1)[0] for n in names}
    assert top == {"labdeck", f"labdeck-{labdeck.__version__}.dist-info"}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_metadata_version_entry_point_and_pinned_qt(wheel):
    with zipfile.ZipFile(wheel) as zf:
        info = f"labdeck-{labdeck.__version__}.dist-info"
        metadata = zf.read(f"{info}/METADATA").decode()
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
    assert f"Version: {labdeck.__version__}\n" in metadata
    assert "Requires-Dist: PySide6-Essentials==6.11.3; python_version < \"3.12\"" in metadata
    assert "labdeck = labdeck.__main__:main" in entry_points


def test_installed_wheel_gives_the_command_and_finds_its_icon(wheel, tmp_path):
    """Installed without dependencies: `labdeck --version` needs none, and neither does finding
    the icon where ui/app.py looks for it in an installed wheel (importlib.resources)."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True, capture_output=True)
    out = subprocess.run([env_dir / "bin" / "labdeck", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout == f"labdeck {labdeck.__version__}\n"
    icon = subprocess.run([python, "-c", "from importlib.resources import files; "
                           "p = files('labdeck') / 'resources' / 'icons' / 'labdeck.svg'; print(p.is_file(), p)"],
                          capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert icon.startswith("True ") and str(env_dir) in icon
