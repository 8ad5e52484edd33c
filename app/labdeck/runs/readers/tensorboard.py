"""TensorBoard event files: every directory that directly holds ``*tfevents*`` files is a run.

What is read matches TensorBoard's ``EventAccumulator`` with no sampling: the directory's event
files in file-name order, every scalar point (``simple_value`` and tensors of the "scalars"
plugin), the hparams plugin's session-start values as params, ``SessionLog.START`` purging
earlier points with step >= its step, a file's records read up to the first one that fails its
CRC or is incomplete. The cursor holds each file's byte offset, so a run still being written
is continued from where the last read stopped.

Speed: the record framing is walked with ``struct`` and the CRCs checked with google-crc32c.
Records of the overwhelmingly common shape (one tag, one ``simple_value``, as ``add_scalar``
writes them) are decoded by hand, which measured twice as fast as protobuf's decode plus
attribute access; every other record goes through the protobuf classes.
"""

from __future__ import annotations

import functools
import json
import math
import os
import struct
from array import array
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import google_crc32c
import numpy as np

from labdeck.runs.readers.base import (
    Detection,
    Points,
    Reader,
    ReadResult,
    ReadWarning,
    RunRecord,
    SourceRef,
    stat_fingerprint,
)

CURSOR_VERSION = 1
_CHUNK = 16 << 20  # bytes read at a time: bounded memory on multi-GB image logs
_HEADER = struct.Struct("<QI")
_U32 = struct.Struct("<I").unpack_from
_F64 = struct.Struct("<d").unpack_from
_F32 = struct.Struct("<f").unpack_from
_MASK_DELTA = 0xA282EAD8
_U32_MASK = 0xFFFFFFFF
_HPARAMS_START = "_hparams_/session_start_info"
_SESSION_START = 1  # SessionLog.START

# How a record walk stopped.
_END, _INCOMPLETE, _BAD_LENGTH_CRC, _BAD_DATA_CRC = "end", "incomplete", "length", "data"

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
    """Imported on first read: tensorboardX's package __init__ pulls in its writer (~40 ms)."""
    from google.protobuf.message import DecodeError
    from tensorboardX.proto import event_pb2, plugin_hparams_pb2

    return SimpleNamespace(
        Event=event_pb2.Event, HParams=plugin_hparams_pb2.HParamsPluginData, DecodeError=DecodeError
    )


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32_MASK


def is_event_file_name(name: str) -> bool:
    # TensorBoard's IsSummaryEventsFile: profiler placeholders hold no summaries.
    return "tfevents" in name and not name.endswith(".profile-empty")


def _event_files(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if is_event_file_name(e.name) and e.is_file())


class _Restart(Exception):
    """Something already handed to the index must go (a purge, a rewritten file): read afresh."""


class _Run:
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
        self.by_tag_bytes: dict[bytes, _Appenders] = {}
        self.ok_lengths: dict[int, int] = {}  # record length -> its verified masked CRC
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.warnings: list[ReadWarning] = []
        self.where = ""  # file being read, for messages

    def warn(self, code: str, message: str, *, transient: bool = False) -> None:
        self.warnings.append(ReadWarning(code, f"{self.where}: {message}", self.where, transient))

    def appenders(self, tag: str) -> _Appenders:
        lists = self.series.get(tag)
        if lists is None:
            lists = self.series[tag] = (array("q"), array("d"), array("d"))
        return lists[0].append, lists[1].append, lists[2].append

    def fast_tag(self, raw: bytes) -> _Appenders | None:
        """The fast path's first record of a tag (None: not UTF-8, the slow path reports it)."""
        try:
            tag = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        appenders = self.by_tag_bytes[raw] = self.appenders(tag)
        return appenders

    def saw_wall(self, wall: float) -> None:
        if self.start is None and math.isfinite(wall):
            self.start = self.new_start = int(wall * 1000)  # ms, truncated like MLflow's

    # Records the fast path does not take ------------------------------------

    def event(self, data: bytes) -> None:
        try:
            self._event(data)
        except _Restart:
            raise
        except Exception as exc:  # one malformed record must not stop the run's index
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
        writer = _string_field(_string_field(data, 10) or b"", 1)
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
            raise _Restart
        for steps, values, walls in self.series.values():
            if steps and max(steps) >= step:
                keep = [i for i, s in enumerate(steps) if s < step]
                # In place: the fast path holds these arrays' append methods.
                values[:] = array("d", [values[i] for i in keep])
                walls[:] = array("d", [walls[i] for i in keep])
                steps[:] = array("q", [steps[i] for i in keep])


def _hparam_text(value: Any) -> str | None:
    """A google.protobuf.Value as a param string that reads back exactly (None: no value)."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return repr(value.number_value)  # torch stores bools as 1.0/0.0: kept as stored
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


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _string_field(buf: bytes, number: int) -> bytes | None:
    """The first length-delimited field ``number`` of a serialised message (None if absent)."""
    pos = 0
    try:
        while pos < len(buf):
            key, pos = _varint(buf, pos)
            wire = key & 7
            if wire == 0:
                _, pos = _varint(buf, pos)
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                size, pos = _varint(buf, pos)
                if key >> 3 == number:
                    return buf[pos : pos + size]
                pos += size
            else:
                return None
    except IndexError:
        return None
    return None


def _scan(buf: bytes, pos: int, run: _Run) -> tuple[int, str]:
    """Walks the whole records of ``buf`` from ``pos``; returns where and why it stopped.

    A record is: uint64 length, masked crc32c of the length, data, masked crc32c of data.
    """
    size = len(buf)
    crc = google_crc32c.value
    ok_lengths = run.ok_lengths
    header = _HEADER.unpack_from
    by_tag = run.by_tag_bytes
    need_start = run.start is None
    while pos + 12 <= size:
        length, length_crc = header(buf, pos)
        if ok_lengths.get(length) != length_crc:  # few distinct lengths: check each once
            if _masked_crc(buf[pos : pos + 8]) != length_crc:
                return pos, _BAD_LENGTH_CRC
            ok_lengths[length] = length_crc
        start = pos + 12
        stop = start + length
        if stop + 4 > size:
            return pos, _INCOMPLETE
        data = buf[start:stop]
        c = crc(data)
        if (((c >> 15) | (c << 17)) + _MASK_DELTA) & _U32_MASK != _U32(buf, stop)[0]:
            return pos, _BAD_DATA_CRC
        pos = stop + 4
        if need_start:
            need_start = False
            if data[:1] == b"\x09":
                run.saw_wall(_F64(data, 1)[0])
        # Fast path: Event{wall_time, step?, summary{value{tag, simple_value}}}, fields in
        # the canonical order every protobuf serialiser writes, all lengths one byte.
        n = len(data)
        try:
            if data[0] == 0x09:
                p = 9
                step = 0
                if data[9] == 0x10:  # steps below 16384 inline, the rest by the loop
                    step = data[10]
                    p = 11
                    if step >= 0x80:
                        if data[11] < 0x80:
                            step = (step & 0x7F) | (data[11] << 7)
                            p = 12
                        else:
                            step, p = _varint(data, 10)
                            if step >= 1 << 63:
                                step -= 1 << 64  # int64 in two's complement
                if (
                    data[p] == 0x2A
                    and data[p + 1] == n - p - 2
                    and data[p + 2] == 0x0A
                    and data[p + 3] == n - p - 4
                    and data[p + 4] == 0x0A
                    and data[p + 5] == n - p - 11
                    and data[n - 5] == 0x15
                ):
                    tag = data[p + 6 : n - 5]
                    appenders = by_tag.get(tag) or run.fast_tag(tag)
                    if appenders is not None:
                        appenders[0](step)
                        appenders[1](_F32(data, n - 4)[0])
                        appenders[2](_F64(data, 1)[0])
                        continue
        except (IndexError, OverflowError):
            pass  # not the common shape after all
        run.event(data)
    return pos, (_END if pos == size else _INCOMPLETE)


def _read_file(path: Path, offset: int, run: _Run, is_last: bool) -> int:
    """Reads the whole records of one file from ``offset``; returns the offset to go on from."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        buf = b""
        base = offset
        stopped = _END
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            buf = buf + chunk if buf else chunk
            pos, stopped = _scan(buf, 0, run)
            base += pos
            buf = buf[pos:]
            if stopped in (_BAD_LENGTH_CRC, _BAD_DATA_CRC):
                break
    _report_stop(stopped, base, len(buf), run, is_last)
    return base


def _report_stop(stopped: str, at: int, left: int, run: _Run, is_last: bool) -> None:
    if stopped == _END:
        return
    if stopped == _INCOMPLETE:
        if is_last:  # a writer is most likely still at it
            run.warn(
                "truncated-record",
                f"last record incomplete at byte {at}; read up to it, the rest when the file grows",
                transient=True,
            )
        else:
            message = f"incomplete record at byte {at}; the {left} bytes from there are ignored"
            run.warn("truncated-record", message)
    elif at == 0:
        message = "not a TensorBoard event file (first record fails its length CRC); ignored"
        run.warn("not-event-file", message)
    else:
        what = "length" if stopped == _BAD_LENGTH_CRC else "data"
        message = (
            f"record at byte {at} fails its {what} CRC; "
            "the rest of the file is ignored, as TensorBoard does"
        )
        run.warn("bad-crc", message)


def _can_go_on(offsets: dict[str, int], names: list[str], folder: Path) -> bool:
    """True when the files only grew or new ones came after the known ones (no rewrite)."""
    last_known = max(offsets, default="")
    for name in names:
        if name not in offsets and name < last_known:
            return False  # would have been read earlier: order changes
    for name, offset in offsets.items():
        try:
            if os.stat(folder / name).st_size < offset:
                return False
        except OSError:
            return False
    return True


def _valid_cursor(cursor: dict[str, Any] | None) -> bool:
    return (
        isinstance(cursor, dict)
        and cursor.get("version") == CURSOR_VERSION
        and isinstance(cursor.get("files"), dict)
        and isinstance(cursor.get("plugins"), dict)
    )


class TensorBoardReader(Reader):
    format = "tensorboard"

    def detect(self, folder: Path, names: frozenset[str], rel: str) -> Detection | None:
        candidates = [n for n in names if is_event_file_name(n)]
        if not candidates or not any(os.path.isfile(folder / n) for n in candidates):
            return None
        return Detection(sources=[SourceRef(self.format, folder, rel)])

    def fingerprint(self, source: SourceRef) -> str:
        try:
            names = _event_files(source.path)
        except OSError:
            return "-"
        return "\n".join(names) + "\n" + stat_fingerprint([source.path / n for n in names])

    def read_on(self, source: SourceRef, cursor: dict[str, Any] | None) -> ReadResult:
        try:
            names = _event_files(source.path)
        except OSError as exc:
            message = f"{source.rel}: cannot list the run directory ({exc.strerror or exc})"
            warning = ReadWarning("unreadable-dir", message, source.rel)
            return ReadResult(runs=[], cursor=cursor or {}, warnings=[warning])
        state = cursor if _valid_cursor(cursor) else None
        if state is not None and not _can_go_on(state.get("files", {}), names, source.path):
            state = None
        try:
            return self._read(source, names, state)
        except _Restart:
            return self._read(source, names, None)

    def _read(self, source: SourceRef, names: list[str], state: dict[str, Any] | None) -> ReadResult:
        fresh = state is None
        run = _Run(state or {}, fresh)
        known: dict[str, int] = dict((state or {}).get("files", {}))
        offsets: dict[str, int] = {}
        for i, name in enumerate(names):
            run.where = f"{source.rel}/{name}" if source.rel else name
            offset = known.get(name, 0)
            try:
                offsets[name] = _read_file(source.path / name, offset, run, i == len(names) - 1)
            except FileNotFoundError:
                if offset and not fresh:
                    raise _Restart from None  # its points are indexed and must go
                run.warn("vanished", "deleted while being read", transient=True)
            except OSError as exc:
                offsets[name] = offset  # try again next time
                run.warn("unreadable-file", f"cannot read ({exc.strerror or exc})")
        if fresh and not offsets and not run.warnings:
            return ReadResult(runs=[], cursor=self._cursor(run, offsets), complete=True)
        record = self._record(source, run)
        return ReadResult(runs=[record], cursor=self._cursor(run, offsets), complete=fresh)

    def _record(self, source: SourceRef, run: _Run) -> RunRecord:
        rel = source.rel
        meta: dict[str, Any] = {
            "experiment": rel.rpartition("/")[0],
            "name": source.path.name,
            "path": rel,
            "status": "unknown",  # event files say nothing about how a run ended
        }
        if run.new_start is not None:
            meta["start_time"] = run.new_start
        points = {}
        for tag, (steps, values, walls) in run.series.items():
            if steps:
                with np.errstate(over="ignore"):  # a garbage wall time becomes inf, not noise
                    wall_ms = np.frombuffer(walls, dtype=np.float64) * 1000.0
                step_arr = np.frombuffer(steps, dtype=np.int64)
                points[tag] = Points(step_arr, np.frombuffer(values, dtype=np.float64), wall_ms)
                top = int(step_arr.max())
                run.emitted_max = top if run.emitted_max is None else max(run.emitted_max, top)
        return RunRecord(
            source_id=rel or ".",
            meta=meta,
            params=run.params,
            tags=run.tags,
            points=points,
            replace_params=run.fresh,
            replace_tags=run.fresh,
            replace_series=run.fresh,
            warnings=run.warnings,
        )

    @staticmethod
    def _cursor(run: _Run, offsets: dict[str, int]) -> dict[str, Any]:
        return {
            "version": CURSOR_VERSION,
            "files": offsets,
            "file_version": run.file_version,
            "plugins": run.plugins,
            "max_step": run.emitted_max,
            "start": run.start,
        }


READER = TensorBoardReader()
