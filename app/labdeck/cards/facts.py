"""The facts of a model card, assembled from labdeck's records (never typed in by people).

``assemble`` turns the index's ``CardRecord`` of one version into ``CardFacts``: plain values
every renderer reads. Times are written in UTC so that the same records give the same card
on any machine (the dialog and the CLI write byte-identical files).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime

from labdeck.cards.sections import HUMAN_SECTIONS
from labdeck.cards.slices import MetricValue, split_metrics
from labdeck.db.cards import CardRecord, DatasetRecord, SiblingVersion
from labdeck.db.registry import ApprovalEntry, PushInfo
from labdeck.db.run_manifest import Manifest

MAX_PLOT_POINTS = 400  # per curve: a card is a summary, and the html stays small


def iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Training:
    run_id: str
    in_index: bool
    run_name: str = ""
    run_format: str = ""
    experiment: str = ""
    status: str = ""
    parent_run: str | None = None
    command: str = ""
    cwd: str = ""
    commit: str = ""
    branch: str = ""
    dirty: bool | None = None
    params: dict[str, str] = field(default_factory=dict)
    started: str = ""
    ended: str = ""
    duration_s: float | None = None
    hardware: dict[str, str] = field(default_factory=dict)  # label -> text
    environment: dict[str, str] = field(default_factory=dict)  # label -> text
    packages: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Curve:
    metric: str
    steps: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class CardFacts:
    name: str
    version: int
    state: str
    registered: str  # ISO date-time, UTC
    registered_by: str
    authors: tuple[str, ...]
    model_format: str
    kind: str
    artifact_path: str
    artifact_hash: str
    size: int
    files: int
    run_hash: str
    training: Training
    metrics: tuple[MetricValue, ...]  # overall first, then slices
    datasets: tuple[DatasetRecord, ...]
    approvals: tuple[ApprovalEntry, ...]
    siblings: tuple[SiblingVersion, ...]
    pushes: tuple[PushInfo, ...]
    sections: dict[str, str]  # human sections that were written (key -> text)
    library_name: str = ""
    base_model: str = ""
    tags: tuple[str, ...] = ()
    curves: tuple[Curve, ...] = ()
    slice_pattern: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(s.key for s in HUMAN_SECTIONS if s.key not in self.sections)

    @property
    def overall(self) -> tuple[MetricValue, ...]:
        return tuple(m for m in self.metrics if not m.factor)

    @property
    def sliced(self) -> tuple[MetricValue, ...]:
        return tuple(m for m in self.metrics if m.factor)


def _command(prov: dict) -> str:
    manifest = Manifest.from_json(prov.get("manifest"))
    argv = (list(manifest.command) if manifest else None) or prov.get("argv") or []
    if isinstance(argv, list):
        return shlex.join(str(a) for a in argv)
    return str(argv)


def _hardware(prov: dict) -> dict[str, str]:
    host = _mapping(prov.get("host"))
    out = {}
    for key, label in (("hostname", "host"), ("os", "OS"), ("machine", "architecture"), ("cpus", "CPUs")):
        if host.get(key) not in (None, ""):
            out[label] = str(host[key])
    gpus = prov.get("gpus") if isinstance(prov.get("gpus"), list) else []
    if gpus:
        out["GPUs"] = ", ".join(
            f"{g.get('name', '?')}" + (f" ({g['memory_mib']} MiB)" if g.get("memory_mib") else "")
            for g in gpus if isinstance(g, dict)
        )
        drivers = {str(g.get("driver")) for g in gpus if isinstance(g, dict) and g.get("driver")}
        if drivers:
            out["GPU driver"] = ", ".join(sorted(drivers))
    manifest = Manifest.from_json(prov.get("manifest"))
    cuda = manifest.gpus.cuda if manifest else None
    if cuda:
        out["CUDA"] = str(cuda)
    return out


def _mapping(value: object) -> dict:
    """A provenance entry that should be a mapping (older or foreign records: anything else)."""
    return value if isinstance(value, dict) else {}


def _environment(prov: dict) -> tuple[dict[str, str], dict[str, str]]:
    py = _mapping(prov.get("python"))
    env = {}
    if py.get("version"):
        env["Python"] = f"{py.get('implementation') or 'Python'} {py['version']}"
    manifest = Manifest.from_json(prov.get("manifest"))
    if manifest and manifest.seed is not None:
        env["seed"] = str(manifest.seed)
    if manifest and manifest.env.kind:
        env["environment kind"] = manifest.env.kind
    packages = _mapping(prov.get("packages"))
    if packages:
        env["packages"] = f"{len(packages)} recorded"
    return env, {str(k): str(v) for k, v in packages.items()}


def _training(rec: CardRecord) -> Training:
    mv, run, prov = rec.version, rec.run, rec.provenance
    git = _mapping(prov.get("git"))
    hardware = _hardware(prov)
    environment, packages = _environment(prov)
    if run is None:
        return Training(run_id=mv.run_uid, in_index=False, command=_command(prov), hardware=hardware,
                        environment=environment, packages=packages)
    duration = (run.end_time - run.start_time) / 1000 if run.start_time and run.end_time else None
    return Training(
        run_id=run.id, in_index=True, run_name=run.name, run_format=run.format, experiment=run.experiment,
        status=run.status, parent_run=run.parent, command=_command(prov), cwd=str(prov.get("cwd") or ""),
        commit=str(git.get("commit") or ""), branch=str(git.get("branch") or ""),
        dirty=git.get("dirty") if isinstance(git.get("dirty"), bool) else None,
        params=dict(run.params), started=iso(run.start_time), ended=iso(run.end_time), duration_s=duration,
        hardware=hardware, environment=environment, packages=packages,
    )


def _curves(rec: CardRecord, overall: set[str]) -> tuple[Curve, ...]:
    out = []
    for key in sorted(rec.series):
        if key not in overall:
            continue
        s = rec.series[key]
        n = len(s)
        if n < 2:
            continue
        stride = max(1, -(-n // MAX_PLOT_POINTS))  # keep at most MAX_PLOT_POINTS, always the last one
        idx = list(range(0, n, stride))
        if idx[-1] != n - 1:
            idx.append(n - 1)
        out.append(Curve(key, tuple(float(s.steps[i]) for i in idx), tuple(float(s.values[i]) for i in idx)))
    return tuple(out)


def _meta(run_tags: dict[str, str], params: dict[str, str], key_names: tuple[str, ...]) -> str:
    for k in key_names:
        for source in (run_tags, params):
            if source.get(k):
                return str(source[k])
    return ""


def _hub_id(name: str) -> str:
    """A base model the Hub can link to (``org/name``); a local path is not one."""
    if not name or name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") > 1:
        return ""
    return name


def assemble(rec: CardRecord, slice_pattern: str | None = None) -> CardFacts:
    mv = rec.version
    metrics = tuple(split_metrics(mv.metrics, slice_pattern))
    tags = dict(rec.run.tags) if rec.run else {}
    params = dict(rec.run.params) if rec.run else {}
    authors = [mv.registered_by]
    for k in ("author", "mlflow.user"):  # the run's own record of who trained it
        if tags.get(k) and tags[k] not in authors:
            authors.append(tags[k])
    library = _meta(tags, params, ("library_name", "library", "framework"))
    if not library and mv.model_format in ("hf",):
        library = "transformers"
    elif not library and mv.model_format == "mlflow":
        library = "mlflow"
    card_tags = ["labdeck", mv.model_format] + ([library] if library and library != mv.model_format else [])
    return CardFacts(
        name=mv.name, version=mv.version, state=mv.state, registered=iso(mv.created_at),
        registered_by=mv.registered_by, authors=tuple(authors), model_format=mv.model_format, kind=mv.kind,
        artifact_path=mv.path, artifact_hash=mv.artifact_hash, size=mv.size, files=len(mv.manifest),
        run_hash=mv.run_hash, training=_training(rec), metrics=metrics, datasets=rec.datasets,
        approvals=rec.history, siblings=rec.siblings, pushes=mv.pushes,
        sections={k: s.text for k, s in rec.sections.items() if s.text.strip()},
        library_name=library, base_model=_hub_id(_meta(tags, params, ("base_model", "model_name_or_path"))),
        tags=tuple(dict.fromkeys(card_tags)),
        curves=_curves(rec, {m.metric for m in metrics if not m.factor}),
        slice_pattern=slice_pattern or "",
    )
