"""The text a pattern's matches must contain (db/pattern_text.py), and the filter that puts SQL's
LIKE in front of the pattern: it must never rule out a name the pattern matches."""

from __future__ import annotations

import random
import sqlite3

import pytest
import re2

from labdeck.db.engine import Database
from labdeck.db.pattern_text import like_containing, required_text
from labdeck.workspace import Workspace


@pytest.mark.parametrize(("pattern", "text"), [
    ("run-1.*7$", "run-1"),
    ("^exp-12", "exp-12"),
    ("a|bcd", None),  # either side may match: nothing is certain
    ("abc(d|e)fgh", "abc"),
    ("x{2}yz", "yz"),
    ("val_loss", "val_lo"),  # not across an s: RE2 also matches it to U+017F
    ("Ärger-12", "rger-12"),  # ASCII only: LIKE ignores case only there
    (r"\pL+", None),  # RE2 syntax Python's parser does not read
    ("a", None),
])
def test_the_text_every_match_contains(pattern, text):
    assert required_text(pattern) == text


def test_like_patterns_escape_the_wildcards():
    assert like_containing("5%_a\\b") == "%5\\%\\_a\\\\b%"


NAMES = [
    "run-17", "RUN-1-x7", "run-2-7", "Run-10007", "prefix run-1 suffix 7", "run_1-7", "run%1", "100%", "a_b",
    "a\\b", "val_loss", "VAL_LOSS", "val_\u017foss",  # long s: RE2's case folding matches it to s
    "\u212aelvin", "kelvin", "Ärger-12", "ärger-12", "exp-12", "EXP-12-b", "x", "",
]
PATTERNS = [
    "run-1.*7$", "^run-1", "run", "100%", "a_b", "a.b", "val_loss", "val_l", "kelvin", "elvin", "Ärger",
    "rger-12", "exp-12", "^exp-12$", "-1", "n-1|exp", "(run|exp)-1", "1.*7", "%", "_",
]


def _workspace_with_names(tmp_path, names: list[str]) -> Workspace:
    path = tmp_path / "i.sqlite"
    Database(path).close()
    con = sqlite3.connect(path)
    con.execute("INSERT INTO projects(id, path, name, added_at) VALUES (1, '/p', 'p', 0)")
    con.execute("INSERT INTO sources(id, project_id, format, path, fingerprint, cursor, indexed_at) "
                "VALUES (1, 1, 'labdeck', 'r', '', '{}', 0)")
    con.executemany(
        "INSERT INTO runs(pk, uid, project_id, source_pk, format, source_id, experiment, name, status, deleted, "
        "path, updated_at) VALUES (?, ?, 1, 1, 'labdeck', ?, '', ?, 'finished', 0, 'r', 0)",
        [(pk, f"u{pk}", f"s{pk}", name) for pk, name in enumerate(names, start=1)],
    )
    con.commit()
    con.close()
    return Workspace(path)


def test_a_filter_with_like_in_front_finds_exactly_what_the_pattern_finds(tmp_path):
    rng = random.Random(11)
    names = NAMES + ["".join(rng.choice("rRuUnN-_17%kKsS\u017f\u212aÄäé ") for _ in range(rng.randint(0, 9)))
                     for _ in range(300)]
    ws = _workspace_with_names(tmp_path, names)
    by_pk = dict(enumerate(names, start=1))
    options = re2.Options()
    options.never_capture = True
    for pattern in PATTERNS:
        truth = re2.compile(("(?i)" + pattern).encode(), options)
        expected = sorted(n for n in names if truth.search(n.encode("utf-8")))
        got = sorted(by_pk[pk] for pk in ws.run_pks(f'name ~ "{pattern}"'))
        assert got == expected, pattern
        negated = sorted(by_pk[pk] for pk in ws.run_pks(f'name !~ "{pattern}"'))
        assert sorted(negated + got) == sorted(names), pattern
    ws.close()
