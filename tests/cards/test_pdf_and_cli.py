"""``labdeck card …`` end to end in-process, the PDF read back with pypdf."""

from __future__ import annotations

import json
import re

import pytest
from cards.conftest import COMMIT, SLICES
from cards.readback import pdf_text
from labdeck.cli import run_cli
from labdeck.datasets.service import Datasets

pytest.importorskip("PySide6")
pytest.importorskip("pypdf", reason="test-only dependency (pip install -e .[test])")


@pytest.fixture
def cli(card_model, capsys):
    ws, ref = card_model
    index = str(ws.index_path)

    def run(*argv: str) -> tuple[int, str, str]:
        code = run_cli([argv[0], "--index", index, *argv[1:]])
        out, err = capsys.readouterr()
        return code, out, err

    run.ref, run.ws = ref, ws
    return run


def test_pdf_holds_the_name_metrics_and_dataset_hashes(cli, tmp_path):
    out = tmp_path / "card.pdf"
    code, stdout, err = cli("card", "export", cli.ref, "--format", "pdf", "--out", str(out))
    assert code == 0, err
    assert f"to {out}" in stdout and out.read_bytes().startswith(b"%PDF")
    text = pdf_text(out)
    assert "ModelCardformoons(version1)" in text
    for metric, value in SLICES.items():
        factor, level = metric.split("@")[1].split("=")
        assert f"val/acc{factor}{level}{value:g}" in text  # one row of the per-slice table
    assert "val/acc0.8915" in text and "loss0.0333333" in text
    for name in ("moons-train", "moons-eval"):
        (version,) = Datasets(cli.ws.db).versions(name)
        assert version.digest in text
    assert COMMIT in text
    assert not list(tmp_path.glob(".*printing")), "the temporary print file is renamed into place"


def test_edit_show_and_export_defaults(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("LABDECK_USER", "grace")
    notes = tmp_path / "limits.md"
    notes.write_text("- fails on three moons\n- untested on real data\n")
    assert cli("card", "edit", cli.ref, "--section", "limitations", "--file", str(notes))[0] == 0
    code, out, _ = cli("card", "edit", cli.ref, "--section", "contact", "--text", "ml-team@example.org")
    assert (code, out.strip()) == (0, f"{cli.ref}: section contact saved")
    code, out, _ = cli("card", "edit", cli.ref, "--section", "contact", "--text", "ml-team@example.org")
    assert out.strip() == f"{cli.ref}: section contact unchanged"
    code, out, _ = cli("card", "show", cli.ref, "--json")
    shown = json.loads(out)
    assert shown["limitations"]["text"] == notes.read_text() and shown["limitations"]["updated_by"] == "grace"
    assert shown["intended_use"] is None
    code, out, _ = cli("card", "show", cli.ref)
    assert re.search(r"intended_use\s+MISSING", out) and re.search(r"contact\s+written\s+grace", out)

    monkeypatch.chdir(tmp_path)
    assert cli("card", "export", cli.ref, "--format", "html")[0] == 0
    page = (tmp_path / "moons-1.card.html").read_text()
    assert "<li>fails on three moons</li>" in page and "ml-team@example.org" in page

    assert cli("card", "edit", cli.ref, "--section", "contact", "--text", "")[0] == 0  # clearing
    code, out, _ = cli("card", "show", cli.ref, "--json")
    assert json.loads(out)["contact"] is None


@pytest.mark.parametrize("argv, message", [
    (("card", "export", "ghost:1"), "no model named 'ghost'"),
    (("card", "export", "moons"), "bad model version 'moons'"),
    (("card", "export", "moons:1", "--slice-pattern", "(?P<metric>.*)"), "must have the named groups"),
    (("card", "export", "moons:1", "--slice-pattern", "(unclosed"), "bad slice pattern"),
    (("card", "edit", "moons:1", "--section", "intended_use"), "--text TEXT or --file F"),
])
def test_bad_input_exits_2_with_a_specific_message(cli, argv, message):
    code, _, err = cli(*argv)
    assert code == 2 and message in err


def test_unknown_section_is_refused_by_the_parser(cli):
    with pytest.raises(SystemExit) as exc:
        cli("card", "edit", cli.ref, "--section", "intended_uses", "--text", "x")
    assert exc.value.code == 2


def test_pdf_from_a_shell_without_a_display(cli, tmp_path):
    """`labdeck card export --format pdf` over SSH: no DISPLAY, no QT_QPA_PLATFORM, no browser."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = tmp_path / "ssh.pdf"
    done = subprocess.run([sys.executable, "-m", "labdeck", "card", "export", cli.ref, "--index",
                           str(cli.ws.index_path), "-f", "pdf", "-o", str(out)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "ModelCardformoons(version1)" in pdf_text(out)
