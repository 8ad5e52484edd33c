"""Every query the README's Queries section shows runs as written, against an index holding
runs it should find, so the README cannot drift from the language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import labdeck
from labdeck.runs.query import QueryError, parse_query

README = Path(__file__).resolve().parents[2] / "README.md"


def _queries_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### Queries")
    end = text.index("\n### ", start + 1)
    return text[start:end]


def _example_queries() -> list[str]:
    first_block = re.search(r"```\n(.*?)```", _queries_section(), re.S).group(1)
    return [line.strip() for line in first_block.splitlines() if line.strip()]


def _bad_query_example() -> tuple[str, str]:
    """The documented error message and the query it is about (the line under it)."""
    lines = _queries_section().splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("labdeck: bad query:"))
    return lines[i].removeprefix("labdeck: bad query: "), lines[i + 1].strip()


@pytest.fixture
def indexed(workspace, project):
    specs = [
        ("bert-base", {"lr": 0.01, "batch size": 64}, {"val_loss": 0.25, "accuracy": 0.9}, "finished", "bert"),
        ("resnet", {"lr": 0.1, "batch size": 32}, {"val_loss": 0.1}, "failed", "resnet"),
    ]
    for name, params, metrics, status, model in specs:
        run = labdeck.start_run(project, name=name, params=params, tags={"model": model}, record_provenance=False)
        run.log(metrics, step=1)
        run.end(status)
    workspace.add_project(project)
    workspace.index()
    return workspace


def test_the_readme_shows_example_queries():
    queries = _example_queries()
    assert len(queries) >= 4 and any("start_time >= 2026-11-01" in q for q in queries)


@pytest.mark.parametrize("query", _example_queries())
def test_each_readme_query_runs_as_written_and_finds_its_run(indexed, query):
    assert indexed.runs(query), f"README query {query!r} found nothing"


def test_the_readme_bad_query_fails_with_the_documented_message():
    message, query = _bad_query_example()
    with pytest.raises(QueryError) as info:
        parse_query(query)
    assert info.value.message == message


def test_the_readme_sort_example_runs(indexed):
    sort = re.search(r"--sort=(\S+?)`", _queries_section()).group(1)
    assert indexed.runs("", sort)


@pytest.mark.parametrize("moment", ["2026-11-01", "2026-11-01T12:00", "2026-11-01T12:00:30.5Z",
                                    "2026-11-01T12:00+02:00"])
def test_dates_and_date_times_are_bare_literals_for_time_attributes(indexed, moment):
    for attr in ("start_time", "end_time"):
        assert indexed.runs(f"{attr} >= {moment}") == indexed.runs(f'{attr} >= "{moment}"')
        assert len(indexed.runs(f"{attr} >= {moment}")) == 2  # the runs were made after it
        assert indexed.runs(f"{attr} < {moment}") == []
    assert indexed.runs("start_time >= 2999-01-01") == []
