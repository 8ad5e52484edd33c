"""Parent links between runs of different formats: one training, several sources.

A reader links a run to one in another format of the same project by writing
``parent_in_format(fmt, source_id)`` as its ``parent_source_id``: the TensorBoard run a
Hugging Face Trainer wrote under its output folder names that output folder's ``hf-trainer``
run; a Lightning TensorBoardLogger version names the CSVLogger version of the same logger name
and version. The table nests such a child under its parent like an MLflow child run, and each
keeps its own source id (``--json``). Plain ids (an MLflow parent in the same store) are
unchanged: no MLflow run id holds a ':'.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from labdeck.db.batches import batches, placeholders
from labdeck.db.pattern_text import like_escaped

# Formats a run may be linked to from another format.
LINKABLE = frozenset({"lightning", "hf-trainer", "tensorboard"})
# A native run's folder may hold those formats' runs (a labdeck job's training logging to them).
NATIVE = "labdeck"


def parent_in_format(fmt: str, source_id: str) -> str:
    return f"{fmt}:{source_id}"


def split(parent_source_id: str | None, own_format: str) -> tuple[str, str] | None:
    """(format, source id) when ``parent_source_id`` names a run of another format, else None."""
    if not parent_source_id:
        return None
    fmt, sep, source_id = parent_source_id.partition(":")
    if not sep or fmt not in LINKABLE or fmt == own_format:
        return None
    return fmt, source_id


def cross_format_parents(
    conn: sqlite3.Connection, children: Iterable[tuple[int, int, str, str | None]]
) -> dict[int, tuple[int, str]]:
    """child pk -> (parent pk, parent uid), for ``children`` given as (pk, project id, format,
    parent_source_id) whose parent in another format is indexed (and not gone)."""
    wanted: dict[tuple[int, str, str], list[int]] = {}
    for pk, project_id, fmt, parent in children:
        link = split(parent, fmt)
        if link is not None:
            wanted.setdefault((project_id, *link), []).append(pk)
    if not wanted:
        return {}
    found: dict[int, tuple[int, str]] = {}
    for part in batches(sorted({key[2] for key in wanted})):
        rows = conn.execute(
            "SELECT pk, uid, project_id, format, source_id FROM runs "
            f"WHERE source_id IN ({placeholders(part)}) AND gone_at IS NULL", part)
        for pk, uid, project_id, fmt, source_id in rows:
            for child in wanted.get((project_id, fmt, source_id), ()):
                if child != pk:
                    found[child] = (pk, uid)
    return found


def linked_sources(conn: sqlite3.Connection, pks: Iterable[int]) -> dict[int, list[int]]:
    """run pk -> pks of its training's other sources, for the listed runs that have any: the
    runs in other formats that name it as their parent, and for a native run (a labdeck job's)
    the logger runs written inside its folder."""
    parents: dict[int, tuple[int, str, str, str]] = {}
    for part in batches(list(pks)):
        for pk, project_id, fmt, source_id, path in conn.execute(
            f"SELECT pk, project_id, format, source_id, path FROM runs WHERE pk IN ({placeholders(part)})", part
        ):
            parents[pk] = (project_id, fmt, source_id, path)
    if not parents:
        return {}
    children: list[tuple[int, int, str, str | None]] = []
    for names in batches(sorted({parent_in_format(fmt, source_id) for _, fmt, source_id, _ in parents.values()})):
        children.extend(conn.execute(
            "SELECT pk, project_id, format, parent_source_id FROM runs "
            f"WHERE parent_source_id IN ({placeholders(names)}) AND gone_at IS NULL", names))
    out: dict[int, set[int]] = {}
    for child, (parent, _) in cross_format_parents(conn, children).items():
        if parent in parents:
            out.setdefault(parent, set()).add(child)
    for pk, (project_id, fmt, _, path) in parents.items():
        if fmt == NATIVE and path:
            out.setdefault(pk, set()).update(_written_inside(conn, project_id, path))
    return {pk: sorted(kids) for pk, kids in out.items() if kids}


def _written_inside(conn: sqlite3.Connection, project_id: int, folder: str) -> list[int]:
    """Logger runs (Lightning, TensorBoard, HF) whose folder lies inside ``folder``: what a
    training wrote under $LABDECK_RUN_DIR belongs to the job's run."""
    formats = sorted(LINKABLE)
    return [pk for (pk,) in conn.execute(
        f"SELECT pk FROM runs WHERE project_id = ? AND format IN ({placeholders(formats)}) "
        "AND gone_at IS NULL AND path LIKE ? ESCAPE '\\'",
        [project_id, *formats, like_escaped(folder) + "/%"],
    )]
