"""The PyInstaller bundle works with no Python around: built once per test run by
scripts/build-bundle (about 2-3 minutes on 2 cores, the environment kept in .venv-bundle), or
taken from LABDECK_BUNDLE (the bundle folder, e.g. dist/labdeck) to skip the build."""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import time
from pathlib import Path

import pytest

import labdeck

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    given = os.environ.get("LABDECK_BUNDLE")
    if given:
        folder = Path(given)
        assert (folder / "labdeck").is_file(), f"LABDECK_BUNDLE={given} holds no labdeck executable"
        return folder
    # One build per run, also under pytest-xdist, whose workers share the base temp's parent.
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    with open(shared / "bundle.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        folder = shared / "bundle-dist" / "labdeck"
        if not (folder / "labdeck").is_file():
            repo = Path(__file__).resolve().parents[2]
            started = time.monotonic()
            built = subprocess.run([repo / "scripts" / "build-bundle", "--dist", shared / "bundle-dist"],
                                   capture_output=True, text=True)
            assert built.returncode == 0, f"build-bundle failed:\n{built.stdout}\n{built.stderr[-4000:]}"
            print(f"\nbundle built in {time.monotonic() - started:.0f} s: {built.stdout.splitlines()[0]}")
    return folder


@pytest.fixture
def run(bundle, tmp_path):
    """Run the bundle's labdeck in a scrubbed environment: no Python (nor anything) on PATH."""
    home = tmp_path / "home"
    (tmp_path / "empty-path").mkdir()
    env = {"PATH": str(tmp_path / "empty-path"), "HOME": str(home), "LABDECK_HOME": str(home / "labdeck"),
           "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8", "TMPDIR": str(tmp_path)}

    def run(*args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
        done = subprocess.run([str(bundle / "labdeck"), *args], env={**env, **extra}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"labdeck {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}"
        return done

    return run


@pytest.fixture
def indexed(run, fixtures_dir, tmp_path) -> tuple[Path, Path]:
    project = tmp_path / "lightning-csv"
    subprocess.run(["cp", "-r", str(fixtures_dir / "lightning-csv"), str(project)], check=True)
    index = tmp_path / "index.sqlite"
    run("add", "--index", str(index), "--no-index", str(project))
    return index, project


def test_version(run):
    assert run("--version").stdout == f"labdeck {labdeck.__version__}\n"


def test_index_a_fixture_project(run, indexed, fixtures_dir):
    index, _ = indexed
    counts = json.loads(run("index", "--index", str(index), "--json").stdout)
    assert counts["warnings"] == 0 and counts["points"] > 0
    runs = json.loads(run("runs", "--index", str(index), "--json").stdout)
    expected = json.loads((fixtures_dir / "lightning-csv" / "expected.json").read_text())["runs"]
    assert {r["source_id"] for r in runs} == set(expected)


def test_screenshot(run, indexed, tmp_path, repo):
    if not (repo / "app" / "labdeck" / "cli" / "screenshot.py").is_file():
        pytest.skip("the `labdeck screenshot` verb (app/labdeck/cli/screenshot.py) does not exist yet")
    index, project = indexed
    out = tmp_path / "shot.png"
    run("screenshot", "--index", str(index), "--project", str(project), "--size", "1200x800", str(out))
    header = out.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1200, 800)


def test_main_window_paints(run, indexed):
    """Cold start to the main window's first paint (offscreen); printed, not asserted (CI load)."""
    index, _ = indexed
    started = time.monotonic()
    run(timeout=120, LABDECK_QUIT_AFTER_PAINT="1", LABDECK_INDEX=str(index))
    print(f"\nbundle: start to first paint {time.monotonic() - started:.2f} s")


def test_bundle_keeps_the_wheel_layout_for_data(bundle):
    """ui/app.py finds the icon under sys._MEIPASS/labdeck/resources; Alembic its scripts."""
    internal = bundle / "_internal"
    assert (internal / "labdeck" / "resources" / "icons" / "labdeck.svg").is_file()
    assert (internal / "labdeck" / "db" / "migrations" / "env.py").is_file()


def test_runs_python_modules_as_sys_executable(run):
    """labdeck starts helpers as `sys.executable -P -m MODULE`; the bundle's executable honours it."""
    assert run("-m", "labdeck", "--version").stdout == f"labdeck {labdeck.__version__}\n"
    assert run("-P", "-m", "labdeck", "--version").stdout == f"labdeck {labdeck.__version__}\n"


def test_desktop_integration_installs_for_the_user(bundle, tmp_path):
    share = bundle / "share"
    assert (share / "applications" / "labdeck.desktop").is_file()
    metainfo = (share / "metainfo" / "io.github.labdeck.labdeck.metainfo.xml").read_text()
    assert f'<release version="{labdeck.__version__}" date="' in metainfo
    for size in (16, 32, 48, 64, 128, 256, 512):
        png = (share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "labdeck.png").read_bytes()
        assert struct.unpack(">II", png[16:24]) == (size, size)
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    subprocess.run([bundle / "install-desktop-entry.sh"], env=env, check=True, capture_output=True)
    entry = (home / ".local/share/applications/labdeck.desktop").read_text()
    assert f'Exec="{bundle}/labdeck" %F' in entry
    assert (home / ".local/bin/labdeck").resolve() == (bundle / "labdeck").resolve()
    assert (home / ".local/share/icons/hicolor/48x48/apps/labdeck.png").is_file()
    subprocess.run([bundle / "install-desktop-entry.sh", "--uninstall"], env=env, check=True, capture_output=True)
    assert not (home / ".local/share/applications/labdeck.desktop").exists()
