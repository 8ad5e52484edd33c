"""The md, html and json cards, read back by the tools they are written for."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET

import pytest
from cards.conftest import COMMIT, SLICES
from cards.mct_schema import validate
from labdeck.cards.service import CardService
from labdeck.datasets.service import Datasets
from labdeck.models.versions import ModelService

huggingface_hub = pytest.importorskip("huggingface_hub", reason="test-only dependency (pip install -e .[test])")


def _export(ws, ref, fmt, tmp_path):
    return CardService(ws.db).export(ref, fmt, tmp_path / f"card.{fmt}")


def test_md_loads_as_a_hugging_face_model_card_with_its_eval_results(card_model, tmp_path):
    ws, ref = card_model
    cards = CardService(ws.db)
    cards.edit(ref, "license", "apache-2.0")
    cards.edit(ref, "intended_use", "Separating the two moons in 2-D toy data.")
    card = huggingface_hub.ModelCard.load(_export(ws, ref, "md", tmp_path))

    got = {(r.metric_type, r.metric_value, r.dataset_config, r.dataset_split, r.dataset_name)
           for r in card.data.eval_results}
    recorded = ModelService(ws.db).version(ref).metrics  # the values come back exactly as recorded
    assert recorded["val/acc"] == pytest.approx(0.5 + 29 * 0.0135) and recorded["loss"] == pytest.approx(1 / 30)
    want = {("val/acc", recorded["val/acc"], None, "validation", "moons-eval:1"),
            ("loss", recorded["loss"], None, None, "moons-eval:1")}
    want |= {("val/acc", recorded[k], k.split("@")[1], "validation", "moons-eval:1") for k in SLICES}
    assert len(card.data.eval_results) == len(want) == 5
    assert got == want
    assert card.data.license == "apache-2.0"
    assert card.data.model_name == "moons"
    assert "labdeck" in card.data.tags

    prov = card.data.to_dict()["labdeck"]
    versions = {v.dataset: v for n in ("moons-train", "moons-eval") for v in Datasets(ws.db).versions(n)}
    assert {d["name"]: (d["digest"], d["bytes"], d["files"]) for d in prov["datasets"]} == {
        n: (v.digest, v.total_bytes, v.file_count) for n, v in versions.items()}
    assert prov["run"]["commit"] == COMMIT and prov["run"]["command"] == "python train.py --lr 0.05"
    assert [a["action"] for a in prov["approvals"]] == ["register", "submit"]
    # The Markdown body follows the Hub template's sections and holds what people wrote, verbatim.
    for heading in ("## Model Details", "## Uses", "### Out-of-Scope Use", "## Bias, Risks, and Limitations",
                    "## Training Details", "## Evaluation", "#### Factors", "### Results", "## Ethical Considerations"):
        assert heading in card.text
    assert "Separating the two moons in 2-D toy data." in card.text
    assert "| val/acc | age | 60+ | 0.78 |" in card.text


def test_slices_follow_a_configured_pattern(card_model, tmp_path, monkeypatch):
    ws, ref = card_model
    monkeypatch.setenv("LABDECK_SLICE_PATTERN", r"^(?P<metric>[^@]+)@(?P<factor>sex)=(?P<value>.+)$")
    card = huggingface_hub.ModelCard.load(_export(ws, ref, "md", tmp_path))
    configs = sorted(str(r.dataset_config) for r in card.data.eval_results)
    # age=60+ no longer matches: it stays a metric of its own name, not a slice.
    assert configs == ["None", "None", "None", "sex=female", "sex=male"]
    assert "val/acc@age=60+" in {r.metric_type for r in card.data.eval_results}


def test_json_card_has_the_model_card_toolkit_structure(card_model, tmp_path):
    ws, ref = card_model
    data = json.loads(_export(ws, ref, "json", tmp_path).read_text())
    assert validate(data) == []
    md = data["model_details"]
    assert md["name"] == "moons" and md["version"]["name"] == "1"
    metrics = {(m["type"], m.get("slice", "")): m["value"] for m in data["quantitative_analysis"]["performance_metrics"]}
    assert metrics[("val/acc", "sex=female")] == "0.91" and metrics[("val/acc", "")] == "0.8915"
    digests = {v.digest for n in ("moons-train", "moons-eval") for v in Datasets(ws.db).versions(n)}
    descriptions = " ".join(d["description"] for d in data["model_parameters"]["data"])
    assert all(d in descriptions for d in digests)
    # The validator is not a rubber stamp: a wrong type or an unknown field is reported.
    data["model_details"]["owners"] = "ada"
    data["considerations"]["risks"] = []
    assert len(validate(data)) == 2


def test_html_is_self_contained_with_plots_as_images(card_model, tmp_path):
    ws, ref = card_model
    page = _export(ws, ref, "html", tmp_path).read_text()
    assert "<style>" in page and "<script" not in page
    assert not re.search(r'(?:src|href)="(?!data:)', page), "nothing may be fetched from elsewhere"
    images = re.findall(r'<img alt="([^"]+)"[^>]*src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert [alt for alt, _ in images] == ["loss", "val/acc", "val/acc by slice"]
    for _, b64 in images:
        root = ET.fromstring(base64.b64decode(b64))
        assert root.tag.endswith("svg") and root.find("{http://www.w3.org/2000/svg}path") is not None \
            or root.find("{http://www.w3.org/2000/svg}rect") is not None
    assert "moons-train:1" in page and COMMIT in page


def test_a_team_restyles_cards_with_its_own_templates(card_model, tmp_path, monkeypatch):
    ws, ref = card_model
    mine = tmp_path / "templates"
    mine.mkdir()
    (mine / "card.css").write_text("body { color: rebeccapurple; }")
    (mine / "card.md").write_text("---\n$front_matter\n---\n# $name v$version\n\n## Results\n\n$results\n")
    monkeypatch.setenv("LABDECK_CARD_TEMPLATES", str(mine))
    cards = CardService(ws.db)
    assert "rebeccapurple" in cards.render(ref, "html")  # card.html itself falls back to the shipped one
    card = huggingface_hub.ModelCard(cards.render(ref, "md"))
    assert card.text.startswith("# moons v1") and len(card.data.eval_results) == 5
    (mine / "card.md").write_text("$nonsense")
    from labdeck.cards.templates import TemplateError

    with pytest.raises(TemplateError, match=r"card\.md' uses \$nonsense"):
        cards.render(ref, "md")
