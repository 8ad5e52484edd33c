"""What a job was asked to run, as stored with it: a typed record over the jobs table's JSON.

The sub-documents owned by other modules stay their JSON: ``code`` is ``launch.gitsnap``'s
snapshot, ``gpus`` ``launch.scheduler``'s request, each of ``datasets`` a pinned version from
``launch.datasets``, and ``cluster`` what a cluster executor recorded about the engine's job.
``to_json()`` writes the keys every stored spec has always had, so rows written before this
record and rows written after read back alike (``from_json`` takes either).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class EnvSpec:
    """The job's Python environment: this one ("current"), or one built from a lock ("locked")."""

    kind: str = "current"
    python: str = ""  # the version launching it
    lock: tuple[str, ...] | None = None  # the lock's lines, for "locked"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "python": self.python}
        if self.lock is not None:
            out["lock"] = list(self.lock)
        return out

    @classmethod
    def from_json(cls, data: Any) -> EnvSpec:
        data = data if isinstance(data, dict) else {}
        lock = data.get("lock")
        return cls(str(data.get("kind") or "current"), str(data.get("python") or ""),
                   tuple(lock) if isinstance(lock, list) else None)


@dataclass(frozen=True)
class Resources:
    """CPUs and memory asked of a cluster's engine (a local job is not limited by them)."""

    cpus: int | None = None
    mem_gb: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("cpus", self.cpus), ("mem_gb", self.mem_gb)) if v is not None}

    @classmethod
    def from_json(cls, data: Any) -> Resources:
        data = data if isinstance(data, dict) else {}
        return cls(data.get("cpus"), data.get("mem_gb"))


@dataclass(frozen=True)
class Launcher:
    """The process that queued the job: a job left queued by a launcher that died is failed."""

    pid: int
    host: str


@dataclass(frozen=True)
class JobSpec:
    code: dict[str, Any] = field(default_factory=dict)
    env: EnvSpec = field(default_factory=EnvSpec)
    gpus: dict[str, Any] | None = None
    seed: int | None = None
    datasets: tuple[dict[str, Any], ...] = ()
    reproduces: str | None = None  # the run a reproduction reproduces
    notes: tuple[str, ...] = ()
    name: str | None = None
    experiment: str | None = None
    resources: Resources = field(default_factory=Resources)
    index_project: str | None = None  # the watched project its runs are indexed under
    launcher: Launcher | None = None
    cluster: dict[str, Any] | None = None

    def but(self, **changes: Any) -> JobSpec:
        """This spec with some fields changed."""
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": dict(self.code), "env": self.env.to_json(), "gpus": self.gpus, "seed": self.seed,
            "datasets": [dict(d) for d in self.datasets], "reproduces": self.reproduces,
            "notes": list(self.notes), "name": self.name, "experiment": self.experiment,
            "resources": self.resources.to_json(),
        }
        if self.index_project is not None:
            out["index_project"] = self.index_project
        if self.launcher is not None:
            out["launcher"] = {"pid": self.launcher.pid, "host": self.launcher.host}
        if self.cluster is not None:
            out["cluster"] = dict(self.cluster)
        return out

    @classmethod
    def from_json(cls, data: Any) -> JobSpec:
        data = data if isinstance(data, dict) else {}
        launcher = data.get("launcher")
        return cls(
            code=dict(data.get("code") or {}),
            env=EnvSpec.from_json(data.get("env")),
            gpus=data.get("gpus") if isinstance(data.get("gpus"), dict) else None,
            seed=data.get("seed"),
            datasets=tuple(d for d in data.get("datasets") or () if isinstance(d, dict)),
            reproduces=data.get("reproduces"),
            notes=tuple(str(n) for n in data.get("notes") or ()),
            name=data.get("name"),
            experiment=data.get("experiment"),
            resources=Resources.from_json(data.get("resources")),
            index_project=data.get("index_project"),
            launcher=(Launcher(int(launcher.get("pid") or 0), str(launcher.get("host") or ""))
                      if isinstance(launcher, dict) else None),
            cluster=dict(data["cluster"]) if isinstance(data.get("cluster"), dict) else None,
        )
