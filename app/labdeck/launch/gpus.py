"""GPU inventory and live telemetry behind one small interface.

``NvmlInventory`` asks NVML (``nvidia-ml-py``, imported as ``pynvml``); when NVML is
missing or fails, the machine is CPU only and ``reason`` says why. ``FakeInventory``
serves tests, and ``LABDECK_GPU_INVENTORY=fake:FILE.json`` makes every labdeck process
(runner included) use one, so scheduling is testable without GPUs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

MIB = 1024 * 1024


@dataclass(frozen=True)
class GpuInfo:
    index: int
    uuid: str
    name: str
    memory_total_mib: int
    memory_used_mib: int
    utilization_pct: int | None = None
    pci_bus_id: str = ""
    processes: tuple[int, ...] = ()  # pids with compute contexts

    @property
    def memory_free_mib(self) -> int:
        return self.memory_total_mib - self.memory_used_mib


@dataclass(frozen=True)
class InventorySnapshot:
    gpus: tuple[GpuInfo, ...] = ()
    driver: str | None = None
    cuda: str | None = None
    reason: str = ""  # why there are no GPUs, when there are none
    source: str = "nvml"
    extra: dict = field(default_factory=dict)

    @property
    def cpu_only(self) -> bool:
        return not self.gpus

    def describe(self) -> str:
        if self.cpu_only:
            return f"CPU only: {self.reason or 'no GPU found'}"
        names = ", ".join(f"{g.name} ({g.uuid})" for g in self.gpus)
        return f"{len(self.gpus)} GPU(s): {names}; driver {self.driver}, CUDA {self.cuda}"


class Inventory(Protocol):
    def snapshot(self) -> InventorySnapshot: ...


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlInventory:
    """The real GPUs, through NVML; every failure becomes a CPU-only snapshot with its reason."""

    def snapshot(self) -> InventorySnapshot:
        try:
            import pynvml
        except ImportError:
            return InventorySnapshot(reason="NVML is not available (nvidia-ml-py is not installed)")
        try:
            pynvml.nvmlInit()
        except Exception as exc:  # noqa: BLE001 - NVMLError_* family, driver missing, ...
            return InventorySnapshot(reason=f"NVML could not start: {exc}")
        try:
            driver = _text(pynvml.nvmlSystemGetDriverVersion())
            cuda = None
            try:
                v = int(pynvml.nvmlSystemGetCudaDriverVersion_v2())
                cuda = f"{v // 1000}.{(v % 1000) // 10}"
            except Exception:  # noqa: BLE001 - older drivers
                pass
            gpus = []
            for i in range(pynvml.nvmlDeviceGetCount()):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                mem = pynvml.nvmlDeviceGetMemoryInfo(h)
                try:
                    util: int | None = int(pynvml.nvmlDeviceGetUtilizationRates(h).gpu)
                except Exception:  # noqa: BLE001 - not supported on every device
                    util = None
                try:
                    procs = tuple(int(p.pid) for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h))
                except Exception:  # noqa: BLE001
                    procs = ()
                try:
                    bus = _text(pynvml.nvmlDeviceGetPciInfo(h).busId)
                except Exception:  # noqa: BLE001
                    bus = ""
                gpus.append(
                    GpuInfo(
                        index=i,
                        uuid=_text(pynvml.nvmlDeviceGetUUID(h)),
                        name=_text(pynvml.nvmlDeviceGetName(h)),
                        memory_total_mib=int(mem.total) // MIB,
                        memory_used_mib=int(mem.used) // MIB,
                        utilization_pct=util,
                        pci_bus_id=bus,
                        processes=procs,
                    )
                )
        except Exception as exc:  # noqa: BLE001 - a GPU that fell off the bus, a driver mismatch
            return InventorySnapshot(reason=f"NVML failed: {exc}")
        finally:
            try:
                pynvml.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass
        if not gpus:
            return InventorySnapshot(driver=driver, cuda=cuda, reason="NVML reports no GPU")
        return InventorySnapshot(gpus=tuple(gpus), driver=driver, cuda=cuda)


class FakeInventory:
    """A fixed inventory (tests): ``gpus`` as GpuInfo, or read anew from a JSON file each time."""

    def __init__(self, gpus: list[GpuInfo] | None = None, *, path: Path | None = None) -> None:
        self._gpus = list(gpus or [])
        self._path = path

    def snapshot(self) -> InventorySnapshot:
        gpus = self._gpus
        if self._path is not None:
            data = json.loads(self._path.read_text())
            gpus = [GpuInfo(index=i, **{**g, "processes": tuple(g.get("processes", ()))}) for i, g in enumerate(data)]
        if not gpus:
            return InventorySnapshot(reason="the fake inventory has no GPU", source="fake")
        return InventorySnapshot(gpus=tuple(gpus), driver="fake", cuda="fake", source="fake")


class NoGpuInventory:
    def snapshot(self) -> InventorySnapshot:
        return InventorySnapshot(reason="GPUs turned off (LABDECK_GPU_INVENTORY=none)", source="none")


def default_inventory() -> Inventory:
    choice = os.environ.get("LABDECK_GPU_INVENTORY", "")
    if choice.startswith("fake:"):
        return FakeInventory(path=Path(choice[len("fake:") :]))
    if choice == "none":
        return NoGpuInventory()
    return NvmlInventory()


def snapshot_json(snap: InventorySnapshot) -> dict:
    return {
        "cpu_only": snap.cpu_only,
        "reason": snap.reason,
        "driver": snap.driver,
        "cuda": snap.cuda,
        "source": snap.source,
        "gpus": [
            {
                "index": g.index,
                "uuid": g.uuid,
                "name": g.name,
                "memory_total_mib": g.memory_total_mib,
                "memory_used_mib": g.memory_used_mib,
                "utilization_pct": g.utilization_pct,
                "pci_bus_id": g.pci_bus_id,
            }
            for g in snap.gpus
        ],
    }
