"""Dataset operations shared by the CLI and the GUI, over one index and the store.

An add writes, in order: objects (small ones into a pack, made durable and then indexed; the
others to temp files renamed into place), the manifest (same), an fsync of the loose objects,
then the version row with all its file rows in one transaction, then the refs file for
the SDK. A crash or cancel at any point leaves either no version or a whole one; objects
written by an add that did not finish are unreferenced and ``gc`` removes them.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, List  # List: the class defines a method named list

import blake3

from labdeck.datasets import garbage, tabular
from labdeck.datasets import rules as rules_mod
from labdeck.datasets.rules import Validation
from labdeck.datasets.checkout import CheckoutResult, checkout, verify_object
from labdeck.datasets.diff import DatasetDiff, diff_versions
from labdeck.datasets.ingest import ingest
from labdeck.datasets.listing import DatasetListing
from labdeck.datasets.scan import scan
from labdeck.datasets.store import Store, StoreError, check_name, manifest_bytes
from labdeck.db import raw, run_listing
from labdeck.db import dataset_listing, dataset_users
from labdeck.db import datasets as q
from labdeck.db.engine import Database
from labdeck.db.foreign_index import ForeignIndexError, read_references
from labdeck.db.retry import write_again_on_race
from labdeck.tasks import Task

if TYPE_CHECKING:
    import pandas as pd


class ValidationRefused(StoreError):
    """A strict dataset refused a version that breaks its rules."""


class VersionInUse(StoreError):
    """``remove`` refused a version that runs, model versions or jobs use (the message lists them)."""

    def __init__(self, message: str, users: dict[int, list[dataset_users.VersionUser]]) -> None:
        super().__init__(message)
        self.users = users


SHOWN_USERS = 8  # users named in a refusal; the rest are counted


@dataclass(frozen=True)
class AddResult:
    name: str
    version: q.VersionInfo | None  # the new version; None when identical to an existing one
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


def _now_ms() -> int:
    return int(time.time() * 1000)


class Datasets(DatasetListing):
    def __init__(self, db: Database, store: Store | None = None) -> None:
        super().__init__(db, store)
        self._profiles: dict[tuple[str, str], tabular.Profile] = {}
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
            with self.db.read() as s:
                cache = q.load_hash_cache(s)
                rules, saved_strict = q.get_rules(s, name) if q.dataset_exists(s, name) else ({}, False)
            got = ingest(self.store, found.files, cache, task, link=link)
            manifest = manifest_bytes(got.files)
            digest = blake3.blake3(manifest).hexdigest()

            def result(version, identical, problems=()) -> AddResult:
                return AddResult(name, version, identical, tuple(found.skipped), tuple(problems), len(got.files),
                                 got.hashed, got.cached, got.new_objects, got.new_bytes, time.perf_counter() - started,
                                 tuple(got.damaged))

            with self.db.read() as s:
                same = q.versions_with_digest(s, name, digest)
            if same:
                with self.db.write() as s:
                    q.save_hash_cache(s, got.new_cache)
                return result(None, same[-1])
            problems = self._check(rules, got.files) if rules else []
            if problems and (saved_strict if strict is None else strict):
                with self.db.write() as s:
                    q.save_hash_cache(s, got.new_cache)
                lines = "\n  ".join(p.message if p.file in p.message else f"{p.file}: {p.message}" for p in problems)
                raise ValidationRefused(f"{name} refuses this version: it breaks {len(problems)} rule(s):\n  {lines}")
            if task is not None:
                task.check()
            self.store.write_manifest(digest, manifest)
            self.store.make_durable(got.new_digests)  # on disk before a version row names them

            def add() -> q.VersionInfo:
                with self.db.write() as s:
                    added = q.add_version(s, name, digest=digest, now_ms=_now_ms(), message=message,
                                          source_path=str(found.root), files=got.files)
                    q.save_hash_cache(s, got.new_cache)
                    return added

            # Another process may take that version number (or create the dataset) first.
            version = write_again_on_race(add, races=(q.VersionConflict,), attempts=3)
        self._sync_refs(name)
        return result(version, None, problems)

    def _check(self, rules: dict, files: list[tuple[str, int, str]]) -> list[rules_mod.Problem]:
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
        with self.db.read() as s:
            return q.get_rules(s, name)

    def set_rules(self, name: str, rules: dict | None = None, *, strict: bool | None = None) -> None:
        check_name(name)
        if rules is not None:
            rules_mod.check_rules(rules)
        with self.db.write() as s:
            q.set_rules(s, name, _now_ms(), rules, strict)

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
            n = q.remove(s, name, version, now_ms=_now_ms(),
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
