"""Reader for the Hugging Face Trainer's ``trainer_state.json``.

One run per output folder: the folder holding ``checkpoint-<N>/`` folders and/or the
``trainer_state.json`` that ``Trainer.save_state()`` writes at the end. Every checkpoint holds
the whole state up to its step, so only the most complete one is read: the top-level file,
unless a checkpoint is further on (a run resumed or restarted into the same folder), else the
checkpoint with the highest step (a run killed before ``save_state``). Checkpoint folders are
pruned from the walk; their pickles (``*.bin``, ``*.pt``, ``*.pth``) are never opened.

Mapping:
- metrics: every numeric value of every ``log_history`` entry, at that entry's ``step``
  (train rows: loss, grad_norm, learning_rate, epoch; eval rows: eval_*; the summary row:
  train_runtime, train_loss, total_flos...). ``epoch`` is kept: the Trainer logged it.
- params: the TrainingArguments the Trainer's TensorBoard callback wrote as JSON (``_hf_args``:
  set and applied ones only, with their JSON types), the model's ``config.json`` as ``model/*``,
  the trial's ``trial_params``, and the settings the state records (``SETTINGS``; ``eval_steps``
  and ``save_steps`` only where the arguments show they applied: the state holds them even when
  evaluation and saving ran per epoch).
- name: the ``run_name`` recorded in those arguments, else the output folder's name.
- tags: ``hf.best_metric``, ``hf.best_model_checkpoint``, ``hf.best_global_step``,
  ``hf.global_step``, ``hf.max_steps``, ``hf.trial_name``, ``hf.state_file`` (which file was read).
- status: "finished" when the state reached ``max_steps`` or the Trainer recorded
  ``should_training_stop`` (early stopping); else "running" while a state, checkpoint or
  TensorBoard file was written within the quiet period (``_liveness``), else "killed": it
  stopped short of its end (killed or crashed: the files cannot tell which).
- times: start from the TensorBoard run's file name or the earliest file, end from the last write.
- a ``checkpoint-N`` folder is never a run of its own, even when a pass starts inside it (the
  watcher walks from the folder that changed) while the Trainer writes it.

The Trainer rewrites a state file whole. Each read parses the chosen file again; when the
entries read last time are still its first entries (a digest compares them) only the newer
entries are returned, else the series are replaced.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from labdeck.runs.readers import _hf_args
from labdeck.runs.readers._hf_log_history import LogItems, is_step
from labdeck.runs.readers._json_salvage import salvage_state
from labdeck.runs.readers._liveness import files_in, is_live, mtimes, quiet_mark, tfevents_start_s, time_span_ms
from labdeck.runs.readers.base import (
    Detection,
    Reader,
    ReadResult,
    ReadWarning,
    RunRecord,
    SourceRef,
    stat_fingerprint,
)

STATE = "trainer_state.json"
_CHECKPOINT = re.compile(r"checkpoint-(\d+)\Z")
_PRUNE = re.compile(r"(?:tmp-)?checkpoint-\d+\Z")  # tmp-: a checkpoint being written
# TrainerState fields that are settings of the training, not its progress.
# Files a Trainer writes into a checkpoint folder: such a folder is part of its output folder's run.
_CHECKPOINT_FILES = frozenset({STATE, "training_args.bin", "config.json", "model.safetensors", "optimizer.pt"})

TAG_FIELDS = ("best_metric", "best_model_checkpoint", "best_global_step", "global_step", "max_steps", "trial_name")


class _StateError(Exception):
    def __init__(self, warning: ReadWarning) -> None:
        super().__init__(warning.message)
        self.warning = warning


class HfTrainerReader(Reader):
    format = "hf-trainer"

    def detect(self, folder: Path, names: frozenset[str], rel: str) -> Detection | None:
        if _PRUNE.match(folder.name) and names & _CHECKPOINT_FILES:
            return Detection(claim_all=True)  # a checkpoint, maybe half written: never a run
        checkpoints = [n for n in names if n.startswith(("checkpoint-", "tmp-checkpoint-")) and _PRUNE.match(n)]
        if STATE not in names and not checkpoints:
            return None
        # Folders called checkpoint-N without a trainer state belong to some other tool.
        if STATE not in names and not any((folder / n / STATE).is_file() for n in _by_step(checkpoints)):
            return None
        return Detection(sources=[SourceRef(self.format, folder, rel)], prune=frozenset(checkpoints))

    def fingerprint(self, source: SourceRef) -> str:
        try:
            checkpoints = _by_step(os.listdir(source.path))
        except OSError:
            return "-"
        newest = checkpoints[:1]
        files = [source.path / STATE] + [source.path / n / STATE for n in newest]
        written = _written(source.path, newest)
        return f"{','.join(newest)}|{stat_fingerprint(files)}|{quiet_mark(written, lambda: _event_names(written))}"

    def read_on(self, source: SourceRef, cursor: dict[str, Any] | None) -> ReadResult:
        try:
            names = os.listdir(source.path)
        except OSError as exc:
            warn = ReadWarning("missing-file", f"cannot list {source.rel or '.'}: {exc.strerror}", source.rel)
            return ReadResult(runs=[], cursor=cursor or {}, warnings=[warn], complete=False)
        # The output folder holds the checkpoint-N folders (config.json + weights): model candidates.
        record = RunRecord(source_id=source.rel, meta=_meta(source), artifact_dir=str(source.path))
        # With data read before, a state being rewritten is waited for rather than replaced by
        # an older checkpoint: nothing read is dropped, even for a moment.
        chosen = _choose_state(source, names, record.warnings, fall_back=cursor is None)
        if chosen is None:
            if not record.warnings:
                msg = f"no {STATE} in {source.rel or '.'} or its checkpoints"
                record.warnings.append(ReadWarning("missing-file", msg, source.rel))
            return ReadResult(runs=[record], cursor=cursor or {}, complete=cursor is None)
        rel_file, state = chosen
        new_cursor = _apply_state(state, rel_file, cursor, record, source)
        _apply_arguments(source, names, rel_file, state, cursor, new_cursor, record)
        record.meta["status"] = _status_now(record.meta["status"], source.path, names)
        return ReadResult(runs=[record], cursor=new_cursor, complete=cursor is None)


READER = HfTrainerReader()


# Choosing the state file ------------------------------------------------------


def _by_step(names: list[str] | frozenset[str]) -> list[str]:
    """``checkpoint-<N>`` names, highest N first."""
    found = [(int(m.group(1)), n) for n in names if (m := _CHECKPOINT.match(n))]
    return [n for _, n in sorted(found, reverse=True)]


def _choose_state(
    source: SourceRef, names: list[str], warnings: list[ReadWarning], *, fall_back: bool
) -> tuple[str, dict] | None:
    """The most complete readable state: (file relative to the output folder, parsed state).

    When a preferred file cannot be read, ``fall_back`` decides between the next one and None.
    """
    top: dict | None = None
    if STATE in names:
        try:
            top = _load_state(source, STATE, warnings if fall_back else None)
        except _StateError as exc:
            warnings.append(exc.warning)
            if not fall_back:
                return None
    top_step = _int(top.get("global_step"), -1) if top is not None else -1
    for name in _by_step(names):
        if top is not None and _step_of(name) <= top_step:
            break  # only a checkpoint further on beats the final state (a newer training)
        rel_file = f"{name}/{STATE}"
        if not (source.path / rel_file).exists():
            continue  # a checkpoint still being written saves its state last
        try:
            return rel_file, _load_state(source, rel_file, warnings if fall_back else None)
        except _StateError as exc:
            warnings.append(exc.warning)
            if not fall_back:
                return None
    return (STATE, top) if top is not None else None


def _step_of(checkpoint: str) -> int:
    return int(checkpoint.rsplit("-", 1)[1])


def _load_state(source: SourceRef, rel_file: str, salvage_into: list[ReadWarning] | None = None) -> dict:
    """The parsed state; a damaged one is salvaged (``_json_salvage``) when ``salvage_into``
    is given (a first read: nothing read before to keep), with a warning added to it."""
    rel = f"{source.rel}/{rel_file}" if source.rel else rel_file
    try:
        raw = (source.path / rel_file).read_bytes()
    except FileNotFoundError:
        raise _StateError(ReadWarning("missing-file", f"{rel} disappeared while reading", rel, transient=True))
    except PermissionError:
        raise _StateError(ReadWarning("permission-denied", f"cannot read {rel}: permission denied", rel))
    except OSError as exc:
        raise _StateError(ReadWarning("unreadable-file", f"cannot read {rel}: {exc.strerror}", rel))
    try:
        # json accepts the bare NaN / Infinity / -Infinity tokens the Trainer writes.
        state = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        warning = (_json_warning(exc, raw, rel) if isinstance(exc, json.JSONDecodeError)
                   else ReadWarning("bad-state-file", f"{rel} is not valid JSON: {exc}", rel))
        state, lost = salvage_state(raw) if salvage_into is not None else ({}, 0)
        if not state.get("log_history"):
            raise _StateError(warning) from None
        warning.message += f"; read {len(state['log_history'])} whole log entries of it"
        warning.message += f", {lost} damaged ones left out" if lost else ""
        assert salvage_into is not None  # without it the state was {} and raised above
        salvage_into.append(warning)
    if not isinstance(state, dict):
        raise _StateError(ReadWarning("bad-state-file", f"{rel} holds no JSON object", rel))
    return state


def _json_warning(exc: json.JSONDecodeError, raw: bytes, rel: str) -> ReadWarning:
    if exc.pos >= len(raw.rstrip()) - 1:
        # It stops mid-value: the Trainer is writing it right now.
        msg = f"{rel} is cut short ({len(raw)} bytes): being written; kept what was read before"
        return ReadWarning("truncated-file", msg, rel, transient=True)
    return ReadWarning("bad-state-file", f"{rel} is not valid JSON: {exc.msg} at byte {exc.pos}", rel)


# From a state to a run ----------------------------------------------------------


def _meta(source: SourceRef) -> dict[str, Any]:
    parent, _, name = source.rel.rpartition("/")
    try:
        checkpoints = _by_step(os.listdir(source.path))
    except OSError:
        checkpoints = []
    written = _written(source.path, checkpoints[:1])
    tb_starts = [tfevents_start_s(p.name) for p in written]
    # The oldest checkpoint folder kept was made early on; the state files are rewritten late.
    kept = [source.path / n for n in checkpoints]
    start, end = time_span_ms(written + kept + files_in(source.path, depth=0), tb_starts)
    return {"experiment": parent, "name": name or source.path.name, "status": "unknown", "path": source.rel,
            "start_time": start, "end_time": end}


def _written(output: Path, newest_checkpoints: list[str]) -> list[Path]:
    """The files a running Trainer keeps writing: its states, the newest checkpoint's files and
    its TensorBoard event files."""
    files = [output / STATE]
    for name in newest_checkpoints:
        files.extend(files_in(output / name, depth=0))
    for run in _hf_args.tb_run_folders(output):
        files.extend(files_in(run, depth=0))
    return files


def _apply_arguments(
    source: SourceRef, names: list[str], rel_file: str, state: dict, cursor: dict[str, Any] | None,
    new_cursor: dict[str, Any], record: RunRecord,
) -> None:
    """Name and params from what the Trainer recorded besides the state's history (``_hf_args``)."""
    runs = _hf_args.tb_run_folders(source.path)
    args_cache = (cursor or {}).get("args")
    if runs and not (isinstance(args_cache, dict) and args_cache.get("from") == runs[0].name):
        texts = _hf_args.tb_texts(runs[0])
        args = _hf_args.json_object(texts.get(_hf_args.ARGS_TAG))
        args_cache = {"from": runs[0].name, "args": args} if args is not None else None
    args = args_cache.get("args") if isinstance(args_cache, dict) else None
    if not isinstance(args, dict):
        args = None
    else:
        new_cursor["args"] = args_cache
        record.meta["name"] = _hf_args.run_name(args) or record.meta["name"]
    folder = rel_file.rpartition("/")[0]  # the chosen state's checkpoint, if any
    config = _hf_args.model_config(source.path, ([folder] if folder else []) + _by_step(names)[:1] + [""])
    record.params = {
        **_hf_args.state_settings(state, args),
        **(_hf_args.training_params(args) if args else {}),
        **(_hf_args.model_params(config) if config else {}),
        **record.params,  # the trial's
    }


def _status_now(status: str, output: Path, names: list[str]) -> str:
    """A state short of its end is running while the Trainer writes, else it stopped there."""
    if status == "finished":
        return status
    files = _written(output, _by_step(names)[:1])
    return "running" if is_live(max(mtimes(files), default=None), lambda: _event_names(files)) else "killed"


def _event_names(files: list[Path]) -> list[str]:
    """The TensorBoard event files among a Trainer's files: their names say which process writes."""
    return [f.name for f in files if "tfevents" in f.name]


def _apply_state(
    state: dict, rel_file: str, cursor: dict[str, Any] | None, record: RunRecord, source: SourceRef
) -> dict[str, Any]:
    record.meta["status"] = _status(state)
    record.params, record.replace_params = _params(state), True
    record.tags, record.replace_tags = _tags(state, rel_file), True
    rel = f"{source.rel}/{rel_file}" if source.rel else rel_file
    history = state.get("log_history")
    if not isinstance(history, list):
        if history is not None:
            record.warnings.append(ReadWarning("bad-state-file", f"{rel}: log_history is not a list", rel))
        history = []
    items = LogItems.of(history, rel, record.warnings)
    start = _unchanged_prefix(items, cursor, len(history))
    record.replace_series = start == 0
    record.points = items.points(start)
    return {"v": 1, "file": rel_file, "n": len(history), "digest": items.digest(len(items.steps))}


def _unchanged_prefix(items: LogItems, cursor: dict[str, Any] | None, n_entries: int) -> int:
    """How many items were read before and are still the same (0: read all again)."""
    prev_n = (cursor or {}).get("n")
    if not isinstance(prev_n, int) or not 0 <= prev_n <= n_entries:
        return 0
    start = items.count_before(prev_n)
    return start if start and items.digest(start) == (cursor or {}).get("digest") else 0


def _status(state: dict) -> str:
    step, max_steps = _int(state.get("global_step"), 0), _int(state.get("max_steps"), 0)
    control = _dig(state, "stateful_callbacks", "TrainerControl", "args", "should_training_stop")
    if (max_steps > 0 and step >= max_steps) or control is True:
        return "finished"
    return "unknown"


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _params(state: dict) -> dict[str, str]:
    """The trial's params (the settings are added with the arguments: ``_apply_arguments``)."""
    trial = state.get("trial_params")
    return {str(k): _text(v) for k, v in trial.items()} if isinstance(trial, dict) else {}


def _tags(state: dict, rel_file: str) -> dict[str, str]:
    tags = {f"hf.{k}": _text(state[k]) for k in TAG_FIELDS if state.get(k) is not None}
    tags["hf.state_file"] = rel_file
    return tags


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _int(value: Any, default: int) -> int:
    return int(value) if is_step(value) else default
