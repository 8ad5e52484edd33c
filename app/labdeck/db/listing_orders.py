"""The app's runs listings, ordered in memory: the matching runs come from SQL unordered, and
their order from rank columns (``db.sort_ranks``) kept between listings.

Sorting 100,000 runs in SQL took 180–360 ms on every click of a column header, most of it
SQLite probing and sorting every run again; a NumPy sort of kept ranks takes a few ms. What
is kept is read in the same snapshot as the listing it serves. When another connection
commits (the connection here only reads, so SQLite's ``data_version`` changes exactly when
the index does: any process, any writer), the journal of changed runs (``db.run_changes``)
says which runs that touched, and only theirs are read again; where it cannot say (too
many, an index without it), everything kept is dropped. The order equals
``run_listing.run_pks``'s for the same query (a test compares them, before and after changes).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from sqlite3 import Connection
from typing import TypeVar, cast

import numpy as np

from labdeck.db import connection, run_changes, run_listing, sort_ranks
from labdeck.db.filters import Field, Filter, SortKey

T = TypeVar("T")


class ListingOrders:
    KEPT_FIELDS = 16  # rank columns kept: 800 KB each at 100,000 runs
    KEPT_LISTINGS = 8  # matching runs of recent queries (the runs of a scope, a filter)
    KEPT_READS = 16  # other columns (a group-by key's values, a metric's values)
    FOLLOWED = 5_000  # changed runs re-read after a commit; more, and everything is read anew
    SHORT_WAIT_S = 0.05  # what a read waits for the lock before reading without keeping

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()  # one listing at a time on the one connection
        self._conn: Connection | None = None
        self._file: tuple[int, int] | None = None  # the index file's (device, inode) when connected
        self._version: int | None = None
        self._journal: int | None = None  # the last change to runs that what is kept has seen
        self._newest: sort_ranks.NewestFirst | None = None
        self._fields: OrderedDict[Field, list[sort_ranks.RankColumn]] = OrderedDict()
        self._listings: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._asked: dict[tuple, tuple] = {}  # a kept listing's query, to ask it of changed runs
        self._reads: OrderedDict[tuple, tuple[object, Callable]] = OrderedDict()  # value, follow

    def run_pks(
        self,
        where: Filter | None,
        sort: Sequence[SortKey] = (),
        *,
        include_deleted: bool = False,
        project: str | None = None,
        experiment: str | None = None,
        kept_only: bool = False,
    ) -> list[int] | None:
        """``run_listing.run_pks`` for the same arguments, reading what is not kept. Raises
        ``sort_ranks.Unrankable`` for a numeric column holding text (the caller sorts in SQL).

        ``kept_only``: None unless all it needs is kept for the index as it is now (or while
        another listing holds the connection): the caller lists in SQL, as fast as it was
        before anything was kept, and may keep it afterwards, off the user's path."""
        if not self._lock.acquire(blocking=not kept_only):
            return None
        try:
            return self._ordered(where, sort, include_deleted, project, experiment, build=not kept_only)
        finally:
            self._lock.release()

    def _ordered(self, where: Filter | None, sort: Sequence[SortKey], include_deleted: bool,
                 project: str | None, experiment: str | None, *, build: bool) -> list[int] | None:
        sql, params = run_listing.listing_sql(
            where, include_deleted=include_deleted, project=project, experiment=experiment, ordered=False
        )
        with self._snapshot() as conn:
            if not build and not self._keeps((sql, tuple(params)), [key.field for key in sort]):
                return None
            pks = self._matching(conn, sql, params, (where, include_deleted, project, experiment))
            newest = self._newest_first(conn)
            keys = [newest.ranks()[pks]]  # np.lexsort: the last key is the first sorted by
            for key in reversed(sort):
                for column in reversed(self._field_ranks(conn, key.field, newest.size)):
                    keys.extend(column.keys(pks, key.descending))
            return pks[np.lexsort(keys)].tolist()

    def keep_field(self, field: Field) -> None:
        """Keep what orders runs by ``field`` (a column shown, not yet sorted by): the first
        click on its header is then a NumPy sort. Raises ``sort_ranks.Unrankable`` as
        ``run_pks`` does."""
        with self._lock, self._snapshot() as conn:
            self._field_ranks(conn, field, self._newest_first(conn).size)

    def _keeps(self, listing: tuple, fields: list[Field]) -> bool:
        return (self._newest is not None and listing in self._listings
                and all(field in self._fields for field in fields))

    def kept(self, key: tuple, read: Callable[[], T], follow: Callable[[T, Connection, list[int]], T]) -> T:
        """``read()``'s value (a read of the index that callers do not change), kept until the
        index changes, and then ``follow(value, connection, changed pks)``'s. It reads on its
        own connection, outside the lock: a commit after the check below makes the next
        check drop what it read, so nothing kept is ever older than the index."""
        # Not waiting long on the lock: a column being kept for later holds it for up to a
        # quarter of a second, and this read is wanted now (a read beside it holds it for
        # a few ms).
        if not self._lock.acquire(timeout=self.SHORT_WAIT_S):
            return read()
        try:
            with self._snapshot():
                version = self._version
                if key in self._reads:
                    self._reads.move_to_end(key)
                    return cast(T, self._reads[key][0])
        finally:
            self._lock.release()
        value = read()
        if self._lock.acquire(timeout=self.SHORT_WAIT_S):
            try:
                if self._version == version:
                    _kept(self._reads, key, self.KEPT_READS, lambda: (value, follow))
            finally:
                self._lock.release()
        return value

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._forget()

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """One read transaction; what is kept is dropped first if the index changed since."""
        # An index file replaced (moved over, deleted and made again) is another index: the
        # connection would go on reading the old file, whose version never changes again.
        try:
            file = os.stat(self._path)
            identity: tuple[int, int] | None = (file.st_dev, file.st_ino)
        except OSError:
            identity = None  # gone: connecting below says so, as any read of it does
        if self._conn is not None and identity != self._file:
            self._conn.close()
            self._conn = None
        if self._conn is None:
            self._forget()
            self._conn = connection.connect(self._path, shared=True)
            self._file = identity
        conn = self._conn
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT 1 FROM runs LIMIT 1").fetchall()  # the snapshot starts here
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._follow(conn)
                self._version = version
            yield conn
        finally:
            conn.execute("ROLLBACK")  # nothing was written

    def _follow(self, conn: Connection) -> None:
        """Bring what is kept up to the snapshot: re-read the runs changed since, or drop it all."""
        latest = run_changes.latest(conn)
        changed = None
        if latest is not None and self._journal is not None and self._newest is not None:
            changed = run_changes.changed_since(conn, self._journal, self.FOLLOWED)
        if changed is None:
            self._forget()
        elif len(changed):
            try:
                self._patch(conn, changed)
            except BaseException:
                self._forget()  # half followed is not kept
                raise
        self._journal = latest

    def _patch(self, conn: Connection, changed: np.ndarray) -> None:
        assert self._newest is not None
        listed = changed.tolist()
        for key, (value, follow) in list(self._reads.items()):
            self._reads[key] = (follow(value, conn, listed), follow)
        self._newest.patch(conn, changed, int(changed.max()) + 1)
        size = self._newest.size
        for field, columns in list(self._fields.items()):
            if not all(column.patch(conn, changed, size) for column in columns):
                del self._fields[field]
        for listing, pks in list(self._listings.items()):
            where, include_deleted, project, experiment = self._asked[listing]
            sql, params = run_listing.listing_sql(where, include_deleted=include_deleted, project=project,
                                                  experiment=experiment, ordered=False, among=listed)
            self._listings[listing] = np.concatenate([pks[~np.isin(pks, changed)], _pks_of(conn, sql, params)])

    def _forget(self) -> None:
        self._version = None
        self._journal = None
        self._newest = None
        self._fields.clear()
        self._listings.clear()
        self._asked.clear()
        self._reads.clear()

    def _newest_first(self, conn: Connection) -> sort_ranks.NewestFirst:
        if self._newest is None:
            self._newest = sort_ranks.NewestFirst(conn)
        return self._newest

    def _field_ranks(self, conn: Connection, field: Field, size: int) -> list[sort_ranks.RankColumn]:
        return _kept(self._fields, field, self.KEPT_FIELDS, lambda: sort_ranks.field_ranks(conn, field, size))

    def _matching(self, conn: Connection, sql: str, params: list, asked: tuple) -> np.ndarray:
        listing = (sql, tuple(params))
        self._asked[listing] = asked
        pks = _kept(self._listings, listing, self.KEPT_LISTINGS, lambda: _pks_of(conn, sql, params))
        for gone in set(self._asked) - set(self._listings):
            del self._asked[gone]
        return pks


def _pks_of(conn: Connection, sql: str, params: Sequence) -> np.ndarray:
    """The pks ``sql`` (a listing) selects, as one row of text (``group_concat``)."""
    return sort_ranks.pk_array(conn.execute(f"SELECT group_concat(pk) FROM ({sql})", params).fetchone()[0])


def _kept(store: OrderedDict, key, limit: int, make):
    """``store[key]``, made on a miss; the least recently used goes beyond ``limit``."""
    if key in store:
        store.move_to_end(key)
        return store[key]
    store[key] = value = make()
    if len(store) > limit:
        store.popitem(last=False)
    return value

