"""Python environments for jobs: the current interpreter, or a venv built by uv from a lock.

A lock is a list of exact requirements (``name==version`` or ``name @ URL``). Built
environments are cached by the lock's hash (with the Python version) under
``data_dir()/launch/envs/<hash>``: built in a temporary folder and renamed into place, so a
half-built environment is never used, and a second job with the same lock reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from labdeck.errors import UserError
from labdeck.paths import data_dir
from labdeck.tasks import Task

LOCK_FILES = ("requirements.lock", "requirements.txt")
READY_MARK = ".labdeck-env-ready"
_EXACT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*(==\s*[^=<>!~;\s]+|@\s*\S+)\s*(;.*)?$")

# Ask an interpreter for its packages and where each came from (stdlib only: works in any venv).
_PROBE = r"""
import importlib.metadata as m, json, sys, platform
def _header(d):
  # Name and Version from the metadata's first lines: the full email parse behind d.metadata
  # costs ~1 ms a package, and a job waits for this before its command starts.
  name = version = None
  for line in (d.read_text("METADATA") or d.read_text("PKG-INFO") or "").splitlines():
      if not line:
          break
      if line.startswith("Name:") and name is None:
          name = line[5:].strip()
      elif line.startswith("Version:") and version is None:
          version = line[8:].strip()
  if not name or version is None:
      return d.metadata["Name"], d.version
  return name, version
def _describe():
  out = []
  for d in m.distributions():
      name, version = _header(d)
      if not name:
          continue
      src = "index"
      try:
          du = json.loads(d.read_text("direct_url.json") or "null")
      except Exception:
          du = None
      if du:
          if du.get("dir_info", {}).get("editable"):
              src = "editable " + du.get("url", "")
          elif "vcs_info" in du:
              src = du["vcs_info"].get("vcs", "vcs") + "+" + du.get("url", "") + "@" + du["vcs_info"].get("commit_id", "")
          else:
              src = du.get("url", "url")
      out.append({"name": name, "version": version, "source": src})
  out.sort(key=lambda p: p["name"].lower())
  return {"python": platform.python_version(), "implementation": platform.python_implementation(),
                    "executable": sys.executable, "packages": out}
if __name__ == "__main__":
    print(json.dumps(_describe()))
"""


class EnvError(UserError, RuntimeError):
    """An environment cannot be built or used (message says why)."""


@dataclass(frozen=True)
class Lock:
    lines: tuple[str, ...]
    python: str  # major.minor.micro the lock was made for

    @property
    def digest(self) -> str:
        text = "\n".join(["python " + self.python, *sorted(self.lines)])
        return hashlib.sha256(text.encode()).hexdigest()[:24]


def parse_lock(text: str, origin: str) -> list[str]:
    """Exact requirement lines; anything not pinned exactly is an error naming the line."""
    lines = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise EnvError(f"{origin} line {n}: pip options ({line.split()[0]}) are not supported in a lock")
        if not _EXACT.match(line):
            raise EnvError(f"{origin} line {n}: {line!r} is not an exact pin (write name==version or name @ URL)")
        lines.append(re.sub(r"\s+", "", line) if "@" not in line else line)
    return lines


def find_lock(root: Path) -> tuple[Path, list[str]]:
    for name in LOCK_FILES:
        path = root / name
        if path.is_file():
            return path, parse_lock(path.read_text(encoding="utf-8"), name)
    raise EnvError(f"--env locked needs a lock of exact versions in the repository ({' or '.join(LOCK_FILES)}); "
                   f"none found in {root}")


def uv_binary() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if not found:
        raise EnvError("--env locked needs uv (pip install uv); it is not installed")
    return found


def envs_dir() -> Path:
    return data_dir() / "launch" / "envs"


def env_python(env: Path) -> Path:
    return env / "bin" / "python"


def ensure_env(lock: Lock, task: Task | None = None, log=None) -> tuple[Path, bool]:
    """The venv for ``lock``: (its folder, whether it was reused from the cache)."""
    env = envs_dir() / lock.digest
    if (env / READY_MARK).is_file():
        return env, True
    uv = uv_binary()
    tmp = envs_dir() / f".{lock.digest}.{os.getpid()}.building"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        # Build with the current interpreter when versions agree (no download); else ask uv for it.
        target = sys.executable if lock.python == platform.python_version() else lock.python
        _uv([uv, "venv", "--quiet", "--python", target, str(tmp)], "create the environment", log)
        if task is not None:
            task.check()
        reqs = tmp / "labdeck-lock.txt"
        reqs.write_text("\n".join(lock.lines) + "\n")
        if lock.lines:
            _uv([uv, "pip", "install", "--quiet", "--python", str(env_python(tmp)), "-r", str(reqs)],
                "install the lock", log)
        _link_sdk(tmp)
        (tmp / READY_MARK).write_text(json.dumps({"lock": list(lock.lines), "python": lock.python}))
        # The venv records its own path in bin/ scripts; we only ever run bin/python, which is fine
        # after the rename (pyvenv.cfg holds no absolute path of the venv itself).
        try:
            os.rename(tmp, env)
        except OSError:
            if not (env / READY_MARK).is_file():  # lost a race to a broken build: rebuild next time
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return env, True
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return env, False


def _uv(args: list[str], what: str, log) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if log is not None and (done.stdout or done.stderr):
        log(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise EnvError(f"uv could not {what}: {tail}")


def _link_sdk(env: Path) -> None:
    """Make ``import labdeck`` (the stdlib-only SDK) work in the job's environment."""
    import labdeck

    pkg = Path(labdeck.__file__).resolve().parent
    site = next((env / "lib").glob("python*/site-packages"))
    (site / "labdeck").symlink_to(pkg, target_is_directory=True)


def describe_interpreter(python: str | Path) -> dict:
    """Python version and every package with its version and source, asked of ``python``."""
    if Path(python) == Path(sys.executable):  # this interpreter: no second process needed
        scope: dict = {"__name__": "labdeck_probe"}
        exec(_PROBE, scope)  # noqa: S102 - our own constant code
        return scope["_describe"]()
    done = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise EnvError(f"cannot ask {python} for its packages: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout)
