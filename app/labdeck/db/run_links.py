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

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from labdeck.db.catalogue_tables import Run

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
    session: Session, children: Iterable[tuple[int, int, str, str | None]]
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
    source_ids = {key[2] for key in wanted}
    found: dict[int, tuple[int, str]] = {}
    rows = session.execute(
        select(Run.pk, Run.uid, Run.project_id, Run.format, Run.source_id)
        .where(Run.source_id.in_(source_ids), Run.gone_at.is_(None))
    )
    for pk, uid, project_id, fmt, source_id in rows:
        for child in wanted.get((project_id, fmt, source_id), ()):
            if child != pk:
                found[child] = (pk, uid)
    return found


def linked_sources(session: Session, pks: Iterable[int]) -> dict[int, list[int]]:
    """run pk -> pks of its training's other sources, for the listed runs that have any: the
    runs in other formats that name it as their parent, and for a native run (a labdeck job's)
    the logger runs written inside its folder."""
    parents = {
        pk: (project_id, fmt, source_id, path)
        for pk, project_id, fmt, source_id, path in session.execute(
            select(Run.pk, Run.project_id, Run.format, Run.source_id, Run.path).where(Run.pk.in_(list(pks)))
        )
    }
    if not parents:
        return {}
    wanted = {parent_in_format(fmt, source_id) for _, fmt, source_id, _ in parents.values()}
    children = session.execute(
        select(Run.pk, Run.project_id, Run.format, Run.parent_source_id)
        .where(Run.parent_source_id.in_(wanted), Run.gone_at.is_(None))
    ).all()
    out: dict[int, set[int]] = {}
    for child, (parent, _) in cross_format_parents(session, children).items():
        if parent in parents:
            out.setdefault(parent, set()).add(child)
    for pk, (project_id, fmt, _, path) in parents.items():
        if fmt == NATIVE and path:
            out.setdefault(pk, set()).update(_written_inside(session, project_id, path))
    return {pk: sorted(kids) for pk, kids in out.items() if kids}


def _written_inside(session: Session, project_id: int, folder: str) -> list[int]:
    """Logger runs (Lightning, TensorBoard, HF) whose folder lies inside ``folder``: what a
    training wrote under $LABDECK_RUN_DIR belongs to the job's run."""
    escaped = folder.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(session.execute(
        select(Run.pk).where(
            Run.project_id == project_id, Run.format.in_(LINKABLE), Run.gone_at.is_(None),
            Run.path.like(escaped + "/%", escape="\\"),
        )
    ).scalars())
