"""Driven by scripts/make_fixtures_recognisable inside the tools' own venv (not labdeck's).

Writes OUT/lightning/{mid,finished}/ and OUT/hf/{mid,finished}/, each a project folder with an
expected.json read back through the tools' own readers:
- Lightning 2.6: CSVLogger(save_dir, name="live") + TensorBoardLogger(save_dir/tb_logs, name="live")
  of one training (3 epochs x 4 batches, validation per epoch, ModelCheckpoint), hparams with
  ints, a float, a string and a bool.
- Transformers 5: a Trainer on a BertForSequenceClassification built from a tiny BertConfig (no
  download), report_to tensorboard, eval and save per epoch, run_name set.
"mid" is a copy taken inside the training (loggers flushed first), "finished" the folder after it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
import transformers
from lightning.pytorch.core.saving import load_hparams_from_yaml
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader, Dataset, TensorDataset

SEED = 7


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)


# Lightning ----------------------------------------------------------------------------


class TinyRegressor(L.LightningModule):
    def __init__(self, batch_size: int = 32, lr: float = 0.05, hidden: int = 8, optimizer: str = "sgd",
                 shuffle: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class SnapshotAt(L.Callback):
    """Copies the loggers' version folders at one global step, as a watcher would find them."""

    def __init__(self, step: int, copies: list[tuple[Path, Path]]) -> None:
        self.step, self.copies = step, copies

    def on_train_batch_end(self, trainer, *_):
        if trainer.global_step != self.step:
            return
        for logger in trainer.loggers:
            logger.save()
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.flush()
        for src, dst in self.copies:
            _copy_tree(src, dst)


def lightning_fixture(out: Path) -> None:
    work = out / "_lightning_work"
    L.seed_everything(SEED, workers=True)
    data = TensorDataset(torch.randn(128, 4), torch.randn(128, 1))
    train = DataLoader(data, batch_size=32)
    val = DataLoader(TensorDataset(torch.randn(32, 4), torch.randn(32, 1)), batch_size=32)
    csv = CSVLogger(save_dir=str(work), name="live", version=0, flush_logs_every_n_steps=1)
    tb = TensorBoardLogger(save_dir=str(work / "tb_logs"), name="live", version=0)
    rels = ["live/version_0", "tb_logs/live/version_0"]
    mid = out / "lightning" / "mid"
    snapshot = SnapshotAt(6, [(work / r, mid / r) for r in rels])
    trainer = L.Trainer(max_epochs=3, logger=[csv, tb], log_every_n_steps=1, callbacks=[snapshot],
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                        deterministic=True)
    trainer.fit(TinyRegressor(batch_size=32), train, val)
    finished = out / "lightning" / "finished"
    for r in rels:
        _copy_tree(work / r, finished / r)
    shutil.rmtree(work)
    for folder, captured in ((mid, "mid"), (finished, "finished")):
        runs = {"live/version_0": _csv_expected(folder / "live/version_0"),
                "tb_logs/live/version_0": _tb_expected(folder / "tb_logs/live/version_0")}
        _write_expected(folder, {"tool": f"lightning {L.__version__}", "captured": captured,
                                 "max_epochs": 3, "steps_per_epoch": 4, "runs": runs})


def _csv_expected(folder: Path) -> dict:
    frame = pd.read_csv(folder / "metrics.csv", dtype=str, keep_default_na=False)
    series: dict[str, list] = {}
    for _, row in frame.iterrows():
        for col in frame.columns:
            if col in ("step",) or row[col] == "":
                continue
            series.setdefault(col, []).append({"step": int(row["step"]), "value": _json_value(float(row[col]))})
    hparams = load_hparams_from_yaml(str(folder / "hparams.yaml"))
    return {"series": series, "hparams": hparams, "files": sorted(_files(folder))}


def _tb_expected(folder: Path) -> dict:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    scalars = {
        tag: [{"step": e.step, "value": _json_value(e.value), "wall_time": e.wall_time} for e in acc.Scalars(tag)]
        for tag in acc.Tags()["scalars"]
    }
    walls = [p["wall_time"] for pts in scalars.values() for p in pts]
    return {"scalars": scalars, "hparams": _tb_hparams(acc), "texts": _tb_texts(acc),
            "first_wall_time": min(walls) if walls else None, "last_wall_time": max(walls) if walls else None,
            "files": sorted(_files(folder))}


def _tb_hparams(acc: EventAccumulator) -> dict:
    from tensorboard.plugins.hparams import plugin_data_pb2

    try:
        content = acc.PluginTagToContent("hparams")
    except KeyError:
        return {}
    for raw in content.values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if data.HasField("session_start_info"):
            out = {}
            for k, v in data.session_start_info.hparams.items():
                kind = v.WhichOneof("kind")
                out[k] = getattr(v, kind)
            return out
    return {}


def _tb_texts(acc: EventAccumulator) -> dict:
    out = {}
    for tag in acc.Tags().get("tensors", []):
        if tag.endswith("/text_summary"):
            event = acc.Tensors(tag)[0]
            out[tag] = event.tensor_proto.string_val[0].decode("utf-8")
    return out


def _files(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]


# Hugging Face Trainer ------------------------------------------------------------------


class RandomTokens(Dataset):
    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(5, 30, (n, 8), generator=g)
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(8, dtype=torch.long), "labels": self.labels[i]}


class SnapshotHf(transformers.TrainerCallback):
    """Copies the output folder once, at a step after the first epoch's checkpoint was saved."""

    def __init__(self, step: int, src: Path, dst: Path) -> None:
        self.step, self.src, self.dst = step, src, dst

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            _copy_tree(self.src, self.dst)


def hf_fixture(out: Path) -> None:
    work = out / "_hf_work"
    transformers.set_seed(SEED)
    config = transformers.BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=16, max_position_embeddings=16, num_labels=2)
    model = transformers.BertForSequenceClassification(config)
    output = work / "tiny-cls"
    args = transformers.TrainingArguments(
        output_dir=str(output), run_name="tiny-cls-lr3e-3", num_train_epochs=3,
        per_device_train_batch_size=8, per_device_eval_batch_size=8, learning_rate=3e-3, seed=SEED,
        eval_strategy="epoch", save_strategy="epoch", logging_strategy="steps", logging_steps=2,
        report_to=["tensorboard"], use_cpu=True, disable_tqdm=True,
    )
    mid = out / "hf" / "mid" / "tiny-cls"
    trainer = transformers.Trainer(model=model, args=args, train_dataset=RandomTokens(32, 1),
                                   eval_dataset=RandomTokens(16, 2), callbacks=[SnapshotHf(6, output, mid)])
    trainer.train()
    trainer.save_state()
    finished = out / "hf" / "finished" / "tiny-cls"
    _copy_tree(output, finished)
    shutil.rmtree(work)
    training_args = json.loads(args.to_json_string())
    for folder, captured in ((mid.parent, "mid"), (finished.parent, "finished")):
        run = folder / "tiny-cls"
        states = {str(p.relative_to(folder)): _state_expected(p) for p in sorted(run.rglob("trainer_state.json"))}
        tb_runs = {str(p.parent.relative_to(folder)): _tb_expected(p.parent) for p in run.glob("runs/*/events*")}
        _write_expected(folder, {
            "tool": f"transformers {transformers.__version__}", "captured": captured,
            "output_dir": "tiny-cls", "training_args": training_args, "model_config": config.to_dict(),
            "states": states, "tb_runs": tb_runs,
        })


def _state_expected(path: Path) -> dict:
    state = transformers.TrainerState.load_from_json(str(path))
    return {"global_step": state.global_step, "max_steps": state.max_steps, "epoch": state.epoch,
            "num_train_epochs": state.num_train_epochs, "train_batch_size": state.train_batch_size,
            "log_history": [{k: _json_value(v) for k, v in e.items()} for e in state.log_history]}


# Shared ---------------------------------------------------------------------------------


def _write_expected(folder: Path, data: dict) -> None:
    data["versions"] = {"python": sys.version.split()[0], "torch": torch.__version__, "lightning": L.__version__,
                        "transformers": transformers.__version__, "numpy": np.__version__, "pandas": pd.__version__}
    import tensorboard

    data["versions"]["tensorboard"] = tensorboard.__version__
    (folder / "expected.json").write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


README = """# Recognisable runs: fixtures written by the real tools

Made by `scripts/make_fixtures_recognisable` (do not edit by hand; regenerating changes times,
host names and ids, never the structure). Used by tests/runs/test_recognisable_runs.py.

- `lightning/{{mid,finished}}/`: one Lightning training (3 epochs x 4 batches, validation per
  epoch, ModelCheckpoint) with `CSVLogger(save_dir, name="live")` -> `live/version_0/` and
  `TensorBoardLogger(save_dir/tb_logs, name="live")` -> `tb_logs/live/version_0/`; hparams
  batch_size=32 (int), lr=0.05, hidden=8, optimizer="sgd", shuffle=False.
- `hf/{{mid,finished}}/tiny-cls/`: a Transformers `Trainer` on a BertForSequenceClassification
  built from a tiny BertConfig (nothing downloaded), run_name "tiny-cls-lr3e-3",
  report_to tensorboard (`runs/<time>_<host>/`), eval and save per epoch, 3 epochs x 4 steps,
  `save_state()` at the end.
- `mid` is a copy taken inside the training (loggers flushed first), `finished` the folder after it.
- `expected.json` in each: what the tools' own readers return (pandas for metrics.csv,
  `load_hparams_from_yaml`, TensorBoard's `EventAccumulator`, `TrainerState.load_from_json`),
  the TrainingArguments (`args.to_json_string()`) and the model config.

Tool versions: {versions}
"""


def main() -> None:
    out = Path(sys.argv[1]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(out)
    torch.set_num_threads(1)
    lightning_fixture(out)
    hf_fixture(out)
    versions = json.loads((out / "hf" / "finished" / "expected.json").read_text())["versions"]
    shown = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    (out / "README.md").write_text(README.format(versions=shown))


if __name__ == "__main__":
    main()
