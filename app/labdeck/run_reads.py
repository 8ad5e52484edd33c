"""The runs reads the desktop app makes (its table's shape, details, series, diffs), Qt-free,
reached through the facade as ``Workspace.reads``.

Every method here may block on disk or SQLite, so the UI calls them only through
``ui.ops.ReadChannels.submit`` (worker threads). Results are frozen values, safe to hand over.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from labdeck.db import compare, grouping, run_links, run_listing
from labdeck.db.entities import ProjectInfo, RunInfo, Series
from labdeck.runs.fold import Source, fold_many
from labdeck.runs.query import QueryError, parse_query, parse_sort
from labdeck.runs.table_shape import (
    GroupMeans,
    GroupMembers,
    RunTree,
    flat,
    grouped_by_members,
    nested,
    with_other_sources,
)

if TYPE_CHECKING:
    import sqlite3

    import numpy as np

    from labdeck.db.listing_orders import ListingOrders
    from labdeck.workspace import Workspace

T = TypeVar("T")
LOG_NAMES = ("stdout.log", "output.log", "stdout.txt", "train.log", "log.txt")
LOG_TAIL_BYTES = 64 * 1024
MAX_ARTIFACTS = 2000


@dataclass(frozen=True)
class Artifact:
    path: str  # absolute
    relative: str
    size: int


@dataclass(frozen=True)
class RunDetail:
    run: RunInfo
    provenance: dict
    folder: str  # the run folder (or the project, for runs without one)
    artifacts: tuple[Artifact, ...] = ()
    log_name: str = ""
    log_tail: str = ""


@dataclass(frozen=True)
class RunBundle:
    """Runs with their provenance (for the diff view)."""

    runs: tuple[RunInfo, ...]
    provenance: dict[str, dict] = field(default_factory=dict)  # run id -> provenance


@dataclass(frozen=True)
class TableRequest:
    """What the runs table asks for: a query's runs in an order and a scope, grouped or not."""

    query: str = ""
    sort: str = ""
    project: str | None = None
    experiment: str | None = None
    group_by: str = ""
    # The query's runs as shown already, when only the grouping changed: the listing (a sort
    # of every run) is most of the cost.
    listed: list[int] | None = None
    means_of: tuple[str, ...] = ()  # metrics whose group means come with the groups


@dataclass(frozen=True)
class ShownRuns:
    """A query's runs shaped for the table, with the runs of its first rows read with the
    listing: the table shows them without a second round trip (20 ms at 100,000 runs)."""

    tree: RunTree
    first_rows: dict[int, RunInfo] = field(default_factory=dict)  # pk -> run


class RunReads:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._orders: ListingOrders | None = None

    def close(self) -> None:
        if self._orders is not None:
            self._orders.close()

    # Table -----------------------------------------------------------------

    def keep_orders(self) -> None:
        """From now on, keep what orders listings in memory (``db.listing_orders``): a sort or
        filter listed again while the index is unchanged is ordered by NumPy, not SQL. Called
        once the first page is shown, on a worker: it loads NumPy and reads the default order,
        which the first page does not wait for."""
        from labdeck.db.listing_orders import ListingOrders

        if self._orders is None:
            self._orders = ListingOrders(self.workspace.db.path)
        self.prepare_orders(TableRequest())

    def prepare_orders(self, asked: TableRequest, columns: Sequence[str] = (),
                       pause: Callable[[], object] = lambda: None) -> None:
        """Keep what ``asked``'s listing needs, for the index as it is now, and what orders
        runs by each sort field of ``columns`` (the columns shown): the table asks after each
        listing it shows, so the user never waits for it (read in SQL, each costs about
        what listing in SQL costs), and the first click on a shown column's header is as
        fast as the next. What is kept follows the index's changes (``db.listing_orders``).
        ``pause()`` is called between steps (the app's waits while the user waits for a read)."""
        if self._orders is None:
            return
        from labdeck.db.sort_ranks import Unrankable  # NumPy: loaded by keep_orders already

        try:
            self._orders.run_pks(parse_query(asked.query), parse_sort(asked.sort), project=asked.project,
                                 experiment=asked.experiment)
        except Unrankable:
            pass  # odd values in a sorted column: such listings stay in SQL
        self.prepare_columns(columns, pause)

    def prepare_columns(self, columns: Sequence[str], pause: Callable[[], object] = lambda: None) -> None:
        """Keep what orders runs by each sort field of ``columns`` (``prepare_orders``)."""
        if self._orders is None:
            return
        from labdeck.db.sort_ranks import Unrankable

        for column in columns[: self._orders.KEPT_FIELDS - 2]:  # room left for the listing's own
            pause()
            try:
                for key in parse_sort(column):
                    self._orders.keep_field(key.field)
            except (QueryError, Unrankable):
                continue  # a column that does not sort, or sorts only in SQL

    def run_pks(
        self, query: str, sort: str, project: str | None, experiment: str | None = None
    ) -> list[int]:
        if self._orders is not None:
            kept = self._orders.run_pks(parse_query(query), parse_sort(sort), project=project,
                                        experiment=experiment, kept_only=True)
            if kept is not None:
                return kept
        return self.workspace.run_pks(
            query, sort, project=project, experiment=experiment
        )

    def run_tree(self, asked: TableRequest) -> RunTree:
        """The query's runs shaped for the table: grouped by ``group_by``'s value (with each
        group's mean of the metrics ``means_of``), or nested runs under their parents (or flat
        when there are none)."""
        pks = asked.listed
        if pks is None:
            pks = self.run_pks(asked.query, asked.sort, asked.project, asked.experiment)
        if not pks:
            return flat(pks)
        if asked.group_by:
            # The metrics' columns are read on a second thread while the key's values are read
            # here: SQLite leaves the GIL while it steps, and at 100,000 runs the two reads side
            # by side take 80 ms where one after the other took 135 ms.
            with ThreadPoolExecutor(1, thread_name_prefix="labdeck-means") as beside:
                columns = beside.submit(self._metric_columns, asked.means_of)
                members = self._group_members(asked.group_by)
                tree = grouped_by_members(pks, members, asked.group_by)
                with self.workspace.db.rows() as conn:
                    tree = with_other_sources(tree, set(grouping.other_sources(conn, set(pks))))
                means = self._means(tree, columns.result())
            return replace(tree, means=means, means_of=asked.means_of).prepared()
        with self.workspace.db.rows() as conn:
            tree = nested(pks, grouping.parents(conn, pks))
        return tree.prepared()

    def shown_runs(self, asked: TableRequest, first_rows: int = 0) -> ShownRuns:
        """``run_tree``, with the runs of the first ``first_rows`` in the query's order (not
        for groups: their rows are the groups', and a group's runs are scattered in that order)."""
        tree = self.run_tree(asked)
        if not first_rows or asked.group_by:
            return ShownRuns(tree)
        return ShownRuns(tree, self.runs_keyed(tree.pks[:first_rows]))

    def group_means(self, tree: RunTree, metrics: list[str]) -> GroupMeans:
        """group node -> metric -> (mean of its runs' last values, how many runs have one)."""
        return self._means(tree, self._metric_columns(metrics))

    def _group_members(self, key: str) -> GroupMembers:
        def read() -> GroupMembers:
            return GroupMembers.of(self.workspace.group_members(key))

        def follow(members: GroupMembers, conn: sqlite3.Connection, changed: list[int]) -> GroupMembers:
            return members.following(changed, grouping.members(conn, key, among=changed))

        return self._kept(("members", key), read, follow)

    def _metric_columns(self, metrics: Iterable[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        import numpy as np  # as _means: not loaded with the window

        def read(key: str) -> tuple[np.ndarray, np.ndarray]:  # kept as arrays: 26 ms each time from lists
            with self.workspace.db.rows() as conn:
                pks, lasts = grouping.metric_lasts(conn, key)
            return np.asarray(pks, dtype=np.int64), np.asarray(lasts, dtype=np.float64)

        def follow(key: str, column: tuple[np.ndarray, np.ndarray], conn: sqlite3.Connection,
                   changed: list[int]) -> tuple[np.ndarray, np.ndarray]:
            pks, lasts = column
            kept = ~np.isin(pks, np.asarray(changed, dtype=np.int64))
            new_pks, new_lasts = grouping.metric_lasts(conn, key, among=changed)
            return (np.concatenate([pks[kept], np.asarray(new_pks, dtype=np.int64)]),
                    np.concatenate([lasts[kept], np.asarray(new_lasts, dtype=np.float64)]))

        return {key: self._kept(("lasts", key), partial(read, key), partial(follow, key)) for key in metrics}

    def _kept(self, key: tuple, read: Callable[[], T], follow: Callable[[T, sqlite3.Connection, list[int]], T]) -> T:
        """``read()``, kept while the index is unchanged once listings are ordered in memory
        (``keep_orders``), and brought up to a change by ``follow`` (the value, a connection
        in the changed index's snapshot, the pks of the runs changed): regrouping 100,000
        runs then reads no column twice, and after a watcher's pass only the changed runs."""
        return read() if self._orders is None else self._orders.kept(key, read, follow)

    @staticmethod
    def _means(tree: RunTree, columns: dict[str, tuple[np.ndarray, np.ndarray]]) -> GroupMeans:
        """Over every run of every group, from one read of each metric's column: a group of
        25,000 runs needs no page of them loaded."""
        import numpy as np  # here: this module loads with the window, before NumPy is needed
        out: GroupMeans = {node: {} for node in tree.children}
        numbers = tree.group_numbers
        if numbers is None:
            return out
        # A training's second record (other_sources) would count it twice.
        counted = np.ones(len(tree.pks) + 1, dtype=bool)  # by position; the last: not listed
        if tree.other_sources:
            counted[tree.positions(np.fromiter(tree.other_sources, dtype=np.int64))] = False
        counted[-1] = False
        for key, (run_pks, lasts) in columns.items():
            where = tree.positions(np.asarray(run_pks, dtype=np.int64))
            values = np.asarray(lasts, dtype=np.float64)
            keep = counted[where] & np.isfinite(values)
            group = numbers[where[keep]]
            sums = np.bincount(group, weights=values[keep], minlength=len(tree.groups))
            counts = np.bincount(group, minlength=len(tree.groups))
            for g in np.flatnonzero(counts):
                out[RunTree.group_node(int(g))][key] = (float(sums[g] / counts[g]), int(counts[g]))
        return out

    def projects(self) -> tuple[list[ProjectInfo], list[tuple[str, str, int]]]:
        """Project folders and their experiments (for the sidebar)."""
        with self.workspace.db.rows() as conn:
            experiments = compare.experiments(conn)
        return self.workspace.projects(), experiments

    def runs(self, pks: list[int]) -> list[RunInfo]:
        return self.workspace.runs_by_pk(pks)

    def runs_keyed(self, pks: list[int]) -> dict[int, RunInfo]:
        """pk -> run; runs removed since ``pks`` was read are simply absent."""
        runs = self.workspace.runs_by_pk(pks)
        if len(runs) == len(pks):
            return dict(zip(pks, runs))
        with self.workspace.db.rows() as conn:
            ids = compare.pks_for_uids(conn, [r.id for r in runs])
        return {ids[r.id]: r for r in runs if r.id in ids}

    def hide(self, pks: list[int]) -> int:
        """Hide runs from the lists (a write; the run folders are not touched)."""
        return self.workspace.set_hidden_by_pk(pks, hidden=True)

    def known_keys(self) -> dict[str, list[str]]:
        return self.workspace.known_keys()

    def pks_for_ids(self, run_ids: list[str]) -> dict[str, int]:
        with self.workspace.db.rows() as conn:
            return compare.pks_for_uids(conn, run_ids)

    def ids(self, pks: list[int]) -> list[str]:
        """The run ids of ``pks``, in their order (runs gone since are left out)."""
        with self.workspace.db.rows() as conn:
            found = compare.uids_of(conn, pks)
        return [found[pk] for pk in pks if pk in found]

    def folders(self, pks: list[int]) -> dict[int, str]:
        with self.workspace.db.rows() as conn:
            found = compare.run_folders(conn, pks)
        return {pk: _join(project, path) for pk, (project, path, _a) in found.items()}

    # Details ---------------------------------------------------------------

    def detail(self, pk: int) -> RunDetail | None:
        runs = self.workspace.runs_by_pk([pk])
        if not runs:
            return None
        with self.workspace.db.rows() as conn:
            provenance = _loads(compare.provenance_texts(conn, [pk]).get(pk, "{}"))
            project, path, artifact_dir = compare.run_folders(conn, [pk]).get(
                pk, ("", "", None)
            )
        folder = _join(project, path)
        log_name, log_tail = read_log_tail(folder) if path else ("", "")
        return RunDetail(
            run=runs[0],
            provenance=provenance,
            folder=folder,
            artifacts=tuple(list_artifacts(artifact_dir)) if artifact_dir else (),
            log_name=log_name,
            log_tail=log_tail,
        )

    def bundle(self, pks: list[int]) -> RunBundle:
        runs = self.workspace.runs_by_pk(pks)
        with self.workspace.db.rows() as conn:
            texts = compare.provenance_texts(conn, pks)
        ids = dict(zip(pks, (r.id for r in runs)))
        return RunBundle(
            tuple(runs), {ids[pk]: _loads(t) for pk, t in texts.items() if pk in ids}
        )

    # Series ----------------------------------------------------------------

    def series(
        self, run_ids: list[str], keys: list[str]
    ) -> dict[str, dict[str, Series]]:
        """run id -> metric -> every point; a run with linked sources in other formats (one
        training's CSV and TensorBoard logs) gets each metric from its richest source."""
        with self.workspace.db.rows() as conn:
            pks = compare.pks_for_uids(conn, run_ids)
            by_pk = compare.series_many(conn, list(pks.values()), keys)
            links = run_links.linked_sources(conn, list(pks.values()))
            if not links:
                return {uid: by_pk.get(pk, {}) for uid, pk in pks.items()}
            parents = list(links)
            twins = sorted({c for kids in links.values() for c in kids})
            info = dict(zip(parents + twins, run_listing.runs_by_pk(conn, parents + twins, with_warnings=False)))
            # All of a twin's keys: its names may differ (a Trainer's TensorBoard: train/loss).
            twin_series = {pk: compare.series_of(conn, pk) for pk in twins}
        own = {info[pk].id: Source(info[pk].id, info[pk].format, by_pk.get(pk, {})) for pk in parents}
        linked = {
            info[pk].id: [Source(info[c].id, info[c].format, twin_series[c]) for c in kids]
            for pk, kids in links.items()
        }
        folded = fold_many(own, linked, keys)
        return {uid: folded.get(uid, by_pk.get(pk, {})) for uid, pk in pks.items()}


def _join(project: str, path: str) -> str:
    return str(Path(project) / path) if path else project


def _loads(text: str) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def list_artifacts(folder: str) -> list[Artifact]:
    """Files under a run's artifact folder (bounded: a run may hold huge trees)."""
    root = Path(folder)
    out: list[Artifact] = []
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            try:
                size = p.stat().st_size
            except OSError:
                continue
            out.append(Artifact(str(p), p.relative_to(root).as_posix(), size))
            if len(out) >= MAX_ARTIFACTS:
                return out
    return out


def read_log_tail(folder: str) -> tuple[str, str]:
    """The last ~64 KiB of the run's stdout/log file, if it has one."""
    for name in LOG_NAMES:
        p = Path(folder) / name
        try:
            with p.open("rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - LOG_TAIL_BYTES))
                data = f.read()
        except OSError:
            continue
        text = data.decode("utf-8", errors="replace")
        if size > LOG_TAIL_BYTES:
            text = text.split("\n", 1)[-1]  # drop the partial first line
        return name, text
    return "", ""


def git_diff(root: str, a: str, b: str, *, timeout: float = 20.0) -> str:
    """``git diff A B`` in ``root`` (a code diff between two runs' commits)."""
    try:
        done = subprocess.run(
            ["git", "-C", root, "diff", "--stat", "--patch", a, b],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"git diff failed: {exc}"
    if done.returncode != 0:
        return f"git diff failed: {done.stderr.strip()}"
    return done.stdout or "(no differences)"
