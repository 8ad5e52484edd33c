"""Run readers, one module per on-disk format; each module defines ``READER``.

Readers are found by listing this package, so a new format is one new file here.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from labdeck.runs.readers.base import Reader


@cache
def all_readers() -> tuple[Reader, ...]:
    readers = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        reader = getattr(module, "READER", None)
        if isinstance(reader, Reader):
            # Two readers may share a run format (MLflow's two stores); the module name
            # tells their sources apart in the index.
            reader.key = info.name
            readers.append(reader)
    # Native first: its detection is a single name lookup.
    readers.sort(key=lambda r: (r.format != "labdeck", r.format))
    return tuple(readers)


def reader_for(key: str) -> Reader:
    """The reader whose module is ``key`` (what the index stores for each source)."""
    for reader in all_readers():
        if reader.key == key:
            return reader
    raise KeyError(f"no reader named {key!r}")
