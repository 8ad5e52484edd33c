"""TensorBoard's record framing: each record is a uint64 length, the masked crc32c of the
length, the data and the masked crc32c of the data; a file is read up to the first record that
fails its CRC or is incomplete, and how the walk stopped becomes a warning.

Speed: the records are framed by predicting the next headers where the lengths repeat
(``_frame``: 0.08 µs a record where reading each length in turn took 0.37); their data CRCs are
computed for all records of a chunk at once (``_crc32c_many``: a call of google-crc32c per
record cost 0.7 µs more); the length and data CRCs are then checked, and the records of the
overwhelmingly common shape (one tag, one ``simple_value``, as ``add_scalar`` writes them)
decoded, for all records of a chunk at once with NumPy. Measured on 2,000,000 points: 3.8 s →
1.4 s for the walk, against decoding each record by hand in Python (itself twice as fast as
protobuf). Every other record goes through the protobuf classes, in its place in the order; the
outcome, warnings included, is the same record for record (checked against the previous walk on
damaged and truncated files).
"""

from __future__ import annotations

import struct
from pathlib import Path

import google_crc32c
import numpy as np

from labdeck.runs.readers._crc32c_many import crc32c_many
from labdeck.runs.readers._tb_decode import RunState

_CHUNK = 16 << 20  # bytes read at a time: bounded memory on multi-GB image logs
_HEADER = struct.Struct("<QI")
_LENGTH = struct.Struct("<Q")
_U32 = struct.Struct("<I").unpack_from
_MASK_DELTA = 0xA282EAD8
_U32_MASK = 0xFFFFFFFF

# How a record walk stopped.
_END, _INCOMPLETE, _BAD_LENGTH_CRC, _BAD_DATA_CRC = "end", "incomplete", "length", "data"


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32_MASK


def _scan(buf: bytes, pos: int, run: RunState) -> tuple[int, str]:
    """Walks the whole records of ``buf`` from ``pos``; returns where and why it stopped.

    A record is: uint64 length, masked crc32c of the length, data, masked crc32c of data.
    The Python loop only frames the records and computes their data CRCs; checking the CRCs
    and decoding the common shape happen over all records at once, in NumPy (below).
    """
    size = len(buf)
    data_starts, pos = _frame(buf, pos)  # every check is made afterwards, for all records at once
    if not data_starts.size:
        return pos, (_END if pos == size else _INCOMPLETE)
    headers = data_starts - 12
    # Each record's data ends 4 bytes before the next record's header (or where the walk stopped).
    ends = np.empty_like(data_starts)
    ends[:-1] = data_starts[1:] - 16
    ends[-1] = min(pos - 4, size)  # a damaged length may point far past the buffer
    raw = np.frombuffer(buf, dtype=np.uint8)
    whole = ends + 4 <= size  # only the last record can run past the buffer
    length_ok = _lengths_ok(raw, headers, run.ok_lengths)
    computed = crc32c_many(buf, data_starts, ends - data_starts).astype(np.uint64)
    masked = (((computed >> 15) | (computed << 17)) + _MASK_DELTA) & _U32_MASK
    stored = _gather(raw, np.minimum(ends, size - 4), 4).view("<u4").ravel()
    bad = np.flatnonzero(~length_ok | ~whole | (masked != stored))
    if bad.size:  # records before the first bad one count; the walk stops at it
        first_bad = int(bad[0])
        pos = int(headers[first_bad])
        if not length_ok[first_bad]:
            stopped = _BAD_LENGTH_CRC
        else:
            stopped = _INCOMPLETE if not whole[first_bad] else _BAD_DATA_CRC
        data_starts, ends = data_starts[:first_bad], ends[:first_bad]
        if not first_bad:
            return pos, stopped
    else:
        stopped = _END if pos == size else _INCOMPLETE
    if run.start is None and raw[data_starts[0]] == 0x09:
        run.saw_wall(float(_gather(raw, data_starts[:1] + 1, 8).view("<f8")[0, 0]))
    _decode(buf, raw, data_starts, ends, run)
    return pos, stopped


def _frame(buf: bytes, pos: int) -> tuple[np.ndarray, int]:
    """The data offsets of the chain of records from ``pos`` (each record's length read at
    its header says where the next one starts), and where the chain leaves the buffer.

    Exactly what reading each length in turn gives, faster: a log repeats the same lengths
    (the same tags, step after step), so once the last lengths repeat with some period, the
    next headers are predicted and all their lengths read at once; the predictions hold up
    to the first header whose length differs, where reading one by one takes over again.
    """
    size = len(buf)
    length_of = _LENGTH.unpack_from
    # The uint64 at every offset (a view): a predicted header's length is read without a copy.
    lengths = np.ndarray(shape=(max(size - 7, 0),), dtype="<u8", buffer=buf, strides=(1,))
    parts: list[np.ndarray] = []
    recent: list[int] = []  # the latest record lengths, up to two of the longest periods
    one_by_one = 2 * _PERIODS  # records read one by one before the next prediction
    horizon = _HORIZON  # records predicted at once; grows while predictions hold
    while pos + 12 <= size:
        starts = []
        for _ in range(one_by_one):
            if pos + 12 > size:
                break
            length = length_of(buf, pos)[0]
            starts.append(pos + 12)
            recent.append(length)
            pos += length + 16
        parts.append(np.asarray(starts, dtype=np.int64))
        del recent[: -2 * _PERIODS]
        period = next((p for p in range(1, _PERIODS + 1)
                       if 2 * p <= len(recent) and recent[-p:] == recent[-2 * p : -p]), None)
        if pos + 12 > size or period is None:  # (a damaged, huge length always ends the chain here)
            one_by_one = min(one_by_one * 2, _HORIZON)
            continue
        record_sizes = np.tile(np.asarray(recent[-period:], dtype=np.int64) + 16, horizon // period + 1)
        headers = pos + np.concatenate(([0], np.cumsum(record_sizes[:-1])))
        headers = headers[headers + 12 <= size]
        missed = np.flatnonzero(lengths[headers] != (record_sizes[: headers.size] - 16).astype(np.uint64))
        held = int(missed[0]) if missed.size else headers.size
        if held:
            parts.append(headers[:held] + 12)
            recent.extend((record_sizes[max(0, held - 2 * _PERIODS) : held] - 16).tolist())
            pos = int(headers[held - 1] + record_sizes[held - 1])
        if missed.size:  # read on one by one from the header that differs
            one_by_one, horizon = 2 * _PERIODS, _HORIZON
        else:
            horizon = min(horizon * 4, _LONGEST_HORIZON)
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)), pos


_PERIODS = 64  # the longest repeat of lengths looked for (a step's tags)
_HORIZON = 1024  # records predicted at first
_LONGEST_HORIZON = 1 << 20


def _lengths_ok(raw: np.ndarray, headers: np.ndarray, known: dict[int, int]) -> np.ndarray:
    """Whether each record's length passes its CRC: the CRC computed once per distinct length
    (a log has few), remembered across chunks in ``known``."""
    lengths = _gather(raw, headers, 8).view("<u8").ravel()
    stored = _gather(raw, headers + 8, 4).view("<u4").ravel()
    distinct, inverse = np.unique(lengths, return_inverse=True)
    expected = np.empty(len(distinct), dtype=np.uint32)
    for j, length in enumerate(distinct.tolist()):
        if length not in known:
            known[length] = _masked_crc(length.to_bytes(8, "little"))
        expected[j] = known[length]
    return expected[inverse.ravel()] == stored


def _gather(raw: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    """``width`` bytes from each offset in ``at`` (a 2-D uint8 array, one row per offset)."""
    return raw[at[:, None] + np.arange(width)]


def _decode(buf: bytes, raw: np.ndarray, starts: np.ndarray, ends: np.ndarray, run: RunState) -> None:
    """Records in order: the common shape (one tag, one ``simple_value``: what ``add_scalar``
    writes) decoded together, every other record by protobuf where it falls between them.

    The common shape is Event{wall_time, step?, summary{value{tag, simple_value}}} with the
    fields in the canonical order every protobuf serialiser writes and all lengths one byte.
    """
    n = ends - starts
    last = raw.size - 1

    def byte(offset: np.ndarray) -> np.ndarray:  # reads past a record only where n rules it out
        return raw[np.minimum(offset, last)].astype(np.int64)

    fast = (n >= 20) & (byte(starts) == 0x09)
    # The step: absent (0), or field 2 as a varint of up to ten bytes (int64, two's complement).
    has_step = fast & (byte(starts + 9) == 0x10)
    step = np.zeros(n.size, dtype=np.uint64)
    p = np.where(has_step, 10, 9)
    going = has_step.copy()
    for k in range(10):
        if not going.any():
            break
        b = byte(starts + 10 + k)
        step[going] |= (b[going] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
        p[going] += 1
        going &= b >= 0x80
    fast &= ~going  # a varint longer than ten bytes is not a step
    fast &= (
        (byte(starts + p) == 0x2A) & (byte(starts + p + 1) == n - p - 2)
        & (byte(starts + p + 2) == 0x0A) & (byte(starts + p + 3) == n - p - 4)
        & (byte(starts + p + 4) == 0x0A) & (byte(starts + p + 5) == n - p - 11)
        & (byte(ends - 5) == 0x15) & (n - p - 11 >= 0)
    )
    tag_at, tag_len = starts + p + 6, n - p - 11
    # The distinct tags (bytes), each with the records that carry it, by first appearance.
    found: list[tuple[int, bytes, np.ndarray]] = []
    for length in np.unique(tag_len[fast]).tolist():
        rows = np.flatnonzero(fast & (tag_len == length))
        if length == 0:
            found.append((int(rows[0]), b"", rows))
            continue
        found.extend(_distinct(_gather(raw, tag_at[rows], length), rows))
    tag_id = np.full(n.size, -1, dtype=np.int64)
    arrays: list[tuple] = []
    for _, name, rows in sorted(found, key=lambda f: f[0]):
        series = run.tag_arrays(name)
        if series is None:  # not UTF-8: protobuf's path reports it
            fast[rows] = False
            continue
        tag_id[rows] = len(arrays)
        arrays.append(series)
    if not arrays:
        for a, b in zip(starts.tolist(), ends.tolist()):
            run.event(buf[a:b])
        return
    steps = step.view(np.int64)
    values = _gather(raw, ends - 4, 4).view("<f4").ravel().astype(np.float64)
    walls = _gather(raw, starts + 1, 8).view("<f8").ravel()
    # Between two records protobuf reads (a purge, hparams, text), the common ones in bulk.
    slow = np.flatnonzero(~fast).tolist()
    begin = 0
    for stop in [*slow, n.size]:
        if stop > begin:
            _append(tag_id[begin:stop], steps[begin:stop], values[begin:stop], walls[begin:stop], arrays)
        if stop < n.size:
            run.event(buf[int(starts[stop]) : int(ends[stop])])
        begin = stop + 1


# Powers of an odd 64-bit multiplier (wrapping): a tag's bytes hashed in one vectorised sum.
_POWERS = np.cumprod(np.full(256, 0x100000001B3, dtype=np.uint64), dtype=np.uint64)


def _distinct(block: np.ndarray, rows: np.ndarray) -> list[tuple[int, bytes, np.ndarray]]:
    """(first row, bytes, rows) of each distinct row of ``block`` (tags of one length).

    By a hash of each row, checked against the bytes: sorting the rows themselves (NumPy's
    unique over axis 0) took most of the walk's time. On a collision, the exact way."""
    keys = (block.astype(np.uint64) * _POWERS[: block.shape[1]]).sum(axis=1, dtype=np.uint64)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    out = []
    for j, at in enumerate(first.tolist()):
        members = inverse == j
        if not (block[members] == block[at]).all():
            _, first, inverse = np.unique(block, axis=0, return_index=True, return_inverse=True)
            inverse = inverse.ravel()
            return [(int(rows[at]), block[at].tobytes(), rows[inverse == j]) for j, at in enumerate(first.tolist())]
        out.append((int(rows[at]), block[at].tobytes(), rows[members]))
    return out


def _append(tag_id: np.ndarray, steps: np.ndarray, values: np.ndarray, walls: np.ndarray,
            arrays: list[tuple]) -> None:
    """Adds a run of common-shape records to their tags' arrays, each tag's in record order."""
    for t in np.unique(tag_id).tolist():
        rows = tag_id == t
        step_array, value_array, wall_array = arrays[t]
        step_array.frombytes(steps[rows].tobytes())
        value_array.frombytes(values[rows].tobytes())
        wall_array.frombytes(walls[rows].tobytes())


def read_file(path: Path, offset: int, run: RunState, is_last: bool) -> int:
    """Reads the whole records of one file from ``offset``; returns the offset to go on from.

    A record that fails its CRC costs itself, not the file: the walk goes on at the next
    offset where a whole record passes both CRCs (TensorBoard itself stops at the first)."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        buf = b""
        base = offset
        stopped = _END
        valid_seen = offset > 0
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            buf = buf + chunk if buf else chunk
            while True:
                if stopped in (_BAD_LENGTH_CRC, _BAD_DATA_CRC):
                    nxt = _next_record(buf, 1)
                    if nxt is None:
                        break  # maybe in the next chunk
                    _report_skip(stopped, base, nxt, run)
                    base += nxt
                    buf = buf[nxt:]
                pos, stopped = _scan(buf, 0, run)
                valid_seen = valid_seen or pos > 0
                base += pos
                buf = buf[pos:]
                if stopped not in (_BAD_LENGTH_CRC, _BAD_DATA_CRC):
                    break
    _report_stop(stopped, base, len(buf), run, is_last, valid_seen)
    return base


def _next_record(buf: bytes, start: int) -> int | None:
    """The first offset from ``start`` where a whole record passes both CRCs, or None.

    Candidates are found with ``bytes.find``: a record's length is a little-endian uint64
    whose high four bytes are zero for any record under 4 GiB."""
    size = len(buf)
    at = start
    while True:
        zeros = buf.find(b"\x00\x00\x00\x00", at + 4)
        if zeros < 0:
            return None
        p = zeros - 4
        at = p + 1
        if p + 12 > size:
            return None
        length, length_crc = _HEADER.unpack_from(buf, p)
        if _masked_crc(buf[p : p + 8]) != length_crc:
            continue
        stop = p + 12 + length
        if stop + 4 > size:
            continue
        if _masked_crc(buf[p + 12 : stop]) == _U32(buf, stop)[0]:
            return p


def _report_skip(stopped: str, at: int, skip: int, run: RunState) -> None:
    what = "length" if stopped == _BAD_LENGTH_CRC else "data"
    run.warn("bad-crc", f"record at byte {at} fails its {what} CRC; {skip} damaged bytes skipped, "
             f"reading on at byte {at + skip}")


def _report_stop(stopped: str, at: int, left: int, run: RunState, is_last: bool, valid_seen: bool) -> None:
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
    elif at == 0 and not valid_seen:
        message = "not a TensorBoard event file (first record fails its length CRC); ignored"
        run.warn("not-event-file", message)
    else:
        what = "length" if stopped == _BAD_LENGTH_CRC else "data"
        message = (
            f"record at byte {at} fails its {what} CRC and no whole record follows; "
            "the rest of the file is ignored until it grows"
        )
        run.warn("bad-crc", message)
