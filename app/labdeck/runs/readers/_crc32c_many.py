"""CRC32C (Castagnoli) of many short byte ranges of one buffer at once, in NumPy.

A TensorBoard event file is a chain of small records (about 30 bytes for a scalar), each
with the CRC of its data. One call of google-crc32c per record cost 0.7 µs here, almost all
of it the call and the slice, not the CRC: about half of indexing a scalar log.

Without its initial value and final XOR, a CRC is linear over GF(2): the CRC of a range is
the XOR, over its bytes, of what each byte contributes given how many bytes follow it. So
the ranges of one length are done together: one table lookup per byte (tables for each
distance from the end, 128 x 256 entries), XOR-reduced per range, then XORed with the
CRC of as many zero bytes, which carries the initial value and the final XOR. The result
equals google-crc32c's for every range (a test checks them on random data and real logs).
"""

from __future__ import annotations

from functools import cache

import google_crc32c
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_POLY = 0x82F63B78  # CRC32C's polynomial, bit-reversed
LONGEST = 128  # longer ranges (images, text, hparams) are done one call each
_ROWS = 1 << 15  # ranges per NumPy pass: bounds the index arrays to a few MB
# (L-1-j)*256 for byte j of a range of L bytes is the last L entries of this.
_DISTANCE = (np.arange(LONGEST - 1, -1, -1, dtype=np.intp) * 256)


@cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """The contribution of byte b followed by d zero bytes, flat at [d * 256 + b]; and the
    CRC of L zero bytes for L up to LONGEST."""
    byte = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        byte = np.where(byte & 1, (byte >> 1) ^ np.uint32(_POLY), byte >> 1).astype(np.uint32)
    tables = np.empty((LONGEST, 256), dtype=np.uint32)
    tables[0] = byte
    for d in range(1, LONGEST):
        before = tables[d - 1]
        tables[d] = byte[before & 0xFF] ^ (before >> 8)
    zeros = np.array([google_crc32c.value(bytes(n)) for n in range(LONGEST + 1)], dtype=np.uint32)
    return tables.ravel(), zeros


def crc32c_many(buf: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``google_crc32c.value(buf[s:s + n])`` for each start and length, as uint32; every
    range must lie inside ``buf``."""
    out = np.empty(len(starts), dtype=np.uint32)
    if not len(starts):
        return out
    tables, zeros = _tables()
    raw = np.frombuffer(buf, dtype=np.uint8)
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        if length == 0 or length > LONGEST:
            out[rows] = [google_crc32c.value(buf[s : s + length]) for s in starts[rows].tolist()]
            continue
        windows = sliding_window_view(raw, length)  # a view: row s is buf[s:s + length]
        distance = _DISTANCE[LONGEST - length :]
        for at in range(0, len(rows), _ROWS):
            some = rows[at : at + _ROWS]
            index = windows[starts[some]].astype(np.intp)
            index += distance
            out[some] = np.bitwise_xor.reduce(tables[index], axis=1) ^ zeros[length]
    return out
