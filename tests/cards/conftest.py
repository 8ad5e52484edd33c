"""Fixtures for model cards: a real run (metrics over steps, per-slice metrics, dataset versions,
recorded provenance, an SDK-logged model) indexed, registered and reviewed with the models API."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from labdeck.models.versions import ModelService
from labdeck.sdk import Run

COMMIT = "3f2c1a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39"
SLICES = {"val/acc@sex=female": 0.91, "val/acc@sex=male": 0.87, "val/acc@age=60+": 0.78}


def models_conftest():
    """The models tests' fixtures module (its run writer is reused here, not copied)."""
    path = Path(__file__).resolve().parents[1] / "models" / "conftest.py"
    spec = importlib.util.spec_from_file_location("labdeck_tests_models_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dataset(tmp_path: Path, ds, name: str, rows: int) -> tuple[str, int]:
    folder = tmp_path / f"data-{name}"
    folder.mkdir()
    (folder / "points.csv").write_text("x,y,label\n" + "".join(f"{i},{i * 0.5},{i % 2}\n" for i in range(rows)))
    (folder / "README.txt").write_text(f"{name}: two moons\n")
    result = ds.add(name, folder)
    return name, result.version.version if hasattr(result.version, "version") else result.version


@pytest.fixture
def card_model(workspace, project, tmp_path):
    """(workspace, 'moons:1'): an approved version whose run used two dataset versions."""
    from labdeck.datasets.service import Datasets

    ds = Datasets(workspace.db)
    train = _dataset(tmp_path, ds, "moons-train", 200)
    evaluation = _dataset(tmp_path, ds, "moons-eval", 50)
    model_src = tmp_path / "model-src"
    model_src.mkdir()
    (model_src / "config.json").write_text('{"hidden": 16}')
    (model_src / "model.safetensors").write_bytes(b"weights" * 4000)
    provenance = {
        "argv": ["python", "train.py", "--lr", "0.05"], "cwd": "/home/ada/moons",
        "git": {"commit": COMMIT, "branch": "main", "dirty": False},
        "python": {"version": "3.11.9", "implementation": "CPython"},
        "packages": {"numpy": "2.1.0", "labdeck": "0.1"},
        "host": {"hostname": "ws-07", "os": "Linux-6.1", "machine": "x86_64", "cpus": 16},
        "gpus": [{"name": "NVIDIA RTX A4000", "memory_mib": "16376", "driver": "550.54"}],
    }
    run = Run(project, name="moons-train", params={"lr": "0.05", "hidden": "16"}, tags={"author": "ada"},
              record_provenance=False, extra_provenance=provenance)
    with run:
        run.use_dataset(f"{train[0]}:{train[1]}", context="training")
        run.use_dataset(f"{evaluation[0]}:{evaluation[1]}", context="evaluation")
        for step in range(30):
            run.log({"val/acc": 0.5 + step * 0.0135, "loss": 1.0 / (step + 1)}, step=step)
        run.log({**SLICES}, step=29)
        run.log_model(model_src, name="moons")
    workspace.add_project(project)
    workspace.index()
    (info,) = workspace.runs()
    svc = ModelService(workspace.db)
    mv = svc.register(info.id, "artifacts/models/moons", "moons")
    svc.transition(mv.ref, "submit", "ready for review")
    return workspace, mv.ref


@pytest.fixture
def bare_model(workspace, project):
    """(workspace, 'clf:1'): a draft from the models tests' run writer, nobody wrote its card."""
    models_conftest()._write_model_run(project)
    workspace.add_project(project)
    workspace.index()
    (info,) = workspace.runs()
    mv = ModelService(workspace.db).register(info.id, "artifacts/models/classifier", "clf")
    return workspace, mv.ref
