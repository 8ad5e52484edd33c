"""The Hugging Face Trainer's settings where they are recorded without unpickling.

``training_args.bin`` is a pickle and is never opened. The same ``TrainingArguments`` are
written as JSON by the Trainer's TensorBoard callback (text summary ``args``, with the model
config as ``model_config``) in ``<output_dir>/runs/<time>_<host>/``, and the model config is
each checkpoint's ``config.json``. Values keep the type JSON gave them (``32`` stays ``32``).

Nothing is invented: a setting that did not apply is left out (``eval_steps`` when evaluation
ran per epoch, ``save_steps`` when saving did), and so are unset (None or empty) ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from labdeck.runs.readers._tb_decode import RunState

ARGS_TAG = "args/text_summary"
MODEL_TAG = "model_config/text_summary"
TB_RUNS = "runs"  # the Trainer's default logging_dir, below the output folder
MODEL_PREFIX = "model/"
_HEAD_BYTES = 1 << 20  # the args are written at train begin: within the first records
# A *_steps setting applies only when its strategy is "steps".
_GATED = {"eval_steps": "eval_strategy", "save_steps": "save_strategy", "logging_steps": "logging_strategy"}
# TrainerState fields that are settings of the training, not its progress.
SETTINGS = ("logging_steps", "eval_steps", "save_steps", "train_batch_size", "num_train_epochs")
CONFIG = "config.json"


def value_text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _unset(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def json_object(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def training_params(args: dict) -> dict[str, str]:
    """The TrainingArguments that were set and applied, as params."""
    out = {}
    for key, value in args.items():
        if _unset(value):
            continue
        strategy = _GATED.get(key)
        if strategy is not None and args.get(strategy) not in ("steps", None):
            continue
        out[str(key)] = value_text(value)
    return out


def model_params(config: dict) -> dict[str, str]:
    """A model config's plain settings, as ``model/<key>`` params (label maps and nested configs left out)."""
    return {
        f"{MODEL_PREFIX}{k}": value_text(v)
        for k, v in config.items()
        if not _unset(v) and not isinstance(v, dict)
    }


def run_name(args: dict | None) -> str | None:
    """``run_name`` as the user set it (Transformers 4 defaulted it to the output_dir: not a name)."""
    args = args or {}
    name = args.get("run_name")
    if not isinstance(name, str) or not name.strip() or name == args.get("output_dir"):
        return None
    return name


def tb_run_folders(output: Path) -> list[Path]:
    """The Trainer's TensorBoard run folders below an output folder, newest name first."""
    try:
        with os.scandir(output / TB_RUNS) as entries:
            return sorted((Path(e.path) for e in entries if e.is_dir()), reverse=True)
    except OSError:
        return []


def tb_texts(run_folder: Path) -> dict[str, str]:
    """The args / model_config text summaries at the head of a TensorBoard run's event files."""
    from labdeck.runs.readers._tb_records import _scan  # the record walk, without its warnings

    try:
        names = sorted(n for n in os.listdir(run_folder) if "tfevents" in n)
    except OSError:
        return {}
    texts: dict[str, str] = {}
    for name in names:
        run = RunState({}, True)
        try:
            with open(run_folder / name, "rb") as fh:
                head = fh.read(_HEAD_BYTES)
        except OSError:
            continue
        _scan(head, 0, run)
        for tag, text in run.texts.items():
            texts.setdefault(tag, text)
        if ARGS_TAG in texts:
            break
    return texts


def state_settings(state: dict, args: dict | None) -> dict[str, str]:
    """The state's own settings. The state holds eval_steps and save_steps even when evaluation
    and saving ran per epoch (the default 500): kept only where the arguments say "steps"."""
    out = {}
    for key in SETTINGS:
        value = state.get(key)
        strategy = _GATED.get(key)
        if value is None:
            continue
        if strategy is not None and (args or {}).get(strategy, "steps" if key == "logging_steps" else None) != "steps":
            continue
        out[key] = value_text(value)
    return out


def model_config(output: Path, folders: list[str]) -> dict | None:
    """The model's config.json in the first of ``folders`` (below ``output``) that has a readable one."""
    for name in folders:
        try:
            raw = (output / name / CONFIG).read_bytes()
        except OSError:
            continue
        config = json_object(raw.decode("utf-8", "replace"))
        if config is not None:
            return config
    return None
