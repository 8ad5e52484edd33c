"""A launched job's manifest as its run records it (``provenance.manifest``): typed records
over the JSON, as ``job_spec`` is for the jobs table.

``launch.manifest`` builds one before the job's command starts; ``launch.reproduce`` and the
model cards read it back. ``Manifest.to_json()`` writes the keys every manifest has always
had, and ``Manifest.from_json`` reads older, partial and foreign ones (what is missing or of
the wrong type takes its default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labdeck.db.job_spec import Resources

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class EnvRecord:
    """The job's environment: its kind ("current" or "locked"), the lock's lines, and the
    variables that change what a training computes."""

    kind: str = ""
    lock: tuple[str, ...] | None = None
    variables: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "lock": list(self.lock) if self.lock is not None else None,
                "variables": dict(self.variables)}

    @classmethod
    def from_json(cls, data: Any) -> EnvRecord:
        data = _mapping(data)
        lock = data.get("lock")
        return cls(str(data.get("kind") or ""), tuple(str(x) for x in lock) if isinstance(lock, list) else None,
                   {str(k): str(v) for k, v in _mapping(data.get("variables")).items()})


@dataclass(frozen=True)
class Interpreter:
    version: str | None = None  # "3.11.7"
    implementation: str | None = None  # "CPython"
    executable: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"python": self.version, "implementation": self.implementation, "executable": self.executable}

    @classmethod
    def from_json(cls, data: Any) -> Interpreter:
        data = _mapping(data)
        return cls(*(_text(data.get(k)) for k in ("python", "implementation", "executable")))


@dataclass(frozen=True)
class GpuRecord:
    """The GPUs the job was given (each as ``gpus.snapshot_json`` lists one), the machine's
    inventory at the time, and its driver and CUDA versions."""

    assigned: tuple[dict[str, Any], ...] = ()
    inventory: dict[str, Any] = field(default_factory=dict)
    driver: str | None = None
    cuda: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"assigned": [dict(g) for g in self.assigned], "inventory": dict(self.inventory),
                "driver": self.driver, "cuda": self.cuda}

    @classmethod
    def from_json(cls, data: Any) -> GpuRecord:
        data = _mapping(data)
        return cls(tuple(g for g in data.get("assigned") or () if isinstance(g, dict)),
                   _mapping(data.get("inventory")), _text(data.get("driver")), _text(data.get("cuda")))


@dataclass(frozen=True)
class ClusterRecord:
    """Where a Slurm or Ray job ran, as seen inside the job: the engine's names for it, its
    node(s), the GPUs it saw and the resources it asked for."""

    executor: str = ""
    kind: str = ""  # "slurm" or "ray"
    identity: dict[str, str | None] = field(default_factory=dict)  # job_id, cluster, nodes, partition...
    gpus_seen: tuple[dict[str, str], ...] = ()
    driver: str | None = None
    resources: Resources = field(default_factory=Resources)

    @property
    def nodes(self) -> str | None:
        return self.identity.get("nodes")

    def to_json(self) -> dict[str, Any]:
        return {"executor": self.executor, "kind": self.kind, **self.identity,
                "gpus_seen": [dict(g) for g in self.gpus_seen], "driver": self.driver,
                "resources": self.resources.to_json()}

    @classmethod
    def from_json(cls, data: Any) -> ClusterRecord | None:
        if not isinstance(data, dict) or not data:
            return None
        known = {"executor", "kind", "gpus_seen", "driver", "resources"}
        return cls(str(data.get("executor") or ""), str(data.get("kind") or ""),
                   {str(k): _text(v) for k, v in data.items() if k not in known},
                   tuple(g for g in data.get("gpus_seen") or () if isinstance(g, dict)),
                   _text(data.get("driver")), Resources.from_json(data.get("resources")))


@dataclass(frozen=True)
class Manifest:
    """What a launched job ran, recorded before it started. ``to_json()`` writes the keys
    every manifest has always had; ``from_json`` reads any of them back, older and partial
    ones included (what is missing takes its default)."""

    command: tuple[str, ...] = ()
    code: dict[str, Any] = field(default_factory=dict)  # launch.gitsnap's snapshot
    env: EnvRecord = field(default_factory=EnvRecord)
    python: Interpreter = field(default_factory=Interpreter)
    packages: tuple[dict[str, Any], ...] = ()  # name, version, source
    machine: dict[str, Any] = field(default_factory=dict)
    gpus: GpuRecord = field(default_factory=GpuRecord)
    seed: int | None = None
    determinism: dict[str, Any] = field(default_factory=dict)
    datasets: tuple[dict[str, Any], ...] = ()  # pinned versions (launch.datasets)
    reproduces: str | None = None
    notes: tuple[str, ...] = ()
    cluster: ClusterRecord | None = None
    version: int = MANIFEST_VERSION

    @property
    def cwd(self) -> str:
        return str(self.code.get("cwd", "."))

    @property
    def package_versions(self) -> dict[str, str]:
        return {str(p["name"]): str(p.get("version")) for p in self.packages if "name" in p}

    def to_json(self) -> dict[str, Any]:
        out = {
            "version": self.version, "command": list(self.command), "code": dict(self.code), "cwd": self.cwd,
            "env": self.env.to_json(), "python": self.python.to_json(), "packages": [dict(p) for p in self.packages],
            "machine": dict(self.machine), "gpus": self.gpus.to_json(), "seed": self.seed,
            "determinism": dict(self.determinism), "datasets": [dict(d) for d in self.datasets],
            "reproduces": self.reproduces, "notes": list(self.notes),
        }
        if self.cluster is not None:
            out["cluster"] = self.cluster.to_json()
        return out

    @classmethod
    def from_json(cls, data: Any) -> Manifest | None:
        """The manifest in a run's provenance; None where the run has none (not launched by labdeck)."""
        if not isinstance(data, dict) or not data:
            return None
        seed = data.get("seed")
        command = data.get("command")
        return cls(
            command=tuple(str(a) for a in command) if isinstance(command, list) else (),
            code=_mapping(data.get("code")), env=EnvRecord.from_json(data.get("env")),
            python=Interpreter.from_json(data.get("python")),
            packages=tuple(p for p in data.get("packages") or () if isinstance(p, dict)),
            machine=_mapping(data.get("machine")), gpus=GpuRecord.from_json(data.get("gpus")),
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            determinism=_mapping(data.get("determinism")),
            datasets=tuple(d for d in data.get("datasets") or () if isinstance(d, dict)),
            reproduces=_text(data.get("reproduces")),
            notes=tuple(str(n) for n in data.get("notes") or ()),
            cluster=ClusterRecord.from_json(data.get("cluster")),
            version=int(data.get("version") or MANIFEST_VERSION),
        )

    def provenance(self, *, argv: list[str], cwd: str, cuda_visible: str | None) -> dict[str, Any]:
        """The run's provenance with this manifest in it: the manifest, and the entries every
        run has (git, Python, packages, host, GPUs) taken from it."""
        code = self.code
        return {
            "manifest": self.to_json(),
            "argv": list(argv),
            "cwd": cwd,
            "git": {"commit": code.get("commit"), "branch": code.get("branch"), "root": code.get("repo"),
                    "dirty": bool(code.get("diff") or code.get("untracked"))},
            "python": {"version": self.python.version, "implementation": self.python.implementation,
                       "executable": self.python.executable},
            "packages": self.package_versions,
            "host": dict(self.machine),
            "gpus": [{**g, "memory_mib": g.get("memory_total_mib"), "driver": self.gpus.driver}
                     for g in self.gpus.assigned],
            "cuda_visible_devices": cuda_visible,
        }


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return None if value is None else str(value)
