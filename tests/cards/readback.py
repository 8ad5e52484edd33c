"""Reading exported cards back: the PDF's text through pypdf (a test-only dependency)."""

from __future__ import annotations

import re
import unicodedata

import pytest


def pdf_text(path) -> str:
    """The PDF's text with all whitespace removed (a table cell may wrap a long hash)."""
    pypdf = pytest.importorskip("pypdf", reason="test-only dependency (pip install -e .[test])")
    text = "".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
