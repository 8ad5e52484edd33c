"""The Hugging Face README.md: YAML front matter (license, tags, library_name, base_model, metrics,
model-index) plus Markdown in the Hub's model card layout; labdeck's provenance under ``labdeck:``.

Slices go into ``model-index`` as one result each, the slice in ``dataset.config``: the Hub
groups results by task and dataset (config included), so slices stay apart.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from labdeck.cards import layout, templates
from labdeck.cards import text as t
from labdeck.cards.facts import CardFacts, iso
from labdeck.cards.sections import BY_KEY, HUMAN_SECTIONS, MISSING

TEMPLATE = "card.md"


def _cell(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _part(p: layout.Part) -> str:
    if isinstance(p, layout.Note):
        return p.text
    if isinstance(p, layout.Fields):
        return "\n".join(f"- **{k}:** {v}" for k, v in p.items)
    head = "| " + " | ".join(_cell(h) for h in p.headers) + " |"
    rule = "|" + "|".join("---" for _ in p.headers) + "|"
    rows = ["| " + " | ".join(_cell(c) for c in r) + " |" for r in p.rows]
    return "\n".join([head, rule, *rows])


def human(facts: CardFacts, key: str) -> str:
    text = facts.sections.get(key, "").strip()
    return text if text else f"> **{MISSING}.** {BY_KEY[key].prompt}"


def model_index(facts: CardFacts) -> list[dict[str, Any]]:
    evals = [d for d in facts.datasets if t.is_eval(d)]
    if evals:
        base = {"name": t.dataset_label(evals[0]), "type": evals[0].name or "dataset"}
    else:  # the metrics come from the training run itself; say so rather than name a dataset
        base = {"name": f"metrics logged by run {facts.training.run_id}", "type": "labdeck-run"}
    task = {"type": facts.training.params.get("task") or "other"}
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for m in facts.metrics:
        if m.value is None or not math.isfinite(m.value):
            continue  # NaN and inf are not results the Hub can hold (the tables still show them)
        name = f"{m.metric} ({m.slice})" if m.slice else m.metric
        grouped.setdefault((m.slice, t.split_of(m.metric)), []).append(
            {"type": m.metric, "value": m.value, "name": name})
    results = []
    for (slice_, split), metrics in grouped.items():
        dataset = dict(base)
        if slice_:
            dataset["config"] = slice_
        if split:
            dataset["split"] = split
        results.append({"task": task, "dataset": dataset, "metrics": metrics})
    return [{"name": facts.name, "results": results}] if results else []


def provenance(facts: CardFacts, card_hash: str) -> dict[str, Any]:
    tr = facts.training
    return {
        "model": facts.name, "version": facts.version, "state": facts.state, "registered": facts.registered,
        "registered_by": facts.registered_by, "format": facts.model_format,
        "artifact": {"hash": facts.artifact_hash, "size": facts.size, "files": facts.files},
        "card_hash": card_hash,
        "run": {"id": tr.run_id, "in_index": tr.in_index, "record_hash": facts.run_hash, "command": tr.command,
                "commit": tr.commit, "branch": tr.branch, "dirty": tr.dirty, "started": tr.started,
                "ended": tr.ended, "duration_s": tr.duration_s, "params": dict(sorted(tr.params.items())),
                "hardware": tr.hardware, "environment": tr.environment, "parent": tr.parent_run},
        "datasets": [{"name": d.name, "version": d.version, "digest": d.digest, "bytes": d.total_bytes,
                      "files": d.file_count, "context": d.context, "source": d.source} for d in facts.datasets],
        "approvals": [{"seq": e.seq, "action": e.action, "from": e.from_state, "to": e.to_state, "by": e.actor,
                       "time": iso(e.time), "comment": e.comment, "card_hash": e.card_hash,
                       "entry_hash": e.entry_hash} for e in facts.approvals],
        "missing_sections": list(facts.missing),
    }


def front_matter(facts: CardFacts, card_hash: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    lic = t.license_id(facts)
    if lic:
        data["license"] = lic
        if lic == "other":
            data["license_name"] = "see-license-section"
    data["tags"] = list(facts.tags)
    if facts.library_name:
        data["library_name"] = facts.library_name
    if facts.base_model:
        data["base_model"] = facts.base_model
    names = sorted({m.metric for m in facts.metrics})
    if names:
        data["metrics"] = names
    index = model_index(facts)
    if index:
        data["model-index"] = index
    data["labdeck"] = provenance(facts, card_hash)
    return data


class _Dumper(yaml.SafeDumper):
    """No anchors and aliases (&id001): the Hub's and people's readers expect plain YAML."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(facts: CardFacts, card_hash: str = "") -> str:
    blocks = {k: "\n\n".join(_part(p) for p in parts) for k, parts in layout.fact_blocks(facts).items()}
    humans = {s.key: human(facts, s.key) for s in HUMAN_SECTIONS}
    yml = yaml.dump(front_matter(facts, card_hash), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                    width=100_000)
    return templates.fill(TEMPLATE, {"front_matter": yml.rstrip("\n"), "name": facts.name,
                                     "version": str(facts.version), **blocks, **humans})
