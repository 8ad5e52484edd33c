"""Adding a dataset version: what `labdeck dataset add` runs, without SQLAlchemy.

An add writes, in order: objects (small ones into a pack, made durable and then indexed; the
others to temp files renamed into place), the manifest (same), an fsync of the loose objects,
then the version row with all its file rows in one transaction, then the refs file for
the SDK. A crash or cancel at any point leaves either no version or a whole one; objects
written by an add that did not finish are unreferenced and ``gc`` removes them.

The index is read and written in plain SQL (``db/dataset_adding.py``): importing SQLAlchemy
and its ORM tables cost the verb about 0.35 s a process. ``Datasets`` (``service.py``) adds
every other operation on top of this class.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import blake3

from labdeck.clock import now_ms
from labdeck.datasets.ingest import ingest
from labdeck.datasets.listing import DatasetListing
from labdeck.datasets.scan import scan
from labdeck.datasets.store import Store, StoreError, check_name, manifest_bytes
from labdeck.db import dataset_adding as q
from labdeck.db import dataset_listing
from labdeck.db.dataset_listing import VersionInfo
from labdeck.db.engine import Database
from labdeck.db.retry import write_again_on_race
from labdeck.tasks import Task

if TYPE_CHECKING:
    from labdeck.datasets import rules as rules_mod


class ValidationRefused(StoreError):
    """A strict dataset refused a version that breaks its rules."""


@dataclass(frozen=True)
class AddResult:
    name: str
    version: VersionInfo | None  # the new version; None when identical to an existing one
    identical_to: int | None
    skipped: tuple[str, ...]
    problems: tuple[rules_mod.Problem, ...]
    files: int
    hashed: int
    cached: int
    new_objects: int
    new_bytes: int
    seconds: float
    damaged: tuple[str, ...] = ()  # files edited in place after being hard-linked into the store


class DatasetAdding(DatasetListing):
    def __init__(self, db: Database, store: Store | None = None) -> None:
        super().__init__(db, store)
        self._registered = False

    def _register_index(self) -> None:
        """Note this index in the store, so that gc from another index keeps our objects."""
        if self._registered:
            return
        me = str(self.db.path.resolve())
        known = self.store.indexes()
        if me not in known:
            with self.store.lock(exclusive=True):
                self.store.set_indexes([*self.store.indexes(), me])
        self._registered = True

    # Adding --------------------------------------------------------------------

    def add(
        self, name: str, source: str | os.PathLike, *, message: str = "", strict: bool | None = None,
        link: bool = False, task: Task | None = None,
    ) -> AddResult:
        """Add ``source`` as the next version of ``name``; ``strict`` overrides the saved setting.

        New content is copied into the store (a reflink where the file system can). ``link``
        hard-links it instead where possible: no bytes copied, but a later in-place edit of the
        source (``open(p, "w")``, ``DataFrame.to_csv``) then changes the stored version too.
        """
        check_name(name)
        started = time.perf_counter()
        self._register_index()
        self.store.recover()  # what a killed add left behind, when nothing else is at work
        with self.store.lock(exclusive=False):
            found = scan(source, task)
            if not found.files:
                raise StoreError(f"{found.root} holds no files to add" +
                                 (f" ({len(found.skipped)} skipped)" if found.skipped else ""))
            with self.db.rows() as conn:
                cache = q.load_hash_cache(conn)
                rules, saved_strict = q.rules(conn, name) or ({}, False)
            got = ingest(self.store, found.files, cache, task, link=link)
            manifest = manifest_bytes(got.files)
            digest = blake3.blake3(manifest).hexdigest()

            def result(version, identical, problems=()) -> AddResult:
                return AddResult(name, version, identical, tuple(found.skipped), tuple(problems), len(got.files),
                                 got.hashed, got.cached, got.new_objects, got.new_bytes, time.perf_counter() - started,
                                 tuple(got.damaged))

            with self.db.rows() as conn:
                same = q.versions_with_digest(conn, name, digest)
            if same:
                with self.db.write_rows() as conn:
                    q.save_hash_cache(conn, got.new_cache)
                return result(None, same[-1])
            problems = self._check(rules, got.files) if rules else []
            if problems and (saved_strict if strict is None else strict):
                with self.db.write_rows() as conn:
                    q.save_hash_cache(conn, got.new_cache)
                lines = "\n  ".join(p.message if p.file in p.message else f"{p.file}: {p.message}" for p in problems)
                raise ValidationRefused(f"{name} refuses this version: it breaks {len(problems)} rule(s):\n  {lines}")
            if task is not None:
                task.check()
            self.store.write_manifest(digest, manifest)
            self.store.make_durable(got.new_digests)  # on disk before a version row names them

            def add() -> VersionInfo:
                with self.db.write_rows() as conn:
                    added = q.add_version(conn, name, digest=digest, now_ms=now_ms(), message=message,
                                          source_path=str(found.root), files=got.files)
                    q.save_hash_cache(conn, got.new_cache)
                    return added

            # The transaction takes the write lock before it reads the next number, so the
            # retry is only a guard: a conflict on the unique version number is written again.
            version = write_again_on_race(add, races=(q.VersionConflict,), attempts=3)
        self._sync_refs(name)
        return result(version, None, problems)

    def _check(self, rules: dict, files: list[tuple[str, int, str]]) -> list[rules_mod.Problem]:
        # The rules and the tabular readers: only for a dataset that has rules.
        from labdeck.datasets import rules as rules_mod
        from labdeck.datasets import tabular

        problems: list[rules_mod.Problem] = []
        checked = 0
        for rel, _, digest in files:
            if tabular.tabular_format(rel) is None or not rules_mod.applies_to(rules, rel):
                continue
            checked += 1
            try:
                frame = tabular.load(self.store.object_source(digest), rel)
            except (tabular.TabularError, StoreError) as exc:
                problems.append(rules_mod.Problem(rel, None, "readable", str(exc)))
                continue
            problems += rules_mod.validate_frame(rules, rel, frame)
        if not checked:
            pattern = rules.get("files") or "any tabular file"
            problems.append(rules_mod.Problem("", None, "files", f"no tabular file matches {pattern!r}"))
        return problems

    def _sync_refs(self, name: str) -> None:
        with self.db.rows() as conn:
            refs = dataset_listing.all_version_refs(conn).get(name, [])
        self.store.write_refs(name, refs)
