"""Verbs for model cards: ``labdeck card …``.

    card export NAME:VERSION --format md|html|json|pdf [--out PATH] [--slice-pattern REGEX]
    card edit NAME:VERSION --section KEY (--text TEXT | --file F)   (empty text clears it)
    card show NAME:VERSION [--json]        the human sections: written or missing
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labdeck.cards.sections import HUMAN_SECTIONS, KEYS, UnknownSection
from labdeck.cards.service import FORMATS, CardFormatError
from labdeck.cards.slices import SlicePatternError
from labdeck.cards.templates import TemplateError
from labdeck.cli.common import CliError, fmt_time, print_json, table, verb_group
from labdeck.db.registry import ModelNotFound
from labdeck.workspace import Workspace

_USER = (ModelNotFound, UnknownSection, CardFormatError, SlicePatternError, TemplateError, ValueError, OSError)


def _print_pdf(page: str, path: Path) -> None:
    # Qt only for pdf, imported here so the other formats never load it (the CLI is an entry point).
    from labdeck.ui.card_pdf import print_pdf

    print_pdf(page, path)


def _export(ws: Workspace, args) -> int:
    out = ws.cards.export(args.ref, args.format, args.out, slice_pattern=args.slice_pattern,
                                    print_pdf=_print_pdf)
    print(f"wrote the {args.format} card of {args.ref} to {out}")
    return 0


def _edit(ws: Workspace, args) -> int:
    if (args.text is None) == (args.file is None):
        raise CliError("give the section's text with --text TEXT or --file F (- for stdin)")
    if args.file is not None:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    else:
        text = args.text
    changed = ws.cards.edit(args.ref, args.section, text)
    what = "cleared" if not text.strip() else "saved"
    print(f"{args.ref}: section {args.section} {what}" if changed else f"{args.ref}: section {args.section} unchanged")
    return 0


def _show(ws: Workspace, args) -> int:
    sections = ws.cards.sections(args.ref)
    if args.json:
        print_json({s.key: ({"text": sections[s.key].text, "updated_by": sections[s.key].updated_by,
                             "updated_at": sections[s.key].updated_at} if s.key in sections else None)
                    for s in HUMAN_SECTIONS})
        return 0
    rows = [[s.key, "written" if s.key in sections else "MISSING",
             sections[s.key].updated_by if s.key in sections else "-",
             fmt_time(sections[s.key].updated_at) if s.key in sections else "-"] for s in HUMAN_SECTIONS]
    print(table(rows, ["SECTION", "STATE", "BY", "UPDATED"]))
    return 0


def register(add_verb) -> None:
    card_action = verb_group(add_verb, "card", "model cards of model versions (md, html, json, pdf)",
                             user_errors=_USER)

    def action(name: str, help_: str, handler) -> argparse.ArgumentParser:
        p = card_action(name, help_, handler)
        p.add_argument("ref", metavar="NAME:VERSION")
        return p

    p = action("export", "write a version's model card", _export)
    p.add_argument("--format", "-f", choices=FORMATS, default="md")
    p.add_argument("--out", "-o", metavar="PATH", help="the file to write (default: NAME-VERSION.card.FORMAT)")
    p.add_argument("--slice-pattern", metavar="REGEX", default=None,
                   help="how metric names name slices: groups (?P<metric>)(?P<factor>)(?P<value>) "
                        "(default: METRIC@FACTOR=VALUE, or $LABDECK_SLICE_PATTERN)")
    p = action("edit", "write one human section of a version's card (saved with the version)", _edit)
    p.add_argument("--section", "-s", required=True, choices=KEYS)
    p.add_argument("--text", "-t", default=None)
    p.add_argument("--file", default=None, metavar="F", help="read the text from F (- for stdin)")
    p = action("show", "which human sections of a version's card are written or missing", _show)
    p.add_argument("--json", action="store_true")
