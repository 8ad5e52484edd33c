"""Kept folder listings (runs/walk.py's ListingMemo): a walk that takes unchanged folders'
listings from the memo finds exactly what a walk that lists every folder finds, whatever
changed in between, and a pass over an unchanged project lists no folder again."""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

from labdeck.runs import walk as walk_module
from labdeck.runs.readers import all_readers
from labdeck.runs.readers.native import NativeReader
from labdeck.runs.walk import ListingMemo, _Listing, walk_project

META = "labdeck-run.json"


def _found(project: Path, memo: ListingMemo | None) -> tuple[list, list]:
    result = walk_project(project, all_readers(), mounted=False, memo=memo)
    sources = sorted((reader.key, s.rel, sorted(s.names or ())) for reader, s in result.sources)
    warnings = sorted((w.code, w.path) for w in result.warnings)
    return sources, warnings


def _run(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META).write_text("{}")
    (folder / "metrics.csv").write_text("key,step,value,wall_ms\n")


def _folders(project: Path) -> list[Path]:
    return [Path(d) for d, _, _ in os.walk(project) if not Path(d).is_symlink()]


def _mutate(project: Path, rng: random.Random, round_: int) -> str:
    folders = _folders(project)
    folder = rng.choice(folders)
    kind = rng.choice(["new run", "new file", "remove file", "remove folder", "rename folder", "link",
                       "dangling link", "same mtime", "undecodable", "venv", "outputs"])
    if kind == "new run":
        _run(folder / f"run-{round_}")
    elif kind == "outputs":  # a run's outputs/ is walked, its other folders are not
        _run(folder / "outputs" / f"out-{round_}")
        _run(folder / "artifacts" / f"copy-{round_}")
    elif kind == "new file":
        (folder / f"{META if rng.random() < 0.5 else 'notes.txt'}").write_text("x")
    elif kind == "remove file":
        files = [p for p in folder.iterdir() if p.is_file() and not p.is_symlink()]
        if files:
            rng.choice(files).unlink()
    elif kind == "remove folder" and folder != project:
        shutil.rmtree(folder)
    elif kind == "rename folder" and folder != project:
        folder.rename(folder.with_name(folder.name + f"-r{round_}"))
    elif kind == "link":
        target = rng.choice(folders)
        if target != project and not (folder / f"link-{round_}").exists():
            (folder / f"link-{round_}").symlink_to(target, target_is_directory=True)
    elif kind == "dangling link":  # a link's target goes: its folder's times stay as they were
        links = [p for p in project.rglob("link-*") if p.is_symlink() and p.exists()]
        if links:
            shutil.rmtree(os.path.realpath(rng.choice(links)))
    elif kind == "same mtime":  # an entry added, the folder's mtime set back: its ctime tells
        st = folder.stat()
        _run(folder / f"quiet-{round_}")
        os.utime(folder, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif kind == "undecodable":
        os.mkdir(os.fsencode(folder) + b"/bad-\xff-" + str(round_).encode())
    elif kind == "venv":
        venv = folder / f"venv-{round_}"
        _run(venv / "inside")
        (venv / "pyvenv.cfg").write_text("home = /usr\n")
    return kind


def test_a_walk_with_kept_listings_finds_what_a_full_walk_finds(tmp_path, monkeypatch):
    # Listings are kept once their folder is 0.3 s old (2 s in the app): the test waits that
    # long before each walk that keeps listings, so that they are kept, then changes things.
    monkeypatch.setattr(walk_module, "RACY_NS", 300_000_000)
    project = tmp_path / "project"
    for i in range(6):
        _run(project / "labdeck-runs" / f"r{i}")
    (project / "deep" / "er").mkdir(parents=True)
    rng = random.Random(7)
    memo = ListingMemo()
    kinds = set()
    for round_ in range(14):
        time.sleep(0.35)
        assert _found(project, memo) == _found(project, None)
        assert len(memo) > 0
        for _ in range(3):
            kinds.add(_mutate(project, rng, round_ * 10 + _))
        kept, full = _found(project, memo), _found(project, None)
        assert kept == full, f"round {round_}"
    assert {"new run", "same mtime", "dangling link", "undecodable", "outputs"} <= kinds


def test_an_unchanged_folder_is_not_listed_again(tmp_path, monkeypatch):
    monkeypatch.setattr(walk_module, "RACY_NS", 100_000_000)
    project = tmp_path / "p"
    for i in range(5):
        _run(project / "labdeck-runs" / f"r{i}")
    memo = ListingMemo()
    time.sleep(0.15)
    first = _found(project, memo)
    listed: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(walk_module.os, "scandir", lambda p: listed.append(str(p)) or real_scandir(p))
    asked: list[str] = []  # nor is a run folder's reader asked again what it holds
    real_detect = NativeReader.detect
    monkeypatch.setattr(NativeReader, "detect", lambda self, folder, *a: asked.append(folder.name) or
                        real_detect(self, folder, *a))
    assert _found(project, memo) == first
    assert listed == []
    assert sorted(asked) == ["labdeck-runs", "p"]
    _run(project / "labdeck-runs" / "r5")  # a new run: its parent is listed again, and it
    assert len(_found(project, memo)[0]) == 6
    assert sorted(listed) == sorted([str(project / "labdeck-runs"), str(project / "labdeck-runs" / "r5")])


def test_a_listing_made_in_the_same_tick_as_its_folders_last_change_is_not_kept():
    memo = ListingMemo()
    now = time.time_ns()
    fresh = _Listing((1, 2, now - 1_000, now - 1_000), Path("/x"), frozenset(), ())
    memo.remember("/x", fresh, now)
    assert memo.get("/x", fresh.stamp) is None
    old = _Listing((1, 2, now - 5 * 10**9, now - 5 * 10**9), Path("/x"), frozenset(), ())
    memo.remember("/x", old, now)
    assert memo.get("/x", old.stamp) is old
    assert memo.get("/x", (1, 2, now - 5 * 10**9, now)) is None  # a ctime that moved


def test_a_folder_that_warns_warns_on_every_pass(tmp_path, monkeypatch):
    monkeypatch.setattr(walk_module, "RACY_NS", 0)
    project = tmp_path / "p"
    _run(project / "labdeck-runs" / "r0")
    os.mkdir(os.fsencode(project) + b"/bad-\xff")
    memo = ListingMemo()
    for _ in range(3):
        sources, warnings = _found(project, memo)
        assert [w[0] for w in warnings] == ["non-utf8-name"]


def test_a_whole_walk_forgets_the_listings_of_folders_gone(tmp_path, monkeypatch):
    monkeypatch.setattr(walk_module, "RACY_NS", 50_000_000)
    project = tmp_path / "p"
    for i in range(4):
        _run(project / "labdeck-runs" / f"r{i}")
    time.sleep(0.06)
    memo = ListingMemo()
    _found(project, memo)
    runs = [str(project / "labdeck-runs" / f"r{i}") for i in range(4)]
    assert all(r in memo for r in runs)
    shutil.rmtree(runs[1])
    shutil.rmtree(runs[2])
    walk_project(project, all_readers(), start=project / "labdeck-runs" / "r0", mounted=False, memo=memo)
    assert all(r in memo for r in runs)  # a walk of part of the project forgets nothing
    assert _found(project, memo) == _found(project, None)
    assert [r in memo for r in runs] == [True, False, False, True]
