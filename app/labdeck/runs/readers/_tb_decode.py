"""Decoding TensorBoard event records into a run: the protobuf ``Event``/``Summary`` messages,
"scalars" plugin tensors, the hparams plugin's session-start values and ``SessionLog.START``
purges, gathered per tag into compact arrays (``RunState``), plus the protobuf wire-format
helpers the record walk's fast path shares.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import math
import sys
import types
from array import array
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from labdeck.runs.readers.base import ReadWarning

_HPARAMS_START = "_hparams_/session_start_info"
# Text summaries kept (first value only): what the Hugging Face Trainer's TensorBoard callback
# writes at the start of training, its TrainingArguments and the model config as JSON.
TEXT_TAGS = frozenset({"args/text_summary", "model_config/text_summary"})
_SESSION_START = 1  # SessionLog.START

# TensorProto dtype -> (numpy dtype of tensor_content, repeated field holding the values).
_TENSOR_TYPES = {
    1: ("<f4", "float_val"),
    2: ("<f8", "double_val"),
    3: ("<i4", "int_val"),
    4: ("u1", "int_val"),
    5: ("<i2", "int_val"),
    6: ("i1", "int_val"),
    9: ("<i8", "int64_val"),
    10: ("?", "bool_val"),
    14: ("<u2", "half_val"),  # bfloat16 bits
    17: ("<u2", "int_val"),
    19: ("<f2", "half_val"),  # float16 bits
}

_Appenders = tuple[Callable[[Any], None], Callable[[Any], None], Callable[[Any], None]]


@functools.cache
def _protos() -> SimpleNamespace:
    """The generated message classes, imported on first read without tensorboardX's package
    ``__init__``: that imports its writer, which imports torch where torch is installed (as on
    most of our users' machines): 0.9 s, half of a cold index of 2,000,000 TensorBoard points."""
    from google.protobuf.message import DecodeError

    event_pb2, plugin_hparams_pb2 = _proto_modules()
    return SimpleNamespace(
        Event=event_pb2.Event, HParams=plugin_hparams_pb2.HParamsPluginData, DecodeError=DecodeError
    )


def _proto_modules() -> tuple[Any, Any]:
    """tensorboardX.proto's two modules; the package stands in as a bare namespace while they
    load (and is removed again, so a later ``import tensorboardX`` runs the real one)."""
    if "tensorboardX" in sys.modules:
        from tensorboardX.proto import event_pb2, plugin_hparams_pb2

        return event_pb2, plugin_hparams_pb2
    spec = importlib.util.find_spec("tensorboardX")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("tensorboardX is not installed")
    bare = types.ModuleType("tensorboardX")
    bare.__path__ = list(spec.submodule_search_locations)
    bare.__spec__ = spec
    sys.modules["tensorboardX"] = bare
    try:
        event_pb2 = importlib.import_module("tensorboardX.proto.event_pb2")
        plugin_hparams_pb2 = importlib.import_module("tensorboardX.proto.plugin_hparams_pb2")
    finally:
        if sys.modules.get("tensorboardX") is bare:
            del sys.modules["tensorboardX"]
    return event_pb2, plugin_hparams_pb2


class Restart(Exception):
    """Something already handed to the index must go (a purge, a rewritten file): read afresh."""


class RunState:
    """What one read gathers about a run; the cursor's state carried in and out."""

    def __init__(self, state: dict[str, Any], fresh: bool) -> None:
        self.fresh = fresh
        self.file_version: float | None = state.get("file_version")
        self.plugins: dict[str, str] = dict(state.get("plugins", {}))  # first metadata per tag
        self.emitted_max: int | None = state.get("max_step")  # largest step already indexed
        self.start: int | None = state.get("start")
        self.new_start: int | None = None
        # Per tag: steps, values, wall times (s); arrays, not lists: 4x less memory per point.
        self.series: dict[str, tuple[array, array, array]] = {}
        self.ok_lengths: dict[int, int] = {}  # record length -> its verified masked CRC
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.texts: dict[str, str] = {}  # TEXT_TAGS seen in this read
        self.warnings: list[ReadWarning] = []
        self.where = ""  # file being read, for messages

    def warn(self, code: str, message: str, *, transient: bool = False) -> None:
        self.warnings.append(ReadWarning(code, f"{self.where}: {message}", self.where, transient))

    def appenders(self, tag: str) -> _Appenders:
        lists = self.series.get(tag)
        if lists is None:
            lists = self.series[tag] = (array("q"), array("d"), array("d"))
        return lists[0].append, lists[1].append, lists[2].append

    def tag_arrays(self, raw: bytes) -> tuple[array, array, array] | None:
        """A tag's (steps, values, wall times) for the record walk's common shape (None: the
        tag is not UTF-8; protobuf's path reports it)."""
        try:
            tag = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        lists = self.series.get(tag)
        if lists is None:
            lists = self.series[tag] = (array("q"), array("d"), array("d"))
        return lists

    def saw_wall(self, wall: float) -> None:
        if self.start is None and math.isfinite(wall):
            self.start = self.new_start = int(wall * 1000)  # ms, truncated like MLflow's

    # Records the fast path does not take ------------------------------------

    def event(self, data: bytes) -> None:
        try:
            self._event(data)
        except Restart:
            raise
        except Exception as exc:  # noqa: BLE001 - one malformed record must not stop the run's index
            self.warn("bad-record", f"a record passed its CRC check but cannot be read ({exc!r}); skipped")

    def _event(self, data: bytes) -> None:
        ev = _protos().Event.FromString(data)
        self.saw_wall(ev.wall_time)
        kind = ev.WhichOneof("what")
        if kind == "summary":
            for value in ev.summary.value:
                self.summary_value(value, ev.step, ev.wall_time)
        elif kind == "file_version":
            self.on_file_version(ev.file_version, data)
        elif kind == "session_log" and ev.session_log.status == _SESSION_START:
            # The accumulator purges only in files that declare version >= 2 (all since TF 0.12).
            if self.file_version is not None and self.file_version >= 2:
                self.purge(ev.step)

    def on_file_version(self, text: str, data: bytes) -> None:
        self.tags["tensorboard.file_version"] = text
        try:
            self.file_version = float(text.split(":")[-1])
        except ValueError:
            self.file_version = -1.0  # what TensorBoard assumes for an unparsable version
        # source_metadata (Event field 10) is newer than tensorboardX's copy of event.proto.
        writer = string_field(string_field(data, 10) or b"", 1)
        if writer:
            self.tags["tensorboard.writer"] = writer.decode("utf-8", "replace")

    def summary_value(self, value: Any, step: int, wall: float) -> None:
        tag = value.tag
        if value.HasField("metadata") and tag not in self.plugins:
            plugin = value.metadata.plugin_data
            self.plugins[tag] = plugin.plugin_name
            if tag == _HPARAMS_START and plugin.plugin_name == "hparams":
                self.on_hparams(plugin.content)
        kind = value.WhichOneof("value")
        if kind == "simple_value":
            self.add(tag, step, value.simple_value, wall)
        elif kind == "tensor" and tag and self.plugins.get(tag) == "scalars":
            number = _tensor_scalar(value.tensor)
            if number is None:
                message = f"tag {tag!r}, step {step}: a 'scalars' tensor that is not one number; skipped"
                self.warn("bad-scalar", message)
            else:
                self.add(tag, step, number, wall)
        elif kind == "tensor" and tag in TEXT_TAGS and self.plugins.get(tag) == "text" and tag not in self.texts:
            strings = value.tensor.string_val
            if strings:
                self.texts[tag] = strings[0].decode("utf-8", "replace")
        # Histograms, images, audio, text and other plugins' tensors are not metrics.

    def add(self, tag: str, step: int, value: float, wall: float) -> None:
        steps, values, walls = self.appenders(tag)
        steps(step)
        values(value)
        walls(wall)

    def on_hparams(self, content: bytes) -> None:
        pb = _protos()
        try:
            data = pb.HParams.FromString(content)
        except pb.DecodeError as exc:
            self.warn("bad-hparams", f"hparams session_start_info cannot be decoded ({exc})")
            return
        for name, value in data.session_start_info.hparams.items():
            text = _hparam_text(value)
            if text is not None:
                self.params[name] = text

    def purge(self, step: int) -> None:
        """SessionLog START at ``step``: drop every earlier point with step >= it."""
        if self.emitted_max is not None and step <= self.emitted_max:
            raise Restart
        for steps, values, walls in self.series.values():
            if steps and max(steps) >= step:
                keep = [i for i, s in enumerate(steps) if s < step]
                # In place: the record walk holds these arrays while it reads a chunk.
                values[:] = array("d", [values[i] for i in keep])
                walls[:] = array("d", [walls[i] for i in keep])
                steps[:] = array("q", [steps[i] for i in keep])


def _hparam_text(value: Any) -> str | None:
    """A google.protobuf.Value as a param string that reads back exactly (None: no value)."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        # Every number is a double here: an integral one is shown as the int the tool most
        # likely wrote (32, not 32.0), as TensorBoard's own hparams table shows it. torch
        # stores bools as 1.0/0.0: kept as stored.
        number = value.number_value
        if math.isfinite(number) and number.is_integer() and abs(number) < 2**53:
            return str(int(number))
        return repr(number)
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return str(value.bool_value)
    if kind in ("list_value", "struct_value"):
        from google.protobuf.json_format import MessageToDict

        return json.dumps(MessageToDict(value), ensure_ascii=False)
    return None  # null_value: torch drops None values too


def _tensor_scalar(tensor: Any) -> float | None:
    spec = _TENSOR_TYPES.get(tensor.dtype)
    size = 1
    for dim in tensor.tensor_shape.dim:
        size *= dim.size
    if spec is None or size != 1:
        return None
    dtype, field = spec
    if tensor.tensor_content:
        raw = np.frombuffer(tensor.tensor_content, dtype=dtype)
    else:
        raw = np.asarray(list(getattr(tensor, field)))
        if field == "half_val":  # 16-bit patterns stored in int32s
            bits = raw.astype(np.uint16)
            if tensor.dtype == 19:
                raw = bits.view(np.float16)
            else:  # bfloat16: the high half of a float32
                raw = (bits.astype(np.uint32) << 16).view(np.float32)
    if raw.size == 0:
        return 0.0  # TensorFlow omits the values of an all-zero tensor
    return float(raw[0]) if raw.size == 1 else None


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def string_field(buf: bytes, number: int) -> bytes | None:
    """The first length-delimited field ``number`` of a serialised message (None if absent)."""
    pos = 0
    try:
        while pos < len(buf):
            key, pos = varint(buf, pos)
            wire = key & 7
            if wire == 0:
                _, pos = varint(buf, pos)
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                size, pos = varint(buf, pos)
                if key >> 3 == number:
                    return buf[pos : pos + size]
                pos += size
            else:
                return None
    except IndexError:
        return None
    return None
