"""Indexing project folders: walk, skip what has not changed, read on, write in batches.

One process indexes an index at a time: a pass holds the index's writer lock
(``db/lock.py``) from loading the stored read positions to its last write, so two
processes never read on from the same position and never store a point twice; the others
wait for it and say whom they wait for.

Parsing happens outside write transactions; each batch of parsed sources is written in
one short transaction (so the GUI's reads are never held up long, and a crash leaves the
index at the last committed batch). Within a batch each source is written under its own
savepoint: a failure writing one source becomes a warning on it and costs nothing else.

Nothing is removed unless the pass is complete: a cancelled or interrupted walk forgets
nothing, and a source a complete pass no longer finds leaves its runs marked gone, never
deleted (their keys, links and flags are kept for when the files come back).
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from labdeck.db.engine import Database
from labdeck.db.lock import LockCancelled, writer_lock
from labdeck.db.projects import ProjectError, project_rows
from labdeck.db.writer import CatalogueWriter, StoredSource, touch_project
from labdeck.runs import series_loaders  # noqa: F401 - registers on-demand point loaders
from labdeck.runs.readers import all_readers, reader_for
from labdeck.runs.readers.base import Reader, ReadResult, ReadWarning, SourceRef
from labdeck.runs.collector_pause import collector_paused
from labdeck.runs.index_stats import IndexStats
from labdeck.runs.read_ahead import read_ahead
from labdeck.runs.walk import ListingMemo, WalkResult, mounts_below, walk_project, within
from labdeck.tasks import Task

# A batch is written when it holds this many sources or this many points.
BATCH_SOURCES = 200
BATCH_POINTS = 2_000_000

# Each project's folder listings, kept by this process from one pass to the next (the app's
# and `labdeck watch`'s rescans): an unchanged folder is then one stat, not a listing.
_LISTINGS: dict[str, ListingMemo] = {}


def _listings_of(project: Path) -> ListingMemo:
    return _LISTINGS.setdefault(os.fspath(project), ListingMemo())


@dataclass
class _Parsed:
    reader: Reader
    source: SourceRef
    fingerprint: str
    result: ReadResult
    points: int = field(default=0)
    started_from: StoredSource | None = None  # the stored state the read went on from


def index_all(db: Database, task: Task | None = None) -> IndexStats:
    """One pass over every registered project."""
    began = time.perf_counter()
    total = IndexStats()
    with db.read() as session:
        projects = project_rows(session)
    for _, path in projects:
        if task is not None and task.cancelled:
            total.cancelled = True
            break
        total.add(index_project(db, path, task=task))
    total.seconds = time.perf_counter() - began  # the whole pass (each project's time is its own)
    return total


def index_project(
    db: Database, project_path: str, *, task: Task | None = None, starts: list[Path] | None = None
) -> IndexStats:
    """Bring the index of one project up to date; ``starts`` limits the walk to sub-folders
    (what the watcher saw change), all in one pass over the stored sources."""
    task = task or Task()
    began = time.perf_counter()

    def waiting(who: str) -> None:
        task.report(0, None, f"waiting for {who}, which is indexing this index", force=True)

    try:
        with writer_lock(db.path, f"indexing {project_path}", cancelled=lambda: task.cancelled, on_wait=waiting):
            return _index_project_locked(db, project_path, task, starts, began)
    except LockCancelled:
        return IndexStats(projects=1, cancelled=True, seconds=time.perf_counter() - began)


def _index_project_locked(
    db: Database, project_path: str, task: Task, starts: list[Path] | None, began: float
) -> IndexStats:
    stats = IndexStats(projects=1)
    project = Path(project_path)
    with collector_paused():  # walking and comparing: see runs/collector_pause.py
        found = _find_changed(db, project, project_path, task, starts, stats)
    if found is None:
        stats.seconds = time.perf_counter() - began
        return stats
    project_id, changed = found.project_id, found.changed
    batch: list[_Parsed] = []
    batch_points = 0
    reads = read_ahead(changed, lambda c: _read(*c), lambda c: c[0].reads_aside(c[1]))
    try:
        for i, parsed in enumerate(reads):
            if task.cancelled:
                stats.cancelled = True
                break
            task.report(i, len(changed), parsed.source.rel or project.name)
            batch.append(parsed)
            batch_points += parsed.points
            if len(batch) >= BATCH_SOURCES or batch_points >= BATCH_POINTS:
                # Meanwhile the workers read up to AHEAD sources on: SQLite writes without Python's lock.
                _write_batch(db, project_id, project_path, batch, stats)
                batch, batch_points = [], 0
    finally:
        reads.close()  # the reads under way end before the pass goes on
    _write_batch(db, project_id, project_path, batch, stats)  # what was read is written, cancelled or not

    if not stats.cancelled:
        with db.write() as session:
            writer = CatalogueWriter(session, project_id, project_path)
            for gone_source in found.gone:
                writer.mark_source_gone(gone_source.pk)
            if found.whole:
                writer.replace_project_warnings(found.walk_warnings)
                touch_project(session, project_id)
            else:
                writer.add_warnings(found.walk_warnings, source_pk=None)
        stats.forgotten = len(found.gone)
    stats.warnings += len(found.walk_warnings)
    stats.seconds = time.perf_counter() - began
    task.report(stats.sources, stats.sources, f"indexed {project.name}", force=True)
    return stats


_Changed = tuple[Reader, SourceRef, "StoredSource | None", str]  # with the stored state and new fingerprint


class _Plan(NamedTuple):
    """What the first half of a pass found, for the second to read and write."""

    project_id: int
    changed: list[_Changed]  # sources whose fingerprint changed
    gone: list[StoredSource]  # stored sources the walk no longer found
    walk_warnings: list[ReadWarning]
    whole: bool  # whether the walk covered the whole project


def _find_changed(
    db: Database, project: Path, project_path: str, task: Task, starts: list[Path] | None, stats: IndexStats
) -> _Plan | None:
    """The first half of a pass, from the stored read positions and the walk. None when the
    pass ends here (the project's folder is missing, or the pass was cancelled).

    Each fingerprint is taken before its source is read, so a change made while it is read
    shows in the next pass's fingerprint. Only what the reads need outlives this function:
    the collector, back on after it, would otherwise go through every source of the walk."""
    with db.read() as session:
        rows = project_rows(session, project_path)
        if not rows:
            raise ProjectError(f"{project_path} is not a registered project (labdeck add adds it)")
        project_id = rows[0][0]
        stored = CatalogueWriter(session, project_id, project_path).stored_sources()
        others = _other_projects(project_path, [p for _, p in project_rows(session)])
    if not project.is_dir():
        _write_project_warnings(db, project_id, project_path, [
            ReadWarning("project-missing", f"the project folder {project_path} is missing; its runs are kept")
        ])
        return None

    roots = [s for s in starts or [] if s.is_dir()] or None
    mounted = mounts_below(os.path.realpath(project))
    if mounted:
        # Only a whole walk tells a folder mounted a second time inside the project from the
        # first path to it: a change seen under the second path would index its runs again.
        roots = None
    task.report(0, None, f"scanning {project.name}", force=True)
    walk = _walk(project, roots, stored, task, others, mounted)
    stats.sources = len(walk.sources)
    seen: set[tuple[str, str]] = set()
    changed: list[_Changed] = []
    for i, (reader, source) in enumerate(walk.sources):
        if i % 64 == 0 and task.cancelled:
            break
        key = (reader.key, source.rel)
        seen.add(key)
        before = stored.get(key)
        try:
            fingerprint = reader.fingerprint(source)
        except OSError:
            fingerprint = ""
        if before is not None and fingerprint and before.fingerprint == fingerprint:
            stats.skipped += 1
        else:
            changed.append((reader, source, before, fingerprint))
    if task.cancelled:  # a walk cut short found only part of the sources: forget nothing
        stats.cancelled = True
        return None
    gone = _vanished(stored, seen, roots, project, walk.warnings)
    return _Plan(project_id, changed, gone, walk.warnings, roots is None)


def _walk(
    project: Path, roots: list[Path] | None, stored: dict[tuple[str, str], StoredSource], task: Task,
    others: frozenset[str], mounted: bool,
) -> WalkResult:
    """The whole project, or each of ``roots`` plus the known sources that hold them; never
    what lies in another registered project (``others``, real paths): a folder added as a
    project and as part of a bigger one listed every run twice."""
    def cancelled() -> bool:
        return task.cancelled

    memo = _listings_of(project)
    if roots is None:
        return walk_project(project, all_readers(), cancelled=cancelled, others=others, mounted=mounted, memo=memo)
    merged = WalkResult()
    found: set[tuple[str, str]] = set()
    for root in roots:
        part = walk_project(project, all_readers(), start=root, cancelled=cancelled, others=others, mounted=False,
                            memo=memo)
        around = _sources_around(stored, project, root)
        part.sources.extend(s for s in around if not within(os.path.realpath(s[1].path), others))
        for reader, source in part.sources:
            if (reader.key, source.rel) not in found:  # a source above two roots is read once
                found.add((reader.key, source.rel))
                merged.sources.append((reader, source))
        merged.warnings.extend(part.warnings)
        merged.folders += part.folders
    return merged


def _other_projects(project_path: str, paths: list[str]) -> frozenset[str]:
    """The real paths of the registered projects this one must leave alone: those inside
    it and those elsewhere (reached through a link), not the ones that hold it."""
    mine = os.path.realpath(project_path)
    reals = {os.path.realpath(p) for p in paths}
    return frozenset(r for r in reals if not within(mine, [r]))


def _sources_around(
    stored: dict[tuple[str, str], StoredSource], project: Path, walk_root: Path
) -> list[tuple[Reader, SourceRef]]:
    """Known sources whose folder holds ``walk_root``: a change deep inside an MLflow store
    or a checkpoint folder belongs to the source found higher up."""
    scope = walk_root.relative_to(project).as_posix()
    found = []
    for reader_key, rel in stored:
        if rel and rel != scope and scope.startswith(rel + "/"):
            try:
                reader = reader_for(reader_key)
            except KeyError:
                continue
            found.append((reader, SourceRef(reader.format, project / rel, rel)))
    return found


def _read(reader: Reader, source: SourceRef, stored: StoredSource | None, fingerprint: str) -> _Parsed:
    cursor = (stored.cursor or None) if stored is not None else None
    try:
        result = reader.read_on(source, cursor)
    except Exception as exc:  # noqa: BLE001 - one broken reader or file must not stop the index
        where = traceback.extract_tb(exc.__traceback__)[-1]
        result = ReadResult(
            runs=[],
            cursor=cursor or {},
            warnings=[
                ReadWarning(
                    "reader-error",
                    f"the {reader.format} reader failed on {source.rel or '.'}: "
                    f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})",
                    source.rel,
                )
            ],
        )
        # Keep the old fingerprint so the source is tried again on the next pass.
        fingerprint = stored.fingerprint if stored is not None else ""
    if cursor is None and result.complete:
        # A read from the start holds every point: it replaces what an earlier read stored
        # (a reset cursor, a source back from gone) instead of adding to it.
        for run in result.runs:
            run.replace_series = True
    points = sum(len(p) for run in result.runs for p in run.points.values())
    return _Parsed(reader, source, fingerprint, result, points, started_from=stored)


def _write_batch(db: Database, project_id: int, project_path: str, batch: list[_Parsed], stats: IndexStats) -> None:
    if not batch:
        return
    with db.write() as session:
        writer = CatalogueWriter(session, project_id, project_path)
        for parsed in batch:
            try:
                with writer.savepoint():
                    if not _write_source(writer, parsed):
                        continue
            except Exception as exc:  # noqa: BLE001 - one source that cannot be stored must not stop the index
                _write_failed(writer, parsed, exc)
                stats.warnings += 1
                continue
            result = parsed.result
            stats.read += 1
            stats.runs += len(result.runs)
            stats.points += parsed.points + result.points_in_source
            stats.warnings += len(result.warnings) + sum(len(r.warnings) for r in result.runs)


def _write_source(writer: CatalogueWriter, parsed: _Parsed) -> bool:
    """Store one source's read; False when the stored read position moved since the read
    began (another writer stored it: storing this read too would add its points twice)."""
    result = parsed.result
    start = parsed.started_from
    if not writer.source_state_is(parsed.reader.key, parsed.source.rel, start):
        return False
    source_pk = writer.upsert_source(parsed.reader.key, parsed.source.rel)
    writer.clear_warnings(source_pk, transient_only=not result.complete)
    writer.add_warnings(result.warnings, source_pk=source_pk)
    for run in result.runs:
        writer.apply_run(source_pk, parsed.source.format, run)
    if result.complete:
        writer.mark_runs_gone_except(source_pk, {r.source_id for r in result.runs})
    if result.registered_models is not None:
        writer.replace_registered_models(source_pk, result.registered_models)
    writer.save_source_state(source_pk, parsed.fingerprint, result.cursor)
    return True


def _write_failed(writer: CatalogueWriter, parsed: _Parsed, exc: Exception) -> None:
    """The read could not be stored: a warning on the source, whose stored state is left as
    it was, so the next pass tries again from there."""
    where = traceback.extract_tb(exc.__traceback__)[-1]
    source_pk = writer.upsert_source(parsed.reader.key, parsed.source.rel)
    writer.add_warnings(
        [
            ReadWarning(
                "index-write-error",
                f"what the {parsed.reader.format} reader found in {parsed.source.rel or '.'} could not be "
                f"stored: {type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})",
                parsed.source.rel,
            )
        ],
        source_pk=source_pk,
    )


def _write_project_warnings(db: Database, project_id: int, project_path: str, warnings: list[ReadWarning]) -> None:
    with db.write() as session:
        CatalogueWriter(session, project_id, project_path).replace_project_warnings(warnings)


def _vanished(
    stored: dict[tuple[str, str], StoredSource],
    seen: set[tuple[str, str]],
    roots: list[Path] | None,
    project: Path,
    walk_warnings: list[ReadWarning],
) -> list[StoredSource]:
    """Sources indexed before that the walk covered but did not find (their folder was deleted).

    Sources under a folder the walk could not read are kept: unreadable is not deleted.
    """
    scopes = [""] if roots is None else [r.relative_to(project).as_posix() for r in roots]
    scopes = ["" if s == "." else s for s in scopes]
    blocked = [w.path for w in walk_warnings if w.path]
    gone = []
    for (fmt, rel), source in stored.items():
        if (fmt, rel) in seen or source.gone:
            continue
        if not any(not s or rel == s or rel.startswith(s + "/") for s in scopes):
            continue
        if any(rel == b or rel.startswith(b + "/") for b in blocked):
            continue
        gone.append(source)
    return gone
