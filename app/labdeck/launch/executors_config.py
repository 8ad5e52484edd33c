"""Named cluster executors (``labdeck executor add|list|remove``), kept in ``executors.json``.

A Slurm executor is a partition plus sbatch options; a Ray executor is a job server address.
``local`` is built in and always there. The file sits in the data directory, next to
``settings.json``, and is written atomically.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from labdeck.errors import UserError
from labdeck.paths import data_dir

KINDS = ("slurm", "ray")
BUILT_IN = ("local",)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TIME_RE = re.compile(r"^(\d+-)?\d{1,3}(:\d{2}){0,2}$")
# Options each kind accepts (``labdeck executor add NAME KIND --OPTION VALUE``).
OPTIONS = {
    "slurm": ("partition", "account", "qos", "time", "extra", "shared", "python"),
    "ray": ("address", "shared", "python"),
}


class ExecutorConfigError(UserError, ValueError):
    """A bad executor definition or an unknown name (message for the user)."""


@dataclass(frozen=True)
class ExecutorConfig:
    name: str
    kind: str
    options: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        return self.options.get(key) or default

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, **self.options}

    def describe(self) -> str:
        shown = " ".join(f"--{k} {v}" for k, v in sorted(self.options.items()))
        return f"{self.kind} {shown}".strip()


def config_path() -> Path:
    return data_dir() / "executors.json"


def _load_raw() -> dict[str, dict]:
    try:
        data = json.loads(config_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ExecutorConfigError(f"cannot read {config_path()}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _save_raw(data: dict[str, dict]) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def load_all() -> list[ExecutorConfig]:
    return [ExecutorConfig(name, d.get("kind", ""), {k: str(v) for k, v in d.items() if k != "kind"})
            for name, d in sorted(_load_raw().items()) if isinstance(d, dict)]


def get(name: str) -> ExecutorConfig:
    for cfg in load_all():
        if cfg.name == name:
            return cfg
    known = ", ".join([*BUILT_IN, *(c.name for c in load_all())])
    raise ExecutorConfigError(f"unknown executor {name!r}; known: {known} (labdeck executor add NAME slurm|ray …)")


def validate(name: str, kind: str, options: dict[str, str]) -> ExecutorConfig:
    if not NAME_RE.match(name or ""):
        raise ExecutorConfigError(f"executor name {name!r}: use letters, digits, '.', '_' or '-'")
    if name in BUILT_IN:
        raise ExecutorConfigError(f"{name!r} is built in; choose another name")
    if kind not in KINDS:
        raise ExecutorConfigError(f"executor kind {kind!r}: use {' or '.join(KINDS)}")
    options = {k: v for k, v in options.items() if v not in (None, "")}
    wrong = sorted(set(options) - set(OPTIONS[kind]))
    if wrong:
        raise ExecutorConfigError(f"a {kind} executor takes no --{wrong[0]} (it takes: "
                                  + ", ".join(f"--{o}" for o in OPTIONS[kind]) + ")")
    if kind == "ray":
        address = options.get("address", "")
        if not address.startswith(("http://", "https://", "ray://")):
            raise ExecutorConfigError("a ray executor needs --address http://HOST:8265 (or ray://HOST:10001)")
    if options.get("time") and not TIME_RE.match(options["time"]):
        raise ExecutorConfigError(f"--time {options['time']!r}: use Slurm's [D-]HH:MM:SS")
    if options.get("shared"):
        options["shared"] = str(Path(options["shared"]).expanduser().resolve())
    return ExecutorConfig(name, kind, options)


def add(name: str, kind: str, options: dict[str, str], *, replace: bool = False) -> ExecutorConfig:
    cfg = validate(name, kind, options)
    data = _load_raw()
    if name in data and not replace:
        raise ExecutorConfigError(f"executor {name!r} exists (labdeck executor remove {name} first)")
    data[name] = {"kind": kind, **cfg.options}
    _save_raw(data)
    return cfg


def remove(name: str) -> None:
    data = _load_raw()
    if name not in data:
        get(name)  # raises with the list of known names
    del data[name]
    _save_raw(data)


def names() -> list[str]:
    """Every executor a job may name, ``local`` first."""
    try:
        return [*BUILT_IN, *(c.name for c in load_all())]
    except ExecutorConfigError:
        return list(BUILT_IN)
