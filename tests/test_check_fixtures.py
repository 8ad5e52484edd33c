"""scripts/check_fixtures.py: agrees with the corpus, and catches a disagreement."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_fixtures.py"


def run(corpus: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(corpus)], capture_output=True, text=True, timeout=300)


def test_whole_corpus_matches(fixtures_dir):
    done = run(fixtures_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len([p for p in fixtures_dir.iterdir() if (p / "expected.json").is_file()])
    for line in lines:
        name, counts = line.split(": ", 1)
        runs, points = counts.split(", ")
        a, b = runs.split()[1].split("/")
        c, d = points.split()[1].split("/")
        assert a == b and c == d and int(d) > 0, line


def test_a_wrong_point_is_reported(fixtures_dir, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(fixtures_dir / "lightning-csv", corpus / "lightning-csv")
    expected_path = corpus / "lightning-csv" / "expected.json"
    expected = json.loads(expected_path.read_text())
    first = next(iter(expected["runs"].values()))
    column = next(k for k, v in first["series"].items() if v)
    first["series"][column][0]["value"] = 12345.0
    expected_path.write_text(json.dumps(expected))
    done = run(corpus)
    assert done.returncode == 1
    assert "MISMATCH" in done.stdout and column in done.stdout
