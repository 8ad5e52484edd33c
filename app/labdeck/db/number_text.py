"""Numbers that SQLite hands over as one comma-separated text (``group_concat``), parsed in
slices.

NumPy parses such a text in one call that holds the interpreter from start to end: 28 ms
for 100,000 pks on this machine, during which the GUI thread cannot run a line of Python
(a paint of the table waits for it). Parsed in slices (``text_slices``), each call holds it
for about 2 ms, and the GUI thread gets it between two slices.
"""

from __future__ import annotations

import numpy as np

from labdeck.db.text_slices import SLICE, text_slices


def numbers(text: str | None, dtype: type = np.int64) -> np.ndarray:
    """The comma-separated numbers of ``text`` ('nan' allowed for floats), as an array."""
    if not text:
        return np.zeros(0, dtype=dtype)
    if len(text) <= SLICE:
        return np.fromstring(text, dtype=dtype, sep=",")
    return np.concatenate([np.fromstring(piece, dtype=dtype, sep=",") for piece in text_slices(text)])
