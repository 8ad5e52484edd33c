"""The approval workflow: transitions, the policy, and the hash-chained log."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest
from labdeck.models.policy import PolicyError
from labdeck.models.states import TransitionRefused


@pytest.fixture
def draft(model_run, svc, monkeypatch) -> str:
    monkeypatch.setenv("LABDECK_USER", "alice")
    return svc.register(model_run[1], "artifacts/models/classifier", "classifier").ref


def test_full_path_records_who_when_why_and_hashes(svc, draft, monkeypatch):
    svc.transition(draft, "submit", "please review")
    monkeypatch.setenv("LABDECK_USER", "bob")
    svc.transition(draft, "approve", "metrics fine")
    mv = svc.version(draft)
    assert mv.state == "approved"
    log = svc.history("classifier", 1)
    assert [(e.action, e.from_state, e.to_state, e.actor, e.comment) for e in log] == [
        ("register", "", "draft", "alice", log[0].comment),
        ("submit", "draft", "in_review", "alice", "please review"),
        ("approve", "in_review", "approved", "bob", "metrics fine"),
    ]
    assert all(e.artifact_hash == mv.artifact_hash and e.run_hash == mv.run_hash for e in log)
    assert all(e.card_hash.startswith("sha256:") for e in log)  # bound to the card as it stood
    assert [e.prev_hash for e in log] == ["", log[0].entry_hash, log[1].entry_hash]
    assert log[0].time <= log[1].time <= log[2].time
    assert svc.audit("classifier").ok


def test_transitions_outside_the_table_are_refused(svc, draft):
    with pytest.raises(TransitionRefused, match="rule workflow: cannot approve a version that is draft"):
        svc.transition(draft, "approve")
    svc.transition(draft, "submit")
    with pytest.raises(TransitionRefused, match="rule comment: reject needs a --comment"):
        svc.transition(draft, "reject")
    svc.transition(draft, "reject", "accuracy on the minority class is too low")
    assert svc.version(draft).state == "rejected"
    svc.transition(draft, "submit", "retrained")  # a rejected version may be submitted again
    svc.transition(draft, "approve")
    svc.transition(draft, "revoke", "leaked test data")
    with pytest.raises(TransitionRefused, match="cannot approve a version that is revoked"):
        svc.transition(draft, "approve")
    with pytest.raises(TransitionRefused, match="unknown action 'bless'"):
        svc.transition(draft, "bless")
    assert svc.audit("classifier").ok


def test_self_approval_refused_under_the_policy(model_run, svc, draft, project, monkeypatch):
    (project / "labdeck-policy.yaml").write_text("require_other_approver: true\n")
    svc.transition(draft, "submit")
    with pytest.raises(TransitionRefused, match="rule require_other_approver .*alice registered classifier:1"):
        svc.transition(draft, "approve")
    assert svc.version(draft).state == "in_review"
    monkeypatch.setenv("LABDECK_USER", "bob")
    svc.transition(draft, "approve")
    assert svc.version(draft).state == "approved"


def test_without_a_policy_one_person_may_approve(svc, draft):
    svc.transition(draft, "submit")
    svc.transition(draft, "approve")
    assert svc.version(draft).state == "approved"


def test_metric_gate_refused_names_the_rule(svc, draft, project):
    (project / "labdeck-policy.yaml").write_text("gates:\n  - metrics.val_acc >= 0.99\n  - metrics.loss < 1\n")
    svc.transition(draft, "submit")
    with pytest.raises(TransitionRefused, match=r"rule gate 'metrics.val_acc >= 0.99'.*val_acc is 0.95"):
        svc.transition(draft, "approve")
    (project / "labdeck-policy.yaml").write_text("gates: ['metrics.f1 > 0.5']\n")
    with pytest.raises(TransitionRefused, match="rule gate 'metrics.f1 > 0.5'.*has no metric 'f1'"):
        svc.transition(draft, "approve")
    (project / "labdeck-policy.yaml").write_text("gates: ['metrics.val_acc >= 0.9']\n")
    svc.transition(draft, "approve")
    assert svc.version(draft).state == "approved"


def test_user_policy_applies_when_the_project_has_none(svc, draft, _isolated_home):
    (_isolated_home / "policy.yaml").write_text("required_card_sections: [intended_use]\n")
    svc.transition(draft, "submit")
    with pytest.raises(TransitionRefused, match="rule required_card_sections .*'intended_use'"):
        svc.transition(draft, "approve")


def test_malformed_policy_is_an_error_not_ignored(svc, draft, project):
    svc.transition(draft, "submit")
    (project / "labdeck-policy.yaml").write_text("gates: ['val_acc >= 0.9']\n")
    with pytest.raises(PolicyError, match="expected 'metrics.KEY OP NUMBER'"):
        svc.transition(draft, "approve")
    (project / "labdeck-policy.yaml").write_text("require_other_aprover: true\n")
    with pytest.raises(PolicyError, match="unknown setting.*require_other_aprover"):
        svc.transition(draft, "approve")
    (project / "labdeck-policy.yaml").write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(PolicyError, match="cannot read the policy"):
        svc.transition(draft, "approve")


def test_approval_refused_when_the_artifact_changed_since_registration(svc, draft, model_run):
    weights = model_run[2] / "artifacts" / "models" / "classifier" / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b"!")
    svc.transition(draft, "submit")
    with pytest.raises(TransitionRefused, match="rule artifact: classifier:1 changed since it was registered"):
        svc.transition(draft, "approve")


def _raw(workspace) -> sqlite3.Connection:
    return sqlite3.connect(workspace.index_path)


def test_the_log_is_append_only_in_the_database(model_run, svc, draft):
    with _raw(model_run[0]) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE approval_events SET comment = 'x'")
    with _raw(model_run[0]) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM approval_events")


def _tamper(workspace, sql: str) -> None:
    """What a determined editor does: drop the guards, edit, leave."""
    conn = _raw(workspace)
    conn.execute("DROP TRIGGER approval_events_no_update")
    conn.execute("DROP TRIGGER approval_events_no_delete")
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_audit_detects_an_edited_entry(model_run, svc, draft, monkeypatch):
    svc.transition(draft, "submit")
    monkeypatch.setenv("LABDECK_USER", "bob")
    svc.transition(draft, "approve", "ok")
    _tamper(model_run[0], "UPDATE approval_events SET actor = 'carol' WHERE action = 'approve'")
    report = svc.audit("classifier")
    assert not report.ok
    assert any("entry 3 (approve of version 1 by carol) was edited" in p for p in report.problems)


def test_audit_detects_removed_entries(model_run, svc, draft):
    svc.transition(draft, "submit")
    svc.transition(draft, "approve")
    _tamper(model_run[0], "DELETE FROM approval_events WHERE action = 'submit'")
    problems = svc.audit("classifier").problems
    assert any("entry 3 is numbered" in p or "does not follow" in p for p in problems)
    _tamper_again = "DELETE FROM approval_events WHERE action = 'approve'"
    conn = _raw(model_run[0])
    conn.execute(_tamper_again)
    conn.commit()
    conn.close()
    problems = svc.audit("classifier").problems
    assert any("entries were removed from its end" in p for p in problems)


def test_audit_of_unknown_model_is_specific(svc):
    with pytest.raises(LookupError, match="no model named 'nope'"):
        svc.audit("nope")


def test_concurrent_registrations_from_separate_processes_keep_one_chain(model_run, svc):
    ws, run_id, _ = model_run
    cmd = [sys.executable, "-m", "labdeck", "model", "--index", str(ws.index_path), "register", run_id,
           "artifacts/extra.pt", "--name", "shared"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert [v.version for v in svc.versions("shared")] == [1, 2, 3]
    report = svc.audit("shared")
    assert report.ok and report.entries == 3
