"""Small helpers readers share for turning I/O errors into specific warnings."""

from __future__ import annotations

from labdeck.runs.readers.base import ReadWarning


def os_warning(exc: OSError, rel: str) -> ReadWarning:
    if isinstance(exc, PermissionError):
        return ReadWarning("permission-denied", f"cannot read {rel}: permission denied", rel)
    return ReadWarning("unreadable-file", f"cannot read {rel}: {exc.strerror or exc}", rel)


def short(exc: Exception) -> str:
    """An exception's message on one line, at most 200 characters."""
    return " ".join(str(exc).split())[:200]
