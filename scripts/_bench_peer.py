"""The peer tools' half of scripts/bench_readers.py; runs in the benchmark environment
(MLflow and TensorBoard installed), never in labdeck's own.

    python _bench_peer.py write mlflow|tensorboard DIR RUNS METRICS STEPS
    python _bench_peer.py read  mlflow|tensorboard DIR      -> prints {"seconds": s, "points": n}
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def _values(run: int, n_steps: int, n_metrics: int) -> np.ndarray:
    return np.random.default_rng(run).normal(size=(n_steps, n_metrics)).cumsum(axis=0)


def write_mlflow(folder: Path, n_runs: int, n_metrics: int, n_steps: int) -> None:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    folder.mkdir(parents=True, exist_ok=True)
    os.chdir(folder)  # artifacts land under ./mlruns, as with mlflow's default store
    client = MlflowClient(tracking_uri="sqlite:///mlflow.db")
    exp = client.create_experiment("bench")
    for r in range(n_runs):
        run = client.create_run(exp, run_name=f"run-{r}")
        values = _values(r, n_steps, n_metrics)
        wall = int(time.time() * 1000)
        batch = []
        for s in range(n_steps):
            for k in range(n_metrics):
                batch.append(Metric(f"metric_{k}", float(values[s, k]), wall + s, s))
                if len(batch) == 1000:  # MLflow's limit per log_batch call
                    client.log_batch(run.info.run_id, metrics=batch)
                    batch = []
        if batch:
            client.log_batch(run.info.run_id, metrics=batch)
        client.set_terminated(run.info.run_id)


def read_mlflow(folder: Path) -> dict:
    from mlflow.tracking import MlflowClient

    t = time.perf_counter()
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    points = 0
    page = None
    while True:
        runs = client.search_runs(experiments, max_results=1000, page_token=page)
        for run in runs:
            for key in run.data.metrics:
                points += len(client.get_metric_history(run.info.run_id, key))
        page = runs.token
        if not page:
            break
    return {"seconds": time.perf_counter() - t, "points": points}


def write_tensorboard(folder: Path, n_runs: int, n_metrics: int, n_steps: int) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    for r in range(n_runs):
        writer = EventFileWriter(str(folder / f"run-{r}"))
        values = _values(r, n_steps, n_metrics)
        wall = time.time()
        for s in range(n_steps):
            for k in range(n_metrics):
                summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=f"metric_{k}", simple_value=float(values[s, k]))])
                writer.add_event(event_pb2.Event(wall_time=wall + s / 1000, step=s, summary=summary))
        writer.close()


def read_tensorboard(folder: Path) -> dict:
    from tensorboard.backend.event_processing import event_accumulator as ea

    guidance = {ea.SCALARS: 0, ea.TENSORS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0, ea.AUDIO: 0, ea.COMPRESSED_HISTOGRAMS: 0}
    t = time.perf_counter()
    points = 0
    for run_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        acc = ea.EventAccumulator(str(run_dir), size_guidance=guidance)
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            points += len(acc.Scalars(tag))
    return {"seconds": time.perf_counter() - t, "points": points}


def main(argv: list[str]) -> int:
    action, tool, folder = argv[0], argv[1], Path(argv[2])
    if action == "write":
        n_runs, n_metrics, n_steps = (int(x) for x in argv[3:6])
        {"mlflow": write_mlflow, "tensorboard": write_tensorboard}[tool](folder, n_runs, n_metrics, n_steps)
        return 0
    result = {"mlflow": read_mlflow, "tensorboard": read_tensorboard}[tool](folder)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
