"""Reading the list of datasets and their versions, without the machinery that writes them.

`labdeck dataset list` and the Datasets tab's list need only this: it reads in plain SQL
(``db/dataset_listing.py``), so the verb starts without SQLAlchemy, pandas or the ingest
code. ``Datasets`` (``service.py``) builds on it with every operation that changes a dataset.
"""

from __future__ import annotations

import json
from typing import List  # List: the class defines a method named list

from labdeck.datasets.store import Store
from labdeck.db import dataset_listing as listing
from labdeck.db.dataset_listing import DatasetInfo, VersionInfo
from labdeck.db.engine import Database


class DatasetListing:
    def __init__(self, db: Database, store: Store | None = None) -> None:
        self.db = db
        self.store = store or Store()

    def list(self) -> list[DatasetInfo]:
        with self.db.rows() as conn:
            infos = listing.list_datasets(conn)
            refs = listing.all_version_refs(conn)
        self._repair_refs(refs)
        return infos

    def _repair_refs(self, refs: dict[str, List[tuple[int, str]]]) -> None:
        """Rewrite any refs file that disagrees with the index (a crash between the two writes)."""
        for name, versions in refs.items():
            want = {str(v): d for v, d in versions}
            try:
                have = json.loads((self.store.refs / f"{name}.json").read_text())["versions"]
            except (OSError, ValueError, KeyError):
                have = None
            if have != want:
                self.store.write_refs(name, versions)

    def versions(self, name: str) -> List[VersionInfo]:
        with self.db.rows() as conn:
            return listing.list_versions(conn, name)

    def use_counts(self) -> dict[str, int]:
        """{version digest: number of runs that used it}."""
        with self.db.rows() as conn:
            return listing.use_counts(conn)
