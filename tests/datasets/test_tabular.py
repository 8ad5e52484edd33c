"""Diffs of tabular versions and validation rules, on real CSV and Parquet files."""

from __future__ import annotations

import pandas as pd
import pytest
from labdeck.datasets.adding import ValidationRefused
from labdeck.datasets.service import load_rules_file
from labdeck.datasets.store import StoreError


def _frame(n: int, *, extra: bool = False) -> pd.DataFrame:
    f = pd.DataFrame({"id": range(n), "age": [20 + i % 50 for i in range(n)],
                      "label": ["cat" if i % 3 else "dog" for i in range(n)]})
    if extra:
        f["weight"] = [1.5] * n
    return f


def test_diff_of_two_csv_versions(ds, tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    _frame(10).to_csv(root / "t.csv", index=False)
    (root / "gone.txt").write_text("bye")
    ds.add("people", root)
    f = _frame(12, extra=True)
    f.loc[0, "age"] = None
    f.to_csv(root / "t.csv", index=False)
    (root / "gone.txt").unlink()
    (root / "new.txt").write_text("hi")
    ds.add("people", root)
    d = ds.diff("people", 1, 2)
    assert (d.added, d.removed, d.changed) == (("new.txt",), ("gone.txt",), ("t.csv",))
    t = d.tables["t.csv"]
    assert t.rows == (10, 12) and t.rows_change == 2
    assert t.added == {"weight": "float"}
    assert t.type_changed == {"age": ("int", "float")}  # a missing value makes it float
    assert t.columns["age"]["nulls"] == (0, 1)
    assert t.columns["id"]["max"] == (9.0, 11.0)
    # The JSON of `labdeck dataset diff --json` keeps its documented shape.
    j = d.as_json()["tabular"]["t.csv"]
    assert j["rows"] == [10, 12] and j["schema"]["type_changed"] == {"age": ["int", "float"]}
    assert j["columns"]["age"]["nulls"] == [0, 1]


def test_diff_of_two_parquet_versions(ds, tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    _frame(100).to_parquet(root / "t.parquet")
    ds.add("pq", root)
    f = _frame(100)
    f["label"] = f["label"].replace("dog", "bird")
    f = f.drop(columns=["id"])
    f.to_parquet(root / "t.parquet")
    ds.add("pq", root)
    t = ds.diff("pq", 1, 2).tables["t.parquet"]
    assert t.rows_change == 0
    assert t.removed == {"id": "int"}
    assert t.columns["label"]["min"] == ("cat", "bird")


def test_profile_of_json_lines_and_arrow(ds, tmp_path):
    root = tmp_path / "j"
    root.mkdir()
    (root / "a.jsonl").write_text('{"x": 1, "y": "a"}\n{"x": 3, "y": null}\n')
    _frame(5).to_feather(root / "b.arrow")
    ds.add("mixed", root)
    files = {f.path: f.digest for f in ds.files("mixed", 1)}
    pj = ds.profile(files["a.jsonl"], "a.jsonl")
    assert pj.rows == 2 and pj.columns["x"].mean == 2.0 and pj.columns["y"].nulls == 1
    pa_ = ds.profile(files["b.arrow"], "b.arrow")
    assert pa_.schema == {"id": "int", "age": "int", "label": "string"}
    assert pa_.columns["age"].histogram is not None and sum(pa_.columns["age"].histogram.counts) == 5


RULES = {
    "files": "*.csv",
    "rows": {"min": 5},
    "columns": {
        "age": {"type": "int", "min": 0, "max": 60, "max_null_fraction": 0},
        "label": {"allowed": ["cat", "dog"]},
        "id": {"type": "int"},
    },
}


def test_validation_report_names_each_broken_rule(ds, tmp_path):
    root = tmp_path / "v"
    root.mkdir()
    _frame(10).to_csv(root / "t.csv", index=False)
    ds.add("people", root)
    ds.set_rules("people", RULES)
    assert ds.validate("people").ok
    f = _frame(4).drop(columns=["id"])
    f.loc[1, "age"] = 99
    f.loc[2, "label"] = "cow"
    f.to_csv(root / "t.csv", index=False)
    r = ds.add("people", root)  # not strict: the version is added, with warnings
    assert r.version.version == 2
    assert {p.rule for p in r.problems} == {"rows.min", "max", "allowed", "required"}
    report = ds.validate("people", 2)
    assert not report.ok
    by_rule = {p.rule: p.message for p in report.problems}
    assert "4 rows, fewer than the minimum 5" in by_rule["rows.min"]
    assert "1 value(s) above 60 (largest 99)" in by_rule["max"]
    assert "'cow'" in by_rule["allowed"]
    assert "required column 'id' is missing" in by_rule["required"]
    assert ds.validate("people", 1).ok


def test_strict_dataset_refuses_a_breaking_version(ds, tmp_path):
    root = tmp_path / "v"
    root.mkdir()
    _frame(10).to_csv(root / "t.csv", index=False)
    ds.add("people", root)
    ds.set_rules("people", RULES, strict=True)
    _frame(3).to_csv(root / "t.csv", index=False)
    with pytest.raises(ValidationRefused, match="fewer than the minimum"):
        ds.add("people", root)
    assert [v.version for v in ds.versions("people")] == [1]
    r = ds.add("people", root, strict=False)  # an explicit override still adds, with the warning
    assert r.version.version == 2 and r.problems


def test_malformed_rules_are_refused_with_the_offending_key(tmp_path):
    bad = tmp_path / "rules.json"
    bad.write_text('{"columns": {"age": {"type": "integer"}}}')
    with pytest.raises(StoreError, match="columns.age.type: 'integer' is not one of"):
        load_rules_file(bad)
    bad.write_text('{"columns": {"age": {"max_null_fraction": 2}}}')
    with pytest.raises(StoreError, match="between 0 and 1"):
        load_rules_file(bad)
    bad.write_text("{not json")
    with pytest.raises(StoreError, match="not valid JSON"):
        load_rules_file(bad)
