"""Finding model candidates in a run's artifacts, from names alone (never loading, never unpickling).

- an MLflow logged model: a folder holding an ``MLmodel`` file;
- a Hugging Face checkpoint: a folder holding ``config.json`` and weights;
- model files: .safetensors .pt .pth .onnx .joblib .pkl .ckpt .h5 .keras;
- models logged with the SDK (``run.log_model``): ``model`` events in ``events.jsonl``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

MODEL_SUFFIXES = {
    ".safetensors": "safetensors", ".pt": "pt", ".pth": "pt", ".onnx": "onnx", ".joblib": "joblib",
    ".pkl": "pickle", ".ckpt": "ckpt", ".h5": "keras", ".keras": "keras",
}
HF_WEIGHTS = ("pytorch_model.bin", "model.safetensors", "tf_model.h5", "flax_model.msgpack",
              "model.safetensors.index.json", "pytorch_model.bin.index.json")
MAX_ENTRIES = 50_000  # a run folder with more is not walked further (a warning says so)
MAX_DEPTH = 10


@dataclass(frozen=True)
class Candidate:
    path: str  # absolute
    rel: str  # relative to the run folder, '/'-separated
    kind: str  # file | folder
    format: str  # mlflow | hf | sdk | safetensors | pt | onnx | joblib | pickle | ...
    name: str  # a suggested model name
    size: int


def _folder_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def folder_format(names: set[str]) -> str | None:
    if "MLmodel" in names:
        return "mlflow"
    if "config.json" in names and (
        any(w in names for w in HF_WEIGHTS) or any(n.endswith(".safetensors") for n in names)
    ):
        return "hf"
    return None


def sdk_models(run_dir: Path) -> dict[str, str]:
    """Models logged with ``run.log_model``: {relative path: name}, from complete event lines."""
    out: dict[str, str] = {}
    try:
        data = (run_dir / "events.jsonl").read_bytes()
    except OSError:
        return out
    for line in data.split(b"\n")[:-1]:  # the last piece has no newline yet: not complete
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("type") == "model" and isinstance(event.get("path"), str):
            out[event["path"]] = str(event.get("name") or Path(event["path"]).name)
    return out


def find_candidates(
    run_dir: str | os.PathLike, artifact_dir: str | os.PathLike | None, logged: tuple[tuple[str, str], ...] = (),
) -> list[Candidate]:
    """Model candidates of one run, sorted by relative path.

    ``logged`` are (name, path) of models the tool itself recorded for the run (MLflow 3
    logged models live outside the run's artifact folder).
    """
    run_root = Path(run_dir)
    found: dict[str, Candidate] = {}

    def rel_of(p: Path) -> str:
        try:
            return p.relative_to(run_root).as_posix()
        except ValueError:
            return p.as_posix()

    for rel, name in sdk_models(run_root).items():
        p = run_root / rel
        if p.exists():
            kind = "folder" if p.is_dir() else "file"
            size = _folder_size(p) if kind == "folder" else p.stat().st_size
            found[str(p)] = Candidate(str(p), rel, kind, "sdk", name, size)

    seen_real = {os.path.realpath(k) for k in found}
    for name, path in logged:
        p = Path(path)
        if os.path.realpath(p) in seen_real or not p.exists():
            continue
        seen_real.add(os.path.realpath(p))
        if p.is_dir():
            logged_fmt = folder_format({c.name for c in p.iterdir()}) or "logged"
            found[str(p)] = Candidate(str(p), rel_of(p), "folder", logged_fmt, name or p.name, _folder_size(p))
        else:
            found[str(p)] = Candidate(str(p), rel_of(p), "file", MODEL_SUFFIXES.get(p.suffix.lower(), "logged"),
                                      name or p.stem, p.stat().st_size)

    if artifact_dir and Path(artifact_dir).is_dir():
        seen = 0
        base_depth = len(Path(artifact_dir).parts)
        for dirpath, dirnames, filenames in os.walk(os.fspath(artifact_dir)):
            here = Path(dirpath)
            seen += len(dirnames) + len(filenames)
            if seen > MAX_ENTRIES or len(here.parts) - base_depth >= MAX_DEPTH:
                dirnames[:] = []
            if str(here) in found:  # an SDK-logged folder: already a candidate, with its name
                dirnames[:] = []
                continue
            kind_of_folder = folder_format(set(filenames))
            if kind_of_folder is not None:
                found[str(here)] = Candidate(str(here), rel_of(here), "folder", kind_of_folder, here.name,
                                             _folder_size(here))
                dirnames[:] = []  # its weight files belong to it
                continue
            dirnames.sort()
            for fname in sorted(filenames):
                p = here / fname
                fmt = MODEL_SUFFIXES.get(p.suffix.lower())
                if fmt is None or str(p) in found or not p.is_file():
                    continue
                try:
                    size = p.stat().st_size
                except OSError:
                    continue
                found[str(p)] = Candidate(str(p), rel_of(p), "file", fmt, p.stem, size)
    return sorted(found.values(), key=lambda c: c.rel)
