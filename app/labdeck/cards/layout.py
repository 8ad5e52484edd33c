"""The fact sections of a card as neutral blocks (fields, tables, notes) that each renderer formats.

One place decides what a card says; md and html only decide how it looks.
"""

from __future__ import annotations

from dataclasses import dataclass

from labdeck.cards import text as t
from labdeck.cards.facts import CardFacts, iso
from labdeck.cards.slices import DEFAULT_PATTERN


@dataclass(frozen=True)
class Fields:
    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Note:
    text: str


Part = Fields | Table | Note
FACT_KEYS = ("model_details", "training_data", "training_procedure", "evaluation_data", "metrics", "results",
             "slices", "approvals", "lineage")


def _fields(*items: tuple[str, str | None]) -> Fields:
    return Fields(tuple((k, v) for k, v in items if v not in (None, "")))


def _datasets_table(ds) -> Table:
    return Table(("Dataset", "Hash", "Size", "Files", "Used as"),
                 tuple((t.dataset_label(d), d.digest or "not recorded", t.size(d.total_bytes),
                        "unknown" if d.file_count is None else str(d.file_count), d.context or "-") for d in ds))


def model_details(f: CardFacts) -> list[Part]:
    return [_fields(
        ("Model", f.name), ("Version", str(f.version)), ("State", f.state.replace("_", " ")),
        ("Registered", f.registered), ("Registered by", f.registered_by), ("Authors", ", ".join(f.authors)),
        ("Model format", f.model_format), ("Library", f.library_name), ("Base model", f.base_model),
        ("License", f.sections.get("license", "").strip() or "not stated (see License)"),
        ("Artifact", f.artifact_path), ("Artifact hash", f.artifact_hash),
        ("Artifact size", f"{t.size(f.size)} in {f.files} file(s)"),
        ("Training run", f.training.run_id), ("Run record hash", f.run_hash),
    )]


def training_data(f: CardFacts) -> list[Part]:
    ds = [d for d in f.datasets if not t.is_eval(d)]
    if not ds:
        return [Note("No dataset version is recorded for the training run.")]
    return [_datasets_table(ds)]


def evaluation_data(f: CardFacts) -> list[Part]:
    ds = [d for d in f.datasets if t.is_eval(d)]
    if not ds:
        return [Note("No separate evaluation dataset is recorded: the metrics below are those the training "
                     "run logged (last values).")]
    return [_datasets_table(ds)]


def training_procedure(f: CardFacts) -> list[Part]:
    tr = f.training
    if not tr.in_index:
        parts: list[Part] = [Note(f"The training run {tr.run_id} is no longer in the index; only the facts frozen "
                                  "at registration are shown.")]
    else:
        dirty = {True: " (uncommitted changes)", False: " (clean)", None: ""}[tr.dirty]
        parts = [_fields(
            ("Run", f"{tr.run_name} ({tr.run_id}, {tr.run_format})"), ("Experiment", tr.experiment),
            ("Status", tr.status), ("Command", tr.command), ("Working directory", tr.cwd),
            ("Code commit", f"{tr.commit}{dirty}" if tr.commit else "not recorded"), ("Branch", tr.branch),
            ("Started", tr.started), ("Ended", tr.ended), ("Duration", t.duration(tr.duration_s)),
        )]
    if tr.params:
        parts.append(Table(("Parameter", "Value"), tuple((k, v) for k, v in sorted(tr.params.items()))))
    parts.append(Table(("Hardware", ""), tuple(tr.hardware.items())) if tr.hardware
                 else Note("Hardware: not recorded."))
    parts.append(Table(("Environment", ""), tuple(tr.environment.items())) if tr.environment
                 else Note("Environment: not recorded."))
    return parts


def metrics(f: CardFacts) -> list[Part]:
    names = sorted({m.metric for m in f.metrics})
    if not names:
        return [Note("The training run logged no metrics.")]
    factors = sorted({m.factor for m in f.sliced})
    parts: list[Part] = [Note("Metrics as logged by the training run: " + ", ".join(names) + ".")]
    if factors:
        parts.append(Note("Reported per slice of: " + ", ".join(factors) + "."))
    return parts


def results(f: CardFacts) -> list[Part]:
    if not f.overall:
        return [Note("No overall metrics.")]
    return [Table(("Metric", "Value", "Split"), tuple((m.metric, t.num(m.value), t.split_of(m.metric) or "-")
                                                       for m in f.overall))]


def slices(f: CardFacts) -> list[Part]:
    pattern = f.slice_pattern or DEFAULT_PATTERN
    if not f.sliced:
        return [Note(f"No per-slice metrics (metric names matching {pattern}, e.g. val/acc@sex=female).")]
    return [Table(("Metric", "Factor", "Slice", "Value"),
                  tuple((m.metric, m.factor, m.level, t.num(m.value)) for m in f.sliced))]


def approvals(f: CardFacts) -> list[Part]:
    if not f.approvals:
        return [Note("No approval entries.")]
    rows = tuple((str(e.seq), e.action, f"{e.from_state or '-'} → {e.to_state}", e.actor, iso(e.time),
                  e.comment or "-", e.card_hash[:19] or "-") for e in f.approvals)
    return [Table(("#", "Action", "State", "By", "When (UTC)", "Comment", "Card hash"), rows)]


def lineage(f: CardFacts) -> list[Part]:
    tr = f.training
    parts: list[Part] = [_fields(
        ("Trained by run", tr.run_id + ("" if tr.in_index else " (no longer in the index)")),
        ("Parent run", tr.parent_run or ""),
        ("Datasets used", ", ".join(f"{t.dataset_label(d)} ({d.digest})" for d in f.datasets) or "none recorded"),
    )]
    others = [s for s in f.siblings if s.version != f.version]
    if others:
        parts.append(Table(("Other versions of " + f.name, "State", "Run", "Artifact hash", "Registered"),
                           tuple((str(s.version), s.state, s.run_uid, s.artifact_hash, iso(s.created_at))
                                 for s in others)))
    if f.pushes:
        parts.append(Table(("Registry", "Remote version", "Alias", "Pushed by", "When (UTC)"),
                           tuple((p.registry, p.remote_version, p.alias or "-", p.pushed_by, iso(p.pushed_at))
                                 for p in f.pushes)))
    return parts


def fact_blocks(f: CardFacts) -> dict[str, list[Part]]:
    return {k: globals()[k](f) for k in FACT_KEYS}
