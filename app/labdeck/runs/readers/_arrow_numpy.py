"""Columns that pyarrow parsed, as NumPy arrays, without pyarrow's own ``to_numpy``.

``Array.to_numpy`` imports pandas the first time it runs (pyarrow 26 looks for pandas'
extension types): 0.6 s and some 50 MB in a process that otherwise never needs pandas,
such as the indexer or a `labdeck index` run. A primitive column without nulls is a plain
buffer: viewed in place here, as ``to_numpy`` would."""

from __future__ import annotations

from typing import Any

import numpy as np


def column_array(column: Any, dtype: np.dtype | type) -> np.ndarray:
    """A pyarrow ``ChunkedArray`` or ``Array`` of fixed-width numbers as one NumPy array of
    ``dtype`` (a view where the column is one chunk). Nulls, or a type of another width,
    fall back to pyarrow's conversion."""
    dtype = np.dtype(dtype)
    chunks = column.chunks if hasattr(column, "chunks") else [column]
    parts = []
    for chunk in chunks:
        buffers = chunk.buffers()
        if chunk.null_count or len(buffers) != 2 or chunk.type.bit_width != dtype.itemsize * 8:
            parts.append(np.asarray(chunk.to_numpy(zero_copy_only=False), dtype=dtype))
            continue
        parts.append(np.frombuffer(buffers[1], dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize))
    if not parts:
        return np.empty(0, dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
