"""Reading Lightning's ``hparams.yaml`` safely: unknown (Python) tags become plain data.

PyYAML's full Dumper writes ``!!python/object:argparse.Namespace``, ``!!python/tuple`` and
``!!python/name:...`` tags; a SafeLoader subclass maps each to a mapping, a list or readable
text, so nothing is ever imported or called. Sizes are bounded against alias bombs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from labdeck.runs.readers._io import os_warning as _os_warning
from labdeck.runs.readers._io import short as _short
from labdeck.runs.readers.base import ReadWarning, RunRecord, stat_fingerprint

HPARAMS = "hparams.yaml"
MAX_PARAMS = 10_000  # an alias-bomb YAML flattens into as many keys as it likes
MAX_DEPTH = 32
MAX_VALUE_CHARS = 100_000


def _read_hparams(
    folder: Path, rel: str, prev_sig: str | None, fresh: bool, record: RunRecord, cursor: dict[str, Any]
) -> None:
    path = folder / HPARAMS
    sig = stat_fingerprint([path])
    cursor["hparams"] = sig
    if sig == prev_sig and not fresh:
        return  # unchanged since the last read
    if sig == "-":
        if prev_sig not in (None, "-"):
            record.warnings.append(ReadWarning("missing-file", f"{rel} disappeared; kept its params", rel))
        return
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        record.warnings.append(_os_warning(exc, rel))
        cursor["hparams"] = prev_sig  # try again next time
        return
    params = _parse_hparams(text, rel, record.warnings)
    if params is not None:
        record.params = params
        record.replace_params = True


def _parse_hparams(text: str, rel: str, warnings: list[ReadWarning]) -> dict[str, str] | None:
    try:
        data = yaml.load(text, Loader=_DataLoader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        warnings.append(ReadWarning("bad-hparams", f"{rel} is not valid YAML: {_short(exc)}", rel))
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        warnings.append(ReadWarning("bad-hparams", f"{rel} holds a {type(data).__name__}, not a mapping", rel))
        return {"hparams": _text(data)}
    out: dict[str, str] = {}
    if not _flatten(data, "", out, 0):
        warnings.append(
            ReadWarning("bad-hparams", f"{rel} is nested too deep or holds over {MAX_PARAMS} values; cut", rel)
        )
    return out


def _flatten(data: dict, prefix: str, out: dict[str, str], depth: int) -> bool:
    """Nested mappings to 'a/b' keys; False when cut short by the size or depth limits."""
    for key, value in data.items():
        if len(out) >= MAX_PARAMS:
            return False
        name = f"{prefix}{_text(key)}"
        if isinstance(value, dict) and value:
            if depth >= MAX_DEPTH or not _flatten(value, name + "/", out, depth + 1):
                return False
        else:
            out[name] = _text(value)
    return True


def _text(value: Any) -> str:
    """``str(value)``, bounded: YAML aliases can make a tiny file print forever."""
    out = _Bounded()
    out.write(value, 0, top=True)
    return "".join(out.parts)


class _Bounded:
    """Text of nested values that stops near ``MAX_VALUE_CHARS``."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def add(self, piece: str) -> None:
        self.parts.append(piece)
        self.size += len(piece)

    @property
    def full(self) -> bool:
        return self.size > MAX_VALUE_CHARS

    def write(self, value: Any, depth: int, *, top: bool = False) -> None:
        if self.full or depth > MAX_DEPTH:
            return self.add("…")
        if not isinstance(value, (list, tuple, dict)):
            piece = str(value) if top else repr(value)  # as str() prints a container's items
            return self.add(piece if len(piece) <= MAX_VALUE_CHARS else piece[:MAX_VALUE_CHARS] + "…")
        is_dict, is_tuple = isinstance(value, dict), isinstance(value, tuple)
        self.add("{" if is_dict else "(" if is_tuple else "[")
        for i, item in enumerate(value.items() if isinstance(value, dict) else value):
            if i:
                self.add(", ")
            if self.full:
                self.add("…")
                break
            if is_dict:
                self.write(item[0], depth + 1)
                self.add(": ")
                item = item[1]
            self.write(item, depth + 1)
        self.add(",)" if is_tuple and len(value) == 1 else "}" if is_dict else ")" if is_tuple else "]")


class _DataLoader(yaml.SafeLoader):
    """SafeLoader that reads Python-specific and unknown tags as plain data, never objects."""


_PY = "tag:yaml.org,2002:python/"
_CALLS = ("object/apply:", "object/new:")


def _tagged_as_data(loader: _DataLoader, suffix: str, node: yaml.Node) -> Any:
    tag = node.tag[len(_PY) :] if node.tag.startswith(_PY) else node.tag
    if isinstance(node, yaml.ScalarNode):
        return _tagged_scalar(loader, tag, node)
    if isinstance(node, yaml.SequenceNode):
        items = loader.construct_sequence(node, deep=True)
        if tag == "tuple":
            return tuple(items)
        for call in _CALLS:
            if tag.startswith(call):
                # e.g. an enum member: shown as the call that would have rebuilt it, not run.
                return f"{tag[len(call):]}({_text(items)[1:-1]})"
        return items
    # Mappings: object:argparse.Namespace and friends carry their fields as a mapping.
    return loader.construct_mapping(node, deep=True)


_PLAIN = {"none": "null", "bool": "bool", "int": "int", "long": "int", "float": "float"}


def _tagged_scalar(loader: _DataLoader, tag: str, node: yaml.ScalarNode) -> Any:
    if tag in _PLAIN:  # python/int etc.: the plain YAML type
        try:
            return loader.yaml_constructors[f"tag:yaml.org,2002:{_PLAIN[tag]}"](loader, node)
        except (ValueError, yaml.YAMLError):
            pass
    value = loader.construct_scalar(node)
    if not value and ":" in tag:
        return tag.split(":", 1)[1]  # python/name:torch.optim.Adam -> 'torch.optim.Adam'
    return value


# Every tag SafeLoader has no constructor for ends here (prefix "" matches all).
_DataLoader.add_multi_constructor("", _tagged_as_data)


# metrics.csv --------------------------------------------------------------
