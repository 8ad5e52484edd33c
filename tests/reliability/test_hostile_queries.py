"""Hostile queries are bounded: deep or long queries get a clear error (never a
RecursionError), and a catastrophic regular expression cannot hang a query."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import labdeck
from labdeck.runs.query import MAX_DEPTH, MAX_QUERY_LENGTH, MAX_TERMS, QueryError, parse_query

ATOM = "status = failed"

HOSTILE = {
    "parentheses": "(" * 3000 + ATOM + ")" * 3000,
    "nots": "not " * 2400 + ATOM,
    "or chain": " or ".join([ATOM] * 400),
    "and chain": " and ".join([ATOM] * 400),
    "mixed": "(not " * 1500 + ATOM + ")" * 1500,
    "long": "name = " + "x" * (MAX_QUERY_LENGTH + 10),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_deep_and_long_queries_are_refused_with_a_caret(kind):
    query = HOSTILE[kind]
    with pytest.raises(QueryError) as info:
        parse_query(query)
    assert "too deeply" in info.value.message or "too long" in info.value.message
    lines = info.value.pretty().splitlines()
    assert len(lines) == 3 and len(lines[1]) < 200  # a long query is shown around the caret
    assert lines[1][lines[2].index("^")] == query[info.value.position]


def _runs(project, names):
    for name in names:
        labdeck.start_run(project, name=name, record_provenance=False).end("finished")


def test_queries_at_the_limits_still_select_the_right_runs(workspace, project):
    _runs(project, ["alpha", "beta", "gamma"])
    workspace.add_project(project)
    workspace.index()
    nested = "(" * (MAX_DEPTH - 1) + 'name = "beta"' + ")" * (MAX_DEPTH - 1)
    assert [r.name for r in workspace.runs(nested)] == ["beta"]
    nots = "not " * (MAX_DEPTH - 2) + 'name = "beta"'  # an even number: the same as none
    assert [r.name for r in workspace.runs(nots)] == ["beta"]
    chain = " or ".join(['name = "nobody"'] * (MAX_TERMS - 2) + ['name = "alpha"', 'name ~ "^gam"'])
    assert sorted(r.name for r in workspace.runs(chain)) == ["alpha", "gamma"]
    both = " and ".join(['name ~ "a"'] * MAX_TERMS)
    assert sorted(r.name for r in workspace.runs(both)) == ["alpha", "beta", "gamma"]


@pytest.mark.parametrize("pattern, reason", [
    ("(?=a)", "look-around"),
    (r"(a)\1", "back-references"),
    ("a{1000}{1000}", "bad repetition"),
])
def test_patterns_outside_the_linear_engine_are_bad_queries(pattern, reason):
    with pytest.raises(QueryError) as info:
        parse_query('name ~ "' + pattern.replace("\\", "\\\\") + '"')  # quoted: backslashes doubled
    assert "bad regular expression" in info.value.message and reason in info.value.message
    assert info.value.position == len("name ~ ")


def _cli(*args):
    env = {k: v for k, v in os.environ.items() if k != "LABDECK_INDEX"}
    # The timeout only stops a hung query from hanging the suite; a fixed query takes well under 1 s.
    return subprocess.run([sys.executable, "-m", "labdeck", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_catastrophic_regex_returns_at_once_over_long_names(project, tmp_path):
    long_names = ["a" * n + "!" for n in (40, 200, 2000)]  # backtracking (a+)+$ takes 2**n steps
    _runs(project, [*long_names, "plain aaa"])
    index = str(tmp_path / "i.sqlite")
    assert _cli("add", str(project), "--index", index).returncode == 0
    done = _cli("runs", "--index", index, "--json", "-q", 'name ~ "(a+)+$"')
    assert done.returncode == 0, done.stderr
    assert '"plain aaa"' in done.stdout and done.stdout.count('"name"') == 1
    done = _cli("runs", "--index", index, "--json", "-q", 'name !~ "(a+)+$"')
    assert done.returncode == 0 and done.stdout.count('"name"') == 3


@pytest.mark.parametrize("kind", ["parentheses", "nots", "or chain"])
def test_cli_says_bad_query_without_a_traceback(kind, tmp_path):
    done = _cli("runs", "--index", str(tmp_path / "i.sqlite"), "-q", HOSTILE[kind])
    assert done.returncode == 2
    assert done.stderr.startswith("labdeck: bad query: query ")
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr
