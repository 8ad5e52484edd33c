"""The freedesktop files in packaging/linux agree with each other and with the icon source."""

from __future__ import annotations

import configparser
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest


@pytest.fixture
def entry(repo) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(repo / "packaging" / "linux" / "labdeck.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


@pytest.fixture
def component(repo) -> ET.Element:
    return ET.parse(repo / "packaging" / "linux" / "io.github.labdeck.labdeck.metainfo.xml").getroot()


def test_desktop_entry(entry, repo):
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "labdeck"  # install-desktop-entry.sh rewrites it to the bundle
    assert entry["Icon"] == "labdeck" == (repo / "resources" / "icons" / "labdeck.svg").stem
    assert entry["Categories"].endswith(";")


def test_metainfo_names_the_desktop_entry_and_licences(component, entry, repo):
    assert component.get("type") == "desktop-application"
    assert component.findtext("launchable") == "labdeck.desktop"
    assert component.findtext("name") == entry["Name"]
    assert component.findtext("icon") == entry["Icon"]
    assert component.findtext("project_license") == "Apache-2.0"
    release = component.find("releases/release")
    assert (release.get("version"), release.get("date")) == ("@VERSION@", "@DATE@")  # build-bundle fills them
    assert component.findtext("provides/binary") == "labdeck"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-validate not installed")
def test_desktop_file_validate(repo):
    subprocess.run(["desktop-file-validate", repo / "packaging" / "linux" / "labdeck.desktop"], check=True)


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli not installed")
def test_appstream_validate(repo, tmp_path):
    filled = (repo / "packaging" / "linux" / "io.github.labdeck.labdeck.metainfo.xml").read_text()
    filled = filled.replace("@VERSION@", "0.1.0").replace("@DATE@", "2026-11-26")
    (tmp_path / "io.github.labdeck.labdeck.metainfo.xml").write_text(filled)
    done = subprocess.run(["appstreamcli", "validate", "--no-net", tmp_path / "io.github.labdeck.labdeck.metainfo.xml"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_icons_render_in_every_size(repo, tmp_path):
    """In a subprocess: render_icons makes a QGuiApplication, which must not be this process's."""
    subprocess.run([sys.executable, repo / "packaging" / "icons" / "render_icons.py", tmp_path],
                   check=True, capture_output=True, env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    for size in (16, 22, 24, 32, 48, 64, 128, 256, 512):
        png = (tmp_path / "hicolor" / f"{size}x{size}" / "apps" / "labdeck.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (size, size)
    assert (tmp_path / "hicolor" / "scalable" / "apps" / "labdeck.svg").is_file()
