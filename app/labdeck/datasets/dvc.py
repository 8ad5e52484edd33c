"""DVC-tracked data in a project, shown read-only: ``*.dvc`` pointer files and ``dvc.lock`` outputs.

Only DVC's own small YAML files are read (safe loader); nothing in the project is written,
and DVC itself is not needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


SKIP_DIRS = {".git", ".dvc", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache"}


@dataclass(frozen=True)
class DvcEntry:
    path: str  # the tracked file or folder, relative to the project
    md5: str  # DVC's hash; a folder's ends in ".dir"
    size: int | None
    nfiles: int | None
    defined_in: str  # the .dvc file or dvc.lock, relative to the project
    stage: str | None  # the dvc.lock stage that produces it
    present: bool  # whether the data is in the workspace now
    error: str | None = None


def _outs(data, defined_in: str, base: str, root: Path, stage: str | None) -> list[DvcEntry]:
    out = []
    for o in (data or {}).get("outs", []) or []:
        if not isinstance(o, dict) or "path" not in o:
            continue
        rel = os.path.normpath(os.path.join(base, str(o["path"]))).replace(os.sep, "/")
        out.append(DvcEntry(rel, str(o.get("md5") or o.get("etag") or ""), o.get("size"), o.get("nfiles"),
                            defined_in, stage, (root / rel).exists()))
    return out


def find_dvc(project: str | os.PathLike) -> list[DvcEntry]:
    root = Path(project).expanduser().resolve()
    entries: list[DvcEntry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS
                             and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg")))
        base = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            if not (name.endswith(".dvc") or name == "dvc.lock"):
                continue
            defined_in = os.path.normpath(os.path.join(base, name)).replace(os.sep, "/")
            import yaml  # here: the Datasets tab loads this module with the window (yaml: 30 ms)

            try:
                with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                    data = yaml.safe_load(f)
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                entries.append(DvcEntry(defined_in, "", None, None, defined_in, None, False,
                                        f"cannot read {defined_in}: {str(exc).splitlines()[0]}"))
                continue
            if not isinstance(data, dict):
                continue
            if name == "dvc.lock":
                for stage, spec in (data.get("stages") or {}).items():
                    if isinstance(spec, dict):
                        entries += _outs(spec, defined_in, base, root, str(stage))
            else:
                entries += _outs(data, defined_in, base, root, None)
    return entries
