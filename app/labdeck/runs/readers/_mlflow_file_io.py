"""Reading an MLflow file store's files for one ``read_on`` call: every failure becomes a
warning that names the file; meta.yaml is parsed safely; params and tags folders are read
as key -> value with each file's stat, so a read on skips the files that did not change."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import yaml

from labdeck.runs.readers._mlflow_file_layout import clean_name, entry_sig, is_dir, walk
from labdeck.runs.readers.base import ReadWarning, SourceRef

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe: never builds Python objects
_MAX_SMALL_FILE = 1 << 20  # meta.yaml, params, tags: anything bigger is not MLflow's


def ms(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def str_dict(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class StoreFiles:
    """One ``read_on`` call's state and its reads of the store's files."""

    def __init__(self, source: SourceRef) -> None:
        self.source = source
        self.store = source.path
        self.warnings: list[ReadWarning] = []
        self.listing_failed = False
        self._datasets: dict[tuple[str, str], dict[str, Any] | None] = {}

    # -- small helpers -------------------------------------------------------------------

    def prel(self, path: Path | str) -> str:
        inner = os.path.relpath(path, self.store).replace(os.sep, "/")
        return "/".join(p for p in (self.source.rel, "" if inner == "." else inner) if p)

    def warn(self, out: list[ReadWarning], code: str, path: Path | str, what: str,
             transient: bool = False) -> None:
        rel = clean_name(self.prel(path))
        out.append(ReadWarning(code, f"{rel}: {what}", rel, transient))

    def listing_errors(self, errors: list[str]) -> None:
        for err in errors:
            self.listing_failed = True
            self.warnings.append(ReadWarning("unreadable-dir", clean_name(err), self.source.rel))
        errors.clear()

    def read_bytes(self, path: Path, out: list[ReadWarning], limit: int | None = None,
                   start: int | None = None) -> bytes | None:
        """The file's bytes (from byte ``start`` when given); None, with a warning, when it
        cannot be read or is over ``limit`` bytes."""
        try:
            with open(path, "rb") as f:
                if start is not None:
                    f.seek(start)
                data = f.read() if limit is None else f.read(limit + 1)
        except FileNotFoundError:
            self.warn(out, "vanished", path, "file disappeared while being read", transient=True)
            return None
        except OSError as exc:
            self.warn(out, "unreadable-file", path, f"cannot be read ({exc.strerror or exc})")
            return None
        if limit is not None and len(data) > limit:
            self.warn(out, "file-too-large", path, f"larger than {limit} bytes, ignored")
            return None
        return data

    def read_text(self, path: Path, out: list[ReadWarning]) -> str | None:
        data = self.read_bytes(path, out, _MAX_SMALL_FILE)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.warn(out, "bad-encoding", path, "not UTF-8; undecodable bytes replaced")
            return data.decode("utf-8", "replace")

    def read_yaml(self, path: Path, out: list[ReadWarning]) -> dict[str, Any] | None:
        if not path.exists():
            self.warn(out, "missing-meta-yaml", path, "meta.yaml is missing")
            return None
        data = self.read_bytes(path, out, _MAX_SMALL_FILE)
        if data is None:
            return None
        try:
            doc = yaml.load(data, Loader=_LOADER)  # noqa: S506 - _LOADER is a SafeLoader subclass
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.warn(out, "bad-meta-yaml", path, f"not valid YAML ({first})")
            return None
        if not isinstance(doc, dict):
            self.warn(out, "bad-meta-yaml", path, "not a YAML mapping")
            return None
        return doc

    def files(self, folder: Path, out: list[ReadWarning]) -> list[tuple[str, os.DirEntry]]:
        errors: list[str] = []
        found = [(clean_name(rel), e) for rel, e in walk(folder, errors=errors) if not is_dir(e)]
        for err in errors:
            out.append(ReadWarning("unreadable-dir", clean_name(err), self.prel(folder)))
        return found

    def read_kv(self, folder: Path, prev: dict[str, str], out: list[ReadWarning]
                ) -> tuple[dict[str, str], dict[str, str], bool]:
        """Values of files changed since ``prev`` (key -> stat), the new stats, and whether
        a key disappeared."""
        values: dict[str, str] = {}
        sigs: dict[str, str] = {}
        for key, entry in self.files(folder, out):
            sig = entry_sig(entry)
            if prev.get(key) == sig:
                sigs[key] = sig
                continue
            text = self.read_text(Path(entry.path), out)
            if text is not None:
                values[key] = text
                sigs[key] = sig
            elif key in prev:  # unreadable now: keep what the index has rather than drop it
                sigs[key] = prev[key]
        return values, sigs, any(k not in sigs for k in prev)
