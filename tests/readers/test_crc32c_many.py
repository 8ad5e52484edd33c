"""The CRCs of TensorBoard records computed together in NumPy equal google-crc32c's, one by
one: any difference would pass a damaged record or refuse a sound one."""

from __future__ import annotations

import google_crc32c
import numpy as np

from labdeck.runs.readers._crc32c_many import LONGEST, _ROWS, crc32c_many


def one_by_one(buf: bytes, starts, lengths) -> list[int]:
    return [google_crc32c.value(buf[s : s + n]) for s, n in zip(starts.tolist(), lengths.tolist())]


def test_every_length_and_place_gives_google_crc32c_value():
    rng = np.random.default_rng(3)
    buf = rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    lengths = np.concatenate([np.arange(0, LONGEST + 40), rng.integers(0, 64, 3_000)])
    starts = rng.integers(0, len(buf) - lengths)
    # Ranges that end at the buffer's last byte, as the last record of a chunk may.
    lengths = np.concatenate([lengths, [1, 31, LONGEST, LONGEST + 1]])
    starts = np.concatenate([starts, len(buf) - lengths[-4:]])
    got = crc32c_many(buf, starts, lengths)
    assert got.dtype == np.uint32 and got.tolist() == one_by_one(buf, starts, lengths)


def test_more_ranges_of_one_length_than_one_pass_holds():
    rng = np.random.default_rng(4)
    buf = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    starts = rng.integers(0, len(buf) - 31, _ROWS * 2 + 5)
    lengths = np.full(len(starts), 31)
    assert crc32c_many(buf, starts, lengths).tolist() == one_by_one(buf, starts, lengths)


def test_no_ranges():
    assert crc32c_many(b"abc", np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)).size == 0
