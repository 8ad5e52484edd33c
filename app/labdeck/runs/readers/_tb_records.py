"""TensorBoard's record framing: each record is a uint64 length, the masked crc32c of the
length, the data and the masked crc32c of the data; a file is read up to the first record that
fails its CRC or is incomplete, and how the walk stopped becomes a warning.

Speed: the record framing is walked with ``struct`` and the CRCs checked with google-crc32c.
Records of the overwhelmingly common shape (one tag, one ``simple_value``, as ``add_scalar``
writes them) are decoded by hand, which measured twice as fast as protobuf's decode plus
attribute access; every other record goes through the protobuf classes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import google_crc32c

from labdeck.runs.readers._tb_decode import RunState, varint

_CHUNK = 16 << 20  # bytes read at a time: bounded memory on multi-GB image logs
_HEADER = struct.Struct("<QI")
_U32 = struct.Struct("<I").unpack_from
_F64 = struct.Struct("<d").unpack_from
_F32 = struct.Struct("<f").unpack_from
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
                            step, p = varint(data, 10)
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
