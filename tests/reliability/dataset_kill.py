"""Kill trials of ``labdeck dataset add``: SIGKILL a real add at a random moment of its work,
then check that the store and the index still work (shared by the test and by soak runs).

One trial: a fresh data folder (LABDECK_HOME) and index, an add killed after a random delay
counted from the moment the process opened the index (the imports before it touch nothing),
then, in this process: one file changed, the next add records a version, that version
verifies and checks out byte for byte, and the index passes ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Trial:
    delay: float
    killed: bool  # False: the add ended before the kill came
    problem: str | None


def make_folder(root: Path, files: int, seed: int = 0) -> Path:
    """``files`` small files (packed) in a few folders, and two past the pack limit (loose)."""
    rng = random.Random(seed)
    for i in range(files):
        p = root / f"part{i % 7}" / f"f{i:04d}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(rng.randint(0, 4000)))
    (root / "big1.bin").write_bytes(rng.randbytes(3 << 20))
    (root / "big2.bin").write_bytes(rng.randbytes(5 << 20))
    return root


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LABDECK_INDEX"}
    env["LABDECK_HOME"] = str(home)
    return env


def start_add(home: Path, index: Path, folder: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "labdeck", "--index", str(index), "dataset", "add", "ds",
                             str(folder)], env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(path: Path, proc: subprocess.Popen) -> float:
    """Seconds until ``path`` exists (the add opened its index), polling while it runs."""
    t0 = time.monotonic()
    while not path.exists() and proc.poll() is None:
        time.sleep(0.002)
    return time.monotonic() - t0


def work_time(work: Path, folder: Path) -> float:
    """How long an add runs once it has opened its index (a clean, unkilled run)."""
    home, index = work / "calibrate-home", work / "calibrate.sqlite"
    proc = start_add(home, index, folder)
    _wait_for(index, proc)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"a clean add failed: {err.decode(errors='replace')}")
    return time.monotonic() - t0


def check_after_kill(home: Path, index: Path, folder: Path, out: Path) -> str | None:
    """What is wrong with the store and index a killed add left (None: nothing)."""
    os.environ["LABDECK_HOME"] = str(home)  # the store lives under it; read by Store() each time
    from labdeck.datasets.service import Datasets
    from labdeck.workspace import Workspace

    changed = folder / "part0" / "f0000.txt"
    original = changed.read_bytes()
    changed.write_bytes(original + b"changed after the kill")
    try:
        ws = Workspace(index)
        try:
            ds = Datasets(ws.db)
            result = ds.add("ds", folder)
            if result.version is None:
                return f"the next add recorded no version (identical to {result.identical_to})"
            bad = ds.verify("ds", result.version.version)
            if bad:
                return f"verify after the kill: {dict(list(bad.items())[:3])}"
            left = [p.name for p in ds.store.tmp.iterdir()] + [
                p.name for p in ds.store.packs_dir.glob("*.pack") if not p.with_suffix(".idx").exists()]
            if left:
                return f"the next add left what the killed one wrote behind: {left[:3]}"
            ds.checkout("ds", result.version.version, out)
            for p in folder.rglob("*"):
                if p.is_file() and (out / p.relative_to(folder)).read_bytes() != p.read_bytes():
                    return f"checkout differs at {p.relative_to(folder)}"
        finally:
            ws.close()
        with sqlite3.connect(index) as con:
            verdict = con.execute("PRAGMA integrity_check").fetchone()[0]
        return None if verdict == "ok" else f"integrity_check: {verdict}"
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        return f"{type(exc).__name__}: {exc}"
    finally:
        changed.write_bytes(original)


def run_trial(work: Path, folder: Path, span: float, rng: random.Random, n: int) -> Trial:
    home, index, out = work / f"home{n}", work / f"index{n}.sqlite", work / f"out{n}"
    delay = rng.uniform(0, span)
    proc = start_add(home, index, folder)
    _wait_for(index, proc)
    time.sleep(delay)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=300)
    return Trial(delay, killed, check_after_kill(home, index, folder, out))
