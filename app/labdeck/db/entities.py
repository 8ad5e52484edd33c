"""Plain frozen values that leave ``labdeck.db``: safe to hand to other threads and to Qt models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is loaded by whoever builds the arrays; a CLI verb listing runs never does
    import numpy as np


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    path: str
    name: str
    added_at: int
    scanned_at: int | None
    run_count: int = 0


@dataclass(frozen=True)
class MetricStats:
    last: float
    min: float
    max: float
    count: int
    last_step: int | None


@dataclass(frozen=True)
class Series:
    """Every point of one metric of one run, in the order logged."""

    steps: np.ndarray  # int64
    values: np.ndarray  # float64
    walls: np.ndarray  # float64, ms since the epoch

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class WarningInfo:
    id: int
    project: str
    run_id: str | None
    path: str
    code: str
    message: str
    transient: bool
    created_at: int


@dataclass(frozen=True)
class RunInfo:
    id: str
    project: str
    format: str
    source_id: str
    experiment: str
    name: str
    status: str
    deleted: bool
    parent: str | None
    start_time: int | None
    end_time: int | None
    path: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricStats] = field(default_factory=dict)
    warnings: tuple[WarningInfo, ...] = ()
    # Datasets read and models produced, as plain dicts (see RunRecord.inputs / .models).
    inputs: tuple[dict, ...] = ()
    models: tuple[dict, ...] = ()
    artifact_dir: str | None = None
    hidden: bool = False
    gone: bool = False  # its files were not found by the last complete pass (kept, --all lists it)
