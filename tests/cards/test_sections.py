"""Human sections: saved with the version, marked missing when nobody wrote them, bound into the
approval log through the card hash, and checked by the policy's required_card_sections."""

from __future__ import annotations

import json

import pytest
from cards.mct_schema import validate
from labdeck.cards.sections import KEYS, MISSING, UnknownSection
from labdeck.cards.service import CardService
from labdeck.models.states import TransitionRefused
from labdeck.models.versions import ModelService


def test_a_card_with_no_human_sections_says_each_is_missing(bare_model):
    ws, ref = bare_model
    cards = CardService(ws.db)
    md, page = cards.render(ref, "md"), cards.render(ref, "html")
    assert md.count(f"**{MISSING}.**") == len(KEYS) == 9
    assert page.count(f'<p class="missing"><b>{MISSING}.</b>') == len(KEYS)
    data = json.loads(cards.render(ref, "json"))
    assert validate(data) == []
    assert data["considerations"]["limitations"][0]["description"].startswith(f"**{MISSING}.**")
    assert data["model_details"]["licenses"] == [{"custom_text": f"{MISSING}: no license stated"}]
    # Nothing is invented for them: no license in the Hub metadata, the list of what is missing.
    front = md.split("---")[1]
    assert "license" not in front.split("labdeck:")[0]
    assert "missing_sections:\n  - description\n  - intended_use" in front


def test_written_sections_replace_the_marker_verbatim(bare_model):
    ws, ref = bare_model
    cards = CardService(ws.db)
    text = "Only for the *demo* — not for medical use.\nSee $HOME & <script> are kept as text."
    assert cards.edit(ref, "out_of_scope_use", text) is True
    assert cards.edit(ref, "out_of_scope_use", text) is False  # unchanged
    md, page = cards.render(ref, "md"), cards.render(ref, "html")
    assert text in md and md.count(f"**{MISSING}.**") == 8
    assert "See $HOME &amp; &lt;script&gt; are kept as text." in page and "<script>" not in page
    with pytest.raises(UnknownSection, match="unknown card section 'usage'"):
        cards.edit(ref, "usage", "x")


def test_card_hash_in_the_approval_log_and_required_sections(bare_model, _isolated_home):
    ws, ref = bare_model
    svc, cards = ModelService(ws.db), CardService(ws.db)
    (_isolated_home / "policy.yaml").write_text("required_card_sections: [intended_use, limitations]\n")
    svc.transition(ref, "submit")
    with pytest.raises(TransitionRefused, match="rule required_card_sections .*'intended_use'.*card edit"):
        svc.transition(ref, "approve")
    cards.edit(ref, "intended_use", "Classifying the demo's points.")
    with pytest.raises(TransitionRefused, match="rule required_card_sections .*'limitations'"):
        svc.transition(ref, "approve")
    before = cards.facts(ref)[1]
    cards.edit(ref, "limitations", "Two features only.")
    after = cards.facts(ref)[1]
    assert before != after and after.startswith("sha256:")
    entry = svc.transition(ref, "approve", "card complete")
    assert entry.card_hash == after
    register, submit, approve = svc.history("clf", 1)
    assert register.card_hash and register.card_hash == submit.card_hash != approve.card_hash
    assert svc.audit("clf").ok
    # The exported card names the hash the approval recorded.
    assert f"Card hash: {after}" in cards.render(ref, "html")
