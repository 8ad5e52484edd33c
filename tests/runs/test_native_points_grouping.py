"""Grouping a native run's points by key: the fast path for logs whose every step writes the
same keys in the same order, and the sort for all others, give exactly what grouping one key
at a time gives; and indexing or reading points of any format never loads pandas (pyarrow's
to_numpy would)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from labdeck.runs.readers._points_by_key import split_by_codes as _group_by_codes


def _one_key_at_a_time(names, codes, steps, values, walls):
    out = {}
    for code in np.unique(codes):
        idx = np.flatnonzero(codes == code)
        out[names[code]] = (steps[idx], values[idx], walls[idx])
    return out


def _orders(rng):
    for k in (1, 2, 3, 10, 40):
        base = rng.permutation(k)
        for n in (k, 5 * k, 7 * k + 1, 300 * k):
            yield f"periodic k={k} n={n}", k, np.resize(base, n)
            broken = np.resize(base, n).copy()
            if n > k:
                broken[n // 2] = broken[n // 2 - 1]  # one step logs a key twice
                yield f"one repeat k={k} n={n}", k, broken
            yield f"any order k={k} n={n}", k, rng.integers(0, k, n)
    yield "a key that is never logged", 3, np.resize(np.array([0, 2]), 12)
    yield "a key that stops", 2, np.concatenate([np.resize(np.array([0, 1]), 10), np.zeros(5, int)])


_CASES = list(_orders(np.random.default_rng(0)))


@pytest.mark.parametrize(("label", "k", "codes"), _CASES, ids=[c[0] for c in _CASES])
def test_grouped_points_equal_those_taken_one_key_at_a_time(label, k, codes):
    rng = np.random.default_rng(len(codes))
    codes = codes.astype(np.int32)
    names = [f"m{i}" for i in range(k)]
    n = len(codes)
    steps, values, walls = np.arange(n, dtype=np.int64), rng.normal(size=n), rng.uniform(size=n) * 1e12
    got = _group_by_codes(names, codes, steps, values, walls)
    expected = _one_key_at_a_time(names, codes, steps, values, walls)
    assert sorted(got) == sorted(expected), label
    for key, (s, v, w) in expected.items():
        assert np.array_equal(got[key].steps, s) and np.array_equal(got[key].values, v), (label, key)
        assert np.array_equal(got[key].walls, w), (label, key)


CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "corpus"
FORMATS = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


@pytest.mark.parametrize("fmt", ["labdeck", *FORMATS])
def test_indexing_and_reading_points_does_not_load_pandas(tmp_path, fmt):
    """pyarrow's to_numpy imports pandas (0.6 s, some 50 MB); no reader may reach it."""
    project = tmp_path / "project"
    if fmt == "labdeck":
        make = f"""
with labdeck.start_run({str(project)!r}, name="big", record_provenance=False) as run:
    for step in range(2000):  # some 60 KB of points: read by pyarrow, not line by line
        run.log({{"loss": 1.0 / (step + 1), "acc": step / 2000}}, step=step)
"""
    else:
        make = f"shutil.copytree({str(CORPUS / fmt)!r}, {str(project)!r})"
    script = textwrap.dedent("""
        import shutil, sys
        import labdeck
        from labdeck.workspace import Workspace
    """) + make + textwrap.dedent(f"""
        ws = Workspace({str(tmp_path / "index.sqlite")!r})
        ws.add_project({str(project)!r})
        stats = ws.index()
        assert stats.points > 0, stats
        points = sum(len(s) for r in ws.runs() for s in ws.series(r.id).values())
        assert points > 0
        print("pandas" in sys.modules)
    """)
    app = Path(__file__).resolve().parents[2] / "app"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(app), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
