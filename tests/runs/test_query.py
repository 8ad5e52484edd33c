"""The query language: errors point at the token; filters and sorts select the right runs."""

from __future__ import annotations

import pytest

import labdeck
from labdeck.runs.query import QueryError, parse_query


@pytest.mark.parametrize(
    "query, column, fragment",
    [
        ("params.lr = ", 12, "expected a value"),
        ("status = done", 9, "unknown status 'done'"),
        ("foo = 1", 0, "unknown field 'foo'"),
        ("metrics.loss < low", 15, "metrics compare with numbers"),
        ("(status = running", 17, "missing ')'"),
        ("params.lr 3", 10, "expected an operator"),
        ("name ~ \"(\"", 7, "bad regular expression"),
        ("status = finished extra", 18, "expected 'and', 'or'"),
        ("params. = 1", 0, "params needs a key"),
    ],
)
def test_errors_point_at_the_offending_token(query, column, fragment):
    with pytest.raises(QueryError) as info:
        parse_query(query)
    assert info.value.position == column
    assert fragment in info.value.message
    caret_line = info.value.pretty().splitlines()[-1]
    assert caret_line.index("^") - 2 == column


@pytest.fixture
def indexed(workspace, project):
    specs = [
        ("bert-base", {"lr": "0.01", "model": "bert"}, {"val_loss": 0.25}, "finished"),
        ("bert-large", {"lr": "1e-2", "model": "bert"}, {"val_loss": 0.5}, "finished"),
        ("resnet", {"lr": "0.1", "model": "resnet", "batch size": "64"}, {"val_loss": 0.1}, "failed"),
        ("mlp", {"lr": "adaptive"}, {}, "finished"),
    ]
    for name, params, metrics, status in specs:
        run = labdeck.start_run(project, name=name, params=params, tags={"family": params.get("model", "none")},
                                record_provenance=False)
        if metrics:
            run.log(metrics, step=1)
        run.end(status)
    workspace.add_project(project)
    workspace.index()
    return workspace


def names(ws, query, sort=""):
    return [r.name for r in ws.runs(query, sort)]


def test_numeric_param_comparison_reads_numbers_in_any_spelling(indexed):
    assert sorted(names(indexed, "params.lr = 0.01")) == ["bert-base", "bert-large"]
    assert names(indexed, "params.lr > 0.05") == ["resnet"]


def test_metric_last_value_and_boolean_logic(indexed):
    assert sorted(names(indexed, "metrics.val_loss < 0.3")) == ["bert-base", "resnet"]
    assert names(indexed, "metrics.val_loss < 0.3 and not status = failed") == ["bert-base"]
    assert sorted(names(indexed, "(tags.family = resnet or name ~ \"LARGE\") and has metrics.val_loss")) == [
        "bert-large", "resnet"]
    assert names(indexed, 'params."batch size" >= 64') == ["resnet"]
    assert names(indexed, "params.lr = adaptive") == ["mlp"]
    assert sorted(names(indexed, "name !~ bert")) == ["mlp", "resnet"]


def test_sort_by_metric_and_param(indexed):
    assert names(indexed, "has metrics.val_loss", "-metrics.val_loss") == ["bert-large", "bert-base", "resnet"]
    assert names(indexed, "", "params.lr,name") == ["bert-base", "bert-large", "resnet", "mlp"]


def test_deleted_runs_are_hidden_unless_asked(indexed):
    from sqlalchemy import update

    from labdeck.db.catalogue_tables import Run

    with indexed.db.write() as session:
        session.execute(update(Run).where(Run.name == "mlp").values(deleted=True))
    assert "mlp" not in names(indexed, "")
    assert "mlp" in [r.name for r in indexed.runs("", include_deleted=True)]


def test_the_project_can_be_filtered_on_sorted_by_and_scoped_to(indexed, tmp_path):
    """The listing joins the projects table only when a project is asked about; asked about,
    by a filter, a sort or the scope, it answers as before."""
    other = tmp_path / "other"
    labdeck.start_run(other, name="elsewhere", record_provenance=False).end("finished")
    indexed.add_project(other)
    indexed.index()
    everything = sorted(names(indexed, ""))
    assert everything == ["bert-base", "bert-large", "elsewhere", "mlp", "resnet"]
    paths = {p.name: p.path for p in indexed.projects()}
    assert names(indexed, f'project = "{paths["other"]}"') == ["elsewhere"]
    assert sorted(names(indexed, f'project != "{paths["other"]}"')) == ["bert-base", "bert-large", "mlp", "resnet"]
    by_project = names(indexed, "", sort="project")
    first_is_other = paths["other"] < min(p for n, p in paths.items() if n != "other")
    assert (by_project[0] == "elsewhere") == first_is_other and len(by_project) == 5
    scoped = [indexed.runs_by_pk(indexed.run_pks(project=paths["other"]))[0].name]
    assert scoped == ["elsewhere"]
