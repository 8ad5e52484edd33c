"""TensorBoard, Lightning and Transformers parts of scripts/make_fixtures (fixtures venv only).

    python _fixtures_tools.py tensorboard|lightning|hf STAGING_PROJECT_DIR

Each writes a project folder with the real tool and reads it back through the tool's own reader
into expected.json (schema: tests/fixtures/corpus/README.md). Killed runs are real: a child
process SIGKILLs itself inside a training step.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

SEED = 1234
caught: list = []


def jv(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, dict):
        return {k: jv(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jv(x) for x in v]
    return v


def write_expected(project: Path, data: dict) -> None:
    seen = []
    for w in caught:
        line = f"{w.category.__name__}: {str(w.message)[:300]}"
        if line not in seen:
            seen.append(line)
    data["warnings_during_generation"] = sorted(seen)
    keys = ["schema_version", "tool", "project", "variant", "versions", "warnings_during_generation", "edge_cases"]
    data = {**{k: data[k] for k in keys if k in data}, **{k: v for k, v in data.items() if k not in keys}}
    (project / "expected.json").write_text(json.dumps(jv(data), separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n",
                                           encoding="utf-8")


def versions(*mods) -> dict:
    out = {"python": sys.version.split()[0]}
    for name in mods:
        out[name] = __import__(name).__version__
    return out


# TensorBoard ------------------------------------------------------------------------------


def tensorboard(project: Path) -> None:
    import numpy as np
    import torch
    from torch.utils.tensorboard import SummaryWriter

    os.chdir(project)
    rng = np.random.default_rng(SEED)
    with SummaryWriter("runs/baseline") as w:
        for s in range(5000):
            w.add_scalar("loss/train", 2.0 * math.exp(-s / 2000) + 0.03 * rng.standard_normal(), s)
            if s % 50 == 0:
                w.add_scalar("loss/val", 2.1 * math.exp(-s / 1000), s)
            if s % 500 == 0:
                w.add_scalar("lr", 0.1 * 0.5 ** (s // 1000), s)
        for i in range(10):
            w.add_scalar("loss with spaces", 1.0 + 0.01 * 3 * i, 3 * i)
            w.add_scalar("Genauigkeit ü/val acc", 0.01 * 3 * i, 3 * i)
        for s, v in enumerate([1.0, math.nan, 0.5, math.inf, -math.inf, 0.25, math.nan]):
            w.add_scalar("weird/non_finite", v, s)
        for s in [0, 1, 1, 2, 2, 2, 3]:
            w.add_scalar("dup/steps", float(rng.random()), s)
        w.add_scalar("no_step_given", 42.0)
        w.add_scalar("accuracy/final", 0.9321, 4999)
        for s in (0, 2500, 4999):
            w.add_histogram("weights/layer0", torch.from_numpy(rng.standard_normal(64)), s)
        w.add_text("notes", "free text **markdown** ü", 0)
    with SummaryWriter("runs/sweep") as w:
        for s in range(50):
            w.add_scalar("lr=0.01 bs=32/loss", 1.0 / (s + 1), s)
        w.add_hparams({"lr": 0.01, "batch_size": 32, "optimizer": "adam", "use_bn": True, "dropout": None,
                       "long text": "hparam-" * 300, "ünïcode name": "wert ✓"},
                      {"hparam/accuracy": 0.9, "hparam/loss": 0.1, "hparam/nan metric": math.nan},
                      run_name="lr=0.01 bs=32")
        w.add_hparams({"lr": 0.1}, {"hparam/accuracy": 0.5})  # default run_name: a time stamp
    with SummaryWriter("runs/multi") as w:
        for s in range(40):
            w.add_scalars("loss", {"train": 1.0 / (s + 1), "val": 1.2 / (s + 1), "test set": 1.3 / (s + 1)}, s)
    with SummaryWriter("runs/resumed", filename_suffix=".0") as w:
        for s in range(0, 300):
            w.add_scalar("loss", 1.0 / (s + 1), s)
            if s % 10 == 0:
                w.add_scalar("segment", 0.0, s)
    with SummaryWriter("runs/resumed", purge_step=250, filename_suffix=".1") as w:
        for s in range(250, 600):
            w.add_scalar("loss", 0.9 / (s + 1), s)
            if s % 10 == 0:
                w.add_scalar("segment", 1.0, s)
    SummaryWriter("runs/empty").close()
    with SummaryWriter("runs/in-progress") as w:
        for s in range(300):
            w.add_scalar("loss", 1.0 / (s + 1), s)
            w.add_scalar("acc", s / 300, s)
    live = next(p for p in Path("runs/in-progress").iterdir() if "tfevents" in p.name)
    data = live.read_bytes()
    live.write_bytes(data[:-7])

    from google.protobuf.json_format import MessageToDict
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.hparams import plugin_data_pb2

    runs = {}
    dirs = sorted({p.parent for p in Path("runs").rglob("*") if "tfevents" in p.name})
    for d in dirs:
        files = []
        version = writer = None
        for f in sorted(p for p in d.iterdir() if p.is_file() and "tfevents" in p.name):
            n = simple = 0
            for raw in RawEventFileLoader(str(f)).Load():
                n += 1
                ev = event_pb2.Event.FromString(raw)
                if ev.HasField("file_version"):
                    version = ev.file_version
                if ev.HasField("source_metadata"):
                    writer = ev.source_metadata.writer
                if ev.HasField("summary"):
                    simple += sum(v.HasField("simple_value") for v in ev.summary.value)
            files.append({"name": f.name, "size_bytes": f.stat().st_size, "events_readable": n,
                          "simple_value_records": simple})
        acc = ea.EventAccumulator(str(d), size_guidance={k: 0 for k in ea.DEFAULT_SIZE_GUIDANCE})
        acc.Reload()
        tags = acc.Tags()
        scalars = {t: [{"step": e.step, "wall_time": e.wall_time, "value": e.value} for e in acc.Scalars(t)]
                   for t in tags.get("scalars", [])}
        tensors, hparams = {}, None
        try:
            hp_content = acc.PluginTagToContent("hparams")
        except KeyError:  # no hparams summary in this run
            hp_content = {}
        for t, content in sorted(hp_content.items()):
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            hparams = hparams or {}
            hparams[t] = MessageToDict(getattr(data, data.WhichOneof("data")))
        for t in tags.get("tensors", []):
            meta = acc.SummaryMetadata(t)
            plugin = meta.plugin_data.plugin_name
            if plugin == "hparams":
                continue
            events = []
            for e in acc.Tensors(t):
                arr = __import__("tensorboard.util.tensor_util", fromlist=["x"]).make_ndarray(e.tensor_proto)
                value = arr.item() if arr.size == 1 else arr.tolist()
                if isinstance(value, bytes):
                    value = value.decode()
                events.append({"step": e.step, "wall_time": e.wall_time, "value": value,
                               "dtype": str(arr.dtype), "shape": list(arr.shape)})
            tensors[t] = {"plugin": plugin, "events": events}
        runs[d.as_posix()] = {
            "event_files": files, "file_version": float(version.split(":")[-1]) if version else None,
            "source_writer": writer, "tags": {k: sorted(v) if isinstance(v, list) else v for k, v in tags.items()},
            "scalars": scalars, "tensors": tensors, "hparams": hparams,
        }
    write_expected(project, {
        "schema_version": 1, "tool": "tensorboard", "project": "tensorboard", "variant": "labdeck-corpus",
        "versions": versions("torch", "tensorboard", "numpy"),
        "writer": "torch.utils.tensorboard.SummaryWriter",
        "reader": "tensorboard.backend.event_processing.event_accumulator.EventAccumulator(size_guidance=0 for all)",
        "logdir": "runs",
        "edge_cases": [
            "baseline: 5000 steps, sparse/once-only/NaN/inf/unicode/duplicate-step tags, histogram+text",
            "add_hparams (explicit and default run_name), incl. NaN metric, None and long/unicode hparams",
            "add_scalars (creates one sub-directory per series)",
            "resumed: 2 event files, segments [(0, 300, None), (250, 600, 250)] (first, end, purge_step)",
            "empty: only the file_version record",
            "in-progress: last record truncated (7 bytes cut)",
        ],
        "runs": runs,
    })


# Lightning --------------------------------------------------------------------------------


def _lightning_module():
    import lightning as L
    import torch

    class Tiny(L.LightningModule):
        def __init__(self, **hp):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
            self.edge = bool(hp.get("edge"))
            self.kill_at = hp.get("kill_at")
            self.crash = bool(hp.get("crash"))

        def on_train_start(self):
            if self.crash:
                raise RuntimeError("crashed before the first metric")

        def training_step(self, batch, _):
            if self.kill_at is not None and self.global_step == self.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            if self.edge:
                s = self.global_step
                self.log("nan_metric", math.nan if s % 4 == 1 else float(s % 4))
                if s >= 2 and s % 12 >= 2:
                    self.log("pos_inf", math.inf)
                    self.log("neg_inf", -math.inf)
                self.log("métrique ü/précision", 1.0 / (s + 1))
                if s == 5:
                    self.log("logged once", 0.5)
                for k in range(2):
                    self.logger.log_metrics({"manual dup": s + 0.5 * k}, step=s)
            return loss

        def validation_step(self, batch, _):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("val loss ü", loss)
            self.log("val acc/top 1", 1.0 / (1.0 + loss))

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=self.hparams.lr)
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 1000, 0.5)}

    return Tiny


def _lightning_train(save_dir: str, name: str, version, hp: dict, epochs: int, n_batches: int,
                     val_check_interval=None, after_fit=None) -> None:
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader, TensorDataset

    L.seed_everything(hp.get("seed", SEED), verbose=False)
    x = torch.randn(n_batches * 8, 4)
    data = DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)
    val = DataLoader(TensorDataset(x[:16], x[:16].sum(1, keepdim=True)), batch_size=8)
    logger = CSVLogger(save_dir=save_dir, name=name, version=version)
    trainer = L.Trainer(max_epochs=epochs, logger=logger, callbacks=[LearningRateMonitor(logging_interval="step")], log_every_n_steps=1,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        accelerator="cpu", devices=1, val_check_interval=val_check_interval,
                        num_sanity_val_steps=0)
    model = _lightning_module()(**hp)
    try:
        trainer.fit(model, data, val)
    except RuntimeError:
        if not hp.get("crash"):
            raise
    if after_fit:
        after_fit(logger)


BASE_HP = {"batch size": 8, "größe ü": "groß", "hidden": 8, "layers": [4, 8, 1], "lr": 0.05,
           "nested": {"a": 1, "b": {"c": [1, 2, 3], "d": None}}, "optimizer": "SGD", "seed": SEED}


def lightning(project: Path) -> None:
    import lightning as L
    import pandas as pd
    from lightning.pytorch.core.saving import load_hparams_from_yaml

    os.chdir(project)
    _lightning_train(".", "lightning_logs", 0, BASE_HP, epochs=3, n_batches=8)
    _lightning_train(".", "lightning_logs", 1, {**BASE_HP, "seed": SEED + 1, "note": "5000 steps, sparse val"},
                     epochs=1, n_batches=5000, val_check_interval=1000)

    def final(logger):
        logger.log_metrics({"final score": 0.97}, step=23)
        logger.save()

    _lightning_train(".", "lightning_logs", 2, {
        **BASE_HP, "seed": SEED + 3, "lr": 0.0125, "edge": True, "empty": "", "none": None,
        "nan_hparam": math.nan, "inf_hparam": math.inf, "very long value": "lorem ipsum ü " * 300},
        epochs=2, n_batches=12, after_fit=final)
    _lightning_train(".", "lightning_logs", 3, {**BASE_HP, "crash": True}, epochs=1, n_batches=4)
    # A run killed by SIGKILL mid-training: a child process, never finalized.
    subprocess.run([sys.executable, __file__, "lightning-killed", str(project)], check=False)

    runs = {}
    for hp_file in sorted(project.rglob("hparams.yaml")):
        folder = hp_file.parent
        rel = folder.relative_to(project).as_posix()
        csv = folder / "metrics.csv"
        info = None
        series = {}
        if csv.is_file():
            raw = csv.read_bytes()
            df = pd.read_csv(csv, dtype=str, keep_default_na=False)
            rows = df.values.tolist()
            complete = raw.endswith(b"\n")
            info = {"size_bytes": len(raw), "line_terminator": "\r\n" if b"\r\n" in raw else "\n",
                    "ends_with_newline": complete, "columns": list(df.columns), "n_rows": len(rows), "rows": rows}
            usable = rows if complete else rows[:-1]
            for col in df.columns:
                if col in ("step", "epoch"):
                    continue
                i = list(df.columns).index(col)
                pts = []
                for row in usable:
                    if row[i] == "":
                        continue
                    rec = dict(zip(df.columns, row))
                    pts.append({"step": int(rec["step"]), "epoch": int(rec["epoch"]) if rec.get("epoch") else None,
                                "value": float(row[i])})
                series[col] = pts
        runs[rel] = {"files": sorted(p.name for p in folder.iterdir()),
                     "hparams": load_hparams_from_yaml(str(hp_file)), "metrics_csv": info, "series": series}
    write_expected(project, {
        "schema_version": 1, "tool": "lightning", "project": "lightning-csv", "variant": "labdeck-corpus",
        "versions": versions("lightning", "torch", "pandas", "yaml"),
        "logger": "lightning.pytorch.loggers.CSVLogger",
        "reader": "metrics.csv: pandas.read_csv(path, dtype=str, keep_default_na=False); "
                  "hparams.yaml: lightning.pytorch.core.saving.load_hparams_from_yaml",
        "edge_cases": [
            "lightning_logs/version_0: 3 epochs x 8 batches, train/val metrics, lr monitor",
            "lightning_logs/version_1: 5000 steps logged every step, sparse validation (metrics.csv header rewritten when the val columns first appear)",
            "lightning_logs/version_2: NaN/+inf/-inf values, unicode/space/slash names, duplicate steps via logger.log_metrics, long/NaN/None hparams; 'final score' written once after fit; 'logged once' self.log()ed at step 5 only (Lightning repeats it on later steps of that epoch)",
            "lightning_logs/version_3: crashed before the first metric: hparams.yaml only (empty run)",
            "nightly run ü/version_0: killed by SIGKILL inside training_step at global step 175, never finalized",
        ],
        "runs": runs,
    })
    del L


def lightning_killed(project: Path) -> None:
    os.chdir(project)
    _lightning_train(".", "nightly run ü", 0, {**BASE_HP, "kill_at": 175}, epochs=3, n_batches=100)


# Transformers -----------------------------------------------------------------------------


class _Killer:
    pass


def _hf_train(out: str, max_steps: int, *, logging_steps=None, eval_steps=None, save_steps=10,
              save_total_limit=None, logging_strategy="steps", load_best=False, save_state=True, kill_at=None):
    import numpy as np
    import torch
    import transformers
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

    transformers.set_seed(SEED)
    cfg = BertConfig(vocab_size=64, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                     intermediate_size=8, max_position_embeddings=16, num_labels=2)
    model = BertForSequenceClassification(cfg)
    g = torch.Generator().manual_seed(SEED)
    ids = torch.randint(0, 64, (256, 8), generator=g)
    labels = (ids[:, 0] % 2).tolist()

    class DS(torch.utils.data.Dataset):
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return {"input_ids": ids[i], "attention_mask": torch.ones(8, dtype=torch.long), "labels": labels[i]}

    def metrics(pred):
        acc = float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())
        return {"accuracy": acc, "f1 score (macro)": 0.8, "nan metric": math.nan, "inf metric": math.inf,
                "neg inf metric": -math.inf, "précision ü": 0.9}

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if kill_at is not None and state.global_step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    args = TrainingArguments(
        output_dir=out, max_steps=max_steps, per_device_train_batch_size=8, per_device_eval_batch_size=16,
        learning_rate=2.5e-4, logging_strategy=logging_strategy, logging_steps=logging_steps or 500,
        eval_strategy="steps" if eval_steps else "no", eval_steps=eval_steps, save_strategy="steps",
        save_steps=save_steps, save_total_limit=save_total_limit, load_best_model_at_end=load_best,
        metric_for_best_model="eval_loss" if load_best else None, report_to=[], use_cpu=True, seed=SEED,
        disable_tqdm=True, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=DS(256), eval_dataset=DS(16) if eval_steps else None,
                      compute_metrics=metrics if eval_steps else None, callbacks=[Kill()])
    trainer.train()
    if save_state:
        trainer.save_state()


def hf(project: Path) -> None:
    from transformers import TrainerState

    os.chdir(project)
    _hf_train("tiny-bert-cls", 60, logging_steps=4, eval_steps=20, save_steps=20, load_best=True)
    _hf_train("long-run", 5000, logging_steps=1, save_steps=2500, save_total_limit=1)
    _hf_train("no-logs", 3, logging_strategy="no", save_steps=1, save_total_limit=2, save_state=False)
    subprocess.run([sys.executable, __file__, "hf-killed", str(project)], check=False)

    states = {}
    for f in sorted(project.rglob("trainer_state.json")):
        rel = f.relative_to(project).as_posix()
        folder = f.parent
        raw = f.read_text(encoding="utf-8")
        st = TrainerState.load_from_json(str(f))
        d = json.loads(raw)
        states[rel] = {
            "folder": folder.relative_to(project).as_posix(), "is_checkpoint": folder.name.startswith("checkpoint-"),
            "files_in_folder": sorted(p.name for p in folder.iterdir() if p.is_file()),
            "raw_has_bare_nan_or_infinity": any(t in raw for t in ("NaN", "Infinity")),
            "global_step": st.global_step, "epoch": st.epoch, "max_steps": st.max_steps,
            "logging_steps": st.logging_steps, "eval_steps": st.eval_steps, "save_steps": st.save_steps,
            "best_metric": st.best_metric, "best_global_step": getattr(st, "best_global_step", None),
            "best_model_checkpoint": st.best_model_checkpoint, "trial_name": st.trial_name,
            "trial_params": st.trial_params, "log_history": st.log_history, "state_keys": sorted(d),
        }
    write_expected(project, {
        "schema_version": 1, "tool": "transformers", "project": "hf-trainer", "variant": "labdeck-corpus",
        "versions": versions("transformers", "torch", "accelerate", "safetensors"),
        "writer": "transformers.Trainer (checkpoint-*/trainer_state.json, Trainer.save_state())",
        "reader": "transformers.TrainerState.load_from_json",
        "edge_cases": [
            "tiny-bert-cls: 60 steps, eval every 20 (NaN/+inf/-inf/unicode eval metrics), checkpoints every 20, load_best_model_at_end, save_state()",
            "long-run: 5000 steps logged every step, save_total_limit=1 (only the last checkpoint kept)",
            "no-logs: logging_strategy='no': the checkpoint folders' trainer_state.json have an empty log_history; save_state() not called",
            "killed-run: killed by SIGKILL at step 25 (max_steps=40, checkpoints every 10): no final trainer_state.json",
        ],
        "states": states,
    })


def hf_killed(project: Path) -> None:
    os.chdir(project)
    _hf_train("killed-run", 40, logging_steps=2, save_steps=10, kill_at=25)


if __name__ == "__main__":
    mode, target = sys.argv[1], Path(sys.argv[2]).resolve()
    target.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        {"tensorboard": tensorboard, "lightning": lightning, "hf": hf,
         "lightning-killed": lightning_killed, "hf-killed": hf_killed}[mode](target)
    print(f"{mode}: done")
