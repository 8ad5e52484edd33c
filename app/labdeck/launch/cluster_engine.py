"""What labdeck needs from a cluster engine (Slurm, Ray): submit, ask, stop; in engine terms.

Each engine maps its own states onto labdeck's job statuses and keeps its own words in
``raw`` and ``reason`` (Slurm's ``TIMEOUT``/``NodeFail``, Ray's message), shown on the job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from labdeck.db.jobs import JobInfo
from labdeck.launch.cluster_bundle import Bundle


class EngineUnreachable(OSError):
    """The engine did not answer (network, daemon down): try again later."""


@dataclass(frozen=True)
class EngineState:
    status: str  # queued | running | succeeded | failed | cancelled
    raw: str  # the engine's own state name (PENDING, TIMEOUT, STOPPED…)
    reason: str = ""  # the engine's reason or message
    nodes: str = ""

    @property
    def finished(self) -> bool:
        return self.status not in ("queued", "running")

    def describe(self) -> str:
        return f"{self.raw}" + (f" ({self.reason})" if self.reason and self.reason not in ("None", self.raw) else "")


class Engine(ABC):
    kind = "abstract"
    results_in_bundle = False  # the run is written into the bundle and copied back (no shared project)

    @abstractmethod
    def cluster_name(self) -> str:
        """A name for the cluster, for the manifest and the plan."""

    @abstractmethod
    def submit(self, bundle: Bundle, job: JobInfo, python: str) -> dict:
        """Submit; returns what to keep on the job (``id`` at least). Raises SubmissionRejected."""

    @abstractmethod
    def state(self, info: dict) -> EngineState | None:
        """The job's state now (None: the engine no longer knows it). Raises EngineUnreachable."""

    @abstractmethod
    def cancel(self, info: dict) -> None:
        """Ask the engine to stop the job."""

    def script_path(self, bundle: Bundle) -> Path | None:
        return None
