"""The scheduler against fake inventories: priorities, free GPUs by UUID, memory threshold."""

from __future__ import annotations

import pytest
from labdeck.launch.gpus import FakeInventory, GpuInfo, NvmlInventory
from labdeck.launch.scheduler import (
    GpuRequest,
    Queued,
    RequestError,
    decide,
    parse_request,
)


def gpu(i: int, used: int = 100, total: int = 80_000) -> GpuInfo:
    return GpuInfo(index=i, uuid=f"GPU-{i:04d}", name="Fake H100", memory_total_mib=total, memory_used_mib=used)


def q(job_id: str, prio: int = 0, t: int = 0, count: int = 1, uuids: tuple[str, ...] = (), min_mib: int = 0) -> Queued:
    return Queued(job_id, prio, t, GpuRequest(count, uuids, min_mib))


def test_parse_request():
    assert parse_request("none") == GpuRequest(0)
    assert parse_request("2", 10) == GpuRequest(2, (), 10240)
    assert parse_request("GPU-a,GPU-b").uuids == ("GPU-a", "GPU-b")
    with pytest.raises(RequestError, match="GPU UUIDs"):
        parse_request("cuda:0")


def test_priority_then_age_decides_who_gets_the_only_gpu():
    snap = FakeInventory([gpu(0)]).snapshot()
    out = decide([q("old", 0, 1), q("urgent", 5, 9), q("older", 0, 0)], set(), snap)
    assert {k: v.gpus for k, v in out.items() if v.start} == {"urgent": ("GPU-0000",)}
    out = decide([q("old", 0, 1), q("older", 0, 0)], set(), snap)
    assert [k for k, v in out.items() if v.start] == ["older"]


def test_held_and_busy_gpus_are_not_free_and_block_later_gpu_jobs_but_not_cpu_jobs():
    snap = FakeInventory([gpu(0), gpu(1, used=40_000), gpu(2)]).snapshot()
    out = decide([q("a", 1, 0), q("b", 0, 1, count=2), q("c", 0, 2), q("cpu", 0, 3, count=0)], {"GPU-0000"}, snap)
    assert out["a"].gpus == ("GPU-0002",)  # 0 held by a running job, 1 used by someone else
    assert "b" not in out and "c" not in out  # b cannot be served: it blocks c (no starving b)
    assert out["cpu"].start and out["cpu"].gpus == ()


def test_uuid_requests_min_memory_and_impossible_requests():
    snap = FakeInventory([gpu(0, total=16_000), gpu(1)]).snapshot()
    out = decide([q("pinned", uuids=("GPU-0001",))], set(), snap)
    assert out["pinned"].gpus == ("GPU-0001",)
    out = decide([q("big", min_mib=40_000)], set(), snap)
    assert out["big"].gpus == ("GPU-0001",)
    out = decide([q("gone", uuids=("GPU-9999",)), q("many", count=3, t=1)], set(), snap)
    assert "not on this machine" in out["gone"].error and "has 2" in out["many"].error
    cpu_only = FakeInventory([]).snapshot()
    assert "none now" in decide([q("x")], set(), cpu_only)["x"].error


def test_real_nvml_inventory_is_consistent_or_says_why_not():
    snap = NvmlInventory().snapshot()
    if snap.cpu_only:
        assert snap.reason and "CPU only" in snap.describe()
        return
    uuids = [g.uuid for g in snap.gpus]
    assert len(set(uuids)) == len(uuids) and all(u.startswith(("GPU-", "MIG-")) for u in uuids)
    out = decide([q("real")], set(), snap)
    free = [g for g in snap.gpus if g.memory_used_mib <= g.memory_total_mib * 0.1]
    assert (out["real"].gpus[0] in uuids) if free else ("real" not in out)
