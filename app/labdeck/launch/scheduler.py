"""Which queued jobs may start now, and on which GPUs: a pure function, tested without GPUs.

Jobs are taken by priority (higher first), then age. A GPU is free when no running labdeck
job holds it and its used memory is below a threshold (another program is not using it).
A GPU job that cannot be served blocks later GPU jobs (no back-filling past it, so a big
high-priority job is not starved by small ones); CPU-only jobs never wait for GPUs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from labdeck.launch.gpus import GpuInfo, InventorySnapshot

BUSY_MEMORY_FRACTION = 0.10  # a GPU with more memory in use than this is someone else's


class RequestError(ValueError):
    """A ``--gpus`` value that means nothing, or asks for GPUs this machine lacks."""


@dataclass(frozen=True)
class GpuRequest:
    count: int = 0  # number of GPUs wanted (ignored when uuids is given)
    uuids: tuple[str, ...] = ()
    min_free_mib: int = 0

    @property
    def wants_gpus(self) -> bool:
        return bool(self.uuids) or self.count > 0

    def to_json(self) -> dict:
        return {"count": self.count, "uuids": list(self.uuids), "min_free_mib": self.min_free_mib}

    @classmethod
    def from_json(cls, data: dict | None) -> GpuRequest:
        data = data or {}
        return cls(int(data.get("count", 0)), tuple(data.get("uuids", ())), int(data.get("min_free_mib", 0)))


def parse_request(text: str | None, min_gpu_mem_gb: float | None = None) -> GpuRequest:
    """``none`` / ``0`` / ``N`` / ``GPU-uuid,GPU-uuid``."""
    min_mib = round((min_gpu_mem_gb or 0) * 1024)
    if min_mib < 0:
        raise RequestError("--min-gpu-mem must not be negative")
    text = (text or "none").strip()
    if text.lower() in ("none", "cpu", "0", ""):
        return GpuRequest(0, (), min_mib)
    if text.isdigit():
        return GpuRequest(int(text), (), min_mib)
    uuids = tuple(u.strip() for u in text.split(",") if u.strip())
    bad = [u for u in uuids if not u.startswith(("GPU-", "MIG-"))]
    if bad:
        raise RequestError(f"--gpus {text!r}: expected none, a count, or GPU UUIDs (GPU-…); {bad[0]!r} is none of these")
    return GpuRequest(len(uuids), uuids, min_mib)


@dataclass(frozen=True)
class Queued:
    id: str
    priority: int
    created_at: int
    request: GpuRequest


@dataclass(frozen=True)
class Decision:
    start: bool
    gpus: tuple[str, ...] = ()
    error: str = ""  # set when the job can never run as asked (it fails)


def is_free(gpu: GpuInfo, held: set[str], min_free_mib: int = 0) -> bool:
    if gpu.uuid in held:
        return False
    if gpu.memory_used_mib > gpu.memory_total_mib * BUSY_MEMORY_FRACTION:
        return False
    return gpu.memory_free_mib >= min_free_mib


def decide(
    queued: Iterable[Queued],
    held: set[str],
    snapshot: InventorySnapshot,
    *,
    running_cpu_jobs: int = 0,
    max_cpu_jobs: int = 4,
) -> dict[str, Decision]:
    """For each queued job: start now (with these GPUs), keep waiting (absent), or fail."""
    held = set(held)
    by_uuid = {g.uuid: g for g in snapshot.gpus}
    out: dict[str, Decision] = {}
    gpu_blocked = False
    cpu_running = running_cpu_jobs
    for job in sorted(queued, key=lambda j: (-j.priority, j.created_at, j.id)):
        req = job.request
        if not req.wants_gpus:
            if cpu_running < max_cpu_jobs:
                out[job.id] = Decision(True)
                cpu_running += 1
            continue
        if snapshot.cpu_only:
            out[job.id] = Decision(False, error=f"the job needs GPUs and there are none now ({snapshot.reason})")
            continue
        if req.uuids:
            missing = [u for u in req.uuids if u not in by_uuid]
            if missing:
                out[job.id] = Decision(False, error=f"GPU {missing[0]} is not on this machine (any more)")
                continue
        elif req.count > len(snapshot.gpus):
            out[job.id] = Decision(False, error=f"the job needs {req.count} GPUs; this machine has {len(snapshot.gpus)}")
            continue
        if gpu_blocked:
            continue
        if req.uuids:
            wanted = [by_uuid[u] for u in req.uuids]
            ok = all(is_free(g, held, req.min_free_mib) for g in wanted)
            chosen = [g.uuid for g in wanted] if ok else []
        else:
            free = [g.uuid for g in sorted(snapshot.gpus, key=lambda g: g.index) if is_free(g, held, req.min_free_mib)]
            chosen = free[: req.count] if len(free) >= req.count else []
        if chosen:
            held.update(chosen)
            out[job.id] = Decision(True, tuple(chosen))
        else:
            gpu_blocked = True
    return out
