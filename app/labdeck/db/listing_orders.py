"""The app's runs listings, ordered in memory: the matching runs come from SQL unordered, and
their order from rank columns (``db.sort_ranks``) kept between listings.

Sorting 100,000 runs in SQL took 180–360 ms on every click of a column header, most of it
SQLite probing and sorting every run again; a NumPy sort of kept ranks takes a few ms. What
is kept is read in the same snapshot as the listing it serves, and is dropped as soon as any
other connection commits: the connection here only reads, so SQLite's ``data_version``
changes exactly when the index does (any process, any writer). The order equals
``run_listing.run_pks``'s for the same query (a test compares them).
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

from labdeck.db import connection, run_listing, sort_ranks
from labdeck.db.filters import Field, Filter, SortKey

T = TypeVar("T")


class ListingOrders:
    KEPT_FIELDS = 16  # rank columns kept: 800 KB each at 100,000 runs
    KEPT_LISTINGS = 8  # matching runs of recent queries (the runs of a scope, a filter)
    KEPT_READS = 16  # other columns (a group-by key's values, a metric's values)

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()  # one listing at a time on the one connection
        self._conn: Connection | None = None
        self._file: tuple[int, int] | None = None  # the index file's (device, inode) when connected
        self._version: int | None = None
        self._newest: np.ndarray | None = None
        self._fields: OrderedDict[Field, list[np.ndarray]] = OrderedDict()
        self._listings: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._reads: OrderedDict[tuple, object] = OrderedDict()

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
            pks = self._matching(conn, sql, params)
            newest = self._newest_first(conn)
            keys = [newest[pks]]  # np.lexsort: the last key is the first sorted by
            for key in reversed(sort):
                for ranks in reversed(self._field_ranks(conn, key.field, len(newest))):
                    keys.append(_directed(ranks[pks], key.descending))
            return pks[np.lexsort(keys)].tolist()

    def _keeps(self, listing: tuple, fields: list[Field]) -> bool:
        return (self._newest is not None and listing in self._listings
                and all(field in self._fields for field in fields))

    def kept(self, key: tuple, read: Callable[[], T]) -> T:
        """``read()``'s value (a read of the index that callers do not change), kept until the
        index changes. It reads on its own connection, outside the lock: a commit after the
        check below makes the next check drop what it read, so nothing kept is ever older
        than the index."""
        with self._lock, self._snapshot():
            version = self._version
            if key in self._reads:
                self._reads.move_to_end(key)
                return cast(T, self._reads[key])
        value = read()
        with self._lock:
            if self._version == version:
                _kept(self._reads, key, self.KEPT_READS, lambda: value)
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
                self._forget()
                self._version = version
            yield conn
        finally:
            conn.execute("ROLLBACK")  # nothing was written

    def _forget(self) -> None:
        self._version = None
        self._newest = None
        self._fields.clear()
        self._listings.clear()
        self._reads.clear()

    def _newest_first(self, conn: Connection) -> np.ndarray:
        if self._newest is None:
            self._newest = sort_ranks.newest_first(conn)
        return self._newest

    def _field_ranks(self, conn: Connection, field: Field, size: int) -> list[np.ndarray]:
        return _kept(self._fields, field, self.KEPT_FIELDS, lambda: sort_ranks.field_ranks(conn, field, size))

    def _matching(self, conn: Connection, sql: str, params: list) -> np.ndarray:
        def read() -> np.ndarray:
            return sort_ranks.pk_array(conn.execute(f"SELECT group_concat(pk) FROM ({sql})", params).fetchone()[0])

        return _kept(self._listings, (sql, tuple(params)), self.KEPT_LISTINGS, read)


def _kept(store: OrderedDict, key, limit: int, make):
    """``store[key]``, made on a miss; the least recently used goes beyond ``limit``."""
    if key in store:
        store.move_to_end(key)
        return store[key]
    store[key] = value = make()
    if len(store) > limit:
        store.popitem(last=False)
    return value


def _directed(ranks: np.ndarray, descending: bool) -> np.ndarray:
    """Sort keys for ``ranks`` in a direction, runs without a value last either way."""
    last = np.iinfo(np.int64).max
    return np.where(ranks == sort_ranks.NULL, last, -ranks if descending else ranks)
