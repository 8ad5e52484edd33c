"""`labdeck screenshot --tab`: every tab rendered offscreen from real data, to a PNG."""

from __future__ import annotations

import pytest
from tests_support import make_runs

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui


def _colours(image) -> int:
    """Distinct colours on a coarse grid: a blank or one-colour picture has one or two."""
    seen = set()
    for y in range(0, image.height(), 7):
        for x in range(0, image.width(), 7):
            seen.add(image.pixel(x, y))
    return len(seen)


@pytest.mark.parametrize("tab", ["runs", "datasets", "models", "jobs"])
def test_screenshot_of_each_tab(qapp, workspace, project, tmp_path, tab):
    from labdeck.cli import run_cli
    from PySide6.QtGui import QImage

    make_runs(project, 4, steps=20)
    out = tmp_path / f"{tab}.png"
    args = ["screenshot", str(out), "--index", str(workspace.index_path), "--project", str(project),
            "--tab", tab, "--size", "1200x700"]
    if tab == "runs":
        args += ["--metric", "loss", "--group-by", "params.idx"]
    assert run_cli(args) == 0
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 700)
    assert _colours(image) > 5
