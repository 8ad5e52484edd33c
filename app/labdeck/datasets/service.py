"""Dataset operations shared by the CLI and the GUI, over one index and the store.

Adding a version is ``adding.py`` (plain SQL, what `labdeck dataset add` loads); this class
builds on it with reading versions and files, diffs, rules and validation, checkout and
verify, removal and gc, through SQLAlchemy.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, List  # List: the class defines a method named list

from labdeck.clock import now_ms
from labdeck.datasets import garbage, tabular
from labdeck.datasets import rules as rules_mod
from labdeck.datasets.adding import DatasetAdding
from labdeck.datasets.checkout import CheckoutResult, checkout, verify_object
from labdeck.datasets.diff import DatasetDiff, diff_versions
from labdeck.datasets.rules import Validation
from labdeck.datasets.store import Store, StoreError, check_name
from labdeck.db import dataset_listing, dataset_users, raw, run_listing
from labdeck.db import dataset_adding as adding_q
from labdeck.db import datasets as q
from labdeck.db.engine import Database
from labdeck.db.foreign_index import ForeignIndexError, read_references
from labdeck.tasks import Task

if TYPE_CHECKING:
    import pandas as pd


class VersionInUse(StoreError):
    """``remove`` refused a version that runs, model versions or jobs use (the message lists them)."""

    def __init__(self, message: str, users: dict[int, list[dataset_users.VersionUser]]) -> None:
        super().__init__(message)
        self.users = users


SHOWN_USERS = 8  # users named in a refusal; the rest are counted


@dataclass(frozen=True)
class GcResult:
    objects: int
    bytes: int
    manifests: int
    dry_run: bool
    digests: tuple[str, ...] = field(default=())
    # Removed versions whose bytes stay, as model versions or jobs still record them:
    # {version hash: ["model clf:2", "job 3fa…"]}
    kept_for: dict[str, tuple[str, ...]] = field(default_factory=dict)
    kept_objects: int = 0  # objects kept only for those versions


def _in_use_message(name: str, users: dict[int, list[dataset_users.VersionUser]]) -> str:
    parts = []
    for version, used in sorted(users.items()):
        shown = ", ".join(u.text() for u in used[:SHOWN_USERS])
        more = f" and {len(used) - SHOWN_USERS} more" if len(used) > SHOWN_USERS else ""
        parts.append(f"version {version} of {name!r} is used by {shown}{more}")
    return "; ".join(parts) + "; --force removes it anyway (runs, models and jobs keep what they recorded)"


class Datasets(DatasetAdding):
    """Every dataset operation: adding (``adding.py``), reading, diffs, rules, checkout, removal, gc."""

    def __init__(self, db: Database, store: Store | None = None) -> None:
        super().__init__(db, store)
        self._profiles: dict[tuple[str, str], tabular.Profile] = {}

    def _references_elsewhere(self) -> tuple[set[str], set[str], dict[str, list[str]], list[str]]:
        """Objects, manifests and pinned version hashes of the other index files using this store.

        Read-only, whatever their schema revision: gc never migrates or writes them. One that
        exists but cannot be read stops gc (StoreError) rather than losing its objects.
        """
        objects: set[str] = set()
        manifests: set[str] = set()
        pins: dict[str, list[str]] = {}
        alive = []
        me = str(self.db.path.resolve())
        for path in self.store.indexes():
            if path == me:
                alive.append(path)
                continue
            if not Path(path).exists():
                continue  # that index is gone: so are its references
            try:
                refs = read_references(Path(path))
            except ForeignIndexError as exc:
                raise StoreError(f"{exc}; it shares this dataset store, so gc removed nothing") from None
            objects |= refs.objects
            manifests |= refs.manifests
            for digest, who in refs.pins.items():
                pins.setdefault(digest, []).extend(f"{w} in {path}" for w in who)
            alive.append(path)
        return objects, manifests, pins, alive

    # Reading -------------------------------------------------------------------------

    def version(self, name: str, version: int | None = None) -> q.VersionInfo:
        with self.db.read() as s:
            return q.get_version(s, name, version)

    def files(self, name: str, version: int | None = None) -> List[q.FileEntry]:
        with self.db.read() as s:
            v = q.get_version(s, name, version)
            return q.version_files(s, name, v.version)

    def manifest(self, name: str, version: int | None = None) -> List[tuple[str, int, str]]:
        """The version's files from its manifest in the store, verified against the version hash."""
        v = self.version(name, version)
        return self.store.read_manifest(v.digest)

    def runs_using(self, name: str, version: int | None = None) -> List[q.RunUse]:
        with self.db.read() as s:
            return q.runs_using(s, name, version)

    def inputs_of_run(self, run_ref: str) -> List[q.RunUse]:
        with self.db.read() as s:
            return q.inputs_of_run(s, run_listing.find_run_pk(raw.sqlite_connection(s), run_ref))

    def match_existing(self, source: str | os.PathLike) -> str | None:
        """The dataset a dropped path most likely belongs to: same source folder, else same name."""
        root = str(Path(source).expanduser().resolve())
        infos = self.list()
        for info in infos:
            if info.latest is not None and info.latest.source_path == root:
                return info.name
        stem = Path(root).name
        return next((i.name for i in infos if i.name == stem), None)

    # Tabular ---------------------------------------------------------------------

    def profile(self, digest: str, rel: str, frame: pd.DataFrame | None = None) -> tabular.Profile:
        """Schema, row count and per-column statistics (cached; from ``frame`` if already loaded)."""
        key = (digest, tabular.tabular_format(rel) or "")
        if key not in self._profiles:
            self._profiles[key] = tabular.profile_frame(frame if frame is not None else self.frame(digest, rel))
        return self._profiles[key]

    def frame(self, digest: str, rel: str) -> pd.DataFrame:
        return tabular.load(self.store.object_source(digest), rel)

    def preview(self, digest: str, rel: str, rows: int) -> tuple[pd.DataFrame, tabular.Profile]:
        """The first ``rows`` rows and the profile, from one read and parse of the file."""
        frame = self.frame(digest, rel)
        return frame.head(rows), self.profile(digest, rel, frame)

    def diff(self, name: str, a: int, b: int) -> DatasetDiff:
        return diff_versions(name, a, b, self.manifest(name, a), self.manifest(name, b), self.profile)

    # Rules -------------------------------------------------------------------------

    def rules(self, name: str) -> tuple[dict, bool]:
        with self.db.rows() as conn:
            found = adding_q.rules(conn, name)
            if found is None:
                dataset_listing.dataset_id(conn, name)  # raises DatasetNotFound, saying if it was removed
        assert found is not None
        return found

    def set_rules(self, name: str, rules: dict | None = None, *, strict: bool | None = None) -> None:
        check_name(name)
        if rules is not None:
            rules_mod.check_rules(rules)
        with self.db.write() as s:
            q.set_rules(s, name, now_ms(), rules, strict)

    def validate(self, name: str, version: int | None = None) -> Validation:
        rules, strict = self.rules(name)
        v = self.version(name, version)
        if not rules:
            return Validation(name, v.version, has_rules=False)
        problems = self._check(rules, self.manifest(name, v.version))
        return Validation(name, v.version, has_rules=True, strict=strict, problems=tuple(problems))

    # Checkout, verify ----------------------------------------------------------------

    def checkout(self, name: str, version: int | None, dest: str | os.PathLike, *, force: bool = False,
                 task: Task | None = None) -> CheckoutResult:
        return checkout(self.store, self.manifest(name, version), dest, force=force, task=task)

    def verify(self, name: str, version: int | None = None, task: Task | None = None) -> dict[str, str]:
        """{path: what is wrong} for each file whose object is missing or corrupt (empty: all good)."""
        files = self.manifest(name, version)
        self.store.packs.refresh()  # what the disk holds now, not what this process last listed
        bad: dict[str, str] = {}
        for i, (rel, _, digest) in enumerate(files):
            if task is not None:
                task.report(i, len(files), "verifying")
                task.check()
            problem = verify_object(self.store, digest)
            if problem:
                bad[rel] = problem
        return bad

    # Housekeeping ------------------------------------------------------------------

    def remove(self, name: str, version: int | None = None, *, force: bool = False) -> int:
        """Remove one version, or the whole dataset; refused (VersionInUse) while in use unless ``force``.

        In use: a run recorded it as an input, a model version's lineage names it, or a job's
        launch spec checks it out. Those records stay; a forced removal only makes the version
        unusable by name, and ``gc`` still keeps its bytes while model versions or jobs record it.
        """
        with self.db.write() as s:
            versions = [q.get_version(s, name, version)] if version is not None else q.list_versions(s, name)
            users = {v.version: dataset_users.users_of(s, name, v.digest) for v in versions}
            in_use = {v: used for v, used in users.items() if used}
            if in_use and not force:
                raise VersionInUse(_in_use_message(name, in_use), in_use)
            n = q.remove(s, name, version, now_ms=now_ms(),
                         users={v: [u.as_json() for u in used] for v, used in in_use.items()})
        self._sync_refs(name)
        return n

    def gc(self, *, dry_run: bool = False, task: Task | None = None) -> GcResult:
        """Remove objects and manifests no version needs (dry run: only report them).

        Needed: every version of this index and of the other index files using the store, and
        every version a model version or job records even after ``dataset rm --force`` (its
        manifest in the store says which objects it holds). Those kept for removed versions
        are reported in ``kept_for``.
        """
        with self.store.lock(exclusive=True):
            with self.db.read() as s:
                keep = q.referenced_objects(s)
                keep_manifests = q.referenced_manifests(s)
                names = set(dataset_listing.all_version_refs(raw.sqlite_connection(s)))
                pins = dataset_users.pinned_digests(s)
            # Other index files may share this store (--index): their versions count too.
            other_objects, other_manifests, other_pins, alive = self._references_elsewhere()
            keep |= other_objects
            keep_manifests |= other_manifests
            for digest, who in other_pins.items():
                pins.setdefault(digest, []).extend(who)
            kept_for, kept_objects = self._keep_pinned(pins, keep, keep_manifests)
            doomed = garbage.plan(self.store, keep, task)
            manifests = [d for d in self.store.manifest_digests() if d not in keep_manifests]
            if not dry_run:
                with self.db.write() as s:
                    q.purge_hash_cache(s)  # first: a cache entry must never name a missing object
                garbage.apply(self.store, doomed, task)
                for digest in manifests:
                    self.store.remove_manifest(digest)
                self.store.clean_tmp()
                self.store.set_indexes(alive)
                if not other_objects and not other_manifests and len(alive) <= 1:
                    # refs files are shared by name; only drop them when no other index may own them
                    for stale in set(self.store.ref_names()) - names:
                        self.store.write_refs(stale, [])
        return GcResult(len(doomed.digests), doomed.bytes, len(manifests), dry_run, tuple(sorted(doomed.digests)),
                        kept_for, kept_objects)

    def _keep_pinned(self, pins: dict[str, List[str]], keep: set[str],
                     keep_manifests: set[str]) -> tuple[dict[str, tuple[str, ...]], int]:
        """Add the objects and manifests of pinned versions that no index holds any more to the keep sets."""
        kept_for: dict[str, tuple[str, ...]] = {}
        kept_objects = 0
        for digest, who in sorted(pins.items()):
            if digest in keep_manifests:
                continue  # a version still in an index: kept anyway
            try:
                files = self.store.read_manifest(digest)
            except StoreError:
                continue  # its manifest went before (gc of an older labdeck): nothing left to keep
            keep_manifests.add(digest)
            new = {d for _, _, d in files} - keep
            kept_objects += len(new)
            keep |= new
            kept_for[digest] = tuple(dict.fromkeys(who))
        return kept_for, kept_objects


def load_rules_file(path: str | os.PathLike) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"no such rules file: {path}") from None
    except ValueError as exc:
        raise StoreError(f"{path} is not valid JSON: {exc}") from None
    try:
        return rules_mod.check_rules(data)
    except rules_mod.RulesError as exc:
        raise StoreError(f"{path}: {exc}") from None
