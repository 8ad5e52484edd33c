"""The ``labdeck model`` and ``labdeck registry`` verbs, end to end in-process."""

from __future__ import annotations

import json
import sqlite3

import pytest
from labdeck.cli import run_cli


@pytest.fixture
def cli(model_run, capsys):
    ws, run_id, _ = model_run
    index = str(ws.index_path)

    def run(*argv: str) -> tuple[int, str, str]:
        code = run_cli([argv[0], "--index", index, *argv[1:]])
        out, err = capsys.readouterr()
        return code, out, err

    run.run_id = run_id
    return run


def test_register_review_push_pull_audit(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("LABDECK_USER", "erin")
    code, out, _ = cli("model", "candidates", "--json")
    assert code == 0
    assert {c["rel"] for c in json.loads(out)} == {"artifacts/models/classifier", "artifacts/extra.pt"}

    code, out, _ = cli("model", "register", cli.run_id, "artifacts/models/classifier", "--name", "clf", "--json")
    assert code == 0 and json.loads(out)["version"] == 1 and json.loads(out)["state"] == "draft"
    assert cli("model", "submit", "clf:1", "--comment", "ready")[0] == 0
    code, out, _ = cli("model", "approve", "clf:1", "-m", "ok")
    assert (code, out.strip()) == (0, "clf:1: in_review -> approved by erin")

    reg = tmp_path / "reg"
    assert cli("registry", "add", "team", f"folder://{reg}")[0] == 0
    code, out, _ = cli("registry", "list", "--json")
    assert json.loads(out) == [{"name": "team", "uri": f"folder://{reg}", "added_at": json.loads(out)[0]["added_at"]}]
    code, out, _ = cli("model", "push", "clf:1", "--to", "team", "--alias", "prod")
    assert code == 0 and "as version 1" in out
    code, out, _ = cli("model", "push", "clf:1", "--to", "team")
    assert code == 0 and "nothing to do" in out
    code, out, _ = cli("model", "pull", "clf:prod", "--from", "team", "--dest", str(tmp_path / "got"))
    assert code == 0 and "verified" in out
    assert (tmp_path / "got" / "config.json").read_text() == '{"hidden": 8}'

    code, out, _ = cli("model", "show", "clf:1", "--json")
    shown = json.loads(out)
    assert shown["state"] == "published" and shown["pushes"][0]["remote_version"] == "1"
    assert [h["action"] for h in shown["history"]] == ["register", "submit", "approve", "publish"]
    code, out, _ = cli("model", "list")
    assert code == 0 and "clf:1" in out and "published" in out and "team:1" in out
    code, out, _ = cli("model", "audit", "clf")
    assert code == 0 and "verifies (4 entries" in out


def test_verify_reports_changed_bytes(cli, model_run):
    cli("model", "register", cli.run_id, "artifacts/extra.pt", "--name", "clf")
    code, out, _ = cli("model", "verify", "clf:1")
    assert code == 0 and "unchanged" in out
    (model_run[2] / "artifacts" / "extra.pt").write_bytes(b"retrained")
    code, out, _ = cli("model", "verify", "clf:1")
    assert code == 1 and "changed (" in out


def test_audit_exit_status_reports_tampering(cli, model_run):
    cli("model", "register", cli.run_id, "artifacts/extra.pt", "--name", "clf")
    cli("model", "submit", "clf:1")
    conn = sqlite3.connect(model_run[0].index_path)
    conn.execute("DROP TRIGGER approval_events_no_update")
    conn.execute("UPDATE approval_events SET time = time + 1 WHERE action = 'submit'")
    conn.commit()
    conn.close()
    code, out, _ = cli("model", "audit", "clf", "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"] and "entry 2 (submit of version 1" in report["problems"][0]


@pytest.mark.parametrize("argv, message", [
    (("model", "approve", "clf"), "bad model version 'clf': write NAME:VERSION"),
    (("model", "show", "ghost:1"), "no model named 'ghost'"),
    (("model", "approve", "clf:1"), "rule workflow: cannot approve a version that is draft"),
    (("model", "reject", "clf:1"), "rule workflow: cannot reject a version that is draft"),
    (("model", "push", "clf:1", "--to", "nowhere"), "no registry named 'nowhere'"),
    (("registry", "add", "x", "s3://bucket"), "unsupported registry URI 's3://bucket'"),
    (("model", "register", "zzzz9999", "a.pt", "--name", "m"), "no run with id 'zzzz9999'"),
])
def test_bad_input_exits_2_with_a_specific_message(cli, argv, message):
    cli("model", "register", cli.run_id, "artifacts/extra.pt", "--name", "clf")
    code, _, err = cli(*argv)
    assert code == 2
    assert message in err


def test_policy_refusal_names_the_rule(cli, project):
    (project / "labdeck-policy.yaml").write_text("gates: ['metrics.val_acc >= 0.99']\n")
    cli("model", "register", cli.run_id, "artifacts/extra.pt", "--name", "clf")
    cli("model", "submit", "clf:1")
    code, _, err = cli("model", "approve", "clf:1")
    assert code == 2 and "rule gate 'metrics.val_acc >= 0.99'" in err and "val_acc is 0.95" in err
