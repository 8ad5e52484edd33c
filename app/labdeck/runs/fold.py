"""One training, several sources: folding the series of a run and its linked sources.

A Lightning training logged by CSVLogger and TensorBoardLogger, or a Hugging Face Trainer's
output folder and its TensorBoard run, are indexed as linked runs (``labdeck.db.run_links``).
Shown as one training, each metric is kept once, from the richest source: the one with the
most points, then the most wall times (TensorBoard records them, metrics.csv and
trainer_state.json do not: with them a curve can be drawn over time; TensorBoard keeps values
as float32, which is what Lightning logged anyway), then the run itself. Points are never
merged across sources, and ``Folded.chosen`` says which source each metric came from.
The Trainer's TensorBoard callback renames its keys (``loss`` -> ``train/loss``,
``eval_loss`` -> ``eval/loss``): they are matched back to the Trainer's own names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labdeck.db.entities import RunInfo, Series


@dataclass(frozen=True)
class Source:
    run_id: str
    format: str
    series: dict[str, Series]


@dataclass
class Folded:
    series: dict[str, Series] = field(default_factory=dict)
    chosen: dict[str, str] = field(default_factory=dict)  # metric -> run id its points came from


def fold(own: Source, linked: list[Source]) -> Folded:
    """The run's series with its linked sources' folded in, each metric from its richest source."""
    import numpy as np  # here, not with the module: listing runs from the CLI never loads numpy

    candidates: dict[str, list[tuple[tuple[int, int, int], str, Series]]] = {}
    for rank, source in enumerate([own, *linked]):
        for key, series in source.series.items():
            name = _own_name(key, source.format, own.format)
            walls = int(np.isfinite(series.walls).sum())
            # Richest first: more points, more wall times, then the run itself over its sources.
            candidates.setdefault(name, []).append(((len(series), walls, -rank), source.run_id, series))
    out = Folded()
    for name, options in candidates.items():
        _, run_id, series = max(options, key=lambda o: o[0])
        out.series[name] = series
        out.chosen[name] = run_id
    return out


def _own_name(key: str, fmt: str, own_format: str) -> str:
    """A linked source's metric under the run's own name (the Trainer's TensorBoard renames)."""
    if fmt == "tensorboard" and own_format == "hf-trainer":
        if key.startswith("eval/"):
            return "eval_" + key[len("eval/"):]
        if key.startswith("train/"):
            return key[len("train/"):]
    return key


def without_twins(runs: list[RunInfo]) -> list[RunInfo]:
    """``runs`` less those that are another format's source of a listed run's training (their
    series are folded into it); an MLflow child run, same format as its parent, stays."""
    formats = {r.id: r.format for r in runs}
    return [r for r in runs if not (r.parent in formats and formats[r.parent] != r.format)]


def fold_many(
    own: dict[str, Source], linked: dict[str, list[Source]], keys: list[str] | None = None
) -> dict[str, dict[str, Series]]:
    """run id -> its folded series (``keys`` only, when given) for runs with linked sources."""
    out = {}
    for run_id, source in own.items():
        series = fold(source, linked.get(run_id, [])).series if linked.get(run_id) else source.series
        out[run_id] = series if keys is None else {k: v for k, v in series.items() if k in keys}
    return out
