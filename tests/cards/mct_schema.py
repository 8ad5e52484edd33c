"""The Model Card Toolkit's field structure (schema v0.0.2), written from its documentation:
which fields each object has and their types. ``validate`` lists every departure from it."""

from __future__ import annotations

from typing import Any

STR, NUM = (str,), (int, float)
TEXT_ITEM = {"description": STR}
GRAPHICS = {"description": STR, "collection": [{"name": STR, "image": STR}]}
SCHEMA: dict[str, Any] = {
    "schema_version": STR,
    "model_details": {
        "name": STR, "overview": STR, "documentation": STR,
        "owners": [{"name": STR, "contact": STR}],
        "version": {"name": STR, "date": STR, "diff": STR},
        "licenses": [{"identifier": STR, "custom_text": STR}],
        "references": [{"reference": STR}],
        "citations": [{"style": STR, "citation": STR}],
        "path": STR, "regulatory_requirements": STR,
    },
    "model_parameters": {
        "model_architecture": STR,
        "data": [{"name": STR, "path": STR, "description": STR, "link": STR,
                  "sensitive": {"sensitive_data": [STR]}, "graphics": GRAPHICS}],
        "input_format": STR, "input_format_map": [{"key": STR, "value": STR}],
        "output_format": STR, "output_format_map": [{"key": STR, "value": STR}],
    },
    "quantitative_analysis": {
        "performance_metrics": [{"type": STR, "value": STR, "slice": STR, "threshold": STR,
                                 "confidence_interval": {"lower_bound": STR, "upper_bound": STR}}],
        "graphics": GRAPHICS,
    },
    "considerations": {
        "users": [TEXT_ITEM], "use_cases": [TEXT_ITEM], "limitations": [TEXT_ITEM], "tradeoffs": [TEXT_ITEM],
        "ethical_considerations": [{"name": STR, "mitigation_strategy": STR}],
    },
}
REQUIRED = {"model_details", "model_parameters", "quantitative_analysis", "considerations"}


def _check(value: Any, spec: Any, where: str, problems: list[str]) -> None:
    if isinstance(spec, tuple):
        if not isinstance(value, spec) or isinstance(value, bool):
            problems.append(f"{where}: expected {spec[0].__name__}, got {type(value).__name__}")
    elif isinstance(spec, list):
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _check(item, spec[0], f"{where}[{i}]", problems)
    else:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object, got {type(value).__name__}")
            return
        for key, item in value.items():
            if key not in spec:
                problems.append(f"{where}.{key}: not a Model Card Toolkit field")
            else:
                _check(item, spec[key], f"{where}.{key}", problems)


def validate(card: Any) -> list[str]:
    problems: list[str] = []
    _check(card, SCHEMA, "card", problems)
    if isinstance(card, dict):
        problems += [f"card.{k}: missing" for k in sorted(REQUIRED - set(card))]
    return problems
