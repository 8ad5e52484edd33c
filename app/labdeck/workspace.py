"""The operations every front end shares (CLI verbs, GUI actions), over one index file."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labdeck.db.engine import Database
from labdeck.paths import default_index_path, normalise
from labdeck.runs import series_loaders  # noqa: F401 - registers the loaders of points kept in a tool's store
from labdeck.tasks import Task

# Projects, runs, warnings, points and provenance are read in plain SQL (``db/run_listing.py``,
# ``db/compare.py``); what needs SQLAlchemy (writes, indexing, the registries found in sources)
# imports it in the method, so `labdeck runs` starts without it (``scripts/bench_cli.py``).
# The runs' reads too are imported where used: the query language, RE2 and the runs' records
# cost `labdeck dataset add` about 30 ms of start-up it does not use.
if TYPE_CHECKING:
    from labdeck.db.entities import ProjectInfo, RunInfo, Series, WarningInfo
    from labdeck.runs.fold import Folded
    from labdeck.runs.index_stats import IndexStats
    from labdeck.cards.service import CardService
    from labdeck.datasets.adding import DatasetAdding
    from labdeck.datasets.listing import DatasetListing
    from labdeck.datasets.service import Datasets
    from labdeck.models.publish import Publisher
    from labdeck.models.versions import ModelService
    from labdeck.run_reads import RunReads
    from labdeck.runs.watcher import Watcher


class Workspace:
    """One index and every capability over it: what the UI and the CLI reach, never the
    database itself. Runs are methods here; the other capabilities are services made on first
    use (each imports its own libraries: a verb that needs no datasets never loads pandas)."""

    def __init__(self, index_path: str | os.PathLike | None = None) -> None:
        self.index_path = Path(index_path) if index_path else default_index_path()
        self.db = Database(self.index_path)

    def close(self) -> None:
        if "reads" in self.__dict__:
            self.reads.close()
        self.db.close()

    # Capabilities ----------------------------------------------------------

    @cached_property
    def datasets(self) -> Datasets:
        from labdeck.datasets.service import Datasets

        return Datasets(self.db)

    @cached_property
    def dataset_listing(self) -> DatasetListing:
        """The datasets and their versions, read without loading what ``datasets`` writes with."""
        from labdeck.datasets.listing import DatasetListing

        return DatasetListing(self.db)

    @cached_property
    def dataset_adding(self) -> DatasetAdding:
        """Adding dataset versions, in plain SQL (what `labdeck dataset add` loads); ``datasets``
        does the same and everything else."""
        if "datasets" in self.__dict__:  # made already (the app): one service, one registration
            return self.datasets
        from labdeck.datasets.adding import DatasetAdding

        return DatasetAdding(self.db)

    @cached_property
    def models(self) -> ModelService:
        from labdeck.models.versions import ModelService

        return ModelService(self.db)

    @cached_property
    def publisher(self) -> Publisher:
        from labdeck.models.publish import Publisher

        return Publisher(self.db)

    @cached_property
    def cards(self) -> CardService:
        from labdeck.cards.service import CardService

        return CardService(self.db)

    @cached_property
    def reads(self) -> RunReads:
        """The desktop app's reads of runs (table shape, details, series)."""
        from labdeck.run_reads import RunReads

        return RunReads(self)

    def watcher(self, **options: Any) -> Watcher:
        """A file watcher over every registered project (``runs.watcher.Watcher``'s options)."""
        from labdeck.runs.watcher import Watcher

        return Watcher(self.db, **options)

    # Projects ------------------------------------------------------------

    def add_project(self, path: str | os.PathLike) -> tuple[str, bool]:
        """Watch a folder; returns (the project's folder, created). A folder inside a
        watched project returns that project (its runs are indexed there already)."""
        from labdeck.db.projects import add_project

        with self.db.write() as session:
            _, created, folder = add_project(session, path)
        return folder, created

    def remove_project(self, path: str | os.PathLike) -> bool:
        from labdeck.db.projects import remove_project

        with self.db.write() as session:
            return remove_project(session, path)

    def projects(self) -> list[ProjectInfo]:
        from labdeck.db import run_listing

        with self.db.rows() as conn:
            return run_listing.list_projects(conn)

    # Indexing ------------------------------------------------------------

    def index(self, path: str | os.PathLike | None = None, task: Task | None = None) -> IndexStats:
        from labdeck.runs.indexer import index_all, index_project

        if path is None:
            return index_all(self.db, task)
        return index_project(self.db, normalise(path), task=task)

    # Runs ----------------------------------------------------------------

    def run_pks(
        self,
        query: str = "",
        sort: str = "",
        *,
        include_deleted: bool = False,
        project: str | None = None,
        experiment: str | None = None,
    ) -> list[int]:
        from labdeck.db import run_listing
        from labdeck.runs.query import parse_query, parse_sort

        where = parse_query(query)
        keys = parse_sort(sort)
        with self.db.rows() as conn:
            return run_listing.run_pks(
                conn, where, keys, include_deleted=include_deleted, project=project, experiment=experiment
            )

    def group_members(self, key: str) -> list[tuple[str | None, str]]:
        """Each value of ``key`` (a param, tag or attribute) with its runs' pks as
        comma-separated text (see db.grouping.members)."""
        from labdeck.db import grouping

        with self.db.rows() as conn:
            return grouping.members(conn, key)

    def runs(self, query: str = "", sort: str = "", *, include_deleted: bool = False) -> list[RunInfo]:
        pks = self.run_pks(query, sort, include_deleted=include_deleted)
        return self.runs_by_pk(pks)

    def runs_by_pk(self, pks: list[int]) -> list[RunInfo]:
        from labdeck.db import run_listing

        with self.db.rows() as conn:
            return run_listing.runs_by_pk(conn, pks)

    def run(self, ref: str) -> RunInfo:
        from labdeck.db import run_listing

        with self.db.rows() as conn:
            return run_listing.runs_by_pk(conn, [run_listing.find_run_pk(conn, ref)])[0]

    def set_hidden(self, refs: list[str], hidden: bool = True) -> int:
        """Hide runs from labdeck's lists (or show them again); the files stay as they are."""
        from labdeck.db import raw, run_listing
        from labdeck.db.writer import set_runs_hidden

        with self.db.write() as session:
            conn = raw.sqlite_connection(session)
            return set_runs_hidden(session, [run_listing.find_run_pk(conn, ref) for ref in refs], hidden)

    def set_hidden_by_pk(self, pks: list[int], hidden: bool = True) -> int:
        from labdeck.db.writer import set_runs_hidden

        with self.db.write() as session:
            return set_runs_hidden(session, pks, hidden)

    def series(self, ref: str, keys: list[str] | None = None) -> dict[str, Series]:
        from labdeck.db import compare, run_listing

        with self.db.rows() as conn:
            return compare.series_of(conn, run_listing.find_run_pk(conn, ref), keys)

    def training_series(self, ref: str, keys: list[str] | None = None) -> Folded:
        """The run's series with those of its training's other sources (linked runs in other
        formats) folded in, each metric once from its richest source (``runs/fold.py``)."""
        from labdeck.db import compare, run_links, run_listing
        from labdeck.runs.fold import Source, fold

        with self.db.rows() as conn:
            pk = run_listing.find_run_pk(conn, ref)
            pks = [pk, *run_links.linked_sources(conn, [pk]).get(pk, [])]
            infos = run_listing.runs_by_pk(conn, pks)
            sources = [Source(i.id, i.format, compare.series_of(conn, p)) for p, i in zip(pks, infos)]
        folded = fold(sources[0], sources[1:])
        if keys is not None:
            folded.series = {k: v for k, v in folded.series.items() if k in keys}
            folded.chosen = {k: v for k, v in folded.chosen.items() if k in keys}
        return folded

    def warnings(self, project: str | None = None) -> list[WarningInfo]:
        from labdeck.db import run_listing

        with self.db.rows() as conn:
            return run_listing.list_warnings(conn, project=normalise(project) if project else None)

    def registered_models(self, project: str | None = None) -> list[dict]:
        from labdeck.db import catalogue

        with self.db.read() as session:
            return catalogue.registered_models(session, project=normalise(project) if project else None)

    def known_keys(self) -> dict[str, list[str]]:
        from labdeck.db import run_listing

        with self.db.rows() as conn:
            return run_listing.known_keys(conn)

    def provenance(self, ref: str) -> str:
        from labdeck.db import compare, run_listing

        with self.db.rows() as conn:
            pk = run_listing.find_run_pk(conn, ref)
            return compare.provenance_texts(conn, [pk])[pk]
