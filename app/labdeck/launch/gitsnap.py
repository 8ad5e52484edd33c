"""The code a job runs: a git commit plus the uncommitted diff and untracked files.

``snapshot`` records them from the user's tree (read-only: it only runs git queries) into
the content-addressed store; ``materialise`` rebuilds that exact tree in labdeck's work
area. It uses a local ``git clone`` (objects hard-linked) rather than ``git worktree``,
because a worktree writes administrative files into the user's ``.git`` and must be pruned.

Untracked files are the user's working state, not all of it code: files ``.gitignore``
ignores and files that look like secrets (``.env``, private keys, ``.netrc``…) stay out of
the snapshot, and the snapshot lists what it left out and why (``left_out``).
"""

from __future__ import annotations

import fnmatch
import io
import os
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from labdeck.errors import UserError
from labdeck.launch import store
from labdeck.paths import current_umask

MAX_UNTRACKED_FILE = 20 * 1024 * 1024  # larger untracked files are data, not source: skipped, listed
SKIP_PARTS = ("labdeck-runs",)  # labdeck's own run folders are output, not code
MAX_LISTED_IGNORED = 500  # a manifest names this many ignored paths, then counts the rest
IGNORED = "ignored by .gitignore"
# (file name pattern, why): matched on the name alone, case-insensitively.
SECRET_PATTERNS = (
    (".env", ".env files"), (".env.*", ".env files"), ("*.env", ".env files"),
    ("*.pem", "keys and certificates"), ("*.key", "keys and certificates"), ("*.p12", "keys and certificates"),
    ("*.pfx", "keys and certificates"), ("*.jks", "keys and certificates"), ("*.keystore", "keys and certificates"),
    ("id_rsa", "SSH private keys"), ("id_dsa", "SSH private keys"), ("id_ecdsa*", "SSH private keys"),
    ("id_ed25519*", "SSH private keys"), ("*.ppk", "SSH private keys"),
    (".netrc", "credentials files"), ("_netrc", "credentials files"), (".pgpass", "credentials files"),
    (".pypirc", "credentials files"), (".npmrc", "credentials files"), (".git-credentials", "credentials files"),
    ("credentials", "credentials files"), ("credentials.json", "credentials files"),
    ("*.tfvars", "credentials files"), ("secrets.*", "credentials files"),
)


class SnapshotError(UserError, RuntimeError):
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
    left_out: tuple[tuple[str, str], ...] = ()  # (path, why) of untracked files not in the snapshot

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
            "left_out": [{"path": p, "reason": why} for p, why in self.left_out],
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
            left_out=tuple((e["path"], e["reason"]) for e in d.get("left_out", ())),
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
    kept, skipped, left_out = [], [], []
    for name in _untracked(root):
        path = root / name
        if any(part in SKIP_PARTS for part in name.split("/")) or not path.is_file() or path.is_symlink():
            continue
        secret = secret_reason(name)
        if secret:
            left_out.append((name, f"looks like a secret ({secret})"))
        elif path.stat().st_size > MAX_UNTRACKED_FILE:
            skipped.append(name)
            left_out.append((name, f"larger than {MAX_UNTRACKED_FILE >> 20} MiB (data, not code)"))
        else:
            kept.append(name)
    left_out.extend(_ignored(root))
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
        left_out=tuple(left_out),
    )


def secret_reason(rel: str) -> str | None:
    """Why a file named like ``rel`` looks like a secret (its kind), or None."""
    name = rel.rsplit("/", 1)[-1].lower()
    if name.endswith(".pub"):
        return None  # the public half of a key pair
    return next((why for pattern, why in SECRET_PATTERNS if fnmatch.fnmatchcase(name, pattern)), None)


def _names(raw: bytes) -> list[str]:
    return sorted(n for n in raw.decode("utf-8", "surrogateescape").split("\0") if n)


def _untracked(root: Path) -> list[str]:
    """Untracked files that .gitignore does not ignore."""
    return _names(_git(["ls-files", "--others", "--exclude-standard", "-z"], root, binary=True).stdout)


def _ignored(root: Path) -> list[tuple[str, str]]:
    """What .gitignore keeps out (an ignored folder is one entry, "name/"), the first few hundred."""
    names = _names(_git(["ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z"],
                        root, binary=True).stdout)
    names = [n for n in names if not any(part in SKIP_PARTS for part in n.rstrip("/").split("/"))]
    listed = [(n, IGNORED) for n in names[:MAX_LISTED_IGNORED]]
    if len(names) > MAX_LISTED_IGNORED:
        listed.append(("…", f"and {len(names) - MAX_LISTED_IGNORED} more paths {IGNORED}"))
    return listed


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


def _within_umask(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """tarfile's "data" filter, with the mode the user's umask allows (tarfile applies the tar's 0644)."""
    member = tarfile.data_filter(member, dest)
    return member.replace(mode=member.mode & ~current_umask(), deep=False)


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
            tar.extractall(dest, filter=_within_umask)
    cwd = (dest / snap.cwd_rel).resolve()
    cwd.mkdir(parents=True, exist_ok=True)
    return cwd
