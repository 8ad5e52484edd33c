"""Framing TensorBoard records by predicting repeated lengths gives exactly the chain that
reading each record's length in turn gives, on real logs and on chains made to break the
predictions (lengths that change, odd records, a damaged or half-written tail)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from labdeck.runs.readers._tb_records import _frame

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def one_by_one(buf: bytes, pos: int = 0) -> tuple[list[int], int]:
    starts = []
    while pos + 12 <= len(buf):
        starts.append(pos + 12)
        pos += struct.unpack_from("<Q", buf, pos)[0] + 16
    return starts, pos


def record(length: int, rng) -> bytes:
    return struct.pack("<Q", length) + b"\0" * 4 + rng.bytes(length) + b"\0" * 4


@pytest.mark.parametrize("path", sorted(FIXTURES.rglob("events.out.tfevents*")), ids=lambda p: p.parent.name)
def test_real_logs_frame_as_read_one_by_one(path):
    buf = path.read_bytes()
    starts, end = _frame(buf, 0)
    assert (starts.tolist(), end) == one_by_one(buf)


@pytest.mark.parametrize("seed", range(40))
def test_chains_that_break_predictions_frame_as_read_one_by_one(seed):
    rng = np.random.default_rng(seed)
    pattern = [int(n) for n in rng.integers(0, 60, rng.integers(1, 70))]
    parts = []
    for k in range(int(rng.integers(0, 5000))):
        odd = rng.random() < (0.002, 0.05)[seed % 2]
        length = int(rng.integers(0, 400)) if odd else pattern[k % len(pattern)] + (k > 2500)  # a longer step varint
        parts.append(record(length, rng))
    buf = b"".join(parts) + rng.bytes(int(rng.integers(0, 40)))  # a damaged or half-written tail
    for pos in (0, min(len(buf), 12 + (len(parts[0]) if parts else 0))):
        starts, end = _frame(buf, pos)
        assert (starts.tolist(), end) == one_by_one(buf, pos)


def test_a_buffer_too_short_for_a_header():
    for buf in (b"", b"\x01" * 11):
        starts, end = _frame(buf, 0)
        assert starts.size == 0 and end == 0
