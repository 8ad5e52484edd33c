"""The code a job runs: a git commit plus the uncommitted diff and untracked files.

``snapshot`` records them from the user's tree (read-only: it only runs git queries) into
the content-addressed store; ``materialise`` rebuilds that exact tree in labdeck's work
area. It uses a local ``git clone`` (objects hard-linked) rather than ``git worktree``,
because a worktree writes administrative files into the user's ``.git`` and must be pruned.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from labdeck.launch import store

MAX_UNTRACKED_FILE = 20 * 1024 * 1024  # larger untracked files are data, not source: skipped, listed
SKIP_PARTS = ("labdeck-runs",)  # labdeck's own run folders are output, not code


class SnapshotError(RuntimeError):
    """The code cannot be snapshotted or restored (message says why)."""


@dataclass(frozen=True)
class CodeSnapshot:
    repo: str  # the repository root the snapshot came from
    commit: str
    branch: str = ""
    cwd_rel: str = "."  # working directory relative to the repository root
    diff: str | None = None  # store hash of `git diff --binary HEAD`, None when clean
    untracked: str | None = None  # store hash of a tar of untracked files
    untracked_files: tuple[str, ...] = ()
    skipped: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        return {
            "repo": self.repo,
            "commit": self.commit,
            "branch": self.branch,
            "cwd": self.cwd_rel,
            "diff": self.diff,
            "untracked": self.untracked,
            "untracked_files": list(self.untracked_files),
            "skipped_untracked": list(self.skipped),
        }

    @classmethod
    def from_json(cls, d: dict) -> CodeSnapshot:
        return cls(
            repo=d["repo"],
            commit=d["commit"],
            branch=d.get("branch", ""),
            cwd_rel=d.get("cwd", "."),
            diff=d.get("diff"),
            untracked=d.get("untracked"),
            untracked_files=tuple(d.get("untracked_files", ())),
            skipped=tuple(d.get("skipped_untracked", ())),
        )


def _git(args: list[str], cwd: str | Path, *, binary: bool = False, check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=not binary, check=False)
    except FileNotFoundError:
        raise SnapshotError("git is not installed") from None
    if check and done.returncode != 0:
        err = done.stderr if isinstance(done.stderr, str) else done.stderr.decode(errors="replace")
        raise SnapshotError(f"git {' '.join(args[:2])} failed in {cwd}: {err.strip()}")
    return done


def snapshot(cwd: str | Path) -> CodeSnapshot:
    cwd = Path(cwd).resolve()
    probe = _git(["rev-parse", "--show-toplevel"], cwd, check=False)
    if probe.returncode != 0:
        raise SnapshotError(f"{cwd} is not inside a git repository; labdeck launches code from a git commit "
                            "(git init && git commit first)")
    root = Path(probe.stdout.strip()).resolve()
    head = _git(["rev-parse", "--verify", "-q", "HEAD"], root, check=False)
    if head.returncode != 0:
        raise SnapshotError(f"the repository {root} has no commit yet; commit once so that runs can be reproduced")
    commit = head.stdout.strip()
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], root).stdout.strip()
    diff_bytes = _git(["diff", "--binary", "HEAD"], root, binary=True).stdout
    diff = store.put(diff_bytes) if diff_bytes else None
    listed = _git(["ls-files", "--others", "--exclude-standard", "-z"], root, binary=True).stdout
    names = sorted(n for n in listed.decode("utf-8", "surrogateescape").split("\0") if n)
    kept, skipped = [], []
    for name in names:
        path = root / name
        if any(part in SKIP_PARTS for part in name.split("/")) or not path.is_file() or path.is_symlink():
            continue
        if path.stat().st_size > MAX_UNTRACKED_FILE:
            skipped.append(name)
        else:
            kept.append(name)
    untracked = store.put(_tar(root, kept)) if kept else None
    return CodeSnapshot(
        repo=str(root),
        commit=commit,
        branch=branch,
        cwd_rel=os.path.relpath(cwd, root) if cwd != root else ".",
        diff=diff,
        untracked=untracked,
        untracked_files=tuple(kept),
        skipped=tuple(skipped),
    )


def _tar(root: Path, names: list[str]) -> bytes:
    """A deterministic tar (fixed times and owners): the same files give the same hash."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            data = (root / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if os.access(root / name, os.X_OK) else 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def materialise(snap: CodeSnapshot, dest: Path) -> Path:
    """Build the snapshot's tree in ``dest`` (which must not exist); returns the job's cwd."""
    if not Path(snap.repo, ".git").exists() and not Path(snap.repo).is_dir():
        raise SnapshotError(f"the repository {snap.repo} is gone; cannot restore commit {snap.commit[:12]}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    _git(["clone", "--quiet", "--no-checkout", snap.repo, str(dest)], dest.parent)
    done = _git(["checkout", "--quiet", "--detach", snap.commit], dest, check=False)
    if done.returncode != 0:
        raise SnapshotError(f"commit {snap.commit[:12]} is not in {snap.repo} any more: {done.stderr.strip()}")
    if snap.diff:
        patch = dest.parent / f"{dest.name}.patch"
        patch.write_bytes(store.get(snap.diff))
        applied = _git(["apply", "--binary", "--whitespace=nowarn", str(patch)], dest, check=False)
        patch.unlink()
        if applied.returncode != 0:
            raise SnapshotError(f"the uncommitted changes do not apply to commit {snap.commit[:12]}: "
                                f"{applied.stderr.strip()}")
    if snap.untracked:
        with tarfile.open(fileobj=io.BytesIO(store.get(snap.untracked)), mode="r") as tar:
            for member in tar.getmembers():
                target = (dest / member.name).resolve()
                if not target.is_relative_to(dest.resolve()) or not member.isfile():
                    raise SnapshotError(f"untracked snapshot holds a bad path: {member.name!r}")
                if target.exists():
                    raise SnapshotError(f"untracked file {member.name} conflicts with a file of commit "
                                        f"{snap.commit[:12]}")
            tar.extractall(dest, filter="data")
    cwd = (dest / snap.cwd_rel).resolve()
    cwd.mkdir(parents=True, exist_ok=True)
    return cwd
