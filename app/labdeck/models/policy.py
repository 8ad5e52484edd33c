"""The approval policy: ``labdeck-policy.yaml`` in the project, else ``policy.yaml`` in the data dir.

    require_other_approver: true        # the registrant may not approve (default false)
    gates:                              # checked on approve, against the run's metrics
      - metrics.val_acc >= 0.9
      - metrics."val loss" < 0.3
    required_card_sections: [intended_use, limitations]

Read with a safe YAML loader; a malformed file is an error naming the file, never ignored
(a policy that silently stops applying would be worse than none).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from labdeck.errors import UserError
from labdeck.paths import data_dir

PROJECT_FILE = "labdeck-policy.yaml"
USER_FILE = "policy.yaml"
KNOWN_KEYS = {"require_other_approver", "gates", "required_card_sections"}
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
    "==": operator.eq, "=": operator.eq, "!=": operator.ne,
}
_GATE = re.compile(r'^\s*metrics\.(?:"([^"]+)"|([^\s<>=!]+))\s*(>=|<=|==|!=|>|<|=)\s*(\S+)\s*$')


class PolicyError(UserError, ValueError):
    """The policy file cannot be read or does not say anything labdeck understands."""


@dataclass(frozen=True)
class Gate:
    text: str
    metric: str
    op: str
    value: float

    def check(self, metrics: dict[str, float | None]) -> str | None:
        """None when the gate passes, else why not."""
        if self.metric not in metrics:
            return f"the run has no metric {self.metric!r}"
        got = metrics[self.metric]
        if got is None or math.isnan(got):
            return f"{self.metric} is NaN"
        if not OPS[self.op](got, self.value):
            return f"{self.metric} is {got:g}"
        return None


@dataclass(frozen=True)
class Policy:
    source: str = ""  # the file it came from; "" for the defaults
    require_other_approver: bool = False
    gates: tuple[Gate, ...] = ()
    required_card_sections: tuple[str, ...] = ()


def parse_gate(text: str) -> Gate:
    m = _GATE.match(text)
    if not m:
        raise PolicyError(f"gate {text!r}: expected 'metrics.KEY OP NUMBER', e.g. 'metrics.val_acc >= 0.9'")
    try:
        value = float(m.group(4))
    except ValueError:
        raise PolicyError(f"gate {text!r}: {m.group(4)!r} is not a number") from None
    return Gate(text.strip(), m.group(1) or m.group(2), m.group(3), value)


def parse_policy(data: object, source: str) -> Policy:
    if data is None:
        return Policy(source=source)
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
    unknown = set(data) - KNOWN_KEYS
    if unknown:
        raise PolicyError(f"{source}: unknown setting(s) {', '.join(sorted(map(str, unknown)))} "
                          f"(known: {', '.join(sorted(KNOWN_KEYS))})")
    other = data.get("require_other_approver", False)
    if not isinstance(other, bool):
        raise PolicyError(f"{source}: require_other_approver must be true or false")
    gates = data.get("gates") or []
    sections = data.get("required_card_sections") or []
    if not isinstance(gates, list) or not all(isinstance(g, str) for g in gates):
        raise PolicyError(f"{source}: gates must be a list of strings like 'metrics.val_acc >= 0.9'")
    if not isinstance(sections, list) or not all(isinstance(s, str) for s in sections):
        raise PolicyError(f"{source}: required_card_sections must be a list of section names")
    try:
        parsed = tuple(parse_gate(g) for g in gates)
    except PolicyError as exc:
        raise PolicyError(f"{source}: {exc}") from None
    return Policy(source, other, parsed, tuple(sections))


def policy_file(project: str | None) -> Path | None:
    if project:
        p = Path(project) / PROJECT_FILE
        if p.is_file():
            return p
    p = data_dir() / USER_FILE
    return p if p.is_file() else None


def load_policy(project: str | None) -> Policy:
    """The project's policy, else the user's, else the defaults (anyone may approve, no gates)."""
    path = policy_file(project)
    if path is None:
        return Policy()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read the policy {path}: {exc}") from exc
    return parse_policy(data, str(path))
