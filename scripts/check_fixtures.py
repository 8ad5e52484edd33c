#!/usr/bin/env python3
"""Index each project folder of a fixture corpus and compare it with its expected.json.

    .venv/bin/python scripts/check_fixtures.py ../shared/fixtures

Prints one line per project folder: runs and metric points matched out of expected, and
exits non-zero on any mismatch. Points are compared as (step, value) multisets per metric
(value NaN equal to NaN; MLflow SQLite's ±DBL_MAX is the ±infinity labdeck shows).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from labdeck.workspace import Workspace  # noqa: E402

DBL_MAX = 1.7976931348623157e308
WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _value(v) -> float:
    v = WORDS.get(v, v) if isinstance(v, str) else v
    v = float(v)
    if abs(v) == DBL_MAX:
        return math.copysign(math.inf, v)
    return v


def _key(step, value) -> tuple:
    value = _value(value)
    return (int(step), "nan" if math.isnan(value) else value)


def expected_points(expected: dict) -> dict[str, dict[str, Counter]]:
    """source_id -> metric -> Counter of (step, value), from whichever tool wrote the folder."""
    out: dict[str, dict[str, Counter]] = {}
    if "runs" in expected and isinstance(expected["runs"], list):  # MLflow
        for run in expected["runs"]:
            out[run["run_id"]] = {
                k: Counter(_key(p["step"], p["value"]) for p in pts) for k, pts in run["metric_history"].items()
            }
    elif expected.get("tool", "").startswith("tensorboard") or "logdir" in expected:
        for rid, run in expected["runs"].items():
            out[rid] = {k: Counter(_key(p["step"], p["value"]) for p in pts) for k, pts in run["scalars"].items()}
    elif "states" in expected:  # HF Trainer: the run is the output folder; its most complete state
        for path, state in expected["states"].items():
            folder = state["folder"].split("/checkpoint-")[0]
            keep = out.get(folder)
            metrics: dict[str, Counter] = {}
            for entry in state["log_history"]:
                for k, v in entry.items():
                    if k != "step" and not isinstance(v, bool) and (isinstance(v, (int, float)) or v in WORDS):
                        metrics.setdefault(k, Counter())[_key(entry["step"], v)] += 1
            size = sum(sum(c.values()) for c in metrics.values())
            if keep is None or size > sum(sum(c.values()) for c in keep.values()):
                out[folder] = metrics
    else:  # Lightning
        for rid, run in expected["runs"].items():
            out[rid] = {k: Counter(_key(p["step"], p["value"]) for p in pts) for k, pts in run["series"].items()}
    return out


def check(folder: Path, index: Path) -> tuple[bool, str]:
    expected = expected_points(json.loads((folder / "expected.json").read_text()))
    ws = Workspace(index)
    try:
        ws.add_project(folder)
        ws.index()
        runs = {r.source_id: r for r in ws.runs("", include_deleted=True)}
        matched_runs = 0
        matched = total = 0
        problems = []
        for source_id, metrics in expected.items():
            run = runs.get(source_id)
            n = sum(sum(c.values()) for c in metrics.values())
            total += n
            if run is None:
                problems.append(f"missing run {source_id}")
                continue
            series = ws.series(run.id)
            ok = True
            for key, want in metrics.items():
                s = series.get(key)
                got = Counter() if s is None else Counter(_key(a, b) for a, b in zip(s.steps.tolist(), s.values.tolist()))
                common = sum((want & got).values())
                matched += common
                if got != want:
                    ok = False
                    problems.append(f"{source_id} {key}: {common}/{sum(want.values())} points match")
            matched_runs += ok
        line = f"{folder.name}: runs {matched_runs}/{len(expected)}, points {matched}/{total}"
        return not problems, line + ("" if not problems else "  MISMATCH: " + "; ".join(problems[:5]))
    finally:
        ws.close()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: check_fixtures.py CORPUS_DIR", file=sys.stderr)
        return 2
    corpus = Path(argv[0])
    folders = sorted(p for p in corpus.iterdir() if (p / "expected.json").is_file())
    if not folders:
        print(f"no project folders with expected.json in {corpus}", file=sys.stderr)
        return 2
    all_ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for i, folder in enumerate(folders):
            ok, line = check(folder, Path(tmp) / f"index-{i}.sqlite")
            all_ok &= ok
            print(line, flush=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
