"""MLflow part of scripts/make_fixtures (run in the fixtures venv, cwd = a staging folder).

    python _fixtures_mlflow.py sqlite|file STAGING_PROJECT_DIR

Writes the project with the real mlflow (fluent API + MlflowClient), then reads everything back
through MlflowClient into STAGING_PROJECT_DIR/expected.json (schema: tests/fixtures/corpus/README.md).
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import warnings
from pathlib import Path

BACKEND = sys.argv[1]
PROJECT = Path(sys.argv[2]).resolve()
PROJECT.mkdir(parents=True, exist_ok=True)
os.chdir(PROJECT)
sys.argv[0] = "train.py"  # mlflow.source.name: keep the generator's path out of the data
if BACKEND == "file":
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
caught: list[warnings.WarningMessage] = []
_wctx = warnings.catch_warnings(record=True)
caught = _wctx.__enter__()
warnings.simplefilter("always")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, ViewType  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

if BACKEND == "file":
    mlflow.set_tracking_uri("./mlruns")  # a plain path: artifact locations are plain paths too
client = MlflowClient()
T0 = 1_795_714_000_000  # fixed base for explicit timestamps (ms)
rng = random.Random(7)


def exp(name: str, tags: dict | None = None) -> str:
    return client.create_experiment(name, tags=tags or {})


def log_series(run_id: str, key: str, points: list[tuple[int, int, float]]) -> None:
    for i in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=[Metric(key, v, ts, s) for s, ts, v in points[i:i + 1000]])


# Default experiment
with mlflow.start_run(run_name="quick-check-0", experiment_id="0"):
    mlflow.log_param("note", "run in the Default experiment")
    mlflow.log_metric("score", 0.9664535356921388)

# mnist-baseline: nested sweep, deleted run, datasets, logged + registered models
e1 = exp("mnist-baseline", {"mlflow.note.content": "Main experiment of the corpus.", "team": "vision"})
with mlflow.start_run(run_name="hyperparameter-sweep", experiment_id=e1) as parent:
    mlflow.log_param("n_trials", 3)
    mlflow.set_tag("kind", "parent")
    best = math.inf
    for t, (bs, lr) in enumerate([(16, 0.0020998960543568714), (64, 0.0006438082112508986), (16, 0.0006766297429578905)]):
        with mlflow.start_run(run_name=f"trial-{t:02d}", experiment_id=e1, nested=True) as child:
            mlflow.log_params({"batch_size": bs, "lr": lr, "optimizer": "adam"})
            mlflow.set_tags({"kind": "child", "trial_index": t})
            rid, base = child.info.run_id, T0 + t * 200
            tl, vl, va = [], [], []
            for step in range(6):
                for i in range(4):
                    tl.append((step, base + step * 1000 + i * 10, 2.45 * math.exp(-0.07 * (4 * step + i)) - t * 0.01))
                loss = 2.6 * math.exp(-0.13 * (step + 1)) + t * 0.01
                vl.append((step, base + step * 1000 + 500, loss))
                va.append((step, base + step * 1000 + 501, 1 - loss / 3))
                best = min(best, loss)
            log_series(rid, "train_loss", tl)
            log_series(rid, "val_loss", vl)
            log_series(rid, "val_acc", va)
    mlflow.log_metric("best_val_loss", best)

with mlflow.start_run(run_name="mistake-0", experiment_id=e1) as r:
    mlflow.log_param("oops", True)
    mlflow.log_metric("loss", 9.9)
client.delete_run(r.info.run_id)

gen = np.random.default_rng(7)
frames = {}
for split, n in (("train", 40), ("val", 20)):
    df = pd.DataFrame(gen.normal(size=(n, 4)), columns=[f"f{i}" for i in range(4)])
    df["label"] = (df["f0"] + df["f1"] > 0).astype("int64")
    frames[split] = df
train_ds = mlflow.data.from_pandas(frames["train"], source="data/train.csv", name="toy-train", targets="label")
val_ds = mlflow.data.from_pandas(frames["val"], source="data/val.csv", name="toy-val", targets="label")
model_ids = []
for version, c in ((1, 0.1), (2, 1.0)):
    with mlflow.start_run(run_name=f"train-mnist-classifier-v{version}", experiment_id=e1) as r:
        mlflow.log_param("C", c)
        mlflow.log_input(train_ds, context="training", tags={"split": "train"})
        mlflow.log_input(val_ds, context="validation")
        X, y = frames["train"][[f"f{i}" for i in range(4)]].to_numpy(), frames["train"]["label"].to_numpy()
        model = LogisticRegression(C=c).fit(X, y)
        info = mlflow.sklearn.log_model(model, name="model", params={"C": c})
        model_ids.append(info.model_id)
        mlflow.log_text("notes for the reviewers.\n", "reports/notes.txt")
        mlflow.log_dict({"accuracy": 0.95, "C": c}, "reports/summary.json")
        if version == 1:
            client.create_registered_model("mnist-classifier", tags={"owner": "labdeck-fixtures"},
                                           description="Registered model mnist-classifier")
        mv = mlflow.register_model(f"models:/{info.model_id}", "mnist-classifier")
        if version == 1:
            client.set_model_version_tag("mnist-classifier", mv.version, "validation_status", "approved")
            client.set_registered_model_alias("mnist-classifier", "champion", mv.version)
        mlflow.log_metric("val_accuracy", 0.95, model_id=info.model_id, dataset=val_ds)

# unicode experiment
e2 = exp("lr sweep ünïcode ✓", {"beschreibung": "Experiment mit Ümläuten"})
for seed in range(3):
    with mlflow.start_run(run_name=f"run ü {seed}", experiment_id=e2) as r:
        mlflow.log_param("seed", seed)
        log_series(r.info.run_id, "loss", [(s, T0 + 5000 + seed * 100 + s * 4, math.exp(-0.2 * s)) for s in range(20)])

# edge cases
e3 = exp("edge-cases")
with mlflow.start_run(run_name="nan-and-inf-0", experiment_id=e3) as r:
    for s, v in enumerate([1.0, math.nan, 0.5, math.inf, 0.25, -math.inf, 0.125, math.nan]):
        mlflow.log_metric("loss", v, step=s)
    mlflow.log_metric("always_nan", math.nan)
    mlflow.log_metric("pos_inf_only", math.inf)
    mlflow.log_metric("neg_inf_only", -math.inf)
with mlflow.start_run(run_name="unicode names ✓", experiment_id=e3):
    mlflow.log_params({"learning rate": "wert-0 ü", "Größe der Charge": "wert-1 ü", "模型 名称": "wert-2 ü"})
    mlflow.set_tag("schlüssel mit leerzeichen", "wert ✓")
    for base, key in enumerate(["précision validation", "val loss ü", "损失/验证", "acc top 5"]):
        for s in range(3):
            mlflow.log_metric(key, round(base + 0.1 * s, 10), step=s)
with mlflow.start_run(run_name="long params", experiment_id=e3):
    mlflow.log_params({"long_2000": "abcdefghij" * 200, "long_6000": "abcdefghij" * 600,
                       "json_like": json.dumps({"layers": [64, 64], "act": "relu", "quote": '"'})})
    mlflow.set_tag("long_tag", "xyz" * 1000)
    mlflow.log_metric("dummy", 1.0)
with mlflow.start_run(run_name="logged once", experiment_id=e3):
    mlflow.log_metric("final_score", 0.8765)
with mlflow.start_run(run_name="duplicate steps", experiment_id=e3) as r:
    rid, t = r.info.run_id, T0 + 8000
    for s in [0, 1, 1, 1, 2, 2, 5, 5]:
        client.log_metric(rid, "dup_loss", rng.random(), timestamp=t + rng.randrange(0, 7000), step=s)
    client.log_metric(rid, "exact_dup", 0.5, timestamp=t, step=3)
    client.log_metric(rid, "exact_dup", 0.5, timestamp=t, step=3)
    for s in range(4):
        client.log_metric(rid, "backwards_time", float(s), timestamp=t - 1000 * s, step=s)
    client.log_metric(rid, "same_ts_two_values", 1.0, timestamp=t, step=0)
    client.log_metric(rid, "same_ts_two_values", 2.0, timestamp=t, step=0)
with mlflow.start_run(run_name="thousands of steps", experiment_id=e3) as r:
    mlflow.log_param("n_steps", 5000)
    log_series(r.info.run_id, "train/loss_per_step",
               [(s, T0 + 20000 + s, 3.0 * math.exp(-s / 1400) + 0.02 * math.sin(s)) for s in range(5000)])
with mlflow.start_run(run_name="empty run", experiment_id=e3):
    pass
running = client.create_run(e3, run_name="still running")
client.log_param(running.info.run_id, "epochs_planned", 100)
for s in range(3):
    client.log_metric(running.info.run_id, "loss", 1.0 / (s + 1), step=s)
failed = client.create_run(e3, run_name="status failed")
client.log_metric(failed.info.run_id, "loss", 0.3)
client.set_terminated(failed.info.run_id, "FAILED")

e4 = exp("abandoned-idea")
with mlflow.start_run(run_name="dead-0", experiment_id=e4):
    mlflow.log_metric("loss", 1.0)
client.delete_experiment(e4)


# Read back --------------------------------------------------------------------------------


def jv(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


def sort_key(p):
    v = p["value"]
    return (p["step"], p["timestamp"], 1 if isinstance(v, float) and math.isnan(v) else 0,
            0 if isinstance(v, float) and math.isnan(v) else v)


def artifacts(run_id: str, path: str | None = None) -> list[dict]:
    out = []
    for f in client.list_artifacts(run_id, path):
        if f.is_dir:
            out += artifacts(run_id, f.path)
        else:
            out.append({"path": f.path, "file_size": f.file_size})
    return out


experiments = sorted(client.search_experiments(view_type=ViewType.ALL), key=lambda e: int(e.experiment_id))
runs = client.search_runs([e.experiment_id for e in experiments], run_view_type=ViewType.ALL, max_results=1000)
runs = sorted(runs, key=lambda r: ([int(e.experiment_id) for e in experiments].index(int(r.info.experiment_id)),
                                   r.info.start_time, r.info.run_id))
out_runs = []
for r in runs:
    history = {}
    for key in r.data.metrics:
        pts = [{"step": m.step, "timestamp": m.timestamp, "value": m.value,
                **({"model_id": m.model_id} if getattr(m, "model_id", None) else {}),
                **({"dataset_name": m.dataset_name} if getattr(m, "dataset_name", None) else {}),
                **({"dataset_digest": m.dataset_digest} if getattr(m, "dataset_digest", None) else {})}
               for m in client.get_metric_history(r.info.run_id, key)]
        history[key] = [{**p, "value": jv(p["value"])} for p in sorted(pts, key=sort_key)]
    inputs = r.inputs
    out_runs.append({
        "run_id": r.info.run_id, "run_name": r.info.run_name, "experiment_id": r.info.experiment_id,
        "status": r.info.status, "lifecycle_stage": r.info.lifecycle_stage,
        "start_time": r.info.start_time, "end_time": r.info.end_time, "user_id": r.info.user_id,
        "artifact_uri": r.info.artifact_uri, "parent_run_id": r.data.tags.get("mlflow.parentRunId"),
        "params": dict(r.data.params), "tags": dict(r.data.tags),
        "latest_metrics": {k: jv(v) for k, v in r.data.metrics.items()},
        "metric_history": history,
        "inputs": {
            "dataset_inputs": [{"name": d.dataset.name, "digest": d.dataset.digest,
                                "source_type": d.dataset.source_type, "source": d.dataset.source,
                                "schema": d.dataset.schema, "profile": d.dataset.profile,
                                "tags": {t.key: t.value for t in d.tags}} for d in (inputs.dataset_inputs if inputs else [])],
            "model_inputs": [{"model_id": m.model_id} for m in (getattr(inputs, "model_inputs", None) or [])],
        },
        "outputs": {"model_outputs": [{"model_id": m.model_id, "step": m.step}
                                      for m in (getattr(r.outputs, "model_outputs", None) or [])]},
        "artifacts": artifacts(r.info.run_id),
    })

logged = client.search_logged_models([e.experiment_id for e in experiments])
logged = sorted(logged, key=lambda m: m.creation_timestamp)
out_logged = [{
    "model_id": m.model_id, "name": m.name, "experiment_id": m.experiment_id, "source_run_id": m.source_run_id,
    "status": str(m.status), "model_type": m.model_type, "artifact_location": m.artifact_location,
    "model_uri": m.model_uri, "creation_timestamp": m.creation_timestamp, "tags": dict(m.tags),
    "params": dict(m.params),
    "metrics": [{"key": x.key, "value": jv(x.value), "step": x.step, "timestamp": x.timestamp, "run_id": x.run_id,
                 "dataset_name": x.dataset_name, "dataset_digest": x.dataset_digest} for x in (m.metrics or [])],
} for m in logged]

out_registered = []
for rm in sorted(client.search_registered_models(), key=lambda m: m.name):
    versions = sorted(client.search_model_versions(f"name='{rm.name}'"), key=lambda v: int(v.version))
    out_registered.append({
        "name": rm.name, "description": rm.description, "tags": dict(rm.tags),
        "aliases": {a: str(v) for a, v in (rm.aliases or {}).items()},
        "creation_timestamp": rm.creation_timestamp,
        "versions": [{
            "version": str(v.version), "source": v.source, "run_id": v.run_id, "model_id": getattr(v, "model_id", None),
            "status": v.status, "current_stage": v.current_stage, "aliases": list(v.aliases or []),
            "tags": dict(v.tags), "description": v.description or None, "creation_timestamp": v.creation_timestamp,
        } for v in (client.get_model_version(rm.name, x.version) for x in versions)],
    })

_wctx.__exit__(None, None, None)
seen = []
for w in caught:
    line = f"{w.category.__name__}: {str(w.message)[:300]}"
    if line not in seen:
        seen.append(line)
n_deleted = sum(r["lifecycle_stage"] == "deleted" and r["experiment_id"] != e4 for r in out_runs)
expected = {
    "schema_version": 1, "tool": "mlflow", "project": f"mlflow-{BACKEND}", "variant": "labdeck-corpus",
    "versions": {"python": sys.version.split()[0], "mlflow": mlflow.__version__, "scikit-learn": sklearn.__version__,
                 "pandas": pd.__version__, "numpy": np.__version__},
    "backend": BACKEND,
    "tracking_uri_as_used": "<mlflow default> -> sqlite:///mlflow.db" if BACKEND == "sqlite" else "./mlruns",
    "tracking_uri_relative_to_project": "sqlite:///mlflow.db" if BACKEND == "sqlite" else "file:./mlruns",
    "env": {} if BACKEND == "sqlite" else {"MLFLOW_ALLOW_FILE_STORE": "true"},
    "generated_in": str(PROJECT),
    "warnings_during_generation": sorted(seen),
    "edge_cases": [
        "nested runs: parent 'hyperparameter-sweep' with 3 children; 4 train_loss values per step (step = epoch, distinct timestamps)",
        f"{n_deleted} deleted run(s)",
        "mlflow.log_input datasets (contexts training/validation), sklearn logged models (mlflow 3 LoggedModel), metric linked to model_id + dataset, registered model 'mnist-classifier' (2 versions, aliases {'champion': 1})",
        "NaN/+inf/-inf metric values (1 run)",
        "unicode/spaces in experiment, run, metric, param and tag names; long param values [2000, 6000] chars, tag value 3000 chars; metric logged once",
        "duplicate steps: same step several values; exact duplicate record; timestamps going backwards; same step+timestamp with two values",
        "thousands of steps: 'train/loss_per_step' x 5000",
        "empty run (no params/metrics); RUNNING run created by MlflowClient and never ended; status FAILED",
        "deleted experiment with 1 run",
        "written with no tracking URI set, cwd = project folder: mlflow's default backend" if BACKEND == "sqlite"
        else "written with MLFLOW_ALLOW_FILE_STORE=true (mlflow 3.x refuses the file store without it)",
    ],
    "experiments": [{"experiment_id": e.experiment_id, "name": e.name, "lifecycle_stage": e.lifecycle_stage,
                     "artifact_location": e.artifact_location, "tags": dict(e.tags),
                     "creation_time": e.creation_time, "last_update_time": e.last_update_time} for e in experiments],
    "runs": out_runs, "logged_models": out_logged, "registered_models": out_registered,
}
(PROJECT / "expected.json").write_text(json.dumps(expected, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
print(f"mlflow-{BACKEND}: {len(experiments)} experiments, {len(out_runs)} runs, {len(out_registered)} registered models")
