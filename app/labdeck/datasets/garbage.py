"""What gc removes from the store, planned first (a dry run stops there), then done.

Loose objects no version references are deleted. A pack whose entries are all unreferenced is
deleted; one with some is rewritten with only its live entries. A pack without an index was
left by an interrupted add and is deleted. The caller holds the store's exclusive lock, so no
add is writing a pack meanwhile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from labdeck.datasets.packs import Entry, rewrite
from labdeck.datasets.store import Store
from labdeck.tasks import Task


@dataclass
class Plan:
    loose: list[str] = field(default_factory=list)  # unreferenced loose objects
    packs: dict[str, list[Entry]] = field(default_factory=dict)  # pack id -> its live entries (may be none)
    unindexed: list[Path] = field(default_factory=list)  # packs of interrupted adds
    digests: set[str] = field(default_factory=set)  # every object that goes
    bytes: int = 0  # what goes, as it lies on disk


def plan(store: Store, keep: set[str], task: Task | None = None) -> Plan:
    p = Plan()
    for i, (digest, path) in enumerate(store.iter_loose()):
        if task is not None and i % 1000 == 0:
            task.report(i, None, "collecting garbage")
            task.check()
        if digest not in keep:
            p.loose.append(digest)
            p.digests.add(digest)
            p.bytes += path.stat().st_size
    kept: set[str] = set()
    packs = store.packs.packs()
    for pack_id, entries in sorted(packs.items()):
        if pack_id in store.packs.damaged:
            continue  # an unreadable index: its objects are unknown, so nothing of it may go
        # A live object in two packs (two adds at once, a crash during gc) is kept once.
        live = [e for e in entries if e.digest in keep and e.digest not in kept]
        kept.update(e.digest for e in live)
        if len(live) < len(entries):
            p.packs[pack_id] = live
            p.bytes += sum(e.size for e in entries) - sum(e.size for e in live)
            p.digests.update(e.digest for e in entries if e.digest not in keep)
    for name in os.listdir(store.packs_dir):
        if name.endswith(".pack") and name[:-5] not in packs:
            path = store.packs_dir / name
            if not path.with_suffix(".idx").exists():  # indexed since the listing: not ours to judge
                p.unindexed.append(path)
                p.bytes += path.stat().st_size
    return p


def apply(store: Store, p: Plan, task: Task | None = None) -> None:
    for digest in p.loose:
        store.remove_object(digest)
    for i, (pack_id, live) in enumerate(p.packs.items()):
        if task is not None:
            task.report(i, len(p.packs), "rewriting packs")
        rewrite(store.packs_dir, store.packs, pack_id, live, store.temp_path())
    for path in p.unindexed:
        path.unlink(missing_ok=True)
