"""group_concat's comma-separated numbers parsed in slices equal a parse in one call."""

from __future__ import annotations

import numpy as np

from labdeck.db import number_text, text_slices
from labdeck.db.number_text import numbers
from labdeck.db.text_slices import ints


def test_slices_parse_what_one_call_parses(monkeypatch):
    rng = np.random.default_rng(3)
    pks = rng.integers(-(2**62), 2**62, size=20_000)
    floats = rng.normal(size=20_000) * 10.0 ** rng.integers(-300, 300, size=20_000)
    floats[::97] = np.nan
    float_text = ",".join(repr(float(x)) for x in floats)
    int_text = ",".join(str(int(x)) for x in pks)
    for size in (7, 1000, 1 << 16, 10**9):  # slices cut anywhere, and no cut at all
        monkeypatch.setattr(number_text, "SLICE", size)
        monkeypatch.setattr(text_slices, "SLICE", size)
        assert np.array_equal(numbers(int_text), pks)
        assert ints(int_text) == pks.tolist()
        assert np.array_equal(numbers(float_text, np.float64), floats, equal_nan=True)
    assert numbers(None).size == 0 and numbers("").dtype == np.int64
    assert numbers("5").tolist() == [5]
    assert ints(None) == [] and ints("") == [] and ints("5") == [5]
