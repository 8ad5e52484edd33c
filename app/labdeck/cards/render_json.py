"""The card as JSON in the field structure of Google's Model Card Toolkit (schema v0.0.2):
model_details, model_parameters, quantitative_analysis, considerations.

Only the toolkit's own fields are written (tools that validate against its schema accept the
file); labdeck's provenance is carried in them as text (dataset hashes in each dataset's
description, the run and approval log in references). A missing human section is an entry
saying it is missing, never left out silently.
"""

from __future__ import annotations

import json
from typing import Any

from labdeck.cards import layout, svg
from labdeck.cards import text as t
from labdeck.cards.facts import CardFacts, iso
from labdeck.cards.render_md import human
from labdeck.cards.sections import MISSING

SCHEMA_VERSION = "0.0.2"


def _described(facts: CardFacts, key: str) -> list[dict[str, str]]:
    return [{"description": human(facts, key).removeprefix("> ")}]


def _dataset(d) -> dict[str, Any]:
    desc = (f"{t.dataset_label(d)}; hash {d.digest or 'not recorded'}; size {t.size(d.total_bytes)}; "
            f"files {'unknown' if d.file_count is None else d.file_count}; used as {d.context or '-'}")
    out: dict[str, Any] = {"name": t.dataset_label(d), "description": desc}
    if d.source:
        out["link"] = d.source
    return out


def _graphics(facts: CardFacts) -> dict[str, Any]:
    collection = [{"name": c.metric, "image": svg.data_uri(svg.line_plot(c.metric, c.steps, c.values))}
                  for c in facts.curves]
    if facts.sliced:
        for metric in sorted({m.metric for m in facts.sliced}):
            ms = [m for m in facts.sliced if m.metric == metric]
            collection.append({"name": f"{metric} by slice", "image": svg.data_uri(
                svg.bar_plot(f"{metric} by slice", [m.slice for m in ms], [m.value for m in ms]))})
    return {"description": "Metric curves of the training run and per-slice metrics (SVG).",
            "collection": collection}


def card_dict(facts: CardFacts, card_hash: str = "") -> dict[str, Any]:
    tr = facts.training
    owners = [{"name": a} for a in facts.authors]
    contact = facts.sections.get("contact", "").strip()
    if contact:
        owners[0]["contact"] = contact
    lic = facts.sections.get("license", "").strip()
    licenses = ([{"identifier": t.license_id(facts)}] if t.license_id(facts) not in ("", "other")
                else [{"custom_text": lic or f"{MISSING}: no license stated"}])
    references = [{"reference": f"labdeck training run {tr.run_id} (record hash {facts.run_hash})"}]
    references += [{"reference": f"labdeck approval log entry {e.seq}: {e.action} by {e.actor} at {iso(e.time)} "
                                 f"(entry {e.entry_hash}, card {e.card_hash or '-'})"} for e in facts.approvals]
    details_text = "\n".join(f"{k}: {v}" for p in layout.model_details(facts) + layout.training_procedure(facts)
                             if isinstance(p, layout.Fields) for k, v in p.items)
    metrics = [{"type": m.metric, "value": t.num(m.value), **({"slice": m.slice} if m.slice else {})}
               for m in facts.metrics]
    return {
        "schema_version": SCHEMA_VERSION,
        "model_details": {
            "name": facts.name,
            "overview": human(facts, "description").removeprefix("> "),
            "documentation": details_text,
            "owners": owners,
            "version": {"name": str(facts.version), "date": facts.registered,
                        "diff": f"artifact {facts.artifact_hash}; card {card_hash or '-'}"},
            "licenses": licenses,
            "references": references,
            "path": facts.artifact_path,
        },
        "model_parameters": {
            "model_architecture": facts.model_format + (f" ({facts.library_name})" if facts.library_name else ""),
            "data": [_dataset(d) for d in facts.datasets],
        },
        "quantitative_analysis": {"performance_metrics": metrics, "graphics": _graphics(facts)},
        "considerations": {
            "users": _described(facts, "intended_use"),
            "use_cases": _described(facts, "intended_use") + [
                {"description": "Out of scope: " + human(facts, "out_of_scope_use").removeprefix("> ")}],
            "limitations": _described(facts, "limitations") + [
                {"description": "Factors: " + human(facts, "factors").removeprefix("> ")}],
            "tradeoffs": _described(facts, "recommendations"),
            "ethical_considerations": [{"name": human(facts, "ethical_considerations").removeprefix("> "),
                                        "mitigation_strategy": ""}],
        },
    }


def render(facts: CardFacts, card_hash: str = "") -> str:
    return json.dumps(card_dict(facts, card_hash), ensure_ascii=False, indent=2, allow_nan=False) + "\n"
