"""Model cards of model versions: the operations the ``labdeck card`` verbs and the card dialog share.

md, html and json are rendered here; pdf is html printed through Qt (``labdeck.ui.card_pdf``),
so the cards capability stays free of Qt. Every render reads the records afresh.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from labdeck.cards import render_html, render_json, render_md
from labdeck.cards.facts import CardFacts, assemble
from labdeck.cards.sections import check_key
from labdeck.db import cards as q
from labdeck.db.cards import SectionText
from labdeck.db.engine import Database
from labdeck.errors import UserError
from labdeck.models.versions import current_user, now_ms, parse_ref

FORMATS = ("md", "html", "json", "pdf")
TEXT_RENDERERS = {"md": render_md.render, "html": render_html.render, "json": render_json.render}


class CardFormatError(UserError, ValueError):
    pass


def default_filename(ref: str, fmt: str) -> str:
    name, version = parse_ref(ref)
    return f"{name}-{version}.card.{fmt}"


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write a whole file or nothing: a temp file in the same folder, then a rename."""
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class CardService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def facts(self, ref: str, slice_pattern: str | None = None) -> tuple[CardFacts, str]:
        """(the card's facts, the card hash the approval log would record now)."""
        name, version = parse_ref(ref)
        with self.db.read() as session:
            record = q.card_record(session, name, version)
            digest = q.card_hash(session, record.version.id)
        return assemble(record, slice_pattern), digest

    def sections(self, ref: str) -> dict[str, SectionText]:
        name, version = parse_ref(ref)
        with self.db.read() as session:
            record = q.card_record(session, name, version, with_series=False)
        return dict(record.sections)

    def edit(self, ref: str, key: str, text: str, *, actor: str | None = None) -> bool:
        """Save one human section (empty text clears it). True when the card changed."""
        check_key(key)
        return self.edit_many(ref, {key: text}, actor=actor) > 0

    def edit_many(self, ref: str, texts: dict[str, str], *, actor: str | None = None) -> int:
        """Save several sections in one transaction; the number that changed."""
        for key in texts:
            check_key(key)
        name, version = parse_ref(ref)
        who, when = actor or current_user(), now_ms()
        with self.db.write() as session:
            record = q.card_record(session, name, version, with_series=False)
            return sum(q.set_section(session, record.version.id, k, v, actor=who, time=when)
                       for k, v in texts.items())

    def render(self, ref: str, fmt: str, slice_pattern: str | None = None) -> str:
        """The card as text in ``fmt`` (md, html or json; pdf prints the html, see labdeck.ui.card_pdf)."""
        if fmt not in TEXT_RENDERERS:
            raise CardFormatError(f"unknown card format {fmt!r}: one of {', '.join(FORMATS)}"
                                  + (" (pdf is printed from the html through Qt)" if fmt == "pdf" else ""))
        facts, digest = self.facts(ref, slice_pattern)
        return TEXT_RENDERERS[fmt](facts, digest)

    def export(self, ref: str, fmt: str, path: str | os.PathLike | None = None, *, slice_pattern: str | None = None,
               print_pdf: Callable[[str, Path], None] | None = None) -> Path:
        """Write the card to ``path`` (default: NAME-VERSION.card.FMT here). ``print_pdf(html, path)``
        prints a pdf; the front ends pass ``labdeck.ui.card_pdf.print_pdf`` (Qt lives in ui/ only)."""
        if fmt not in FORMATS:
            raise CardFormatError(f"unknown card format {fmt!r}: one of {', '.join(FORMATS)}")
        target = Path(path).expanduser() if path else Path(default_filename(ref, fmt))
        if fmt != "pdf":
            return write_atomic(target, self.render(ref, fmt, slice_pattern))
        if print_pdf is None:
            raise CardFormatError("pdf needs a printer (labdeck.ui.card_pdf.print_pdf)")
        return self.write_pdf(self.render(ref, "html", slice_pattern), target, print_pdf)

    @staticmethod
    def write_pdf(page: str, path: str | os.PathLike, print_pdf: Callable[[str, Path], None]) -> Path:
        """Print the html card ``page`` to ``path`` (whole or not at all: printed beside it, then renamed)."""
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.printing")
        try:
            print_pdf(page, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target
